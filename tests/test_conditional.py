"""Class-conditional training: the protocol (labels to D, sampled labels to G), config.json,
usage errors, per-class sample grids, and export + generate with ``y`` for every conditional arch."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from PIL import Image

import ganzoo
from ganzoo import ArchitectureSpec, DatasetSpec, ImageSet, hookimpl
from ganzoo.classes import class_ids, grid_classes, parse_classes
from ganzoo.data import BatchFeed
from ganzoo.errors import UsageError
from ganzoo.testing import plugin_registered

from conftest import TINY
from export_helpers import SHAPE_CLASSES, make_run

# ------------------------------------------------------------------ a probe plugin: D records what it sees
SEEN: dict[str, list] = {"real": [], "fake": [], "g": []}


class ProbeG(torch.nn.Module):
    def __init__(self, nz, num_classes):
        super().__init__()
        self.embed = torch.nn.Embedding(num_classes, 3 * 8 * 8)
        self.fc = torch.nn.Linear(nz, 3 * 8 * 8)

    def forward(self, z, y):
        if self.training:
            SEEN["g"].append(y.clone())
        return torch.tanh(self.fc(z) + self.embed(y)).view(-1, 3, 8, 8)


class ProbeD(torch.nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.fc = torch.nn.Linear(3 * 8 * 8, 1)
        self.embed = torch.nn.Embedding(num_classes, 1)

    def forward(self, x, y):
        if self.training and not torch.is_grad_enabled() or self.training:
            # a real batch is pixel-coded (all pixels of an image of class k equal k / 10 - 1)
            SEEN["real" if bool((x.flatten(1).std(1) == 0).all()) else "fake"].append((x.detach().clone(), y.clone()))
        return self.fc(x.flatten(1)).view(-1) + self.embed(y).view(-1)


class ProbePlugin:
    @hookimpl
    def ganzoo_register_architectures(self, register):
        register(ArchitectureSpec(
            name="probe", description="records what D is fed", image_sizes=(8,), latent_size=4,
            build_generator=lambda p: ProbeG(p["nz"], p["num_classes"]),
            build_discriminator=lambda p: ProbeD(p["num_classes"]), conditional="always"))

    @hookimpl
    def ganzoo_register_datasets(self, register):
        def load(request):
            labels = np.arange(40) % 4
            images = np.repeat((labels * 25).astype(np.uint8)[:, None, None, None], 8 * 8 * 3, 1).reshape(40, 8, 8, 3)
            return ImageSet(images=images, labels=labels, class_names=["a", "b", "c", "d"])

        register(DatasetSpec(name="coded", description="each image's pixels tell its label", load=load))


def test_d_sees_each_real_image_with_its_label_and_g_samples_every_class(cli, tmp_path):
    for v in SEEN.values():
        v.clear()
    with plugin_registered(ProbePlugin()):
        out = tmp_path / "run"
        result = cli("train", "--arch", "probe", "--data", "coded", "--batch-size", "8", "--steps", "12",
                     "--no-progress", "--out", str(out))
        assert result.exit_code == 0, result.output
    assert len(SEEN["real"]) >= 12
    for x, y in SEEN["real"]:
        pixel = torch.round((x[:, 0, 0, 0] + 1) * 127.5).long()  # the coded label * 25
        assert torch.equal(pixel // 25, y)  # the labels belong to those very images
    g_labels = torch.cat(SEEN["g"])
    assert g_labels.dtype == torch.int64 and set(g_labels.tolist()) == {0, 1, 2, 3}  # uniform over the classes
    fake_labels = [y for _, y in SEEN["fake"]]
    assert any(torch.equal(fake_labels[0], g) for g in SEEN["g"])  # D judges a fake with the label G drew it for
    config = json.loads((out / "config.json").read_text())
    assert (config["conditional"], config["num_classes"], config["class_names"]) == (True, 4, ["a", "b", "c", "d"])


def test_feed_labels_follow_the_image_permutation():
    labels = np.arange(50) % 5
    images = np.repeat(labels.astype(np.uint8)[:, None, None, None] * 40, 4 * 4 * 3, 1).reshape(50, 4, 4, 3)
    feed = BatchFeed(images, 8, torch.device("cpu"), seed=3, labels=labels)
    for b in (0, 5, 6, 13):  # across epoch boundaries (6 batches an epoch)
        x, y = feed.batch(b), feed.labels(b)
        assert torch.equal(torch.round((x[:, 0, 0, 0] + 1) * 127.5).long() // 40, y)


def test_conditional_dcgan_run_records_the_classes_and_draws_class_rows(cli, tmp_path):
    out = tmp_path / "run"
    result = cli("train", *TINY, "--steps", "2", "--set", "conditional=true", "--out", str(out))
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    assert config["conditional"] and config["num_classes"] == 3 and config["class_names"] == SHAPE_CLASSES
    grid = Image.open(out / "samples" / "step_000002.png")
    assert grid.size == (8 * 18 + 2, 3 * 18 + 2)  # 16 px images, 2 px padding: 8 columns, one row per class
    # an unconditional run on the same labelled data is unchanged: no classes recorded, 8x8 grid
    plain = tmp_path / "plain"
    assert cli("train", *TINY, "--steps", "2", "--out", str(plain)).exit_code == 0
    config = json.loads((plain / "config.json").read_text())
    assert not config["conditional"] and config["num_classes"] is None
    assert Image.open(plain / "samples" / "step_000002.png").size == (8 * 18 + 2, 8 * 18 + 2)


@pytest.mark.parametrize("args,message", [
    (["--set", "conditional=true", "--set", "labels=false"], "has no labels"),
    (["--arch", "probe", "--set", "conditional=false"], "always class-conditional"),
])
def test_conditional_usage_errors(cli, tmp_path, args, message):
    with plugin_registered(ProbePlugin()):
        base = [a for a in TINY if a != "dcgan"] if "probe" in args else TINY
        if "probe" in args:
            base = ["--image-size", "8", "--data", "coded", "--batch-size", "8", "--no-progress"]
        result = cli("train", *base, *args, "--steps", "1", "--out", str(tmp_path / "run"))
    assert result.exit_code == 2 and message in result.output
    assert len(result.output.strip().splitlines()) == 1 or "Error:" in result.output.strip().splitlines()[-1]
    assert not (tmp_path / "run").exists()


def test_an_unconditional_architecture_refuses_conditional(registry):
    from ganzoo.config import resolve_config

    class Plain:
        @hookimpl
        def ganzoo_register_architectures(self, register):
            register(ArchitectureSpec(name="plain", description="never conditional", image_sizes=(8,), latent_size=2,
                                      build_generator=lambda p: None, build_discriminator=lambda p: None))

    with plugin_registered(Plain()) as reg:
        with pytest.raises(UsageError, match="not class-conditional"):
            resolve_config(reg, arch="plain", data="shapes", set_items=["conditional=true"])


def test_a_spec_with_a_bad_conditional_mode_is_refused():
    with pytest.raises(ValueError, match="conditional must be one of"):
        ArchitectureSpec(name="x", description="d", image_sizes=(8,), latent_size=2, build_generator=print,
                         build_discriminator=print, conditional="sometimes")
    assert ganzoo.API_VERSION >= "1.2"


def test_class_ids_grid_classes_and_class_parsing():
    assert class_ids(np.arange(7), [2, 0]).tolist() == [2, 0, 2, 0, 2, 0, 2]
    assert grid_classes(3) == [0, 1, 2] and grid_classes(120)[0] == 0 and grid_classes(120)[-1] == 119
    assert len(grid_classes(120)) == 16
    names = ["Chihuahua", "Japanese spaniel", "golden_retriever"]
    assert parse_classes("japanese_spaniel,2,CHIHUAHUA", names) == [1, 2, 0]
    assert parse_classes("Golden Retriever", names) == [2]
    with pytest.raises(UsageError, match="closest: Chihuahua"):
        parse_classes("chihuahu", names)
    with pytest.raises(UsageError, match="from 0 to 2"):
        parse_classes("3", names)


# ------------------------------------------------------------------ export and generate with y
@pytest.fixture(scope="module", params=["dcgan", "cifar", "biggan"])
def conditional_export(request, tmp_path_factory):
    from click.testing import CliRunner

    from ganzoo.cli import main

    root = tmp_path_factory.mktemp(f"cond-{request.param}")
    run = make_run(root, request.param, conditional=True, ema=request.param == "biggan")
    onnx_file = root / "gen.onnx"
    result = CliRunner().invoke(main, ["export", str(run), "--onnx", str(onnx_file)])
    assert result.exit_code == 0, result.output
    return request.param, run, onnx_file, result.output


def test_conditional_export_takes_z_and_y_and_describes_its_classes(conditional_export):
    arch, run, onnx_file, output = conditional_export
    assert "inputs z and y" in output and "batch 1" in output and "batch 7" in output and "batch 64" in output
    model = onnx.load(str(onnx_file))
    assert [i.name for i in model.graph.input] == ["z", "y"]
    y = model.graph.input[1].type.tensor_type
    assert y.elem_type == onnx.TensorProto.INT64 and len(y.shape.dim) == 1 and y.shape.dim[0].dim_param
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["ganzoo.num_classes"] == "3" and json.loads(meta["ganzoo.class_names"]) == SHAPE_CLASSES
    assert all(n.domain in ("", "ai.onnx") for n in model.graph.node)  # standard ONNX operators only
    if arch in ("dcgan", "cifar"):  # conditional BatchNorm: the normalisation folds, the class's scale stays
        assert "not folded" not in output
        assert not any(n.op_type == "BatchNormalization" for n in model.graph.node)
        assert any(n.op_type == "Gather" for n in model.graph.node)
    if arch == "biggan":  # conditional BatchNorm cannot fold; spectral norm is baked in
        assert "not folded" in output and "spectral-norm weights baked in" in output
        assert any(n.op_type == "Softmax" for n in model.graph.node)  # the self-attention is in the graph


def test_conditional_generate_same_seed_same_images_on_both_backends(conditional_export, tmp_path, cli):
    _, run, onnx_file, _ = conditional_export
    t, o = tmp_path / "t.npy", tmp_path / "o.npy"
    r = cli("generate", str(run), "--num", "13", "--out", str(t), "--batch-size", "5", "--seed", "2")
    assert r.exit_code == 0, r.output
    r = cli("generate", str(onnx_file), "--num", "13", "--out", str(o), "--batch-size", "64", "--seed", "2",
            "--grid", str(tmp_path / "grid.png"))
    assert r.exit_code == 0 and "Classes: 3 of 3" in r.output, r.output
    a, b = np.load(t).astype(int), np.load(o).astype(int)
    assert a.shape == (13, 32, 32, 3) and np.abs(a - b).max() <= 1
    # --class picks classes: image i gets classes[i % k]; class 1 alone = every third image of the default
    one = tmp_path / "one.npy"
    assert cli("generate", str(onnx_file), "--num", "13", "--out", str(one), "--seed", "2", "--class", "square").exit_code == 0
    assert not np.array_equal(np.load(one), b)
    # one row per class, each the first images of that class in output order (13 images: 5, 4, 4)
    grid = np.asarray(Image.open(tmp_path / "grid.png"))
    assert grid.shape == (3 * 34 + 2, 8 * 34 + 2, 3)
    for row, cls in enumerate(range(3)):
        first = b[cls]  # image index cls has class cls (round-robin)
        np.testing.assert_array_equal(grid[2 + row * 34:2 + row * 34 + 32, 2:34], first)
        assert grid[2 + row * 34:2 + row * 34 + 32, 2 + 7 * 34:2 + 7 * 34 + 32].max() == 0  # short rows padded black


def test_cpu_workers_give_a_conditional_generator_its_classes_in_order(conditional_export, tmp_path, cli):
    arch, run, onnx_file, _ = conditional_export
    if arch != "dcgan":
        pytest.skip("one architecture is enough for the sharded path")
    common = ["--num", "13", "--batch-size", "4", "--seed", "2", "--class", "triangle,circle", "--no-progress"]
    for source in (run, onnx_file):
        one, two = tmp_path / "one.npy", tmp_path / "two.npy"
        assert cli("generate", str(source), *common, "--out", str(one), "--force").exit_code == 0
        r = cli("generate", str(source), *common, "--devices", "cpu:2", "--out", str(two), "--force",
                "--grid", str(tmp_path / "grid.png"))
        assert r.exit_code == 0 and "Classes: 2 of 3" in r.output, r.output
        assert np.array_equal(np.load(one), np.load(two)), source


def test_onnxruntime_alone_generates_a_chosen_class(conditional_export):
    _, _, onnx_file, _ = conditional_export
    sess = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    meta = sess.get_modelmeta().custom_metadata_map
    names = json.loads(meta["ganzoo.class_names"])
    z = np.random.default_rng(0).standard_normal((4, json.loads(meta["ganzoo.latent_shape"])[0]), dtype=np.float32)
    a = sess.run(["images"], {"z": z, "y": np.full(4, names.index("circle"), np.int64)})[0]
    b = sess.run(["images"], {"z": z, "y": np.full(4, names.index("triangle"), np.int64)})[0]
    assert a.shape == (4, 3, 32, 32) and not np.allclose(a, b)  # the class changes the images


def test_opencv_dnn_runs_the_exported_file_like_onnxruntime(conditional_export):
    """The exported file is plain ONNX: OpenCV's DNN module (a second runtime) gives the same images.
    OpenCV is a test dependency only (the dev extra); without ``cv2`` the test is skipped."""
    cv2 = pytest.importorskip("cv2")
    _, _, onnx_file, _ = conditional_export
    sess = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    nz = json.loads(sess.get_modelmeta().custom_metadata_map["ganzoo.latent_shape"])[0]
    z = np.random.default_rng(1).standard_normal((7, nz), dtype=np.float32)  # (7, nz)
    y = np.arange(7, dtype=np.int64) % 3  # (7,) every class
    want = sess.run(["images"], {"z": z, "y": y})[0]
    net = cv2.dnn.readNetFromONNX(str(onnx_file))
    net.setInput(z, "z")
    net.setInput(y, "y")
    got = net.forward()
    assert got.shape == want.shape and np.abs(got - want).max() < 1e-4


def test_class_errors_are_one_line(conditional_export, tmp_path, cli):
    _, run, onnx_file, _ = conditional_export
    r = cli("generate", str(onnx_file), "--num", "2", "--out", str(tmp_path / "x.npy"), "--class", "triangel")
    assert r.exit_code == 2 and "closest: triangle" in r.output
    assert r.output.strip().splitlines()[-1].startswith("Error: --class triangel")
    r = cli("generate", str(run), "--num", "2", "--out", str(tmp_path / "x.npy"), "--class", "5")
    assert r.exit_code == 2 and "class ids go from 0 to 2" in r.output
    assert not (tmp_path / "x.npy").exists()


def test_class_on_an_unconditional_source_is_a_usage_error(tmp_path, cli):
    run = make_run(tmp_path, "dcgan")
    r = cli("generate", str(run), "--num", "2", "--out", str(tmp_path / "x.npy"), "--class", "circle")
    assert r.exit_code == 2 and "not class-conditional" in r.output


def test_readme_breed_consumer_runs_with_onnxruntime_and_numpy_only(conditional_export, tmp_path):
    import re
    import subprocess
    import sys
    from pathlib import Path

    arch, _, onnx_file, _ = conditional_export
    if arch != "biggan":
        pytest.skip("one architecture is enough for the snippet")
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    blocks = [b for b in re.findall(r"```python\n(.*?)```", readme, flags=re.S) if b.startswith("# consumer_breed.py")]
    assert len(blocks) == 1
    (tmp_path / "gen.onnx").write_bytes(onnx_file.read_bytes())
    code = blocks[0] + "\nassert 'torch' not in sys.modules and 'ganzoo' not in sys.modules\n"
    result = subprocess.run([sys.executable, "-c", code, "triangle"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "triangle (16, 32, 32, 3)"
    assert np.load(tmp_path / "triangle.npy").dtype == np.uint8


@pytest.mark.parametrize("arch", ["dcgan", "cifar"])
def test_conditional_generator_modes_and_runs_from_before_cond(registry, arch):
    """cond=bn (the default) puts the class in G's BatchNorm; a conditional run configured
    before ``cond`` existed (no such key in its params) builds the concatenating G it trained."""
    from ganzoo.testing import architecture_params

    spec = registry.architecture(arch)
    assert spec.params["cond"].default == "bn"
    params = {**architecture_params(spec, 32, {"ngf": 8, "ndf": 8}), "num_classes": 3}
    g = spec.build_generator(params)
    assert g.embed is None and any(type(m).__name__ == "ClassAffine" for m in g.modules())
    old = spec.build_generator({k: v for k, v in params.items() if k != "cond"})
    assert old.embed is not None and not any(type(m).__name__ == "ClassAffine" for m in old.modules())
    z, y = torch.randn(4, spec.latent_size), torch.tensor([0, 1, 2, 0])
    assert g.eval()(z, y).shape == old.eval()(z, y).shape == (4, 3, 32, 32)
