"""Checkpoint files: atomic writes, safe loading, one-line errors for bad files."""

import pickle

import pytest
import torch

from ganzoo.checkpoint import load_checkpoint, save_checkpoint
from ganzoo.errors import GanzooError


def test_roundtrip_with_weights_only(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"kind": "full", "generator": {"w": torch.arange(3.0)}, "config": {"arch": "x"}})
    state = load_checkpoint(path)
    assert torch.equal(state["generator"]["w"], torch.arange(3.0)) and state["config"] == {"arch": "x"}


def test_failed_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"kind": "full", "step": 1})

    def explode(obj, f, *a, **k):
        with open(f, "wb") as fh:
            fh.write(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", explode)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"kind": "full", "step": 2})
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]


def test_truncated_file_is_a_one_line_error(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"kind": "full", "generator": {"w": torch.zeros(1000)}})
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(GanzooError, match="not a readable ganzoo checkpoint"):
        load_checkpoint(path)


def test_other_files_are_rejected(tmp_path):
    (tmp_path / "plain.pt").write_text("hello")
    with pytest.raises(GanzooError):
        load_checkpoint(tmp_path / "plain.pt")
    torch.save({"state_dict": {}}, tmp_path / "foreign.pt")
    with pytest.raises(GanzooError, match="not a ganzoo checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")


class Evil:
    def __reduce__(self):
        return (print, ("pwned",))


# torch warns that the crafted file's pickle protocol is not its default: that is the point
@pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")
def test_code_in_a_checkpoint_never_runs(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"format": "ganzoo-checkpoint", "x": Evil()}, f)
    with pytest.raises(GanzooError):
        load_checkpoint(path)
    # the same inside a real torch.save archive: the weights-only unpickler refuses the call
    torch.save({"format": "ganzoo-checkpoint", "x": Evil()}, path)
    with pytest.raises(GanzooError, match="not a readable ganzoo checkpoint"):
        load_checkpoint(path)
    assert "pwned" not in capsys.readouterr().out
