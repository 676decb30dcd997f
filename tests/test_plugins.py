"""The plugin manager: built-ins via entry points, unknown names, and broken plugins that are
reported (naming the plugin) and left out while everything else keeps working."""

import json
import subprocess
import sys
import types

import pytest

import ganzoo
from ganzoo import ArchitectureSpec, DatasetSpec, ImageSet, hookimpl
from ganzoo.errors import UsageError
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
    # The DESIGN.md keys, plus "status".
    assert {"kind", "name", "description", "plugin", "distribution", "version"} <= set(rows[0])
    assert {("architecture", "dcgan"), ("architecture", "cifar"), ("dataset", "shapes")} <= {(r["kind"], r["name"]) for r in rows}
    # DESIGN.md's kinds and the extractors `ganzoo eval` takes (README: "ganzoo plugins --json"); no presets
    assert {r["kind"] for r in rows} == {"architecture", "dataset", "loss", "extractor"}
    assert ("extractor", "inception") in {(r["kind"], r["name"]) for r in rows}


def test_plugins_table_names_the_package(cli):
    result = cli("plugins")
    assert result.exit_code == 0
    assert "dcgan" in result.output and "ganzoo_dcgan (ganzoo " in result.output


def _failure(registry, plugin):
    found = [u for u in registry.unloaded if u.origin.plugin == plugin]
    assert len(found) == 1, registry.unloaded
    assert found[0].status == "failed"
    return found[0].message


def test_duplicate_name_fails_the_second_plugin_and_names_both(registered):
    registered(_module("thirdparty_dup", ganzoo_register_architectures=lambda register: register(_arch("dcgan"))), "thirdparty_dup")
    registry = load_registry()
    message = _failure(registry, "thirdparty_dup")
    assert "ganzoo_dcgan" in message and "thirdparty_dup" in message and "registered twice" in message
    assert registry.get("architecture", "dcgan").plugin == "ganzoo_dcgan"  # the built-in keeps its name


def test_a_failed_plugin_is_left_out_whole(registered):
    # A plugin whose second registration clashes loses its first one too: no half-loaded plugin.
    def both(register):
        register(_arch("halfway"))
        register(_arch("cifar"))

    registered(_module("half_plugin", ganzoo_register_architectures=both), "half_plugin")
    registry = load_registry()
    assert "cifar" in _failure(registry, "half_plugin")
    assert "halfway" not in registry.names("architecture")


def test_misspelled_hook_fails_that_plugin_with_a_suggestion(registered):
    registered(_module("typo_plugin", ganzoo_register_architecture=lambda register: None), "typo_plugin")
    registry = load_registry()
    message = _failure(registry, "typo_plugin")
    assert "ganzoo_register_architecture " in message and "did you mean ganzoo_register_architectures" in message
    assert "dcgan" in registry.names("architecture")


def test_hook_without_the_marker_is_reported(registered):
    mod = types.ModuleType("unmarked_plugin")
    mod.ganzoo_register_datasets = lambda register: None  # forgot @hookimpl: pluggy would skip it
    registered(mod, "unmarked_plugin")
    assert "hookimpl" in _failure(load_registry(), "unmarked_plugin")


def test_wrong_spec_type_fails_the_plugin(registered):
    registered(_module("loose_dict", ganzoo_register_datasets=lambda register: register({"name": "x"})), "loose_dict")
    assert "DatasetSpec" in _failure(load_registry(), "loose_dict")


def test_hook_that_raises_names_the_plugin(registered):
    def broken(register):
        raise RuntimeError("boom")

    registered(_module("broken_plugin", ganzoo_register_datasets=broken), "broken_plugin")
    registry = load_registry()
    message = _failure(registry, "broken_plugin")
    assert "boom" in message and "ganzoo_register_datasets" in message and "\n" not in message
    assert "shapes" in registry.names("dataset")


def test_bad_spec_inside_a_hook_names_the_plugin(registered):
    registered(_module("bad_spec", ganzoo_register_architectures=lambda register: register(_arch("Not A Name"))), "bad_spec")
    assert "must be lowercase" in _failure(load_registry(), "bad_spec")


def test_failures_are_logged_once_and_listed_by_the_cli(registered, cli, caplog):
    def broken(register):
        raise RuntimeError("kaput")

    registered(_module("noisy_plugin", ganzoo_register_losses=broken), "noisy_plugin")
    with caplog.at_level("WARNING", logger="ganzoo"):
        load_registry()
        load_registry()
    assert sum("noisy_plugin" in r.getMessage() for r in caplog.records) == 1
    result = cli("plugins", "--json")
    rows = json.loads(result.stdout)  # stdout stays the contract's array; the failure goes to stderr
    assert "noisy_plugin" not in {r["plugin"] for r in rows} and any(r["name"] == "dcgan" for r in rows)
    assert [line for line in result.stderr.splitlines() if "noisy_plugin" in line and "kaput" in line]
    table = cli("plugins").output
    assert "failed plugins:" in table and "noisy_plugin" in table and "dcgan" in table


def test_unknown_name_mentions_failed_plugins(registered):
    registered(_module("gone_plugin", ganzoo_register_architectures=lambda register: 1 / 0), "gone_plugin")
    with pytest.raises(UsageError, match="failed to load: gone_plugin"):
        load_registry().architecture("no-such-gan")  # not resgan: the example plugin may be installed


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
