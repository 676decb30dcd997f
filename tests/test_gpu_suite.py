"""benchmarks/gpu_suite.py runs on the CPU with --quick: every CUDA row is listed as skipped, the
CPU rows carry positive figures, and the JSON names the device and the compute limit used."""

from __future__ import annotations

import json

import pytest

from conftest import load_benchmark


@pytest.fixture(scope="module")
def suite():
    return load_benchmark("gpu_suite")


def test_quick_run_on_cpu_writes_every_row(suite, tmp_path, capsys):
    out = tmp_path / "suite.json"
    assert suite.main(["--quick", "--device", "cpu", "--models", "dcgan64", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["device_type"] == "cpu" and "CPU" in report["device"]
    assert report["peak"]["tflops"] > 0 and "matmul" in report["peak"]["how"]

    gen = {r["variant"]: r for r in report["generation"]}
    assert set(gen) == set(suite.GEN_VARIANTS)
    for name, row in gen.items():
        if "CUDA" in name:
            assert row["status"] == "skipped" and row["reason"] == "no CUDA device"
        else:
            assert row["status"] == "ok" and row["images_per_s"] > 0, row
            assert 0 < row["compute_fraction"] and row["gflop_per_image"] > 0
    assert gen["torch eager fp32"]["vs_torch_eager"] == 1.0

    train = report["training"]
    cuda_rows = [r for r in train if r["status"] == "skipped"]
    assert {(r["batch"], r["amp"], r["cuda_graph"]) for r in cuda_rows} == \
        {(b, a, g) for b in (128, 512) for a in ("off", "bf16") for g in (False, True)}
    (cpu_row,) = [r for r in train if r["status"] == "ok"]
    assert cpu_row["images_per_s"] > 0 and cpu_row["cuda_graph"] is False and cpu_row["captured"] is False

    assert {r["feed"] for r in report["feed"]} == {"plain", "flip"}
    assert all(r["batches_per_s"] > 0 and r["on_device"] for r in report["feed"])
    printed = capsys.readouterr().out
    assert "| onnxruntime CUDA fp16 | skipped |" in printed and f"wrote {out}" in printed


def test_unknown_model_is_a_usage_error(suite, capsys):
    assert suite.main(["--quick", "--models", "dcgan65"]) == 2
    assert "unknown model 'dcgan65'" in capsys.readouterr().err
