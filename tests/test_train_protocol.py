"""The training protocol around the step: EMA, presets, the loss curve, stops (Ctrl-C, NaN), AMP."""

import json
import os
import signal

import numpy as np
import pytest
import torch
from PIL import Image

import ganzoo
from ganzoo.checkpoint import load_checkpoint
from ganzoo.config import resolve_config
from ganzoo.errors import UsageError
from ganzoo.testing import plugin_registered
from ganzoo.train.loop import Trainer
from ganzoo.train.metrics import read_metrics
from ganzoo.train.precision import resolve_amp

from conftest import TINY


def test_ema_weights_are_checkpointed_and_sampled(cli, tmp_path):
    out = tmp_path / "run"
    result = cli("train", *TINY, "--steps", "4", "--set", "ema=true", "--set", "ema_decay=0.9",
                 "--checkpoint-every", "2", "--sample-every", "4", "--out", str(out))
    assert result.exit_code == 0, result.output
    full = load_checkpoint(out / "checkpoints" / "last.pt")
    snap = load_checkpoint(out / "checkpoints" / "step_000002.pt")
    for state in (full, snap):
        assert set(state["ema"]) == set(state["generator"])  # the generator's keys exactly
    g, ema = full["generator"], full["ema"]
    weights = [k for k in g if g[k].is_floating_point() and "running" not in k]
    assert any(not torch.equal(g[k], ema[k]) for k in weights)  # an average, not a copy
    # BatchNorm statistics are the averaged weights' own (ema_bn=standing; tests/test_ema.py)
    assert any(not torch.equal(g[k], ema[k]) for k in g if "running_mean" in k)

    # The last sample grid is drawn by the EMA weights: rebuild both generators and compare.
    from ganzoo.images import save_grid
    from ganzoo.networks import build_generator
    from ganzoo.plugins import load_registry
    from ganzoo.train.loop import SAMPLE_COUNT

    config = json.loads((out / "config.json").read_text())
    spec = load_registry().architecture("dcgan")
    params = {"nz": config["nz"], "image_size": config["image_size"], **config["arch_params"]}
    z = torch.randn(SAMPLE_COUNT, config["nz"], generator=torch.Generator().manual_seed(config["seed"]))
    grids = {}
    for key in ("ema", "generator"):
        G = build_generator(spec, params).eval()
        G.load_state_dict(full[key])
        with torch.no_grad():
            save_grid(G(z), tmp_path / f"{key}.png")
        grids[key] = np.asarray(Image.open(tmp_path / f"{key}.png"))
    written = np.asarray(Image.open(out / "samples" / "step_000004.png"))
    assert np.array_equal(written, grids["ema"]) and not np.array_equal(written, grids["generator"])


def test_loss_curve_png_is_written(cli, tmp_path):
    out = tmp_path / "run"
    # channels_last on the CPU too: the format must not change what the loop does
    assert cli("train", *TINY, "--steps", "3", "--set", "log_every=1", "--set", "channels_last=true",
               "--out", str(out)).exit_code == 0
    image = Image.open(out / "loss_curve.png")
    assert image.format == "PNG" and image.size[0] > 300
    assert np.asarray(image.convert("L")).std() > 5  # curves were drawn, not a blank canvas


def _tensorboard_scalars(logdir, tag):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(logdir))
    events.Reload()
    return [(e.step, e.value) for e in events.Scalars(tag)]


def test_tensorboard_events_when_installed(cli, tmp_path):
    pytest.importorskip("tensorboard")
    out = tmp_path / "run"
    assert cli("train", *TINY, "--steps", "4", "--set", "log_every=1", "--out", str(out)).exit_code == 0
    assert cli("train", "--resume", str(out), "--steps", "6").exit_code == 0
    loss_g = _tensorboard_scalars(out / "tensorboard", "train/loss_g")
    # every step once, the checkpoint's own step included, and the same values metrics.jsonl holds
    assert [step for step, _ in loss_g] == [1, 2, 3, 4, 5, 6]
    logged = {r["step"]: r["loss_g"] for r in read_metrics(out / "metrics.jsonl")}
    assert [round(v, 4) for _, v in loss_g] == [round(logged[s], 4) for s in range(1, 7)]


