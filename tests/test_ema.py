"""The EMA generator's BatchNorm statistics: standing (recomputed for the averaged weights) or copied."""

from __future__ import annotations

import json

import torch
from torch import nn

from conftest import TINY
from ganzoo.checkpoint import load_checkpoint
from ganzoo.train.ema import EMA
from ganzoo_dcgan.models import Generator


def bn_inputs(model: nn.Module, z: torch.Tensor) -> list[torch.Tensor]:
    """What every BatchNorm of ``model`` sees for input ``z``, in order."""
    seen = []
    hooks = [m.register_forward_hook(lambda m, args, out: seen.append(args[0].detach()))
             for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    try:
        model(z)
    finally:
        for h in hooks:
            h.remove()
    return seen


def test_standing_stats_are_the_mean_over_the_batches_of_the_averaged_weights():
    torch.manual_seed(0)
    G = Generator(nz=8, ngf=4, image_size=16)
    ema = EMA(G, decay=0.9)
    with torch.no_grad():  # the average drifts away from G, so G's running statistics no longer fit it
        for p in G.parameters():
            p.mul_(1.5)
    ema.update(G)
    batches = [torch.randn(16, 8, generator=torch.Generator().manual_seed(i)) for i in range(5)]
    draws = iter(batches)
    assert ema.standing_stats(lambda gen: (next(draws),), batches=5, seed=0)
    norms = [m for m in ema.model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms and all(m.momentum == 0.1 for m in norms)  # momentum restored
    assert not ema.model.training
    stats = [(m.running_mean.clone(), m.running_var.clone()) for m in norms]

    # what each BatchNorm saw: in train mode its input depends on the weights and on the batch
    # statistics of the ones before it, never on running statistics, so a second pass sees the same
    ema.model.train()
    with torch.no_grad():
        per_batch = [bn_inputs(ema.model, z) for z in batches]
    for i, (running_mean, running_var) in enumerate(stats):
        means = torch.stack([b[i].mean(dim=(0, 2, 3)) for b in per_batch])  # (batches, C)
        variances = torch.stack([b[i].transpose(0, 1).flatten(1).var(dim=1) for b in per_batch])  # unbiased
        torch.testing.assert_close(running_mean, means.mean(0), rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(running_var, variances.mean(0), rtol=1e-4, atol=1e-5)
    # and they are the averaged weights' statistics, not the raw generator's
    assert not torch.allclose(stats[0][0], next(m for m in G.modules() if isinstance(m, nn.BatchNorm2d)).running_mean)


def test_a_generator_without_batchnorm_is_left_alone():
    G = nn.Sequential(nn.Linear(4, 4))
    ema = EMA(G, decay=0.9)
    assert ema.standing_stats(lambda gen: (torch.randn(2, 4, generator=gen),), batches=2, seed=0) is False


def ema_and_generator_stats(run) -> tuple[torch.Tensor, torch.Tensor]:
    state = load_checkpoint(run / "checkpoints" / "last.pt")
    key = next(k for k in state["ema"] if k.endswith("running_mean"))
    return state["ema"][key], state["generator"][key]


def test_runs_save_standing_statistics_by_default_and_copies_when_asked(cli, tmp_path):
    standing, copy = tmp_path / "standing", tmp_path / "copy"
    assert cli("train", *TINY, "--steps", "8", "--out", str(standing)).exit_code == 0
    assert cli("train", *TINY, "--steps", "8", "--set", "ema_bn=copy", "--out", str(copy)).exit_code == 0
    assert json.loads((standing / "config.json").read_text())["ema_bn"] == "standing"
    ema_mean, g_mean = ema_and_generator_stats(standing)
    assert not torch.allclose(ema_mean, g_mean)
    ema_mean, g_mean = ema_and_generator_stats(copy)
    assert torch.equal(ema_mean, g_mean)


def test_a_config_from_before_the_setting_keeps_copying(tmp_path):
    from ganzoo.config import TrainConfig

    old = {"arch": "dcgan", "data": "shapes", "image_size": 16, "nz": 100, "batch_size": 16, "lr_g": 2e-4,
           "lr_d": 2e-4, "beta1": 0.5, "beta2": 0.999, "loss": "bce", "ema": True}
    assert TrainConfig.from_json(old).ema_bn == "copy"
