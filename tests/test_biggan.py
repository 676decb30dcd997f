"""The biggan plugin: its networks at every size, parameter counts, the dogs preset on the
Stanford-layout fixture, and exact resume with spectral norm's power-iteration buffers."""

from __future__ import annotations

import json

import pytest
import torch

from datafixtures import make_dogs
from ganzoo.checkpoint import load_checkpoint
from ganzoo.testing import architecture_params, check_architecture

SMALL = {"ch": 4, "attn": 16}


@pytest.mark.parametrize("num_classes,sizes", [(None, (32, 128)), (5, (64,))], ids=["unconditional", "conditional"])
def test_biggan_networks_at_every_size(registry, num_classes, sizes):
    spec = registry.architecture("biggan")
    assert spec.conditional == "optional" and spec.defaults["conditional"] is True
    assert set(spec.image_sizes) == {16, 32, 64, 128}
    check_architecture(spec, params=SMALL, num_classes=num_classes, sizes=sizes, batch=2)


def test_biggan_uses_spectral_norm_hierarchical_z_and_attention(registry):
    from torch.nn.utils import parametrize

    spec = registry.architecture("biggan")
    params = {**architecture_params(spec, 64, {"ch": 4, "attn": 32}), "num_classes": 3}
    g, d = spec.build_generator(params), spec.build_discriminator(params)
    for net in (g, d):
        layers = [m for m in net.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
        assert layers and all(parametrize.is_parametrized(m, "weight") for m in layers)
    assert parametrize.is_parametrized(d.embed, "weight")  # the projection embedding too
    assert g.chunks == [24] * 5 and sum(g.chunks) == 120  # 4 up-blocks + the linear layer
    assert list(g.attention) == ["2"] and list(d.attention) == ["0"]  # at 32x32 in both
    with pytest.raises(ValueError, match="attn=4"):
        spec.build_generator({**params, "attn": 4})


def test_minibatch_std_tells_a_collapsed_batch_from_a_varied_one(registry):
    from ganzoo_biggan.layers import MinibatchStd

    layer = MinibatchStd(4)
    same = torch.randn(1, 3, 4, 4).repeat(8, 1, 1, 1)  # 8 copies of one sample
    varied = torch.randn(8, 3, 4, 4)
    assert layer(same).shape == (8, 4, 4, 4) and torch.equal(layer(same)[:, :3], same)
    assert layer(same)[:, 3].max() < 1e-3 < 0.5 < layer(varied)[:, 3].min()
    # groups are samples i, i + 2, i + 4, i + 6 (StyleGAN's layout): make group 0 collapsed, group 1 varied
    mixed = varied.clone()
    mixed[0::2] = varied[0]
    std = layer(mixed)[:, 3, 0, 0]
    assert std[0::2].max() < 1e-3 and std[1::2].min() > 0.5
    assert layer(torch.randn(7, 3, 4, 4)).shape == (7, 4, 4, 4)  # 7 does not divide by 4: groups of 1

    spec = registry.architecture("biggan")
    params = {**architecture_params(spec, 16, {"ch": 4, "attn": 0, "mbstd": 4}), "num_classes": 3}
    d = spec.build_discriminator(params)
    assert d.blocks[-1].conv1.in_channels == 2 * 4 + 1  # the std channel enters the last block
    assert d(varied.repeat(1, 1, 4, 4), torch.zeros(8, dtype=torch.long)).shape == (8,)


@pytest.mark.parametrize("layout16,g_widths,d_widths", [("tapered", [32, 16, 8], [8, 16, 32]),
                                                        ("flat", [32, 32, 32], [32, 32, 32])])
def test_the_16_px_layouts(registry, layout16, g_widths, d_widths):
    """tapered (the default) narrows G and widens D with resolution, as BigGAN's 64/128 px layouts;
    flat keeps 4 x ch throughout (the only 16 px layout before it, which old runs still build)."""
    spec = registry.architecture("biggan")
    params = {**architecture_params(spec, 16, {"ch": 8, "attn": 0, "layout16": layout16}), "num_classes": 3}
    g, d = spec.build_generator(params), spec.build_discriminator(params)
    assert [g.c0] + [block.conv2.out_channels for block in g.blocks] == g_widths  # 4, 8, 16 px
    assert [block.conv2.out_channels for block in d.blocks] == d_widths  # 8, 4, 4 px
    z, y = torch.randn(2, 120), torch.tensor([0, 2])
    assert d(g(z, y), y).shape == (2,)
    assert spec.params["layout16"].default == "tapered"


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# The figures the README states (ch=32, shared_dim=128, nz=120, attn=32).
COUNTS = {(64, 120): (3_188_000, 4_950_000), (32, 10): (1_270_000, 1_060_000), (128, 120): (8_450_000, 9_670_000)}


@pytest.mark.parametrize("size,classes", list(COUNTS))
def test_parameter_counts_at_the_defaults(registry, monkeypatch, size, classes):
    monkeypatch.setattr(torch.nn.init, "orthogonal_", lambda tensor, *args, **kwargs: tensor)  # QR of big matrices: slow, and no count changes
    spec = registry.architecture("biggan")
    params = {**architecture_params(spec, size), "num_classes": classes}
    g, d = count(spec.build_generator(params)), count(spec.build_discriminator(params))
    want_g, want_d = COUNTS[(size, classes)]
    assert abs(g - want_g) / want_g < 0.01 and abs(d - want_d) / want_d < 0.01, (g, d)


def test_the_dogs_preset_trains_on_the_stanford_fixture(cli, tmp_path):
    make_dogs(tmp_path / "dogs")
    out = tmp_path / "run"
    result = cli("train", "--arch", "biggan", "--data", "dogs", "--preset", "biggan-dogs", "--data-dir",
                 str(tmp_path / "dogs"), "--steps", "2", "--batch-size", "4", "--set", "ch=4", "--no-progress",
                 "--out", str(out))
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    assert config["num_classes"] == 2 and config["class_names"] == ["Chihuahua", "Japanese spaniel"]
    assert (config["loss"], config["lr_g"], config["lr_d"], config["beta1"], config["beta2"]) == ("hinge", 2e-4, 2e-4, 0.0, 0.999)
    assert config["ema"] and config["ema_start"] == 2000 and config["flip"] and config["image_size"] == 64
    state = load_checkpoint(out / "checkpoints" / "last.pt")
    assert state["progress"]["step"] == 2
    # before ema_start the EMA follows the weights exactly; its buffers are its own: standing
    # BatchNorm statistics (ema_bn=standing) and spectral norm's power-iteration vectors, which
    # advance while the statistics are computed in training mode
    own = ("running_mean", "running_var", "num_batches_tracked", "_u", "_v")
    weights = [k for k in state["generator"] if not k.endswith(own)]
    assert weights and all(torch.equal(state["ema"][k], state["generator"][k]) for k in weights)
    assert any(not torch.equal(state["ema"][k], state["generator"][k]) for k in state["generator"] if k.endswith("running_mean"))


def test_biggan_resumes_bit_exactly(cli, tmp_path):
    args = ["--arch", "biggan", "--image-size", "32", "--set", "ch=4", "--set", "attn=16", "--set", "count=64",
            "--batch-size", "16", "--set", "ema_start=1", "--seed", "5", "--no-progress",
            "--sample-every", "100", "--checkpoint-every", "100"]
    once, twice = tmp_path / "once", tmp_path / "twice"
    assert cli("train", *args, "--steps", "3", "--out", str(once)).exit_code == 0
    assert cli("train", *args, "--steps", "2", "--out", str(twice)).exit_code == 0
    assert cli("train", "--resume", str(twice), "--steps", "3", "--no-progress").exit_code == 0
    a, b = (load_checkpoint(p / "checkpoints" / "last.pt") for p in (once, twice))
    for net in ("generator", "discriminator", "ema"):
        assert any("_u" in k for k in a[net]) or net == "ema"  # spectral norm's vectors are state
        assert all(torch.equal(a[net][k], b[net][k]) for k in a[net]), net
