"""Exact resume, and checkpoints that survive kill -9 or come from somewhere else."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch

from ganzoo.checkpoint import load_checkpoint, save_checkpoint
from ganzoo.train.metrics import read_metrics

from conftest import TINY

# Every piece of state that resume must restore: Adam moments, EMA, dropout's RNG (D), the
# penalty's RNG (wgan-gp; R1 on top of it), several D batches per step, and epoch boundaries (48 / 16 = 3
# batches an epoch; 6 steps x 2 batches cross four of them, one at the resume point).
PROTOCOL = ["--loss", "wgan-gp", "--set", "r1=1", "--set", "n_critic=2", "--set", "dropout=0.2", "--set", "ema=true",
            "--beta1", "0.0", "--beta2", "0.9", "--seed", "3", "--set", "count=48",
            "--sample-every", "100", "--checkpoint-every", "100"]


# Conditional: labels through the feed, G's labels from the latent RNG, the penalty scored with
# the real labels, and an EMA that starts averaging at step 2 (before the resume point).
CONDITIONAL = ["--set", "conditional=true", "--set", "ema_start=2"]


@pytest.mark.parametrize("extra", [[], CONDITIONAL], ids=["unconditional", "conditional"])
def test_six_steps_equal_three_then_resume_to_six(cli, tmp_path, extra):
    once, twice = tmp_path / "once", tmp_path / "twice"
    assert cli("train", *TINY, *PROTOCOL, *extra, "--steps", "6", "--out", str(once)).exit_code == 0
    assert cli("train", *TINY, *PROTOCOL, *extra, "--steps", "3", "--out", str(twice)).exit_code == 0
    result = cli("train", "--resume", str(twice), "--steps", "6", "--no-progress")
    assert result.exit_code == 0, result.output
    a = load_checkpoint(once / "checkpoints" / "last.pt")
    b = load_checkpoint(twice / "checkpoints" / "last.pt")
    assert a["progress"] == b["progress"] and a["progress"]["batches"] == 12
    for net in ("generator", "discriminator", "ema"):
        assert a[net].keys() == b[net].keys()
        assert all(torch.equal(a[net][k], b[net][k]) for k in a[net]), net
    for opt in ("opt_g", "opt_d"):
        for slot, values in a[opt]["state"].items():
            assert all(torch.equal(values[k], b[opt]["state"][slot][k]) for k in values), opt
    assert torch.equal(a["rng"]["latent"], b["rng"]["latent"])
    # the resumed run's metrics continue where the first part stopped, without duplicates
    records = read_metrics(twice / "metrics.jsonl")
    steps = [r["step"] for r in records]
    assert steps == sorted(set(steps)) and steps[-1] == 6
    assert all(r["gp"] >= 0 and r["r1"] > 0 for r in records)  # both penalties are logged


CHILD = textwrap.dedent("""
    import sys
    from ganzoo.train.loop import Trainer

    save = Trainer.save

    def announcing_save(self, snapshot=None):
        save(self, snapshot)
        print(self.step, flush=True)  # the parent kills us once it has read enough of these

    Trainer.save = announcing_save
    from ganzoo.cli import main
    main(sys.argv[1:])
