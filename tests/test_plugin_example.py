"""The example third-party package (examples/ganzoo-plugin-example) installed for real with pip
into a temporary target, then used by fresh ``ganzoo`` processes: listed, trained, and its own
tests run, exactly as its author would run them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "ganzoo-plugin-example"


def _env(target: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")]), "OMP_NUM_THREADS": "1"}
    env.pop("GANZOO_PLUGINS", None)
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """``pip install`` of the example into a target folder (offline: no build isolation, no deps;
    ganzoo and setuptools are already in this environment)."""
    tmp = tmp_path_factory.mktemp("example")
    source = tmp / "src"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    target = tmp / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-build-isolation",
                    "--no-deps", "--no-index", "--target", str(target), str(source)], check=True, capture_output=True)
    return target


def _ganzoo(target: Path, *args: str) -> subprocess.CompletedProcess:
    code = "import sys; from ganzoo.cli import main; sys.exit(main())"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=_env(target), timeout=300)


def test_installed_example_is_listed_with_its_distribution(installed):
    result = _ganzoo(installed, "plugins", "--json")
    assert result.returncode == 0, result.stderr
    rows = [r for r in json.loads(result.stdout) if r["name"] == "resgan"]
    assert len(rows) == 1
    assert rows[0]["kind"] == "architecture" and rows[0]["status"] == "ok"
    assert (rows[0]["plugin"], rows[0]["distribution"], rows[0]["version"]) == ("ganzoo_plugin_example", "ganzoo-plugin-example", "0.1.0")


@pytest.fixture(scope="module")
def trained(installed, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("resgan") / "run"
    result = _ganzoo(installed, "train", "--arch", "resgan", "--steps", "2", "--image-size", "16", "--batch-size", "8",
                     "--set", "gwidth=16", "--set", "dwidth=16", "--set", "count=32", "--no-progress", "--out", str(run))
    assert result.returncode == 0, result.stderr
    return run


def test_train_with_the_example_architecture(trained):
    config = json.loads((trained / "config.json").read_text())
    assert config["arch"] == "resgan" and config["arch_params"] == {"gwidth": 16, "dwidth": 16}
    assert (trained / "samples" / "step_000002.png").is_file()
    metrics = [json.loads(line) for line in (trained / "metrics.jsonl").read_text().splitlines()]
    assert metrics[-1]["step"] == 2


def test_export_and_generate_with_the_example_architecture(installed, trained, tmp_path):
    onnx_file, out = tmp_path / "gen.onnx", tmp_path / "imgs"
    result = _ganzoo(installed, "export", str(trained), "--onnx", str(onnx_file))
    assert result.returncode == 0, result.stderr
    result = _ganzoo(installed, "generate", str(onnx_file), "--num", "16", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert len(list(out.glob("*.png"))) == 16


def test_the_example_passes_its_own_tests(installed):
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE / "tests")],
                            capture_output=True, text=True, env=_env(installed), cwd=EXAMPLE, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout


def test_eval_scores_a_run_with_the_example_extractor(installed, trained, tmp_path):
    """`ganzoo eval --extractor pyramid`: a third-party extractor, no weights file, from the CLI."""
    import numpy as np

    from ganzoo_shapes.render import render_shapes

    common = ["--real", "shapes", "--extractor", "pyramid", "--metrics", "fid,kid", "--num", "300", "--json",
              "--no-progress", "--cache-dir", str(tmp_path / "cache")]
    result = _ganzoo(installed, "eval", str(trained), *common)
    assert result.returncode == 0, result.stderr
    run = json.loads(result.stdout)
    assert run["extractor"] == "pyramid" and run["metrics"]["fid"] > 0 and run["num_generated"] == 300
    logged = [json.loads(line) for line in (trained / "eval.jsonl").read_text().splitlines()]
    assert logged[-1]["extractor"] == "pyramid" and logged[-1]["metrics"]["fid"] == run["metrics"]["fid"]
    # real shapes from another seed: the extractor must rank them far closer than a 2-step generator
    real = tmp_path / "real.npy"
    np.save(real, render_shapes(300, 16, ("circle", "square", "triangle"), seed=123).images)
    result = _ganzoo(installed, "eval", str(real), *common)
    assert result.returncode == 0, result.stderr
    close = json.loads(result.stdout)
    assert close["metrics"]["fid"] < run["metrics"]["fid"] / 4, (close["metrics"], close["real"], run["metrics"], run["real"])
