"""Data-parallel training on CPU with gloo: two ranks started by torchrun inside the suite.

Each job costs the start of two processes that import torch (seconds on a small CPU), so the
jobs here are few and short: one runs every exact-resume command in a row (tests/ddp_harness.py),
one kills a rank, one lets torchrun restart a killed rank.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ganzoo.checkpoint import load_checkpoint
from ganzoo.train.metrics import read_metrics

from conftest import TINY
from test_collapse import BROKEN

HERE = Path(__file__).parent
# Dropout and the gradient penalty draw from each rank's own RNG, n_critic=2 reads two batches a
# step, flips are drawn per global batch and sliced, EMA lives on rank 0: all of it must resume.
# 96 images / (2 ranks x 16) = 3 global batches an epoch: 6 steps x 2 batches cross epochs.
PROTOCOL = [*TINY, "--loss", "wgan-gp", "--set", "n_critic=2", "--set", "dropout=0.2", "--set", "ema=true",
            "--set", "flip=true", "--set", "count=96", "--seed", "5", "--set", "log_every=1",
            "--sample-every", "3", "--checkpoint-every", "3"]

CONDITIONAL = [*TINY, "--set", "conditional=true", "--set", "labels=true", "--set", "count=96", "--seed", "3",
               "--set", "ema=true", "--set", "log_every=1", "--checkpoint-every", "2"]


def env(tmp_path, **extra):
    return {**os.environ, "OMP_NUM_THREADS": "1", "GANZOO_CACHE_DIR": str(tmp_path / "cache"),
            "GANZOO_DIST_TIMEOUT": "60", **extra}


def torchrun(tmp_path, *args, restarts=0, timeout=240):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "--max-restarts", str(restarts), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env(tmp_path), cwd=tmp_path)


def same_tensors(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def ddp_runs(tmp_path_factory):
    """6 steps in one go, and 3 steps then --resume to 6, both on 2 ranks, in one torchrun job."""
    tmp = tmp_path_factory.mktemp("ddp")
    once, twice, stopped = tmp / "once", tmp / "twice", tmp / "stopped"
    commands = [["train", *PROTOCOL, "--steps", "6", "--out", str(once)],
                ["train", *PROTOCOL, "--steps", "3", "--out", str(twice)],
                ["train", "--resume", str(twice), "--steps", "6", "--no-progress"],
                # rank 1 alone is sent a SIGINT during step 3 (see the harness): the ranks vote, stop together
                ["train", *PROTOCOL, "--steps", "6", "--out", str(stopped)],
                ["train", "--resume", str(stopped), "--no-progress"],
                # class-conditional: each rank's labels follow its slice of the images, y_fake its slice of the latents
                ["train", *CONDITIONAL, "--steps", "4", "--out", str(tmp / "cond_once")],
                ["train", *CONDITIONAL, "--steps", "2", "--out", str(tmp / "cond_twice")],
                ["train", "--resume", str(tmp / "cond_twice"), "--steps", "4", "--no-progress"],
                # on_collapse=stop on 2 ranks: the one that finds it tells the other through the stop vote
                ["train", *BROKEN, "--set", "on_collapse=stop", "--out", str(tmp / "collapsed")]]
    report = tmp / "report.json"
    result = torchrun(tmp, str(HERE / "ddp_harness.py"), str(report), json.dumps(commands))
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(report.read_text())
    assert report["exit_codes"] == [0, 0, 0, 130, 0, 0, 0, 0, 3], result.stderr[-3000:]
    return once, twice, result, report


@pytest.mark.parametrize("first, other", [("once", "twice"), ("once", "stopped"), ("cond_once", "cond_twice")])
def test_two_ranks_resume_exactly(ddp_runs, first, other):
    once, twice, result, report = ddp_runs
    a, b = (load_checkpoint(once.parent / run / "checkpoints" / "last.pt") for run in (first, other))
    steps = 4 if first == "cond_once" else 6
    assert a["progress"] == b["progress"] and a["progress"]["step"] == steps
    assert a["progress"]["batches"] == (4 if first == "cond_once" else 12)
    for net in ("generator", "discriminator", "ema"):
        assert same_tensors(a[net], b[net]), net
    for opt in ("opt_g", "opt_d"):
        for slot, values in a[opt]["state"].items():
            assert same_tensors(values, b[opt]["state"][slot]), opt
    assert torch.equal(a["rng"]["latent"], b["rng"]["latent"])
    # every rank's own RNG is in the checkpoint, and the two ranks' differ (seeded from (seed, rank))
    assert a["distributed"]["world_size"] == 2 and len(a["distributed"]["rng"]) == 2
    assert all(torch.equal(x["torch"], y["torch"]) for x, y in zip(a["distributed"]["rng"], b["distributed"]["rng"]))
    assert not torch.equal(a["distributed"]["rng"][0]["torch"], a["distributed"]["rng"][1]["torch"])
    # DDP kept the two ranks' weights equal after every command (they saw different images)
    for per_rank in report["weight_sums"]:
        assert per_rank[0] == per_rank[1]


def test_a_signal_to_one_rank_stops_both_after_the_same_step(ddp_runs):
    once, _, result, _ = ddp_runs
    stopped = once.parent / "stopped"
    # rank 1 was signalled in step 3; the vote started after step 3 is read after step 4: both stop there
    line = (f"stopped by a signal to another rank at step 4; checkpoint saved to {stopped}/checkpoints/last.pt "
            f"(continue with: ganzoo train --resume {stopped})")
    assert line in result.stderr.splitlines()  # said once, by rank 0 (which got no signal itself)
    assert "stopped by SIGINT" not in result.stderr
    steps = [r["step"] for r in read_metrics(stopped / "metrics.jsonl")]
    assert steps == [1, 2, 3, 4, 5, 6]  # resumed after the stop, to the end


def test_rank_0_alone_writes_the_run_and_states_the_global_batch(ddp_runs):
    once, twice, result, _ = ddp_runs
    config = json.loads((once / "config.json").read_text())
    assert (config["world_size"], config["batch_size"], config["global_batch_size"]) == (2, 16, 32)
    assert result.stderr.count("global batch 32 (16 per batch x 2 processes (gloo on cpu))") == 9  # once per command
    assert result.stdout.count("Done: 6 steps.") == 1 and result.stdout.count("Done: 3 steps.") == 1
    assert sum(line.startswith("Run ") for line in result.stdout.splitlines()) == 3  # the three resumes, once each
    for run in (once, twice):
        # one record per step (not one per rank), the global images/s, and rank 0's files only
        records = read_metrics(run / "metrics.jsonl")
        assert [r["step"] for r in records] == [1, 2, 3, 4, 5, 6]
        assert all(r["images_per_s"] > 0 for r in records)
        assert sorted(p.name for p in (run / "samples").iterdir()) == ["step_000003.png", "step_000006.png"]
        assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["last.pt", "step_000003.pt", "step_000006.pt"]
    assert result.stderr.count("Error") == 1  # the "collapsed" run's line only


def test_a_collapse_found_on_one_rank_stops_both_with_exit_code_3(ddp_runs):
    once, _, result, _ = ddp_runs
    run = once.parent / "collapsed"
    lines = [line for line in result.stderr.splitlines() if "stopped (on_collapse=stop)" in line]
    assert len(lines) == 1 and lines[0].startswith("Error: step ") and "[rank 1]" not in result.stderr
    stopped = load_checkpoint(run / "checkpoints" / "last.pt")["progress"]["step"]
    last = read_metrics(run / "metrics.jsonl")[-1]
    # found at a logged step or its sample grid; the vote started there is read one step later, by both ranks
    assert 40 <= last["step"] < 100 and stopped == last["step"] + 1


def test_resuming_on_another_world_size_warns_that_the_data_order_changes(ddp_runs, cli, tmp_path, caplog):
    _, twice, _, _ = ddp_runs
    import shutil

    run = tmp_path / "run"
    shutil.copytree(twice, run)
    with caplog.at_level("WARNING", logger="ganzoo"):
        result = cli("train", "--resume", str(run), "--steps", "7", "--no-progress")
    assert result.exit_code == 0, result.output
    warning = " ".join(r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    assert "trained by 2 processes (global batch 32) and continues with 1 (global batch 16)" in warning
    assert "the data order and the latents change from step 6" in warning
    state = load_checkpoint(run / "checkpoints" / "last.pt")
    assert state["progress"]["step"] == 7 and "distributed" not in state
    assert json.loads((run / "config.json").read_text())["world_size"] == 1


def _rank_pid(launcher: subprocess.Popen, rank: int) -> int | None:
    """The pid of the worker with RANK=rank among the launcher's children (Linux /proc)."""
    for child in Path(f"/proc/{launcher.pid}/task/{launcher.pid}/children").read_text().split():
        try:
            environ = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"RANK={rank}".encode() in environ:
            return int(child)
    return None