def test_tensorboard_hides_what_a_killed_run_logged_after_its_checkpoint(tmp_path):
    pytest.importorskip("tensorboard")
    from ganzoo.train.tensorboard import TensorBoardLog

    first = TensorBoardLog(tmp_path)  # logged to step 4, but its last checkpoint was step 2
    for step in (1, 2, 3, 4):
        first.write({"step": step, "loss_g": float(step)})
    first.close()
    resumed = TensorBoardLog(tmp_path, purge_step=3)
    for step in (3, 4, 5):
        resumed.write({"step": step, "loss_g": 10.0 * step})
    resumed.close()
    assert _tensorboard_scalars(tmp_path, "train/loss_g") == [(1, 1.0), (2, 2.0), (3, 30.0), (4, 40.0), (5, 50.0)]


def test_ctrl_c_saves_the_last_whole_step_and_resumes(cli, tmp_path, monkeypatch):
    out = tmp_path / "run"
    real_step = Trainer.train_step
    # What the process had before: default_int_handler normally, SIG_IGN under `make test &`.
    handler_before = signal.getsignal(signal.SIGINT)

    def step_then_ctrl_c(self):
        stats = real_step(self)
        if self.batches == 3:  # Ctrl-C arrives during step 3: the loop finishes the step first
            os.kill(os.getpid(), signal.SIGINT)
        return stats

    monkeypatch.setattr(Trainer, "train_step", step_then_ctrl_c)
    result = cli("train", *TINY, "--steps", "6", "--out", str(out))
    assert result.exit_code == 130
    assert result.output.strip() == (f"stopped by SIGINT at step 3; checkpoint saved to {out}/checkpoints/last.pt "
                                     f"(continue with: ganzoo train --resume {out})")
    state = load_checkpoint(out / "checkpoints" / "last.pt")
    assert (state["progress"]["step"], state["progress"]["batches"]) == (3, 3)
    monkeypatch.setattr(Trainer, "train_step", real_step)
    assert cli("train", "--resume", str(out), "--no-progress").exit_code == 0
    assert load_checkpoint(out / "checkpoints" / "last.pt")["progress"]["step"] == 6
    assert signal.getsignal(signal.SIGINT) is handler_before  # handler restored


class NaNAfterThree:
    """A loss plugin that diverges on its fourth use (as a too-high learning rate would)."""

    @ganzoo.hookimpl
    def ganzoo_register_losses(self, register):
        def build(options):
            from ganzoo_losses.losses import NonSaturatingBCE

            class Diverging(NonSaturatingBCE):
                calls = 0

                def discriminator_loss(self, real_logits, fake_logits):
                    Diverging.calls += 1
                    loss = super().discriminator_loss(real_logits, fake_logits)
                    return loss * float("nan") if Diverging.calls >= 4 else loss

            return Diverging(**options)

        register(ganzoo.LossSpec("test-diverging", "diverges at step 4", build))


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(cli, tmp_path):
    out = tmp_path / "run"
    with plugin_registered(NaNAfterThree()):
        result = cli("train", *TINY, "--loss", "test-diverging", "--steps", "8", "--checkpoint-every", "2",
                     "--set", "log_every=1", "--out", str(out))
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "became nan by step 4" in lines[0] and "(step 2)" in lines[0]
    state = load_checkpoint(out / "checkpoints" / "last.pt")
    assert state["progress"]["step"] == 2
    assert all(torch.isfinite(v).all() for v in state["generator"].values() if v.is_floating_point())
    assert [r["step"] for r in read_metrics(out / "metrics.jsonl")] == [1, 2, 3]  # no NaN record


class StubDatasets:
    """cifar10 and dogs stand-ins with the parameters the presets set, for a checkout without them."""

    @ganzoo.hookimpl
    def ganzoo_register_datasets(self, register):
        def load(request):
            return ganzoo.ImageSet(images=np.zeros((64, request.image_size, request.image_size, 3), np.uint8))

        register(ganzoo.DatasetSpec("cifar10", "stub", load, params={"subset": ganzoo.Param(0)}))
        register(ganzoo.DatasetSpec("dogs", "stub", load))


@pytest.fixture
def preset_registry(registry):
    if {"cifar10", "dogs"} <= {e.name for e in registry.all() if e.kind == "dataset"}:
        yield registry
        return
    with plugin_registered(StubDatasets()) as stubbed:
        yield stubbed


