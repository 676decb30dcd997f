"""--set cuda_graph: which runs capture their step, the notice when one cannot, checkpoints that
move between captured and eager runs, and (on CUDA) a captured run against an eager one."""

from __future__ import annotations

import copy
import json
import logging

import numpy as np
import pytest
import torch

from ganzoo.checkpoint import load_checkpoint
from ganzoo.config import TrainConfig, resolve_config
from ganzoo.errors import UsageError
from ganzoo.run_dir import RunDir
from ganzoo.train.graphed import GraphedStep, plan, restore_optimizer_flags
from ganzoo.train.loop import Trainer, make_adam

from conftest import TINY

CPU, CUDA = torch.device("cpu"), torch.device("cuda")
OK = dict(loss_name="bce", loss_capturable=True, arch_name="dcgan", arch_capturable=True)


@pytest.mark.parametrize("setting, device, changes, notice", [
    ("auto", CUDA, {}, None),
    ("true", CUDA, {"amp": "bf16"}, None),
    ("auto", CPU, {}, None),  # auto is simply off on the CPU: no notice on every CPU run
    ("false", CUDA, {}, None),
    ("true", CPU, {}, "the run is on cpu, and CUDA graphs need a CUDA device"),
    ("auto", CUDA, {"world_size": 2}, "2 processes train together (DDP)"),
    ("auto", CUDA, {"accumulate": 4}, "accumulate=4"),
    ("auto", CUDA, {"amp": "fp16"}, "amp=fp16 (the gradient scaler syncs with the CPU; amp=bf16 can be captured)"),
    ("auto", CUDA, {"penalty": True, "loss_name": "wgan-gp", "loss_capturable": False},
     "loss 'wgan-gp' has a gradient penalty (a double backward)"),
    ("auto", CUDA, {"r1": True}, "r1 is on (the R1 penalty is a double backward)"),
    ("auto", CUDA, {"diffaugment": "color,translation"}, "DiffAugment is on"),
    ("true", CUDA, {"loss_name": "mine", "loss_capturable": False}, "loss 'mine' is not declared capturable"),
    ("auto", CUDA, {"arch_name": "theirs", "arch_capturable": False}, "architecture 'theirs' is not declared capturable"),
])
def test_which_runs_capture_their_step(setting, device, changes, notice):
    got = plan(setting, device, **{**OK, **changes})
    assert got.capture == (notice is None and (setting == "true" or (setting == "auto" and device.type == "cuda")))
    if notice is None:
        assert got.notice is None
    else:
        assert got.notice == f"cuda_graph={setting}: not captured, {notice}; the step runs eagerly"
        assert "\n" not in got.notice


def test_an_unknown_setting_is_refused():
    with pytest.raises(ValueError, match="auto, true, false"):
        plan("yes", CUDA, **OK)


def test_builtin_specs_declare_what_they_can_capture(registry):
    assert {n: registry.loss(n).capturable for n in ("bce", "hinge", "lsgan", "wgan-gp")} == \
        {"bce": True, "hinge": True, "lsgan": True, "wgan-gp": False}
    assert all(registry.architecture(a).capturable for a in ("dcgan", "cifar", "biggan"))


def test_the_setting_round_trips_and_bad_values_are_usage_errors(registry, cli, tmp_path):
    config = resolve_config(registry, arch="dcgan", data="shapes", flags={"steps": 2}, set_items=["cuda_graph=false"])
    assert config.cuda_graph == "false"
    assert TrainConfig.from_json(json.loads(json.dumps(config.to_json()))) == config
    assert resolve_config(registry, arch="dcgan", data="shapes", flags={"steps": 2}).cuda_graph == "auto"
    with pytest.raises(UsageError, match="cuda_graph"):
        resolve_config(registry, arch="dcgan", data="shapes", set_items=["cuda_graph=maybe"])
    result = cli("train", *TINY, "--steps", "1", "--set", "cuda_graph=maybe", "--out", str(tmp_path / "r"))
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1, result.output


def _trainer(registry, tmp_path, *items, device="cpu", steps=8, count=64):
    # diffaugment off: the dcgan defaults use it, and a captured step cannot (yet)
    config = resolve_config(registry, arch="dcgan", data="shapes", set_items=["ngf=8", "ndf=8", "diffaugment=", *items],
                            flags={"image_size": 16, "batch_size": 16, "steps": steps, "device": device, "seed": 1})
    images = np.random.default_rng(0).integers(0, 256, (count, 16, 16, 3), dtype=np.uint8)
    return Trainer(config, RunDir(tmp_path), registry, images, torch.device(device))


