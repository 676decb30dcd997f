"""The quickstart's `make demo`: its training settings, taken from the Makefile itself, run through
the CLI (a few steps), export to ONNX and generate, as the Makefile's recipe does."""

from __future__ import annotations

import re
import shlex
import zipfile
from pathlib import Path

MAKEFILE = Path(__file__).resolve().parent.parent / "Makefile"


def make_variable(name: str) -> str:
    """The value of ``NAME := ...`` or ``NAME ?= ...`` in the Makefile (one line)."""
    match = re.search(rf"^{name}\s*[:?]?=\s*(.*)$", MAKEFILE.read_text(), flags=re.MULTILINE)
    assert match, f"{name} is not set in the Makefile"
    return match.group(1).strip()


def test_the_demos_settings_train_export_and_generate(cli, tmp_path):
    run = tmp_path / "demo"
    args = shlex.split(make_variable("DEMO_TRAIN").replace("$(DEMO)", str(run)))
    assert int(make_variable("DEMO_STEPS")) > 0
    # the demo's own data and networks, 4 steps instead of its thousands, 512 shapes instead of 8,192
    result = cli("train", *args, "--set", "count=512", "--steps", "4", "--sample-every", "2", "--no-progress")
    assert result.exit_code == 0, result.output
    assert (run / "checkpoints" / "last.pt").is_file()
    assert (run / "samples" / "step_000004.png").is_file()

    onnx_path = run / "generator.onnx"
    result = cli("export", str(run), "--onnx", str(onnx_path), "--force")
    assert result.exit_code == 0, result.output
    images = run / "generated.zip"
    result = cli("generate", str(onnx_path), "--num", "12", "--seed", "0", "--out", str(images),
                 "--grid", str(run / "generated.png"), "--force")
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(images) as zf:
        assert len([n for n in zf.namelist() if n.endswith(".png")]) == 12
    assert (run / "generated.png").stat().st_size > 0
