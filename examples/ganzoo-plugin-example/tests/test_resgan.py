"""The plugin's own tests: run `pytest tests` in this directory (CPU, a few seconds)."""

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
