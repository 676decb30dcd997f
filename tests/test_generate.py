"""ganzoo generate: seeded latents, torch/onnx agreement, the three output forms, no torch for onnx."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from PIL import Image

from export_helpers import make_run
from ganzoo.generate.latents import LatentStream, latent_batches, latents


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A tiny dcgan run and its ONNX export (made once for this module)."""
    from click.testing import CliRunner

    from ganzoo.cli import main

    root = tmp_path_factory.mktemp("gen")
    run = make_run(root, "dcgan")
    onnx_file = root / "gen.onnx"
    result = CliRunner().invoke(main, ["export", str(run), "--onnx", str(onnx_file)])
    assert result.exit_code == 0, result.output
    return run, onnx_file


def test_latents_do_not_depend_on_the_batch_size():
    whole = latents(7, (5,), 100)
    for batch in (1, 7, 64, 100, 1000):
        np.testing.assert_array_equal(np.concatenate(list(latent_batches(7, (5,), 100, batch))), whole)
    stream = LatentStream(7, (5,))
    np.testing.assert_array_equal(np.concatenate([stream.next(3), stream.next(97)]), whole)
    assert whole.dtype == np.float32 and not np.array_equal(latents(8, (5,), 100), whole)


def test_torch_and_onnx_backends_agree_whatever_the_batch_size(exported, tmp_path, cli):
    run, onnx_file = exported
    out_t, out_o = tmp_path / "t.npy", tmp_path / "o.npy"
    r = cli("generate", str(run), "--num", "23", "--out", str(out_t), "--batch-size", "5", "--seed", "3")
    assert r.exit_code == 0 and "torch" in r.output, r.output
    r = cli("generate", str(onnx_file), "--num", "23", "--out", str(out_o), "--batch-size", "64", "--seed", "3")
    assert r.exit_code == 0 and "onnxruntime" in r.output and "CPU" in r.output, r.output
    a, b = np.load(out_t), np.load(out_o)
    assert a.shape == b.shape == (23, 32, 32, 3) and a.dtype == np.uint8
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1  # up to rounding
    assert a.std() > 10  # real images, not a constant
    other = tmp_path / "s4.npy"
    assert cli("generate", str(onnx_file), "--num", "23", "--out", str(other), "--seed", "4").exit_code == 0
    assert not np.array_equal(np.load(other), b)


def test_directory_zip_and_grid_hold_the_same_pixels(exported, tmp_path, cli):
    _, onnx_file = exported
    args = ("--num", "12", "--batch-size", "5", "--seed", "1")
    assert cli("generate", str(onnx_file), *args, "--out", str(tmp_path / "a.npy")).exit_code == 0
    r = cli("generate", str(onnx_file), *args, "--out", str(tmp_path / "imgs"), "--grid", str(tmp_path / "g.png"))
    assert r.exit_code == 0, r.output
    assert cli("generate", str(onnx_file), *args, "--out", str(tmp_path / "b.zip"), "--workers", "0").exit_code == 0
    ref = np.load(tmp_path / "a.npy")
    files = sorted((tmp_path / "imgs").iterdir())
    assert [f.name for f in files] == [f"{i:06d}.png" for i in range(12)]
    assert np.array_equal(np.stack([np.asarray(Image.open(f)) for f in files]), ref)
    # the same directory written inline (no pool) is byte for byte the same
    assert cli("generate", str(onnx_file), *args, "--out", str(tmp_path / "inline"), "--workers", "0").exit_code == 0
    assert [(tmp_path / "inline" / f.name).read_bytes() for f in files] == [f.read_bytes() for f in files]
    with zipfile.ZipFile(tmp_path / "b.zip") as zf:
        assert zf.namelist() == [f.name for f in files]
        assert np.array_equal(np.stack([np.asarray(Image.open(io.BytesIO(zf.read(n)))) for n in zf.namelist()]), ref)
    grid = np.asarray(Image.open(tmp_path / "g.png"))
    assert grid.shape == (2 + 3 * 34, 2 + 4 * 34, 3)  # 12 images: 4 per row, 3 rows, 2-pixel padding
    assert np.array_equal(grid[2:34, 2:34], ref[0]) and np.array_equal(grid[36:68, 2:34], ref[4])
    assert not any(p.name.endswith(".tmp") for p in tmp_path.rglob("*"))


