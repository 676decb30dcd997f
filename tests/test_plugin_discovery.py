"""Real entry-point discovery: outside distributions (a dist-info folder with METADATA and
entry_points.txt, next to their modules, on PYTHONPATH) found by a fresh ``ganzoo`` process.

One working plugin sits among broken ones (an import error, a misspelled hook, a name that
clashes with a built-in): each broken one is reported naming it and its distribution, and the
working one still trains.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

GOOD = '''
import ganzoo
from ganzoo import ArchitectureSpec, Param, hookimpl

ganzoo.require_api("1.0")


def build_generator(params):
    from torch import nn
    size, nz = params["image_size"], params["nz"]
    # (N, nz) -> (N, 3 * size * size) -> (N, 3, size, size)
    return nn.Sequential(nn.Linear(nz, params["hidden"]), nn.ReLU(), nn.Linear(params["hidden"], 3 * size * size),
                         nn.Tanh(), nn.Unflatten(1, (3, size, size)))


def build_discriminator(params):
    from torch import nn
    size = params["image_size"]
    # (N, 3, size, size) -> (N, 1)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * size * size, params["hidden"]), nn.LeakyReLU(0.2),
                         nn.Linear(params["hidden"], 1))


@hookimpl
def ganzoo_register_architectures(register):
    register(ArchitectureSpec("outside-mlp", "An MLP GAN from an outside distribution", (16,), 8,
                              build_generator, build_discriminator, params={"hidden": Param(32)}))
'''

BROKEN = {
    # distribution -> (module, source)
    "broken-import": ("ganzoo_broken_import", "import not_a_module_anywhere\n"),
    "typo-hook": ("ganzoo_typo_hook", textwrap.dedent('''
        from ganzoo import hookimpl

        @hookimpl
        def ganzoo_register_datasetz(register):
            pass
        ''')),
    "dup-name": ("ganzoo_dup_name", GOOD.replace('"outside-mlp"', '"dcgan"').replace("ganzoo.require_api", "# ")),
    "future-api": ("ganzoo_future_api", 'import ganzoo\nganzoo.require_api("99.0")\n'),
}


def _distribution(root: Path, dist: str, version: str, module: str, source: str) -> None:
    """What pip leaves in site-packages: the module and NAME-VERSION.dist-info with metadata."""
    (root / f"{module}.py").write_text(source)
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[ganzoo]\n{module.removeprefix('ganzoo_')} = {module}\n")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("site")
    _distribution(root, "ganzoo-outside-mlp", "1.2.3", "ganzoo_outside_mlp", GOOD)
    for dist, (module, source) in BROKEN.items():
        _distribution(root, dist, "0.0.1", module, source)
    return root


def ganzoo(site: Path, *args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess:
    """Run the ganzoo CLI in a fresh interpreter that has ``site`` on its path."""
    environ = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
               "OMP_NUM_THREADS": "1", **env}
    if "GANZOO_PLUGINS" not in env:
        environ.pop("GANZOO_PLUGINS", None)
    code = "import sys; from ganzoo.cli import main; sys.exit(main())"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=environ, cwd=cwd, timeout=300)


def test_plugins_json_lists_the_outside_distribution_and_each_failure(site):
    result = ganzoo(site, "plugins", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    mlp = [r for r in rows if r["name"] == "outside-mlp"]
    assert mlp == [{"kind": "architecture", "name": "outside-mlp", "description": "An MLP GAN from an outside distribution",
                    "plugin": "ganzoo_outside_mlp", "distribution": "ganzoo-outside-mlp", "version": "1.2.3", "status": "ok"}]
    # stdout keeps DESIGN.md's kinds, plus the extractors of `ganzoo eval`
    assert {r["kind"] for r in rows} <= {"architecture", "dataset", "loss", "extractor"}
    assert not {r["distribution"] for r in rows} & set(BROKEN)
    # each plugin that did not load: one line on stderr naming the plugin and its distribution
    failed = {dist: [line for line in result.stderr.splitlines() if f"(distribution {dist} 0.0.1) failed: " in line]
              for dist in BROKEN}
    assert all(len(lines) == 1 for lines in failed.values()), failed
    failed = {dist: lines[0] for dist, lines in failed.items()}
    assert "No module named 'not_a_module_anywhere'" in failed["broken-import"]
    assert "ganzoo_register_datasetz" in failed["typo-hook"]
    assert "ganzoo_dcgan" in failed["dup-name"] and "ganzoo_dup_name" in failed["dup-name"]
    assert "API 99.0" in failed["future-api"]
    assert all(f"plugin ganzoo_{dist.replace('-', '_')} " in line for dist, line in failed.items())
    # the built-ins are all there, dcgan still from ganzoo itself
    assert {r["plugin"] for r in rows if r["name"] == "dcgan"} == {"ganzoo_dcgan"}


def test_plugins_table_marks_failures(site):
    result = ganzoo(site, "plugins")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    start = lines.index("failed plugins:")
    failed = lines[start + 1:]
    for dist in BROKEN:
        assert sum(f"(distribution {dist} 0.0.1) failed: " in line for line in failed) == 1
    assert any("plugin ganzoo_broken_import (distribution broken-import 0.0.1) failed: import failed" in line for line in failed)
    assert any(line.strip().startswith("outside-mlp") and "ganzoo-outside-mlp 1.2.3" in line for line in lines[:start])


def test_train_with_the_outside_plugin_despite_broken_ones(site, tmp_path):
    result = ganzoo(site, "train", "--arch", "outside-mlp", "--steps", "2", "--image-size", "16", "--batch-size", "8",
                    "--set", "count=32", "--no-progress", "--out", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["arch"] == "outside-mlp" and config["arch_params"] == {"hidden": 32}
    assert (tmp_path / "run" / "checkpoints" / "last.pt").is_file()
    assert (tmp_path / "run" / "samples" / "step_000002.png").is_file()
    # each broken plugin: one warning line, no traceback
    warnings = [line for line in result.stderr.splitlines() if "failed:" in line]
    for dist in BROKEN:
        assert sum(f"(distribution {dist} 0.0.1) failed: " in line for line in warnings) == 1
    assert "Traceback" not in result.stderr


def _status(result, dists):
    """distribution -> ok / failed / disabled, from stdout's rows and stderr's lines."""
    status = {r["distribution"]: r["status"] for r in json.loads(result.stdout) if r["distribution"] in dists}
    for line in result.stderr.splitlines():
        for dist in dists:
            for word in ("failed", "disabled"):
                if f"(distribution {dist} " in line and f") {word}: " in line:
                    status[dist] = word
    return status


def test_ganzoo_plugins_env_var_disables_or_selects_third_party_plugins(site):
    mine = {"ganzoo-outside-mlp", *BROKEN}  # plugins installed in this environment may show up too
    result = ganzoo(site, "plugins", "--json", GANZOO_PLUGINS="")
    assert {"dcgan", "cifar", "shapes"} <= {r["name"] for r in json.loads(result.stdout)}
    assert _status(result, mine) == {dist: "disabled" for dist in mine}

    result = ganzoo(site, "plugins", "--json", GANZOO_PLUGINS="ganzoo-outside-mlp, typo_hook")
    assert _status(result, mine) == {"ganzoo-outside-mlp": "ok", "typo-hook": "failed", "broken-import": "disabled",
                                     "dup-name": "disabled", "future-api": "disabled"}

    result = ganzoo(site, "plugins", "--json", GANZOO_PLUGINS="ganzoo-outside-mpl")  # a typo
    assert "GANZOO_PLUGINS names 'ganzoo-outside-mpl', which no installed plugin matches" in result.stderr


def test_an_arch_left_out_by_ganzoo_plugins_says_so(site, tmp_path):
    result = ganzoo(site, "train", "--arch", "outside-mlp", "--steps", "1", "--out", str(tmp_path / "x"), GANZOO_PLUGINS="")
    assert result.returncode == 2 and "disabled by GANZOO_PLUGINS" in result.stderr, result.stderr


def test_unknown_arch_points_at_the_failed_plugins(site, tmp_path):
    result = ganzoo(site, "train", "--arch", "outside-mpl", "--steps", "1", "--out", str(tmp_path / "x"))
    assert result.returncode == 2
    assert "did you mean 'outside-mlp'" in result.stderr and "failed to load" in result.stderr
    assert "Traceback" not in result.stderr


def test_verbose_shows_the_plugins_traceback(site):
    quiet = ganzoo(site, "plugins")
    assert "Traceback" not in quiet.stderr
    loud = ganzoo(site, "plugins", "-v")
    assert loud.returncode == 0
    assert "Traceback" in loud.stderr and "import not_a_module_anywhere" in loud.stderr
