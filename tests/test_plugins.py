"""The plugin manager: built-ins via entry points, duplicates, misspelled hooks, unknown names."""

import json
import subprocess
import sys
import types

import pytest

import ganzoo
from ganzoo import ArchitectureSpec, DatasetSpec, ImageSet, hookimpl
from ganzoo.errors import PluginError, UsageError
from ganzoo.plugins import load_registry


def _arch(name):
    return ArchitectureSpec(name=name, description="test", image_sizes=(16,), latent_size=4,
                            build_generator=lambda p: None, build_discriminator=lambda p: None)


@pytest.fixture
def registered(pm):
    """Register plugin objects on the real plugin manager for one test, then remove them."""
    added = []

    def add(plugin, name):
        pm.register(plugin, name=name)
        added.append(plugin)
        return plugin

    yield add
    for plugin in added:
        pm.unregister(plugin)


def _module(name, **hooks):
    mod = types.ModuleType(name)
    for key, fn in hooks.items():
        setattr(mod, key, hookimpl(fn) if not key.startswith("_") else fn)
    return mod


def test_builtins_come_from_the_ganzoo_distribution(registry):
    names = {(e.kind, e.name): e for e in registry.all()}
    for key, module in [(("architecture", "dcgan"), "ganzoo_dcgan"), (("architecture", "cifar"), "ganzoo_cifar"),
                        (("dataset", "shapes"), "ganzoo_shapes"), (("loss", "bce"), "ganzoo_losses")]:
        assert key in names, key
        assert names[key].plugin == module
        assert names[key].distribution == "ganzoo"
        assert names[key].version == ganzoo.__version__


def test_plugins_json_format(cli):
    result = cli("plugins", "--json")
    assert result.exit_code == 0
    rows = json.loads(result.output)
    assert {"kind", "name", "description", "plugin", "distribution", "version"} == set(rows[0])
    assert {("architecture", "dcgan"), ("architecture", "cifar"), ("dataset", "shapes")} <= {(r["kind"], r["name"]) for r in rows}
    assert {r["kind"] for r in rows} <= {"architecture", "dataset", "loss", "preset"}


def test_plugins_table_names_the_package(cli):
    result = cli("plugins")
    assert result.exit_code == 0
    assert "dcgan" in result.output and "ganzoo_dcgan (ganzoo " in result.output


def test_duplicate_name_names_both_plugins(registered):
    registered(_module("thirdparty_dup", ganzoo_register_architectures=lambda register: register(_arch("dcgan"))), "thirdparty_dup")
    with pytest.raises(PluginError) as err:
        load_registry()
    assert "ganzoo_dcgan" in str(err.value) and "thirdparty_dup" in str(err.value)


def test_misspelled_hook_is_an_error(registered):
    registered(_module("typo_plugin", ganzoo_register_architecture=lambda register: None), "typo_plugin")
    with pytest.raises(PluginError) as err:
        load_registry()
    assert "typo_plugin" in str(err.value) and "ganzoo_register_architecture" in str(err.value)


def test_wrong_spec_type_is_an_error(registered):
    registered(_module("loose_dict", ganzoo_register_datasets=lambda register: register({"name": "x"})), "loose_dict")
    with pytest.raises(PluginError, match="loose_dict.*DatasetSpec"):
        load_registry()


def test_hook_that_raises_names_the_plugin(registered):
    def broken(register):
        raise RuntimeError("boom")

    registered(_module("broken_plugin", ganzoo_register_datasets=broken), "broken_plugin")
    with pytest.raises(PluginError, match="broken_plugin.*boom"):
        load_registry()


def test_registered_plugin_is_usable_and_removed_after(registered):
    spec = DatasetSpec("extra", "an extra dataset", load=lambda req: ImageSet(images=None, files=[]))
    registered(_module("extra_plugin", ganzoo_register_datasets=lambda register: register(spec)), "extra_plugin")
    entry = load_registry().get("dataset", "extra")
    assert entry.plugin == "extra_plugin" and entry.distribution is None


def test_unknown_name_suggests_closest(registry):
    with pytest.raises(UsageError) as err:
        registry.architecture("dcgn")
    msg = str(err.value)
    assert "did you mean 'dcgan'" in msg and "cifar" in msg


def test_spec_validation_rejects_bad_plugin_data():
    with pytest.raises(ValueError, match="image_sizes"):
        ArchitectureSpec("x", "d", image_sizes=(), latent_size=4, build_generator=print, build_discriminator=print)
    with pytest.raises(ValueError, match="name"):
        _arch("Bad Name")
    with pytest.raises(ValueError, match="unknown defaults"):
        ArchitectureSpec("x", "d", (16,), 4, print, print, defaults={"learning_rate": 1})


def test_help_and_plugins_do_not_import_torch():
    code = (
        "import sys; from click.testing import CliRunner; from ganzoo.cli import main; "
        "r = CliRunner().invoke(main, ['--help']); assert r.exit_code == 0; "
        "r = CliRunner().invoke(main, ['plugins', '--json']); assert r.exit_code == 0, r.output; "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