""")


def test_kill_9_while_checkpointing_leaves_a_loadable_checkpoint(cli, tmp_path):
    out = tmp_path / "run"
    args = [*TINY, "--steps", "400", "--checkpoint-every", "1", "--sample-every", "1000", "--out", str(out)]
    child = subprocess.Popen([sys.executable, "-c", CHILD, "train", *args], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        for line in child.stdout:
            if int(line) >= 4:
                break  # the child is already writing the next checkpoints: SIGKILL lands mid-stride
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL
    killed_at = load_checkpoint(out / "checkpoints" / "last.pt")["progress"]["step"]
    assert 4 <= killed_at < 400

    result = cli("train", "--resume", str(out), "--steps", str(killed_at + 3), "--no-progress")
    assert result.exit_code == 0, result.output
    assert load_checkpoint(out / "checkpoints" / "last.pt")["progress"]["step"] == killed_at + 3
    assert not [p.name for p in (out / "checkpoints").iterdir() if p.name.endswith(".tmp")]  # stale temps cleaned


@pytest.fixture
def short_run(cli, tmp_path):
    out = tmp_path / "run"
    assert cli("train", *TINY, "--steps", "1", "--out", str(out)).exit_code == 0
    return out


@pytest.mark.parametrize("damage,message", [
    ("truncate", "is not a readable ganzoo checkpoint"),
    ("foreign", "is not a readable ganzoo checkpoint"),
    ("other-arch", "is from architecture 'cifar', not 'dcgan'"),
])
def test_a_bad_last_checkpoint_is_a_one_line_error(cli, short_run, damage, message):
    last = short_run / "checkpoints" / "last.pt"
    if damage == "truncate":
        last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    elif damage == "foreign":
        last.write_bytes(b"GIF89a not a checkpoint")
    else:
        state = load_checkpoint(last)
        state["config"]["arch"] = "cifar"
        save_checkpoint(last, state)
    result = cli("train", "--resume", str(short_run), "--steps", "2", "--no-progress")
    assert result.exit_code in (1, 2)
    assert message in result.output and len(result.output.strip().splitlines()) == 1


def test_resuming_in_another_unit_rescales_the_schedule(cli, tmp_path):
    out = tmp_path / "run"
    # 256 images / batch 16 = 16 steps per epoch; an --epochs 2 run samples every epoch
    assert cli("train", *TINY, "--epochs", "2", "--out", str(out)).exit_code == 0
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["epoch_001.png", "epoch_002.png"]
    assert cli("train", "--resume", str(out), "--steps", "52").exit_code == 0
    # 52 steps: a grid and a snapshot every 5 steps (52 // 10), not after every step
    new = sorted(p.name for p in (out / "samples").iterdir() if p.name.startswith("step_"))
    assert new == ["step_000035.png", "step_000040.png", "step_000045.png", "step_000050.png", "step_000052.png"]
    config = json.loads((out / "config.json").read_text())
    assert (config["steps"], config["epochs"], config["sample_every"], config["checkpoint_every"]) == (52, None, 5, 5)


def _forget(run, key):
    """Make ``run`` look as if it was configured before its architecture had parameter ``key``."""
    config = json.loads((run / "config.json").read_text())
    del config["arch_params"][key]
    (run / "config.json").write_text(json.dumps(config))
    last = run / "checkpoints" / "last.pt"
    state = load_checkpoint(last)
    del state["config"]["arch_params"][key]
    save_checkpoint(last, state)


@pytest.mark.parametrize("arch,extra,key", [
    ("biggan", ["--set", "ch=4", "--set", "attn=0", "--set", "conditional=false"], "mbstd"),  # added off: default = before
    ("biggan", ["--set", "ch=4", "--set", "attn=0", "--set", "layout16=flat"], "layout16"),  # default tapered; before: flat
    ("dcgan", ["--set", "ngf=8", "--set", "ndf=8", "--set", "norm=batch"], "norm"),  # added when D had BatchNorm; default now spectral
], ids=["biggan-mbstd", "biggan-layout16", "dcgan-norm"])
def test_a_run_older_than_a_parameter_resumes_and_generates(cli, tmp_path, arch, extra, key):
    """A plugin that gains a parameter must not strand the runs made before it: its builder reads
    the parameter with the value that keeps what those runs' networks were (not always today's
    default: dcgan's norm defaults to spectral, but runs from before it had BatchNorm in D)."""
    run = tmp_path / "run"
    args = ["--arch", arch, "--image-size", "16", "--set", "count=64", "--batch-size", "16", "--no-progress", *extra]
    assert cli("train", *args, "--steps", "1", "--out", str(run)).exit_code == 0
    _forget(run, key)
    result = cli("generate", str(run / "checkpoints" / "last.pt"), "--num", "4", "--out", str(tmp_path / "old.npy"))
    assert result.exit_code == 0, result.output
    result = cli("train", "--resume", str(run), "--steps", "2", "--no-progress")
    assert result.exit_code == 0, result.output
    assert load_checkpoint(run / "checkpoints" / "last.pt")["progress"]["step"] == 2