@pytest.mark.parametrize("name,arch,data,expect", [
    ("dogs-dcgan", "dcgan", "dogs", {"batch_size": 32, "lr_g": 1e-3, "lr_d": 5e-4, "epochs": 10, "nz": 128}),
    ("dcgan64", "dcgan", "shapes", {"batch_size": 128, "nz": 100, "epochs": 25, "lr_g": 2e-4, "sample_every": 5}),
    ("cifar-subset", "cifar", "cifar10", {"batch_size": 64, "nz": 256, "lr_g": 5e-3, "beta2": 0.99, "epochs": 250}),
])
def test_presets_reproduce_the_seed_projects(preset_registry, name, arch, data, expect):
    config = resolve_config(preset_registry, arch=None, data=None, preset=name)
    assert (config.arch, config.data, config.preset) == (arch, data, name)
    assert {k: getattr(config, k) for k in expect} == expect
    if name == "dogs-dcgan":
        assert config.arch_params["dropout"] > 0
    if name == "cifar-subset":
        assert config.data_params["subset"] == 2500


def test_flags_override_a_preset(preset_registry):
    config = resolve_config(preset_registry, arch=None, data=None, preset="dogs-dcgan",
                            flags={"lr_g": 3e-4, "steps": 50}, set_items=["dropout=0"])
    assert (config.lr_g, config.lr_d, config.steps, config.epochs, config.arch_params["dropout"]) == (3e-4, 5e-4, 50, None, 0.0)


def test_a_presets_epoch_schedule_is_not_read_as_steps(preset_registry):
    # dcgan64 samples every 5 epochs; with --steps 2000 that must not become a grid every 5 steps
    config = resolve_config(preset_registry, arch=None, data=None, preset="dcgan64", flags={"steps": 2000})
    assert (config.steps, config.sample_every, config.checkpoint_every) == (2000, 200, 200)
    config = resolve_config(preset_registry, arch=None, data=None, preset="dcgan64",
                            flags={"steps": 2000, "sample_every": 50})
    assert config.sample_every == 50  # given with --steps: meant as steps
    config = resolve_config(preset_registry, arch=None, data=None, preset="dcgan64", flags={"epochs": 40})
    assert config.sample_every == 5  # same unit as the preset: kept


def test_presets_are_listed(cli):
    table = cli("plugins").output.split("presets:")[1]
    assert all(name in table for name in ("dogs-dcgan", "dcgan64", "cifar-subset"))


def test_mixed_precision_is_a_cuda_feature():
    cpu = torch.device("cpu")
    assert resolve_amp("auto", cpu) == "off" and resolve_amp("off", cpu) == "off"
    assert resolve_amp("auto", cpu, batch_size=512) == "off"
    for mode in ("bf16", "fp16"):
        with pytest.raises(UsageError, match="needs a CUDA device"):
            resolve_amp(mode, cpu)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_auto_precision_on_cuda_follows_the_batch_size():
    cuda = torch.device("cuda")
    assert resolve_amp("auto", cuda, batch_size=128) == "off"
    assert resolve_amp("auto", cuda, batch_size=512) == ("bf16" if torch.cuda.is_bf16_supported() else "off")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_mixed_precision_trains_on_cuda(cli, tmp_path, amp):
    out = tmp_path / amp
    result = cli("train", *TINY, "--device", "cuda", "--steps", "3", "--set", f"amp={amp}", "--set", "n_critic=2",
                 "--set", "channels_last=true", "--set", "ema=true", "--set", "log_every=1", "--out", str(out))
    assert result.exit_code == 0, result.output
    state = load_checkpoint(out / "checkpoints" / "last.pt")
    assert ("scaler" in state) == (amp == "fp16") and "ema" in state
    assert all(np.isfinite(r["loss_d"]) for r in read_metrics(out / "metrics.jsonl"))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_resume_on_cuda_including_a_cpu_run_moved_to_cuda(cli, tmp_path):
    cuda_run, cpu_run = tmp_path / "cuda", tmp_path / "cpu"
    assert cli("train", *TINY, "--device", "cuda", "--steps", "2", "--set", "ema=true", "--out", str(cuda_run)).exit_code == 0
    assert cli("train", "--resume", str(cuda_run), "--steps", "4").exit_code == 0
    assert cli("train", *TINY, "--device", "cpu", "--steps", "2", "--out", str(cpu_run)).exit_code == 0
    assert cli("train", "--resume", str(cpu_run), "--device", "cuda", "--steps", "4").exit_code == 0
    for run in (cuda_run, cpu_run):
        assert load_checkpoint(run / "checkpoints" / "last.pt")["progress"]["step"] == 4