def _kill_rank_1_after_a_checkpoint(launcher: subprocess.Popen, last: Path, deadline: float) -> int:
    while time.monotonic() < deadline:
        assert launcher.poll() is None, launcher.communicate()[1][-3000:]
        if last.exists():
            try:
                step = load_checkpoint(last)["progress"]["step"]
            except Exception:  # being replaced this instant
                step = 0
            pid = _rank_pid(launcher, 1)
            if step >= 2 and pid:
                os.kill(pid, signal.SIGKILL)
                return step
        time.sleep(0.2)
    raise AssertionError("no checkpoint in time")


def test_a_killed_rank_ends_the_job_with_one_line_and_a_loadable_checkpoint(tmp_path):
    out = tmp_path / "run"
    # the plain BatchNorm/BCE step (not the default recipe): the shortest steps, so rank 0 reaches its
    # next collective, and says so, before torchrun's stop signal reaches it
    args = [*TINY, "--loss", "bce", "--set", "norm=batch", "--set", "diffaugment=", "--set", "ema=false",
            "--steps", "2000", "--checkpoint-every", "1", "--sample-every", "1000", "--out", str(out)]
    launcher = subprocess.Popen([sys.executable, "-m", "ganzoo", "train", "--nproc", "2", *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env(tmp_path), cwd=tmp_path)
    try:
        _kill_rank_1_after_a_checkpoint(launcher, out / "checkpoints" / "last.pt", time.monotonic() + 120)
        killed = time.monotonic()
        _, stderr = launcher.communicate(timeout=60)
    finally:
        launcher.kill()
    assert time.monotonic() - killed < 60
    assert launcher.returncode == 1
    errors = [line for line in stderr.splitlines() if line.startswith("Error:")]
    # rank 0 says it lost its peer and what is kept; the launcher names the rank that died
    assert any(line.startswith("Error: rank 0: lost contact with the other processes") and "last.pt" in line
               for line in errors), stderr[-3000:]
    assert any("rank 1 (pid" in line and "was killed by SIGKILL" in line for line in errors), stderr[-3000:]
    assert "Traceback" not in stderr
    state = load_checkpoint(out / "checkpoints" / "last.pt")  # loadable; the restart test resumes from one
    assert 2 <= state["progress"]["step"] < 2000 and state["distributed"]["world_size"] == 2


def test_a_rank_that_lost_its_peer_is_not_ended_silently_by_torchruns_sigterm():
    """torchrun sends SIGTERM to the surviving ranks as soon as it sees one die, often while the
    survivor unwinds its lost-contact error (closing logs, drawing the loss plot). Python's
    default action would end it there without its one line (seen once in a fresh-clone run: the
    test above lost rank 0's line). After a lost peer SIGTERM is ignored, and the loop's deferred
    stop, on its way out, leaves that choice alone; without a lost peer it puts the previous
    handler back."""
    from ganzoo.signals import deferred_stop
    from ganzoo.train.distributed import Dist, PeerLost

    previous = signal.getsignal(signal.SIGTERM)
    try:
        with deferred_stop():
            pass
        assert signal.getsignal(signal.SIGTERM) is previous
        with pytest.raises(PeerLost, match="rank 0: lost contact .* kept"), deferred_stop():
            with Dist(rank=0, world_size=2).failures(lambda: "kept"):
                raise RuntimeError("[gloo] Connection closed by peer")
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_torchrun_restarts_a_killed_rank_and_the_job_resumes_from_the_last_checkpoint(tmp_path):
    out = tmp_path / "run"
    args = [*TINY, "--steps", "30", "--checkpoint-every", "1", "--sample-every", "1000", "--out", str(out)]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "--max-restarts", "1",
           "-m", "ganzoo", "train", *args]
    launcher = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(tmp_path),
                                cwd=tmp_path)
    try:
        killed_at = _kill_rank_1_after_a_checkpoint(launcher, out / "checkpoints" / "last.pt", time.monotonic() + 120)
        _, stderr = launcher.communicate(timeout=180)
    finally:
        launcher.kill()
    assert launcher.returncode == 0, stderr[-3000:]
    assert "torchrun restart 1: continuing" in stderr
    # The survivor of the first attempt says why it stopped in one line when it reaches its next
    # collective before torchrun's stop signal reaches it (the --nproc test above pins that line);
    # on a loaded machine torchrun can end it first (seen once: no line). Either way, no traceback.
    assert "Traceback" not in stderr, stderr[-3000:]
    assert load_checkpoint(out / "checkpoints" / "last.pt")["progress"]["step"] == 30
    steps = [r["step"] for r in read_metrics(out / "metrics.jsonl")]
    assert steps == sorted(set(steps)) and steps[-1] == 30 and killed_at < 30


