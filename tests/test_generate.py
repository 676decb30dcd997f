"""ganzoo generate: seeded latents, torch/onnx agreement, the three output forms, no torch for onnx."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from export_helpers import make_run
from ganzoo.errors import UsageError
from ganzoo.generate.latents import LatentStream, latent_batches, latents
from ganzoo.generate.sharded import parse_devices


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


def test_bad_requests_are_refused_before_the_backend_loads(exported, tmp_path, cli):
    _, onnx_file = exported
    (tmp_path / "afile").write_text("a file, not a folder")
    (tmp_path / "taken.png").write_bytes(b"keep")
    cases = [
        (("--num", "4", "--out", "o.zip", "--grid", "afile/grid.png"), "afile is not a directory"),
        (("--num", "4", "--out", "o.zip", "--grid", "grid.txt"), "ending in .png"),
        (("--num", "4", "--out", "o.zip", "--grid", "taken.png"), "--force"),
        (("--num", "0", "--out", "o.zip"), "--num"),
        (("--num", "4", "--out", "o.zip", "--workers", "-1"), "--workers"),
        (("--num", "4", "--out", "o.zip", "--batch-size", "0"), "--batch-size"),
        (("--num", "4", "--out", "o.png"), ".zip"),
        (("--num", "4", "--out", "afile/sub/o.zip"), "afile is not a directory"),
        (("--num", "4", "--out", "afile/imgs"), "afile is not a directory"),
        (("--num", "4", "--out", ".zip"), "give the file a name before the extension"),
        (("--num", "4", "--out", ".npy"), "give the file a name before the extension"),
    ]
    before = sorted(p.name for p in tmp_path.iterdir())
    for args, words in cases:
        args = [str(tmp_path / a) if i and args[i - 1] in ("--out", "--grid") else a for i, a in enumerate(args)]
        r = cli("generate", str(onnx_file), *args)
        assert r.exit_code == 2, (args, r.output)
        # one line: the error, not "Backend: ..." first (nothing was loaded, nothing generated)
        assert len(r.output.strip().splitlines()) == 1 and r.output.startswith("Error:") and words in r.output, r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert (tmp_path / "taken.png").read_bytes() == b"keep"


def test_a_grid_in_a_read_only_directory_is_refused_before_generating(exported, tmp_path, cli, monkeypatch):
    import os

    _, onnx_file = exported
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    # root may write anywhere, so a chmod would prove nothing here: the check asks os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: Path(p) != locked and real_access(p, mode, **kw))
    r = cli("generate", str(onnx_file), "--num", "4", "--out", str(tmp_path / "o.zip"), "--grid", str(locked / "g" / "grid.png"))
    assert r.exit_code == 1 and "permission denied" in r.output and len(r.output.strip().splitlines()) == 1, r.output
    assert not (tmp_path / "o.zip").exists() and not any(locked.iterdir())


def _with_metadata(model, **changes):
    """``model`` with metadata keys set (a value) or dropped (None); keys are given without 'ganzoo.'."""
    meta = {p.key: p.value for p in model.metadata_props}
    for key, value in changes.items():
        meta.pop(f"ganzoo.{key}", None)
        if value is not None:
            meta[f"ganzoo.{key}"] = value
    del model.metadata_props[:]
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    return model


def _relu_model():
    from onnx import TensorProto, helper

    x, y = (helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", 4]) for n in "xy")
    model = helper.make_model(helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "relu", [x], [y]),
                              opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 10
    return model


def _two_by_two_model():
    """z (N, 12) -> images (N, 3, 2, 2), with H and W computed from the data so no shape inference knows them."""
    from onnx import TensorProto, helper

    def i64(name, values):
        return helper.make_tensor(name, TensorProto.INT64, [len(values)], values)

    nodes = [
        helper.make_node("Shape", ["z"], ["n"], start=0, end=1),
        helper.make_node("Slice", ["z", "start", "end", "axis1"], ["z3"]),  # (N, 3)
        helper.make_node("ReduceSum", ["z3", "axis0"], ["sums"], keepdims=0),  # (3,): data, not shape
        helper.make_node("Mul", ["sums", "zero"], ["zeros"]),
        helper.make_node("Add", ["zeros", "chw"], ["chw_f"]),  # [3, 2, 2], known only at run time
        helper.make_node("Cast", ["chw_f"], ["chw_i"], to=TensorProto.INT64),
        helper.make_node("Concat", ["n", "chw_i"], ["shape"], axis=0),
        helper.make_node("Reshape", ["z", "shape"], ["r"]),
        helper.make_node("Tanh", ["r"], ["images"]),
    ]
    init = [helper.make_tensor("chw", TensorProto.FLOAT, [3], [3, 2, 2]), helper.make_tensor("zero", TensorProto.FLOAT, [], [0]),
            i64("start", [0]), i64("end", [3]), i64("axis1", [1]), i64("axis0", [0])]
    z = helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", 12])
    images = helper.make_tensor_value_info("images", TensorProto.FLOAT, ["N", 3, "H", "W"])
    model = helper.make_model(helper.make_graph(nodes, "g", [z], [images], initializer=init),
                              opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 10
    return _with_metadata(model, latent_shape="[12]", image_size="4", channels="3", output_range="[-1, 1]")


def test_onnx_files_that_are_not_ganzoo_generators_are_refused_at_load(exported, tmp_path, cli):
    import onnx

    _, onnx_file = exported
    models = {
        "relu": (_relu_model(), "output y has shape"),
        "size64": (_with_metadata(onnx.load(str(onnx_file)), image_size="64"), "ganzoo.image_size says 64"),
        "latent7": (_with_metadata(onnx.load(str(onnx_file)), latent_shape="[7]"), "ganzoo.latent_shape says [7]"),
        "bare": (_with_metadata(onnx.load(str(onnx_file)), image_size=None, latent_shape=None), "metadata"),
        "gray": (_with_metadata(onnx.load(str(onnx_file)), channels="1"), "RGB"),
    }
    for name, (model, words) in models.items():
        path = tmp_path / f"{name}.onnx"
        onnx.save(model, str(path))
        for out in ("imgs", "o.npy"):
            r = cli("generate", str(path), "--num", "3", "--out", str(tmp_path / out))
            assert r.exit_code == 2, (name, r.output)
            assert r.output.strip() == r.output.strip().splitlines()[0], r.output  # one line
            assert f"{path} is not a ganzoo generator: " in r.output and words in r.output, r.output
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".onnx"] * len(models)  # no output, no empty folder


def test_images_that_disagree_with_the_metadata_stop_at_the_first_batch_and_leave_no_empty_folder(tmp_path, cli):
    import onnx

    path = tmp_path / "small.onnx"
    onnx.save(_two_by_two_model(), str(path))  # says 4x4, makes 2x2; the graph cannot tell before it runs
    (tmp_path / "mine").mkdir()  # an empty folder the user made is theirs: kept
    for out in ("new/imgs", "new/deeper/o.zip", "new/o.npy", "mine"):
        r = cli("generate", str(path), "--num", "3", "--out", str(tmp_path / out), "--grid", str(tmp_path / "g" / "grid.png"))
        assert r.exit_code == 2, r.output
        lines = r.output.strip().splitlines()
        assert len(lines) == 2 and lines[0].startswith("Backend:") and "Traceback" not in r.output, r.output
        assert "is not a ganzoo generator: it made images of shape (3, 3, 2, 2); its metadata says (3, 3, 4, 4)" in lines[1]
        assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "small.onnx"]
    assert not any((tmp_path / "mine").iterdir())


def _wait_for(predicate, proc, seconds: float = 120.0) -> None:
    """Poll the file system until ``predicate()`` holds (the job is under way), failing if ``proc`` ends first."""
    import time

    deadline = time.monotonic() + seconds
    while not predicate():
        assert proc.poll() is None, f"generate ended early: {proc.communicate()}"
        assert time.monotonic() < deadline, "generate never started writing"
        time.sleep(0.02)


@pytest.mark.parametrize("signame, out", [("SIGTERM", "big.zip"), ("SIGINT", "big.zip"), ("SIGTERM", "big.npy"), ("SIGTERM", "imgs")])
def test_a_signal_stops_generate_in_one_line_and_removes_its_temporary_file(exported, tmp_path, signame, out):
    import signal

    _, onnx_file = exported
    target = tmp_path / out
    args = ["generate", str(onnx_file), "--num", "10000000", "--out", str(target), "--batch-size", "64", "--no-progress"]
    if out == "big.npy":
        args[3] = "100000"  # the memory-mapped array is sized up front: 300 MB of sparse file
    proc = subprocess.Popen([sys.executable, "-c", "from ganzoo.cli import main; main()", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        if out == "imgs":
            _wait_for(lambda: target.is_dir() and any(p.suffix == ".png" for p in target.iterdir()), proc)
        else:
            _wait_for(lambda: any(tmp_path.glob(f".{out}.*.tmp")), proc)
        proc.send_signal(getattr(signal, signame))
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("Backend:") and lines[1].startswith(f"stopped by {signame} after "), stderr
    assert not any(p.name.endswith(".tmp") for p in tmp_path.rglob("*")), sorted(tmp_path.rglob("*"))
    if out == "imgs":
        assert "keeps the images written so far" in lines[1]
        pngs = sorted(target.iterdir())
        assert pngs and all(np.asarray(Image.open(p)).shape == (32, 32, 3) for p in pngs)  # whole files only
        said = int(lines[1].split(" after ")[1].split(" of ")[0])
        from ganzoo.generate.writers import image_name

        assert [p.name for p in pngs] == [image_name(i, 10_000_000) for i in range(said)]  # the count said is kept
    else:
        assert f"nothing was written to {target}" in lines[1] and not target.exists()


def test_help_and_readme_say_what_an_interrupted_directory_keeps(cli):
    sentence = "an interrupted directory keeps the images written so far"
    help_text = " ".join(cli("generate", "--help").output.split())
    assert "Each file is written atomically; " + sentence in help_text and ".zip for all or nothing" in help_text
    readme = " ".join((Path(__file__).resolve().parents[1] / "README.md").read_text().split())
    assert "Each file is written atomically; " + sentence in readme


# --devices: batches spread over worker processes (CPU workers here) give the single-process output, in order.

@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_cpu_workers_write_what_one_process_writes(exported, tmp_path, cli, backend):
    run, onnx_file = exported
    source = str(onnx_file if backend == "onnx" else run)
    # 7 batches of 8 (the last one short) over 2 workers: order and the short batch both matter
    common = ["--num", "53", "--batch-size", "8", "--seed", "11", "--no-progress", "--backend", backend]
    one, two = tmp_path / "one.npy", tmp_path / "two.npy"
    assert cli("generate", source, *common, "--out", str(one)).exit_code == 0
    result = cli("generate", source, *common, "--devices", "cpu:2", "--out", str(two))
    assert result.exit_code == 0, result.output
    assert "2 x " in result.output and "2 CPU worker processes" in result.output
    assert np.array_equal(np.load(one), np.load(two))


def test_device_lists_are_checked():
    assert parse_devices("cpu:3", 0).ids == (0, 1, 2)
    assert parse_devices("all", 4).ids == (0, 1, 2, 3)
    assert parse_devices("1,3", 4).ids == (1, 3)
    for bad, gpus, message in [("all", 0, "no GPU found"), ("2", 2, "no GPU 2"), ("0,0", 2, "each GPU index once"),
                               ("cpu:0", 0, "N >= 1"), ("gpu", 2, "takes all")]:
        with pytest.raises(UsageError, match=message):
            parse_devices(bad, gpus)


@pytest.mark.gpu
@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_gpu_workers_write_what_one_gpu_writes(exported, tmp_path, cli, backend):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available() or (backend == "onnx" and not _onnx_cuda_usable()):
        pytest.skip("needs a GPU (and onnxruntime's CUDA provider for onnx)")
    run, onnx_file = exported
    source = str(onnx_file if backend == "onnx" else run)
    common = ["--num", "300", "--batch-size", "64", "--seed", "3", "--no-progress", "--backend", backend]
    one, many = tmp_path / "one.npy", tmp_path / "many.npy"
    assert cli("generate", source, *common, "--device", "cuda", "--out", str(one)).exit_code == 0
    result = cli("generate", source, *common, "--devices", "all", "--out", str(many))
    assert result.exit_code == 0, result.output
    a, b = np.load(one).astype(int), np.load(many).astype(int)
    assert np.abs(a - b).max() <= 1  # the same kernels on the same GPU model: equal up to rounding