def test_true_on_the_cpu_is_a_one_line_notice_and_the_eager_step(registry, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="ganzoo"):
        trainer = _trainer(registry, tmp_path, "cuda_graph=true")
    notices = [r for r in caplog.records if "cuda_graph" in r.getMessage()]
    assert [r.levelno for r in notices] == [logging.WARNING]
    assert notices[0].getMessage() == ("cuda_graph=true: not captured, the run is on cpu, and CUDA graphs need "
                                       "a CUDA device; the step runs eagerly")
    assert trainer.graphed is None and not trainer.opt_g.param_groups[0]["capturable"]


def test_cpu_training_is_the_same_whatever_the_setting(registry, tmp_path):
    runs = []
    for setting in ("true", "false"):  # built and stepped in turn: each build seeds the global RNG
        trainer = _trainer(registry, tmp_path / setting, f"cuda_graph={setting}")
        for _ in range(3):
            trainer.train_step()
        runs.append(trainer)
    for a, b in zip(runs[0].G.state_dict().values(), runs[1].G.state_dict().values()):
        assert torch.equal(a, b)


def _stepped(capturable: bool, model: torch.nn.Module, steps: int, state=None, done: int = 0):
    """Adam over ``model`` stepped with gradients that depend on the step number; optionally from
    ``state`` saved after ``done`` steps."""
    opt = make_adam(model, 1e-2, (0.5, 0.9), CPU, capturable=capturable)
    if state is not None:
        restore_optimizer_flags(opt, lambda: opt.load_state_dict(state))
    for i in range(done, done + steps):
        for p in model.parameters():
            p.grad = torch.full_like(p, 0.1 * (i + 1))
        opt.step()
    return opt