def test_accumulated_batches_resume_exactly_and_count_in_the_global_batch(cli, tmp_path):
    once, twice = tmp_path / "once", tmp_path / "twice"
    args = [*TINY, "--set", "accumulate=2", "--set", "n_critic=2", "--set", "ema=true", "--set", "log_every=1",
            "--sample-every", "100", "--checkpoint-every", "100"]
    assert cli("train", *args, "--steps", "4", "--out", str(once)).exit_code == 0
    assert cli("train", *args, "--steps", "2", "--out", str(twice)).exit_code == 0
    assert cli("train", "--resume", str(twice), "--steps", "4", "--no-progress").exit_code == 0
    a, b = (load_checkpoint(run / "checkpoints" / "last.pt") for run in (once, twice))
    assert a["progress"]["batches"] == 4 * 2 * 2  # steps x n_critic x accumulate
    for net in ("generator", "discriminator", "ema"):
        assert same_tensors(a[net], b[net]), net
    config = json.loads((once / "config.json").read_text())
    assert (config["accumulate"], config["global_batch_size"]) == (2, 32)
    # 256 images / 16 = 16 batches an epoch; each step reads 4 of them
    assert read_metrics(once / "metrics.jsonl")[-1]["epoch"] == 1.0


def test_accumulating_sums_the_gradients_of_the_micro_batches(registry, tmp_path):
    """One D update with accumulate=2 equals the mean of the two micro-batches' gradients."""
    from ganzoo.config import resolve_config
    from ganzoo.run_dir import RunDir
    from ganzoo.train.loop import Trainer

    config = resolve_config(registry, arch="dcgan", data="shapes", flags={"image_size": 16, "batch_size": 8, "steps": 1},
                            set_items=["ngf=8", "ndf=8", "accumulate=2", "diffaugment="])  # by hand below: no DiffAugment
    images = torch.randint(0, 255, (64, 16, 16, 3), dtype=torch.uint8).numpy()
    trainer = Trainer(config, RunDir(tmp_path), registry, images, torch.device("cpu"))
    captured = {}
    step = trainer.opt_d.step

    def capture(*a, **k):
        captured.setdefault("d", [p.grad.clone() for p in trainer.D.parameters()])
        return step(*a, **k)

    trainer.opt_d.step = capture
    state = {k: v.clone() for k, v in trainer.D.state_dict().items()}
    g_state = {k: v.clone() for k, v in trainer.G.state_dict().items()}
    latent = trainer.latent_rng.get_state()
    trainer.train_step()
    # by hand: the same two batches and latents, each loss halved, summed into the same gradients
    trainer.D.load_state_dict(state)
    trainer.G.load_state_dict(g_state)
    trainer.latent_rng.set_state(latent)
    trainer.D.zero_grad(set_to_none=True)
    for index in range(2):
        real = trainer.feed.batch(index)
        z = torch.randn(8, config.nz, generator=trainer.latent_rng)
        with torch.no_grad():
            fake = trainer.G(z)
        loss = trainer.loss.discriminator_loss(trainer.D(real).view(-1), trainer.D(fake).view(-1)) / 2
        loss.backward()
    for got, want in zip(captured["d"], (p.grad for p in trainer.D.parameters())):
        assert torch.allclose(got, want, atol=1e-6)


def test_nproc_is_taken_out_of_the_command_torchrun_repeats():
    from ganzoo.train.launch import without_nproc

    assert without_nproc(["-v", "train", "--nproc", "2", "--arch", "dcgan", "--nproc=4", "--set", "nproc=1"]) == \
        ["-v", "train", "--arch", "dcgan", "--set", "nproc=1"]


@pytest.mark.gpu
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 GPUs")
def test_two_gpus_train_with_nccl_and_sync_bn_and_resume(tmp_path):
    out = tmp_path / "run"
    args = ["-m", "ganzoo", "train", *TINY, "--device", "cuda", "--set", "sync_bn=true", "--set", "ema=true"]
    result = torchrun(tmp_path, *args, "--steps", "4", "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 processes (nccl on cuda)" in result.stderr
    result = torchrun(tmp_path, "-m", "ganzoo", "train", "--resume", str(out), "--steps", "6", "--no-progress")
    assert result.returncode == 0, result.stderr[-3000:]
    state = load_checkpoint(out / "checkpoints" / "last.pt")
    assert state["progress"]["step"] == 6 and len(state["distributed"]["rng"]) == 2
    assert all("cuda" in r for r in state["distributed"]["rng"])
