"""Every registered architecture at every size it declares: output shapes, range, logits."""

import pytest
import torch

from ganzoo.networks import build_discriminator, build_generator, check_shapes
from ganzoo.plugins import load_registry


def _cases():
    registry = load_registry()
    for name in registry.names("architecture"):
        if registry.get("architecture", name).distribution != "ganzoo":
            continue  # the built-ins; third-party plugins test themselves (ganzoo.testing)
        spec = registry.architecture(name)
        for size in spec.image_sizes:
            yield pytest.param(name, size, id=f"{name}-{size}")


def _small_params(spec, size):
    params = {k: p.default for k, p in spec.params.items()}
    # narrow networks keep the test fast; widths are multiples of 8 for every built-in
    for key in ("ngf", "ndf"):
        if key in params:
            params[key] = 8
    return {"nz": spec.latent_size, "image_size": size, **params}


@pytest.mark.parametrize("name,size", list(_cases()))
def test_shapes_at_every_supported_size(name, size):
    spec = load_registry().architecture(name)
    params = _small_params(spec, size)
    torch.manual_seed(0)
    g, d = build_generator(spec, params), build_discriminator(spec, params)
    check_shapes(spec, g, d, params)
    z = torch.randn(3, spec.latent_size)
    images = g(z)
    assert images.shape == (3, 3, size, size)
    assert images.min() >= -1 and images.max() <= 1
    assert images.std() > 0  # not a constant output
    logits = d(images)
    assert logits.reshape(-1).shape == (3,)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("size", [16, 32, 64])
def test_dcgan_nearest_upsampling_replaces_every_strided_transpose(size):
    spec = load_registry().architecture("dcgan")
    params = {**_small_params(spec, size), "upsample": "nearest"}
    g = build_generator(spec, params)
    transposed = [m for m in g.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [m.stride for m in transposed] == [(1, 1)]  # only the 1x1 -> 4x4 projection of z is left
    ups = [m for m in g.modules() if isinstance(m, torch.nn.Upsample)]
    assert len(ups) == int(size).bit_length() - 3 and all(u.mode == "nearest" for u in ups)  # 4 -> size
    images = g(torch.randn(2, spec.latent_size))
    assert images.shape == (2, 3, size, size)
    # nearest upsampling: every output pixel of a 3x3 conv sees the same number of weights, so a
    # constant feature map stays constant away from the border (a ConvTranspose 4/2/1 would tile it)
    layer = torch.nn.Sequential(torch.nn.Upsample(scale_factor=2), g.main[-2])
    with torch.no_grad():
        out = layer(torch.ones(1, layer[1].in_channels, 6, 6))[0, :, 1:-1, 1:-1]
    assert torch.allclose(out, out[:, :1, :1].expand_as(out), atol=1e-6)


def test_dcgan_init_follows_the_paper():
    spec = load_registry().architecture("dcgan")
    g = build_generator(spec, {"nz": 100, "image_size": 64, "ngf": 64, "ndf": 64, "dropout": 0.0})
    convs = [m for m in g.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert len(convs) == 5  # 1 -> 4 -> 8 -> 16 -> 32 -> 64
    w = torch.cat([c.weight.flatten() for c in convs])
    assert abs(w.std().item() - 0.02) < 0.002 and abs(w.mean().item()) < 0.002


def test_dcgan_dropout_in_discriminator():
    spec = load_registry().architecture("dcgan")
    d = build_discriminator(spec, {"nz": 100, "image_size": 32, "ngf": 8, "ndf": 8, "dropout": 0.3})
    assert any(isinstance(m, torch.nn.Dropout2d) and m.p == 0.3 for m in d.modules())


@pytest.mark.parametrize("arch", ["dcgan", "cifar"])
def test_spectral_norm_discriminator_has_unit_spectral_norm_layers(arch):
    spec = load_registry().architecture(arch)
    params = {"nz": spec.latent_size, "image_size": 32, "ngf": 8, "ndf": 8, "dropout": 0.0, "norm": "spectral"}
    d = build_discriminator(spec, params)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in d.modules())
    layers = [m for m in d.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert layers and all(torch.nn.utils.parametrize.is_parametrized(m, "weight") for m in layers)
    d.train()
    x = torch.randn(4, 3, 32, 32)
    for _ in range(30):  # each training-mode forward runs one power iteration per layer
        d(x)
    d.eval()
    for m in layers:  # the effective weight's largest singular value is ~1
        sigma = torch.linalg.matrix_norm(m.weight.detach().flatten(1), ord=2).item()
        assert abs(sigma - 1.0) < 0.05, (m, sigma)
    batch = build_discriminator(spec, {**params, "norm": "batch"})
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in batch.modules())
    assert not any(torch.nn.utils.parametrize.is_parametrized(m) for m in batch.modules())


def test_wrong_generator_shape_is_caught_at_build_time():
    from ganzoo import ArchitectureSpec
    from ganzoo.errors import PluginError

    spec = ArchitectureSpec("bad", "wrong size", (32,), 4,
                            build_generator=lambda p: torch.nn.Sequential(torch.nn.Linear(4, 3 * 16 * 16), torch.nn.Unflatten(1, (3, 16, 16))),
                            build_discriminator=lambda p: torch.nn.Sequential(torch.nn.Flatten(), torch.nn.LazyLinear(1)))
    params = {"nz": 4, "image_size": 32}
    with pytest.raises(PluginError, match=r"\(2, 3, 16, 16\).*expected \(2, 3, 32, 32\)"):
        check_shapes(spec, spec.build_generator(params), spec.build_discriminator(params), params)
