"""Shared fixtures: a CLI runner, the registry, and tiny-but-real training settings."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from ganzoo.cli import main
from ganzoo.plugins import load_registry, plugin_manager

torch.set_num_threads(2)

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_benchmark(name: str):
    """benchmarks/NAME.py as a module (the benchmarks are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

# Small settings that still exercise every layer: 16x16 DCGAN with narrow layers, 256 shapes.
# The protocol tests count steps, batches and epochs with one D update a step (dcgan's default
# recipe has two: n_critic=2), so TINY pins it; the tests that need n_critic=2 ask for it.
TINY = ["--arch", "dcgan", "--image-size", "16", "--set", "ngf=8", "--set", "ndf=8",
        "--set", "count=256", "--batch-size", "16", "--set", "n_critic=1", "--no-progress"]


@pytest.fixture
def registry():
    return load_registry()


@pytest.fixture
def pm():
    return plugin_manager()


@pytest.fixture
def cli():
    """Run the CLI in-process: cli("train", "--arch", ...) -> click Result."""
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(main, list(args), catch_exceptions=False)

    return run


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path_factory, monkeypatch):
    """Preprocessed-image caches go to a temporary folder, never to the user's ~/.cache."""
    monkeypatch.setenv("GANZOO_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "ganzoo-cache"))


@pytest.fixture
def tiny_extractor():
    """The test extractors of ``evalfixtures`` registered on the plugin manager for one test."""
    import evalfixtures
    from ganzoo.testing import plugin_registered

    with plugin_registered(evalfixtures) as reg:
        yield reg
