"""The README's "Writing a plugin" guide runs as written.

Each code block whose first line is ``# some/path`` is written to that path in a temporary
directory; each ``bash`` block is run there by bash, in order. Three commands are wrapped so the
test stays offline and leaves this environment alone: ``pip install [-e] DIR`` installs into a
temporary target (no build isolation, no dependencies), ``pytest`` is this interpreter's, and
``--steps N`` becomes ``--steps 2``. Everything else is exactly the README's text.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)


def guide_blocks() -> list[tuple[str, str]]:
    text = README.read_text()
    start = text.index("\n## Writing a plugin")
    end = text.find("\n## ", start + 1)
    section = text[start:] if end < 0 else text[start:end]
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(section)]


def _file_path(lang: str, body: str) -> str | None:
    first = body.splitlines()[0] if body.strip() else ""
    m = re.fullmatch(r"# ([\w./-]+\.(?:py|toml|cfg|txt|md))", first.strip())
    return m.group(1) if m and lang != "bash" else None


WRAPPERS = {
    "ganzoo": 'exec "{python}" -c "import sys; from ganzoo.cli import main; sys.exit(main())" "$@"\n',
    "pytest": 'exec "{python}" -m pytest -q -p no:cacheprovider "$@"\n',
    # pip install [-e] DIR -> an offline install of DIR into $PLUGIN_TARGET
    "pip": 'args=(); for a in "$@"; do [ "$a" = install ] || [ "$a" = -e ] || args+=("$a"); done\n'
           'exec "{python}" -m pip install --quiet --disable-pip-version-check --no-build-isolation --no-deps '
           '--no-index --target "$PLUGIN_TARGET" "${{args[@]}}"\n',
}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("guide")
    bindir = root / ".bin"
    bindir.mkdir()
    for name, body in WRAPPERS.items():
        path = bindir / name
        path.write_text("#!/usr/bin/env bash\n" + body.format(python=sys.executable))
        path.chmod(0o755)
    return root


def _env(workdir: Path) -> dict:
    target = workdir / ".site"
    env = {**os.environ, "PATH": f"{workdir / '.bin'}{os.pathsep}{os.environ['PATH']}", "PLUGIN_TARGET": str(target),
           "PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")]), "OMP_NUM_THREADS": "1"}
    env.pop("GANZOO_PLUGINS", None)
    return env


def _run_bash(workdir: Path, body: str) -> subprocess.CompletedProcess:
    script = "set -euo pipefail\n" + re.sub(r"--steps \d+", "--steps 2", body)
    result = subprocess.run(["bash", "-c", script], cwd=workdir, env=_env(workdir), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{body}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    return result


def _is_export_block(body: str) -> bool:
    return "ganzoo export" in body or "ganzoo generate" in body


def test_guide_has_the_pieces_the_issue_asks_for():
    blocks = guide_blocks()
    files = [_file_path(lang, body) for lang, body in blocks]
    assert any(f and f.endswith("pyproject.toml") for f in files)
    assert any("[project.entry-points.ganzoo]" in body for _, body in blocks)
    assert any("ArchitectureSpec(" in body and "defaults=" in body for _, body in blocks)
    assert any("DatasetSpec(" in body for _, body in blocks)
    assert any(f and "/tests/" in f for f in files)
    assert any(_is_export_block(body) for _, body in blocks)


def test_guide_runs_as_written(workdir):
    """Write the files, install the package, list, train, run the plugin's tests."""
    outputs = []
    for lang, body in guide_blocks():
        path = _file_path(lang, body)
        if path:
            (workdir / path).parent.mkdir(parents=True, exist_ok=True)
            (workdir / path).write_text(body)
        elif lang == "bash" and not _is_export_block(body):
            outputs.append(_run_bash(workdir, body))
    listing = "\n".join(o.stdout for o in outputs)
    assert re.search(r"mlpgan .*\[ganzoo_mlpgan \(ganzoo-mlpgan 0\.1\.0\)\]", listing)
    assert re.search(r"stripes .*\[ganzoo_mlpgan\.stripes \(ganzoo-mlpgan 0\.1\.0\)\]", listing)
    assert "2 passed" in listing  # the plugin's own tests
    for run in ("mlpgan", "mlpgan-smoke"):
        config = json.loads((workdir / "runs" / run / "config.json").read_text())
        assert (config["arch"], config["data"]) == ("mlpgan", "stripes")
        assert (workdir / "runs" / run / "samples" / "step_000002.png").is_file()
    # GANZOO_PLUGINS= ganzoo plugins: the guide's plugin is listed as disabled, built-ins remain
    assert "disabled plugins (GANZOO_PLUGINS):" in listing and "dcgan" in listing


def test_guide_export_commands_run(workdir):
    """``ganzoo export`` / ``ganzoo generate`` with the guide's plugin (after the run above)."""
    if not (workdir / "runs" / "mlpgan").is_dir():
        pytest.skip("needs test_guide_runs_as_written first")
    for _, body in guide_blocks():
        if _is_export_block(body):
            _run_bash(workdir, body)
    assert (workdir / "mlpgan.onnx").is_file()
    assert len(list((workdir / "imgs").glob("*.png"))) == 16
