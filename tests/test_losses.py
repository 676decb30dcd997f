"""The built-in losses: what each one rewards, the WGAN-GP penalty, and a short run with each."""

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from ganzoo.checkpoint import load_checkpoint
from ganzoo.train.loop import Trainer
from ganzoo.train.metrics import read_metrics

from conftest import TINY

LOSSES = ["bce", "hinge", "lsgan", "wgan-gp"]


def build(registry, name, **options):
    return registry.loss(name).build({"label_smoothing": 0.0, **options})


@pytest.mark.parametrize("name", LOSSES)
def test_discriminator_is_rewarded_for_telling_real_from_fake(registry, name):
    loss = build(registry, name)
    right = loss.discriminator_loss(torch.full((8,), 2.0), torch.full((8,), -2.0))
    wrong = loss.discriminator_loss(torch.full((8,), -2.0), torch.full((8,), 2.0))
    assert right < wrong


@pytest.mark.parametrize("name", LOSSES)
def test_generator_gradient_pushes_fakes_towards_real(registry, name):
    loss = build(registry, name)
    fake_logits = torch.zeros(8, requires_grad=True)
    loss.generator_loss(fake_logits).backward()
    assert (fake_logits.grad < 0).all()  # a gradient step raises D's score of the fakes


@pytest.mark.parametrize("name", ["bce", "hinge", "lsgan"])
def test_label_smoothing_softens_the_real_target(registry, name):
    # With smoothing, a very confident D is penalised on real images more than without it.
    real, fake = torch.full((8,), 5.0), torch.full((8,), -5.0)
    plain = build(registry, name).discriminator_loss(real, fake)
    smooth = build(registry, name, label_smoothing=0.2).discriminator_loss(real, fake)
    assert smooth > plain or name == "hinge" and smooth == plain  # hinge: margin 0.8 < 5, both zero
    at_target = build(registry, name, label_smoothing=0.2).discriminator_loss(torch.full((8,), 0.8), fake)
    if name == "lsgan":
        assert at_target < smooth  # LSGAN's optimum for real moved to 0.8


def test_gradient_penalty_is_zero_for_a_unit_gradient_critic(registry):
    loss = build(registry, "wgan-gp")
    critic = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 1, bias=False))
    with torch.no_grad():
        w = torch.randn(1, 48)
        critic[1].weight.copy_(w / w.norm())  # ||grad_x D|| = 1 everywhere
    real, fake = torch.randn(6, 3, 4, 4), torch.randn(6, 3, 4, 4)
    assert loss.penalty(critic, real, fake).item() == pytest.approx(0.0, abs=1e-8)
    with torch.no_grad():
        critic[1].weight.mul_(3.0)  # norm 3: penalty = 10 * (3 - 1)^2
    assert loss.penalty(critic, real, fake).item() == pytest.approx(loss.gp_weight * 4.0, rel=1e-5)
    assert loss.last_penalty.item() == pytest.approx(4.0, rel=1e-5)


def test_gradient_penalty_reaches_the_critic_weights(registry):
    loss = build(registry, "wgan-gp")
    critic = nn.Sequential(nn.Conv2d(3, 4, 3), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(4 * 2 * 2, 1))
    loss.penalty(critic, torch.randn(4, 3, 4, 4), torch.randn(4, 3, 4, 4)).backward()
    assert critic[0].weight.grad.abs().sum() > 0  # the penalty shapes the critic, not only its input


@pytest.mark.parametrize("name", ["hinge", "lsgan"])  # bce: every other run; wgan-gp: tests/test_resume.py
def test_each_loss_trains_through_the_cli(cli, tmp_path, name):
    out = tmp_path / name
    result = cli("train", *TINY, "--loss", name, "--steps", "2", "--set", "log_every=1",
                 "--sample-every", "100", "--out", str(out))
    assert result.exit_code == 0, result.output
    records = read_metrics(out / "metrics.jsonl")
    assert [r["step"] for r in records] == [1, 2]
    assert all(torch.isfinite(torch.tensor([r["loss_d"], r["loss_g"]])).all() for r in records)
    assert "gp" not in records[-1]


def test_r1_is_the_squared_gradient_norm_at_real_images():
    """R1 of a linear D(x) = <w, x> + b is ||w||^2 for every image, whatever the image."""
    D = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 1))
    trainer = SimpleNamespace(D=D, _call=Trainer._call)
    r1 = Trainer._r1(trainer, torch.randn(5, 3, 4, 4), None)
    assert torch.allclose(r1, D[1].weight.square().sum())
    r1.backward()  # and it reaches D's weights (a double backward)
    assert torch.allclose(D[1].weight.grad, 2 * D[1].weight)


def test_r1_through_the_cli_is_logged_and_changes_d(cli, tmp_path):
    runs = {}
    for gamma in ("0", "10"):
        out = tmp_path / f"r1-{gamma}"
        result = cli("train", *TINY, "--loss", "bce", "--set", f"r1={gamma}", "--set", "norm=none", "--steps", "3",
                     "--set", "log_every=1", "--sample-every", "100", "--out", str(out))
        assert result.exit_code == 0, result.output
        runs[gamma] = out
    records = read_metrics(runs["10"] / "metrics.jsonl")
    assert all(r["r1"] > 0 for r in records)
    assert "r1" not in read_metrics(runs["0"] / "metrics.jsonl")[-1]
    a, b = (load_checkpoint(runs[g] / "checkpoints" / "last.pt")["discriminator"] for g in ("0", "10"))
    assert any(not torch.equal(a[k], b[k]) for k in a)  # the penalty reached D's update
    bad = cli("train", *TINY, "--set", "r1=-1", "--steps", "1", "--out", str(tmp_path / "bad"))
    assert bad.exit_code == 2 and "r1" in bad.output and "Traceback" not in bad.output
