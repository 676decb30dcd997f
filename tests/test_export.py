"""ganzoo export: BatchNorm folding, the ONNX file's contract, the self-check, and user errors."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from export_helpers import make_run
from ganzoo.export.fold import fold_batchnorm
from ganzoo.source import load_generator, resolve_source

CONTRACT_KEYS = {"ganzoo.arch", "ganzoo.latent_shape", "ganzoo.image_size", "ganzoo.channels",
                 "ganzoo.output_range", "ganzoo.version", "ganzoo.config"}


def _session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("arch", ["dcgan", "cifar"])
def test_folding_removes_every_batchnorm_and_keeps_the_output(tmp_path, arch):
    g = load_generator(resolve_source(make_run(tmp_path, arch))).model
    folded, n = fold_batchnorm(g)
    assert n == sum(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) for m in g.modules()) == 3
    assert not any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) for m in folded.modules())
    z = torch.randn(5, g.fc[0].in_features if arch == "cifar" else g.nz)
    with torch.no_grad():
        assert torch.allclose(folded(z), g(z), atol=1e-5)


def test_folding_leaves_what_it_cannot_fold():
    # BatchNorm after a ReLU is not an affine map of the conv output: leave it alone
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.BatchNorm2d(4)).eval()
    folded, n = fold_batchnorm(model)
    assert n == 0 and isinstance(folded[2], nn.BatchNorm2d)


@pytest.mark.parametrize("arch,extra", [("dcgan", ()), ("dcgan", ("upsample=nearest",)), ("cifar", ())])
def test_export_writes_a_self_describing_checked_file(tmp_path, cli, arch, extra):
    run = make_run(tmp_path, arch, extra=extra)
    out = tmp_path / "gen.onnx"
    result = cli("export", str(run), "--onnx", str(out))
    assert result.exit_code == 0, result.output
    assert "max abs error" in result.output and "batch 64" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{arch}-run", "gen.onnx"]  # one file, no .data, no temp

    model = onnx.load(str(out))
    onnx.checker.check_model(model)
    assert not any(node.op_type == "BatchNormalization" for node in model.graph.node)
    if extra:  # upsample=nearest: Resize + Conv (BatchNorm folded into the Conv); one ConvTranspose left, z -> 4x4
        ops = [node.op_type for node in model.graph.node]
        assert (ops.count("ConvTranspose"), ops.count("Resize")) == (1, 3), ops  # 4 -> 8 -> 16 -> 32
    assert [i.name for i in model.graph.input] == ["z"] and [o.name for o in model.graph.output] == ["images"]
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param  # symbolic batch
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) == 18
    meta = {p.key: p.value for p in model.metadata_props}
    assert CONTRACT_KEYS <= set(meta)
    config = json.loads((run / "config.json").read_text())
    assert meta["ganzoo.arch"] == arch and json.loads(meta["ganzoo.config"]) == config
    assert json.loads(meta["ganzoo.latent_shape"]) == [config["nz"]]
    assert json.loads(meta["ganzoo.output_range"]) == [-1, 1] and meta["ganzoo.channels"] == "3"

    # any batch size runs and matches PyTorch
    g = load_generator(resolve_source(run)).model
    for n in (3, 130):
        z = np.random.default_rng(n).standard_normal((n, config["nz"]), dtype=np.float32)
        images = _session(out).run(None, {"z": z})[0]
        assert images.shape == (n, 3, 32, 32)
        with torch.no_grad():
            np.testing.assert_allclose(images, g(torch.from_numpy(z)).numpy(), atol=1e-4)


def test_export_uses_the_ema_weights(tmp_path, cli):
    run = make_run(tmp_path, "dcgan", ema=True)
    out = tmp_path / "gen.onnx"
    assert cli("export", str(run), "--onnx", str(out)).exit_code == 0
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    loaded = load_generator(resolve_source(run))
    assert loaded.weights == "ema"
    z = np.random.default_rng(0).standard_normal((4, 100), dtype=np.float32)
    got = _session(out).run(None, {"z": z})[0]
    loaded.model.load_state_dict(state["generator"])
    with torch.no_grad():
        plain = loaded.model(torch.from_numpy(z)).numpy()
        loaded.model.load_state_dict(state["ema"])
        ema = loaded.model(torch.from_numpy(z)).numpy()
    np.testing.assert_allclose(got, ema, atol=1e-4)
    assert np.abs(got - plain).max() > 1e-2
    assert {p.key: p.value for p in onnx.load(str(out)).metadata_props}["ganzoo.weights"] == "ema"


def test_fp16_export(tmp_path, cli):
    run = make_run(tmp_path, "cifar")
    out = tmp_path / "gen16.onnx"
    result = cli("export", str(run), "--onnx", str(out), "--fp16")
    assert result.exit_code == 0, result.output
    sess = _session(out)
    assert sess.get_inputs()[0].type == "tensor(float16)"
    assert sess.get_modelmeta().custom_metadata_map["ganzoo.precision"] == "fp16"


def test_a_failed_self_check_leaves_no_file(tmp_path, cli, monkeypatch):
    from ganzoo.export import check

    monkeypatch.setitem(check.TOLERANCE, "fp32", 0.0)  # any rounding difference now fails
    run = make_run(tmp_path, "dcgan")
    result = cli("export", str(run), "--onnx", str(tmp_path / "gen.onnx"))
    assert result.exit_code == 1
    assert "differs from PyTorch" in result.output and "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dcgan-run"]


def test_an_unexportable_generator_names_the_operator(tmp_path, cli):
    from ganzoo import ArchitectureSpec, hookimpl
    from ganzoo.testing import plugin_registered

    class Bessel(nn.Module):
        def __init__(self, nz: int, size: int):
            super().__init__()
            self.fc, self.size = nn.Linear(nz, 3 * size * size), size

        def forward(self, z):  # (N, nz) -> (N, 3, S, S); i0 has no ONNX translation
            return torch.tanh(torch.special.i0(self.fc(z))).view(z.shape[0], 3, self.size, self.size)

    class Plugin:
        @hookimpl
        def ganzoo_register_architectures(self, register):
            register(ArchitectureSpec(
                name="bessel", description="a generator with an operator ONNX lacks", image_sizes=(16,), latent_size=8,
                build_generator=lambda p: Bessel(p["nz"], p["image_size"]),
                build_discriminator=lambda p: nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 1)),
            ))

    with plugin_registered(Plugin()):
        from ganzoo.checkpoint import save_checkpoint
        from ganzoo.config import resolve_config
        from ganzoo.plugins import load_registry

        config = resolve_config(load_registry(), arch="bessel", data="shapes", flags={"steps": 1})
        ckpt = tmp_path / "bessel.pt"
        save_checkpoint(ckpt, {"kind": "generator", "config": config.to_json(),
                               "generator": Bessel(8, 16).state_dict()})
        result = cli("export", str(ckpt), "--onnx", str(tmp_path / "b.onnx"))
    assert result.exit_code == 1
    assert "bessel_i0" in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "b.onnx").exists()


def test_user_errors_are_one_line(tmp_path, cli):
    run = make_run(tmp_path, "dcgan")
    (tmp_path / "taken.onnx").write_bytes(b"keep me")
    cases = [
        ((str(tmp_path / "nope"), "--onnx", str(tmp_path / "a.onnx")), 2, "does not exist"),
        ((str(run), "--onnx", str(tmp_path / "taken.onnx")), 2, "--force"),
        ((str(run), "--onnx", str(tmp_path / "a.txt")), 2, ".onnx"),
        ((str(run), "--onnx", str(tmp_path / ".onnx")), 2, "give the file a name before the extension"),
        ((str(run), "--onnx", str(tmp_path / "a.onnx"), "--opset", "9"), 2, "opset"),
    ]
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    cases.append(((str(bad), "--onnx", str(tmp_path / "a.onnx")), 1, "not a readable ganzoo checkpoint"))
    for args, code, words in cases:
        result = cli("export", *args)
        assert result.exit_code == code, (args, result.output)
        assert words in result.output and len(result.output.strip().splitlines()) == 1, result.output
    assert (tmp_path / "taken.onnx").read_bytes() == b"keep me"


def test_opsets_beyond_what_onnx_and_onnxruntime_support_are_refused_up_front(tmp_path, cli):
    from ganzoo.export.onnx_export import supported_opsets

    low, high = supported_opsets()
    assert low == 18 and high >= low
    if high < onnx.defs.onnx_opset_version():  # onnx defines it, onnxruntime refuses it: the probe saw that
        with pytest.raises(Exception, match="opset"):
            _session_for_opset(high + 1)
    _session_for_opset(high)  # the ceiling itself loads
    run = make_run(tmp_path, "dcgan")
    for opset in (low - 1, high + 1, 99):
        result = cli("export", str(run), "--onnx", str(tmp_path / "a.onnx"), "--opset", str(opset))
        assert result.exit_code == 2, result.output
        assert f"opsets {low} to {high}" in result.output and len(result.output.strip().splitlines()) == 1, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dcgan-run"]


def _session_for_opset(opset: int):
    from onnx import TensorProto, helper

    x, y = (helper.make_tensor_value_info(n, TensorProto.FLOAT, [1]) for n in "xy")
    model = helper.make_model(helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y]),
                              opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 10
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def test_the_newest_supported_opset_is_really_written(tmp_path, cli):
    from ganzoo.export.onnx_export import supported_opsets

    high = supported_opsets()[1]
    run = make_run(tmp_path, "dcgan")
    out = tmp_path / "new.onnx"
    result = cli("export", str(run), "--onnx", str(out), "--opset", str(high))
    assert result.exit_code == 0, result.output
    model = onnx.load(str(out))
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) == high
    assert {p.key: p.value for p in model.metadata_props}["ganzoo.opset"] == str(high)


def test_an_opset_the_converter_misses_fails_in_one_line_and_writes_nothing(tmp_path, cli, monkeypatch):
    from ganzoo.export import onnx_export

    # pretend 99 is supported: the exporter's conversion fails and it keeps its own opset 18
    monkeypatch.setattr(onnx_export, "supported_opsets", lambda: (18, 99))
    run = make_run(tmp_path, "dcgan")
    result = cli("export", str(run), "--onnx", str(tmp_path / "e.onnx"), "--opset", "99")
    assert result.exit_code == 1, result.output
    assert "could not convert the graph to opset 99" in result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dcgan-run"]


def test_opencv_dnn_runs_a_nearest_upsampling_export_like_onnxruntime(tmp_path, cli):
    """upsample=nearest emits Resize nodes: plain ONNX that OpenCV's DNN module (a second runtime)
    runs too. OpenCV is a test dependency only (the dev extra); without ``cv2`` the test is skipped."""
    cv2 = pytest.importorskip("cv2")
    run = make_run(tmp_path, "dcgan", extra=("upsample=nearest",))
    out = tmp_path / "gen.onnx"
    assert cli("export", str(run), "--onnx", str(out)).exit_code == 0
    z = np.random.default_rng(2).standard_normal((5, json.loads((run / "config.json").read_text())["nz"]), dtype=np.float32)
    want = _session(out).run(None, {"z": z})[0]  # (5, 3, 32, 32)
    net = cv2.dnn.readNetFromONNX(str(out))
    net.setInput(z, "z")
    got = net.forward()
    assert got.shape == want.shape and np.abs(got - want).max() < 1e-4
