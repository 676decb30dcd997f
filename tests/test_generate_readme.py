"""The README's consumer snippet (onnxruntime + numpy only) runs as written on an exported file."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np

from export_helpers import make_run

README = Path(__file__).resolve().parents[1] / "README.md"


def consumer_snippet() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    found = [b for b in blocks if b.startswith("# consumer.py")]
    assert len(found) == 1, "README should hold exactly one '# consumer.py' block"
    return found[0]


def test_readme_consumer_snippet_runs_without_ganzoo_or_torch(tmp_path, cli):
    run = make_run(tmp_path, "cifar")
    work = tmp_path / "consumer"
    work.mkdir()
    assert cli("export", str(run), "--onnx", str(work / "gen.onnx")).exit_code == 0
    code = consumer_snippet() + (
        "\nimport sys\n"
        "assert 'torch' not in sys.modules and 'ganzoo' not in sys.modules, 'the snippet used ganzoo or torch'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=work, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "cifar (16, 32, 32, 3)"
    pixels = np.load(work / "samples.npy")
    assert pixels.dtype == np.uint8 and pixels.shape == (16, 32, 32, 3) and pixels.std() > 10