def test_nothing_existing_is_overwritten_without_force(exported, tmp_path, cli):
    _, onnx_file = exported
    (tmp_path / "x.zip").write_bytes(b"keep")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "mine.txt").write_text("keep")
    for out in ("x.zip", "d"):
        r = cli("generate", str(onnx_file), "--num", "2", "--out", str(tmp_path / out))
        assert r.exit_code == 2 and "--force" in r.output, r.output
    assert (tmp_path / "x.zip").read_bytes() == b"keep"
    r = cli("generate", str(onnx_file), "--num", "2", "--out", str(tmp_path / "x.zip"), "--force")
    assert r.exit_code == 0 and zipfile.is_zipfile(tmp_path / "x.zip")


def test_bad_requests_are_one_line_usage_errors(exported, tmp_path, cli):
    run, onnx_file = exported
    cases = [
        (str(run), "--backend", "onnx"),
        (str(onnx_file), "--backend", "torch"),
        (str(tmp_path / "missing.onnx"),),
    ]
    for extra in cases:
        r = cli("generate", *extra, "--num", "2", "--out", str(tmp_path / "o.npy"))
        assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1 and "Error" in r.output, r.output
    for out, num in (("o.png", "2"), ("o.npy", "0")):
        r = cli("generate", str(onnx_file), "--num", num, "--out", str(tmp_path / out))
        assert r.exit_code == 2 and "Error" in r.output.splitlines()[-1], r.output
    assert not any(tmp_path.iterdir())


def test_the_onnx_backend_never_imports_torch(exported, tmp_path):
    _, onnx_file = exported
    code = (
        "import sys\n"
        "from ganzoo.cli import main\n"
        f"main(['generate', {str(onnx_file)!r}, '--num', '9', '--out', {str(tmp_path / 'x.zip')!r}], standalone_mode=False)\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "print('no torch')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "no torch" in result.stdout
    assert len(zipfile.ZipFile(tmp_path / "x.zip").namelist()) == 9


def _onnx_cuda_usable() -> bool:
    import onnxruntime as ort

    from ganzoo.generate.onnx_backend import CUDA, cuda_device_present

    return cuda_device_present() and CUDA in ort.get_available_providers()


@pytest.mark.gpu
@pytest.mark.skipif(not _onnx_cuda_usable(), reason="needs a GPU and onnxruntime's CUDA provider")
def test_on_cuda_both_backends_agree_and_the_last_batch_is_padded(exported, tmp_path, cli):
    run, onnx_file = exported
    # 37 images in batches of 16: the onnx backend pads the last batch of 5 to 16
    r = cli("generate", str(onnx_file), "--num", "37", "--batch-size", "16", "--device", "cuda", "--out", str(tmp_path / "o.npy"))
    assert r.exit_code == 0 and "CUDAExecutionProvider" in r.output, r.output
    r = cli("generate", str(run), "--num", "37", "--batch-size", "16", "--device", "cuda", "--out", str(tmp_path / "t.npy"))
    assert r.exit_code == 0, r.output
    cpu = tmp_path / "c.npy"
    assert cli("generate", str(onnx_file), "--num", "37", "--device", "cpu", "--out", str(cpu)).exit_code == 0
    a, b, c = (np.load(tmp_path / n).astype(int) for n in ("o.npy", "t.npy", "c.npy"))
    # TF32/cuDNN algorithms differ from the CPU by ~1e-3 at most: allow two 8-bit levels
    assert np.abs(a - c).max() <= 2 and np.abs(b - c).max() <= 2
