"""``--set eval_every=N`` during training: FID/KID in metrics.jsonl, TensorBoard and the loss
curve, checkpoints/best.pt by FID, exact resume untouched, and missing weights refused at start."""

from __future__ import annotations

import math

import pytest
import torch

from ganzoo.checkpoint import load_checkpoint
from ganzoo.train.metrics import read_metrics

from conftest import TINY

EVAL = ["--set", "eval_every=2", "--set", "eval_num=32", "--set", "eval_extractor=tiny", "--set", "ema=true",
        "--sample-every", "100", "--checkpoint-every", "100"]


def test_a_short_run_scores_itself_and_keeps_the_best(cli, tiny_extractor, tmp_path):
    out = tmp_path / "run"
    result = cli("train", *TINY, *EVAL, "--steps", "6", "--out", str(out))
    assert result.exit_code == 0, result.output
    scored = [r for r in read_metrics(out / "metrics.jsonl") if "fid" in r]
    assert [r["step"] for r in scored] == [2, 4, 6]
    assert all(r["eval_extractor"] == "tiny" and r["eval_num"] == 32 and r["fid"] > 0 and "kid_std" in r for r in scored)
    best = load_checkpoint(out / "checkpoints" / "best.pt")
    assert best["kind"] == "generator" and "ema" in best
    assert best["eval"]["fid"] == min(r["fid"] for r in scored)
    assert best["eval"]["step"] == min(scored, key=lambda r: r["fid"])["step"]
    assert best["eval"]["eval_extractor"] == "tiny"
    assert (out / "loss_curve.png").is_file()
    # the checkpoint is a generator SOURCE like any other
    assert cli("generate", str(out / "checkpoints" / "best.pt"), "--num", "4", "--out", str(tmp_path / "b.npy"),
               "--no-progress").exit_code == 0
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    tags = events.Tags()["scalars"]
    assert {"eval/tiny/fid", "eval/tiny/kid", "train/loss_d"} <= set(tags)
    assert [e.step for e in events.Scalars("eval/tiny/fid")] == [2, 4, 6]


def _weights(run):
    state = load_checkpoint(run / "checkpoints" / "last.pt")
    return {net: state[net] for net in ("generator", "discriminator", "ema")}


def test_evaluation_changes_nothing_in_training_and_resume_stays_exact(cli, tiny_extractor, tmp_path):
    plain, scored, resumed = tmp_path / "plain", tmp_path / "scored", tmp_path / "resumed"
    common = [*TINY, "--set", "ema=true", "--set", "dropout=0.2", "--sample-every", "100", "--checkpoint-every", "100"]
    assert cli("train", *common, "--steps", "4", "--out", str(plain)).exit_code == 0
    assert cli("train", *TINY, *EVAL, "--set", "dropout=0.2", "--steps", "4", "--out", str(scored)).exit_code == 0
    assert cli("train", *TINY, *EVAL, "--set", "dropout=0.2", "--steps", "2", "--out", str(resumed)).exit_code == 0
    result = cli("train", "--resume", str(resumed), "--steps", "4", "--no-progress")
    assert result.exit_code == 0, result.output
    a, b, c = _weights(plain), _weights(scored), _weights(resumed)
    for net in a:
        assert all(torch.equal(a[net][k], b[net][k]) and torch.equal(b[net][k], c[net][k]) for k in a[net]), net
    fids = lambda run: [(r["step"], r["fid"]) for r in read_metrics(run / "metrics.jsonl") if "fid" in r]  # noqa: E731
    assert fids(scored) == fids(resumed)  # the same latents, the same numbers, before and after the resume
    assert load_checkpoint(resumed / "checkpoints" / "best.pt")["eval"]["fid"] == min(f for _, f in fids(resumed))


def test_missing_weights_stop_the_run_before_it_starts(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("GANZOO_INCEPTION_WEIGHTS", raising=False)
    out = tmp_path / "run"
    result = cli("train", *TINY, "--steps", "2", "--set", "eval_every=1", "--out", str(out))
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1 and "pt_inception-2015-12-05-6726825d.pth" in result.output
    assert not out.exists()


@pytest.mark.parametrize("args, message", [
    (["--set", "eval_every=0"], "eval_every=0: must be at least 1"),
    (["--set", "eval_every=1", "--set", "eval_num=1"], "eval_num=1: must be at least 2"),
    (["--set", "eval_every=1", "--set", "eval_extractor=tinny"], "did you mean 'tiny'"),
])
def test_bad_eval_settings_are_one_line(cli, tiny_extractor, tmp_path, args, message):
    out = tmp_path / "run"
    result = cli("train", *TINY, "--steps", "2", *args, "--out", str(out))
    assert result.exit_code == 2 and message in result.output, result.output
    assert not out.exists()


def test_eval_every_counts_epochs_in_an_epoch_run(cli, tiny_extractor, tmp_path):
    out = tmp_path / "run"
    # 64 images / batch 16 = 4 steps an epoch; 3 epochs, scored every 2 epochs and at the end
    result = cli("train", *TINY, "--set", "count=64", "--epochs", "3", "--set", "eval_every=2", "--set", "eval_num=16",
                 "--set", "eval_extractor=tiny", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert [r["step"] for r in read_metrics(out / "metrics.jsonl") if "fid" in r] == [8, 12]
    assert math.isfinite(load_checkpoint(out / "checkpoints" / "best.pt")["eval"]["fid"])


def test_a_conditional_run_is_scored_over_all_its_classes(cli, tiny_extractor, tmp_path):
    """During training and by `ganzoo eval`, a class-conditional generator gets class ids (round-robin)."""
    out = tmp_path / "run"
    result = cli("train", *TINY, *EVAL, "--set", "conditional=true", "--steps", "2", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert [r["step"] for r in read_metrics(out / "metrics.jsonl") if "fid" in r] == [2]
    result = cli("eval", str(out), "--real", "shapes", "--extractor", "tiny", "--num", "30", "--no-progress",
                 "--cache-dir", str(tmp_path / "cache"))
    assert result.exit_code == 0, result.output
    assert "FID" in result.output and "tiny" in result.output
