"""The plugin's own tests: run `pytest tests` in this directory (CPU, a few seconds)."""

import ganzoo
import ganzoo_plugin_example
from ganzoo.testing import check_architecture, plugin_registered


def test_resgan_registers_and_builds_at_every_size():
    with plugin_registered(ganzoo_plugin_example) as registry:
        spec = registry.architecture("resgan")
        # narrow networks: the checks are about shapes and gradients, not quality
        check_architecture(spec, params={"gwidth": 16, "dwidth": 16})


def test_resgan_discriminator_is_spectrally_normalised():
    from ganzoo_plugin_example.models import ResDiscriminator

    d = ResDiscriminator(width=16, image_size=16)
    assert sum("parametrizations" in name for name, _ in d.named_parameters()) >= 1


def test_pyramid_extractor_registers_and_tells_images_apart():
    import torch

    with plugin_registered(ganzoo_plugin_example) as registry:
        spec = registry.extractor("pyramid")
        assert spec.feature_dim == 90 and spec.input_range == "float" and spec.input_size == 32
        net = spec.build(ganzoo.ExtractorRequest(weights=None))
    flat = torch.zeros(4, 3, 32, 32)  # (N, 3, 32, 32) in [-1, 1]
    edges = flat.clone()
    edges[:, :, :, 16:] = 1.0  # a vertical edge down the middle
    a, b = net(flat), net(edges)
    assert a.shape == (4, 90) and torch.isfinite(b).all()
    assert not torch.allclose(a, b) and torch.allclose(a[0], a[1])  # same image, same features
