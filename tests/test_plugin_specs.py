"""What plugins hand in is validated: spec fields at registration, network shapes at build time
(naming the plugin), and the plugin API version."""

from __future__ import annotations

import types

import pytest
from torch import nn

import ganzoo
from ganzoo import ArchitectureSpec, DatasetSpec, ImageSet, Param, PresetSpec, hookimpl
from ganzoo.errors import PluginError
from ganzoo.networks import build_generator
from ganzoo.plugins import load_registry, plugin_manager
from ganzoo.testing import check_architecture, check_dataset, plugin_registered


def _arch(**overrides):
    fields = dict(name="x", description="d", image_sizes=(16,), latent_size=4,
                  build_generator=lambda p: None, build_discriminator=lambda p: None)
    fields.update(overrides)
    return ArchitectureSpec(**fields)


@pytest.mark.parametrize("overrides,match", [
    ({"description": ""}, "description"),
    ({"description": "two\nlines"}, "one-line"),
    ({"image_sizes": 32}, "image_sizes"),
    ({"image_sizes": (32, True)}, "image_sizes"),
    ({"latent_size": True}, "latent_size"),
    ({"params": {"bad-name": Param(1)}}, "identifier"),
    ({"params": {"width": 64}}, "ganzoo.Param"),
    ({"defaults": {"lr_g": "2e-4"}}, "lr_g"),
    ({"defaults": {"batch_size": 0}}, "batch_size"),
    ({"defaults": {"beta2": 1.5}}, "beta2"),
    ({"defaults": {"image_size": 64}}, "not one of image_sizes"),
    ({"build_generator": "not callable"}, "callable"),
])
def test_architecture_spec_rejects(overrides, match):
    with pytest.raises((ValueError, TypeError), match=match):
        _arch(**overrides)


def test_architecture_spec_accepts_a_list_of_sizes():
    assert _arch(image_sizes=[16, 32], defaults={"image_size": 32, "loss": "bce"}).image_sizes == (16, 32)


def test_param_default_must_fit_its_type_and_choices():
    with pytest.raises(ValueError, match="choose from"):
        Param("large", choices=("small", "medium"))
    with pytest.raises(ValueError, match="expected int"):
        Param(1.5, type=int)
    with pytest.raises(TypeError, match="Param type"):
        Param(1, type=dict)
    assert Param(None, type=int).parse("n", "3") == 3


def test_dataset_and_preset_specs_validate():
    load = lambda request: ImageSet(images=None, files=[])  # noqa: E731
    with pytest.raises(TypeError, match="download"):
        DatasetSpec("d", "a dataset", load, download="http://example.com")
    with pytest.raises(ValueError, match="lr_d"):
        PresetSpec("p", "a preset", values={"lr_d": -1})
    with pytest.raises(ValueError, match="name"):
        PresetSpec("p", "a preset", arch="Not An Arch")


def _wrong_size_generator(params):
    # Always 16x16, whatever image size it is asked for: the classic plugin bug.
    return nn.Sequential(nn.Linear(params["nz"], 3 * 16 * 16), nn.Tanh(), nn.Unflatten(1, (3, 16, 16)))


def _discriminator(params):
    return nn.Sequential(nn.Flatten(), nn.LazyLinear(1))


@pytest.fixture
def wrong_size_plugin():
    mod = types.ModuleType("ganzoo_wrongsize")
    mod.ganzoo_register_architectures = hookimpl(lambda register: register(
        ArchitectureSpec("wrongsize", "declares 32x32, makes 16x16", (16, 32), 8, _wrong_size_generator, _discriminator)))
    return mod


def test_wrong_generator_shape_is_caught_at_build_time_naming_the_plugin(wrong_size_plugin, cli, tmp_path):
    with plugin_registered(wrong_size_plugin) as registry:
        spec = registry.architecture("wrongsize")
        check_architecture(spec, sizes=[16])  # fine at the size it really makes
        with pytest.raises(PluginError) as err:
            check_architecture(spec, sizes=[32])
        message = str(err.value)
        assert "plugin ganzoo_wrongsize" in message and "(2, 3, 16, 16)" in message and "expected (2, 3, 32, 32)" in message

        # through the CLI: one line, exit 1, and no run directory left behind
        result = cli("train", "--arch", "wrongsize", "--image-size", "32", "--steps", "1", "--set", "count=16",
                     "--batch-size", "4", "--no-progress", "--out", str(tmp_path / "run"))
        assert result.exit_code == 1
        assert "plugin ganzoo_wrongsize" in result.output and "expected (2, 3, 32, 32)" in result.output
        assert not (tmp_path / "run" / "config.json").exists()


def test_a_builder_that_raises_names_the_plugin(wrong_size_plugin):
    def boom(params):
        raise KeyError("width")

    mod = types.ModuleType("ganzoo_boom")
    mod.ganzoo_register_architectures = hookimpl(lambda register: register(
        ArchitectureSpec("boom", "its builder raises", (16,), 8, boom, _discriminator)))
    with plugin_registered(mod) as registry:
        with pytest.raises(PluginError, match=r"'boom' from plugin ganzoo_boom: build_generator failed: KeyError"):
            build_generator(registry.architecture("boom"), {"nz": 8, "image_size": 16})


def test_plugin_registered_raises_the_plugins_failure():
    mod = types.ModuleType("ganzoo_typo")
    mod.ganzoo_register_architecturez = hookimpl(lambda register: None)
    with pytest.raises(PluginError, match="ganzoo_typo.*did you mean ganzoo_register_architectures"):
        with plugin_registered(mod):
            pass
    assert not plugin_manager().is_registered(mod)


def test_check_dataset_loads_through_ganzoo(registry):
    loaded = check_dataset(registry.dataset("shapes"), image_size=16, params={"count": 8})
    assert loaded.images.shape == (8, 16, 16, 3)


def test_require_api():
    ganzoo.require_api(ganzoo.API_VERSION)
    major, minor = map(int, ganzoo.API_VERSION.split("."))
    ganzoo.require_api(f"{major}.0")
    ganzoo.require_api(str(major))
    with pytest.raises(PluginError, match="upgrade ganzoo"):
        ganzoo.require_api(f"{major}.{minor + 1}")
    with pytest.raises(PluginError, match="needs updating"):
        ganzoo.require_api(f"{major - 1}.0")
    with pytest.raises(PluginError, match="expected a version"):
        ganzoo.require_api("one")


def test_registry_is_unchanged_after_the_tests():
    # plugin_registered removes what it added
    assert "wrongsize" not in load_registry().names("architecture")