@pytest.mark.parametrize("saved_capturable", [True, False], ids=["captured-to-eager", "eager-to-captured"])
def test_adam_state_moves_between_capturable_and_not(saved_capturable):
    torch.manual_seed(0)
    start = torch.nn.Linear(4, 3)
    one_go = copy.deepcopy(start)
    _stepped(saved_capturable, one_go, 5)
    first = copy.deepcopy(start)
    saved = copy.deepcopy(_stepped(saved_capturable, first, 3).state_dict())
    assert saved["param_groups"][0]["capturable"] is saved_capturable
    second = _stepped(not saved_capturable, first, 2, state=saved, done=3)
    # the loading optimizer keeps its own flag (torch alone would take the saved one) ...
    assert second.param_groups[0]["capturable"] is (not saved_capturable)
    assert all(s["step"].dtype == torch.float32 and s["step"].item() == 5 for s in second.state.values())
    # ... and continues exactly where the other stopped
    for a, b in zip(one_go.parameters(), first.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


def test_a_captured_runs_checkpoint_resumes_eagerly(registry, tmp_path):
    trainer = _trainer(registry, tmp_path / "a")
    trainer.train_step()
    state = copy.deepcopy(trainer.state())
    for opt in ("opt_g", "opt_d"):  # as a captured CUDA run saves it
        for group in state[opt]["param_groups"]:
            group["capturable"] = True
    resumed = _trainer(registry, tmp_path / "b")
    resumed.load_state(state)
    assert not resumed.opt_g.param_groups[0]["capturable"] and not resumed.opt_d.param_groups[0]["capturable"]
    resumed.train_step()
    trainer.train_step()
    for a, b in zip(trainer.G.state_dict().values(), resumed.G.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("items", [["n_critic=2", "ema=true", "ema_start=1"], ["conditional=true", "dropout=0.2"]],
                         ids=["two-critic-updates-ema", "conditional-dropout"])
def test_the_captured_body_computes_the_eager_step(registry, tmp_path, items):
    """The graph's body run eagerly (no capture on a CPU) against ``eager_step``: bit for bit."""
    def trainer(name):  # built in turn: each reseeds the global RNG (dropout) and uses it alone
        config = resolve_config(registry, arch="dcgan", data="shapes", set_items=["ngf=8", "ndf=8", "diffaugment=", *items],
                                flags={"image_size": 16, "batch_size": 16, "steps": 4, "device": "cpu", "seed": 2})
        rng = np.random.default_rng(0)
        images, labels = rng.integers(0, 256, (64, 16, 16, 3), dtype=np.uint8), rng.integers(0, 3, 64)
        if config.conditional:
            config.num_classes, config.class_names = 3, ["a", "b", "c"]
        return Trainer(config, RunDir(tmp_path / name), registry, images, CPU, labels=labels)

    eager, wants = trainer("eager"), []
    for _ in range(3):
        s = eager.eager_step()
        wants.append(torch.stack([s.loss_d, s.loss_g, s.d_real, s.d_fake, s.acc_real, s.acc_fake]))
        eager.step += 1
    body = trainer("body")
    graph = GraphedStep(body)
    for step, want in enumerate(wants):
        graph.inputs = [graph._draw() for _ in range(body.config.n_critic)]
        got = graph._step()
        body.update_ema()
        body.step += 1
        assert torch.equal(got, want), step
    for a, b in ((eager.G, body.G), (eager.D, body.D), *([(eager.ema.model, body.ema.model)] if eager.ema else [])):
        assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert eager.opt_d.state_dict()["state"][0]["step"] == body.opt_d.state_dict()["state"][0]["step"]


# ------------------------------------------------------------------------------ CUDA
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.mark.parametrize("amp", ["off", "bf16"])
@pytest.mark.parametrize("conditional", [False, True], ids=["unconditional", "conditional"])
@pytest.mark.gpu
@needs_cuda
def test_a_captured_run_follows_the_eager_run(registry, tmp_path, amp, conditional):
    items = [f"amp={amp}", "ema=true", "ema_decay=0.9", *(["conditional=true"] if conditional else [])]
    runs = {}
    for setting in ("true", "false"):
        config = resolve_config(registry, arch="dcgan", data="shapes", set_items=["ngf=8", "ndf=8", f"cuda_graph={setting}", *items],
                                flags={"image_size": 16, "batch_size": 16, "steps": 10, "device": "cuda", "seed": 1})
        rng = np.random.default_rng(0)
        images = rng.integers(0, 256, (64, 16, 16, 3), dtype=np.uint8)
        labels = rng.integers(0, 3, 64) if conditional else None
        if conditional:
            config.num_classes, config.class_names = 3, ["a", "b", "c"]
        trainer = Trainer(config, RunDir(tmp_path / setting), registry, images, CUDA, labels=labels)
        runs[setting] = trainer, [trainer.train_step() for _ in range(10)]
    (graphed, g_stats), (eager, e_stats) = runs["true"], runs["false"]
    assert graphed.graphed is not None and graphed.graphed.captured and eager.graphed is None
    tol = dict(rtol=2e-2, atol=2e-3) if amp == "bf16" else dict(rtol=1e-3, atol=1e-4)
    for g, e in zip(g_stats, e_stats):
        for key in ("loss_d", "loss_g", "d_real", "d_fake"):
            torch.testing.assert_close(getattr(g, key), getattr(e, key), **tol)
    for net in ("G", "D"):
        for a, b in zip(getattr(graphed, net).state_dict().values(), getattr(eager, net).state_dict().values()):
            torch.testing.assert_close(a.float(), b.float(), **tol)
    for a, b in zip(graphed.ema.state_dict().values(), eager.ema.state_dict().values()):
        torch.testing.assert_close(a.float(), b.float(), **tol)
    assert graphed.batches == eager.batches
    assert torch.equal(graphed.latent_rng.get_state(), eager.latent_rng.get_state())


@pytest.mark.gpu
@needs_cuda
def test_a_captured_run_resumes_on_cuda_and_on_the_cpu(cli, tmp_path):
    once, twice = tmp_path / "once", tmp_path / "twice"
    args = [*TINY, "--device", "cuda", "--set", "cuda_graph=true", "--set", "ema=true"]
    assert cli("train", *args, "--steps", "12", "--out", str(once)).exit_code == 0
    assert cli("train", *args, "--steps", "6", "--out", str(twice)).exit_code == 0
    assert cli("train", "--resume", str(twice), "--steps", "12", "--no-progress").exit_code == 0
    a, b = (load_checkpoint(r / "checkpoints" / "last.pt") for r in (once, twice))
    assert a["progress"] == b["progress"] and a["opt_g"]["param_groups"][0]["capturable"]
    assert torch.equal(a["rng"]["latent"], b["rng"]["latent"])
    for net in ("generator", "discriminator", "ema"):
        for k in a[net]:
            torch.testing.assert_close(a[net][k].float(), b[net][k].float(), rtol=1e-3, atol=1e-4)
    result = cli("train", "--resume", str(twice), "--device", "cpu", "--steps", "13", "--no-progress")
    assert result.exit_code == 0, result.output
    assert load_checkpoint(twice / "checkpoints" / "last.pt")["progress"]["step"] == 13



@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("setting", ["false", "true"])
def test_steps_between_log_points_do_not_synchronise(registry, tmp_path, setting):
    """What the loop does each step (the step, the sums kept on the device) never waits for the GPU."""
    trainer = _trainer(registry, tmp_path, f"cuda_graph={setting}", "flip=true", "zoom=0.1", "ema=true",
                       device="cuda", count=512)  # 32 batches an epoch: no new permutation below
    for _ in range(5):  # the graph's warm-up and capture synchronise, once
        trainer.train_step()
    sums = {}
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(5):
            for key, value in vars(trainer.train_step()).items():
                if value is not None:
                    sums[key] = sums[key] + value if key in sums else value
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert 0 <= float(sums["d_real"]) / 5 <= 1
