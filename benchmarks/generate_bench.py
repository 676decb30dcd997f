"""Generation throughput: images/s per architecture, batch size and backend, measured in one run.

    python benchmarks/generate_bench.py                       # CPU: batches 64, 256
    python benchmarks/generate_bench.py --batches 64,256,1024,4096   # the GPU set (default with CUDA)
    python benchmarks/generate_bench.py --png 10000           # + writing 10,000 64x64 PNGs into a zip
    python benchmarks/generate_bench.py --readme README.md    # also put the table into the README

The networks are the reference ones of ANCHORS.md, built through ganzoo's own plugins:
dcgan64 (nz 100, ngf 64, 64x64, 0.209 GFLOP/image) and cifar32 (nz 256, ngf 128, 32x32,
0.234 GFLOP/image), plus dcgan64-nearest (``upsample=nearest``, 0.469 GFLOP/image), with
random weights and BatchNorm statistics (speed does not depend on training). The ONNX files come from ganzoo's exporter (BatchNorm folded, self-checked).

Variants (each timed as the median of --repeats batches after --warmup, CUDA-synchronised):
- torch eager fp32: the naive baseline (on CUDA with PyTorch's defaults, TF32 convs allowed);
- torch tuned: on CUDA fp16 weights + channels_last + CUDA graph replay; on the CPU
  channels_last fp32 (oneDNN's blocked layouts; reduced precision does not pay on these CPUs);
- onnxruntime CPU fp32 (ganzoo's session settings: no thread spinning); with --spinning also
  with onnxruntime's default spinning threads;
- onnxruntime CUDA fp32 and fp16: HEURISTIC conv algorithm search, prefer_nhwc, IO binding
  with latents and images on the device (the generation loop copies images back once per batch;
  that copy is left out here as it is for torch).
Images stay on the device for every GPU variant, so the ratios compare compute alone.
Prints a table and writes JSON (device named, ratios to torch eager fp32 from this run).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ganzoo.checkpoint import save_checkpoint  # noqa: E402
from ganzoo.config import resolve_config  # noqa: E402
from ganzoo.export import export_generator  # noqa: E402
from ganzoo.generate.onnx_backend import CUDA, cuda_device_present, cuda_provider_options, make_session  # noqa: E402
from ganzoo.networks import build_generator  # noqa: E402
from ganzoo.plugins import load_registry  # noqa: E402

ARCHS = {
    "dcgan64": {"arch": "dcgan", "image_size": 64, "set": ("ngf=64",), "gflop": 0.209},
    "cifar32": {"arch": "cifar", "image_size": 32, "set": ("ngf=128",), "gflop": 0.234},
    # the same dcgan with nearest-neighbour upsampling + 3x3 conv in G (the demo's): 2.24x the FLOPs
    "dcgan64-nearest": {"arch": "dcgan", "image_size": 64, "set": ("ngf=64", "upsample=nearest"), "gflop": 0.469},
}
README_START, README_END = "<!-- generate-bench:start -->", "<!-- generate-bench:end -->"


def device_name() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"{platform.processor() or platform.machine()} CPU, {len(os.sched_getaffinity(0))} cores (no GPU)"


def build(name: str, workdir: Path):
    """The fp32 eval generator, a checkpoint of it, and its fp32 (+ fp16 on CUDA) ONNX exports."""
    spec = ARCHS[name]
    registry = load_registry(report=False)
    config = resolve_config(registry, arch=spec["arch"], data="shapes", flags={"image_size": spec["image_size"], "steps": 1},
                            set_items=spec["set"])
    g, files = export_random(registry, config, name, workdir, fp16=torch.cuda.is_available())
    return g, config.nz, files


def export_random(registry, config, name: str, workdir: Path, fp16: bool):
    """The config's eval generator with random weights and BatchNorm statistics (not the identity),
    a checkpoint of it, and its fp32 (+ fp16) ONNX exports: (generator, {"fp32": path, ...})."""
    torch.manual_seed(0)
    g = build_generator(registry.architecture(config.arch), config.model_params())
    with torch.no_grad():
        for m in g.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    g.eval()
    ckpt = workdir / f"{name}.pt"
    save_checkpoint(ckpt, {"kind": "generator", "config": config.to_json(), "generator": g.state_dict()})
    files = {"fp32": workdir / f"{name}.onnx"}
    export_generator(ckpt, files["fp32"])
    if fp16:
        files["fp16"] = workdir / f"{name}-fp16.onnx"
        export_generator(ckpt, files["fp16"], fp16=True)
    return g, files


def timed_interleaved(variants: list, warmup: int, repeats: int, sync=lambda: None) -> list[float]:
    """Median seconds per call for each (name, fn), the variants taking turns batch by batch.

    Taking turns means a slow spell of the machine (other processes on a shared 2-core box)
    hits every variant alike, so the ratios measured in one run stay fair.
    """
    for _, fn in variants:
        for _ in range(warmup):
            fn()
    sync()
    times: list[list[float]] = [[] for _ in variants]
    for _ in range(repeats):
        for i, (_, fn) in enumerate(variants):
            t0 = time.perf_counter()
            fn()
            sync()
            times[i].append(time.perf_counter() - t0)
    return [statistics.median(t) for t in times]


def torch_variants(g, nz: int, batch: int, device: torch.device):
    """(name, callable) pairs; each callable generates one batch on ``device``."""
    z = torch.randn(batch, nz, device=device)
    eager = g.to(device).eval()

    @torch.inference_mode()
    def run_eager():
        return eager(z)

    yield "torch eager fp32", run_eager
    if device.type == "cuda":
        import copy

        tuned = copy.deepcopy(g).to(device).half().to(memory_format=torch.channels_last).eval()
        z16 = z.half()
        static_in = z16.clone()
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.inference_mode(), torch.cuda.stream(stream):
            for _ in range(3):  # warm cuDNN up outside the graph
                tuned(static_in)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.inference_mode(), torch.cuda.graph(graph):
            static_out = tuned(static_in)  # noqa: F841  (kept alive by the graph's pool)

        def run_graph():
            graph.replay()

        yield "torch fp16 + channels_last + CUDA graph", run_graph
    else:
        import copy

        tuned = copy.deepcopy(g).to(memory_format=torch.channels_last).eval()

        @torch.inference_mode()
        def run_cl():
            return tuned(z)

        yield "torch channels_last fp32", run_cl


def ort_cpu_variant(path: Path, nz: int, batch: int, spinning: bool = False):
    sess = make_session(path, device="cpu", spinning=spinning)
    z = np.random.default_rng(0).standard_normal((batch, nz), dtype=np.float32)
    name = sess.get_inputs()[0].name
    return lambda: sess.run(["images"], {name: z})


def ort_cuda_variant(path: Path, nz: int, batch: int, fp16: bool):
    """IO binding: input and output buffers on the device, bound once."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(str(path), so, providers=[(CUDA, cuda_provider_options()), "CPUExecutionProvider"])
    if sess.get_providers()[0] != CUDA:
        raise RuntimeError("onnxruntime's CUDA provider did not load")
    dtype = np.float16 if fp16 else np.float32
    z = np.random.default_rng(0).standard_normal((batch, nz)).astype(dtype)
    z_dev = ort.OrtValue.ortvalue_from_numpy(z, "cuda", 0)
    size = int(sess.get_modelmeta().custom_metadata_map["ganzoo.image_size"])
    out_dev = ort.OrtValue.ortvalue_from_shape_and_type((batch, 3, size, size), dtype, "cuda", 0)
    binding = sess.io_binding()
    binding.bind_ortvalue_input("z", z_dev)
    binding.bind_ortvalue_output("images", out_dev)
    return lambda: sess.run_with_iobinding(binding)


def bench(args) -> dict:
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    if not cuda:
        torch.set_num_threads(len(os.sched_getaffinity(0)))
    batches = [int(b) for b in (args.batches or ("64,256,1024,4096" if cuda else "64,256")).split(",")]
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    ort_cuda = cuda and cuda_device_present() and CUDA in __import__("onnxruntime").get_available_providers()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.archs.split(","):
            g, nz, files = build(name, Path(tmp))
            for batch in batches:
                variants = list(torch_variants(g, nz, batch, device))
                if batch <= args.max_cpu_batch or not cuda:
                    variants.append(("onnxruntime CPU fp32", ort_cpu_variant(files["fp32"], nz, batch)))
                    if args.spinning:  # onnxruntime's default thread spinning, for comparison
                        variants.append(("onnxruntime CPU fp32, spinning threads", ort_cpu_variant(files["fp32"], nz, batch, True)))
                if ort_cuda:
                    variants.append(("onnxruntime CUDA fp32", ort_cuda_variant(files["fp32"], nz, batch, fp16=False)))
                    variants.append(("onnxruntime CUDA fp16", ort_cuda_variant(files["fp16"], nz, batch, fp16=True)))
                ok = []
                for variant, fn in variants:  # a variant that cannot even run once is reported, not fatal
                    try:
                        fn()
                        ok.append((variant, fn))
                    except Exception as exc:
                        row = {"arch": name, "batch": batch, "variant": variant, "error": f"{type(exc).__name__}: {exc}"[:300]}
                        rows.append(row)
                        print(json.dumps(row), flush=True)
                repeats = args.repeats
                for (variant, _), sec in zip(ok, timed_interleaved(ok, args.warmup, repeats, sync)):
                    ips = batch / sec
                    row = {"arch": name, "batch": batch, "variant": variant, "images_per_s": round(ips, 1),
                           "gflops_per_s": round(ips * ARCHS[name]["gflop"], 1)}
                    rows.append(row)
                    print(json.dumps(row), flush=True)
                del ok
                del variants
                if cuda:
                    torch.cuda.empty_cache()
    return {"device": device_name(), "torch": torch.__version__, "onnxruntime": __import__("onnxruntime").__version__,
            "cuda": cuda, "warmup": args.warmup, "repeats": args.repeats, "results": rows}


def add_ratios(report: dict) -> None:
    base = {(r["arch"], r["batch"]): r["images_per_s"] for r in report["results"] if r["variant"] == "torch eager fp32" and "images_per_s" in r}
    for r in report["results"]:
        if "images_per_s" in r and (r["arch"], r["batch"]) in base:
            r["vs_torch_eager"] = round(r["images_per_s"] / base[(r["arch"], r["batch"])], 2)


def table(report: dict) -> str:
    results = report["results"]
    cols = sorted({(r["arch"], r["batch"]) for r in results}, key=lambda c: (list(ARCHS).index(c[0]), c[1]))
    variants = list(dict.fromkeys(r["variant"] for r in results))
    cell = {(r["variant"], r["arch"], r["batch"]): r for r in results}
    lines = [f"Generation, images/s (x torch eager fp32 in this run) on {report['device']}; "
             f"torch {report['torch']}, onnxruntime {report['onnxruntime']}", "",
             "| variant | " + " | ".join(f"{a} b{b}" for a, b in cols) + " |",
             "|---|" + "---:|" * len(cols)]
    for v in variants:
        cells = []
        for a, b in cols:
            r = cell.get((v, a, b))
            if r is None:
                cells.append("–")
            elif "error" in r:
                cells.append("error")
            else:
                ratio = f" ({r['vs_torch_eager']:.2f}x)" if "vs_torch_eager" in r else ""
                cells.append(f"{r['images_per_s']:,.0f}{ratio}")
        lines.append(f"| {v} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def png_bench(num: int, workdir: Path) -> list[dict]:
    """Writing ``num`` 64x64 images into a zip: encoding inline, in threads, in processes."""
    from contextlib import ExitStack

    from ganzoo.generate.writers import ZipWriter, make_pool

    rng = np.random.default_rng(0)
    # smooth-ish images (a random walk) compress like generated ones, unlike pure noise
    base = rng.integers(0, 256, (256, 64, 64, 3), dtype=np.uint8)
    images = np.cumsum(base.astype(np.int16) % 7 - 3, axis=2).astype(np.uint8)
    workers = len(os.sched_getaffinity(0))
    best: dict[str, float] = {}
    for kind in ("inline", "threads", "processes") * 2:  # twice, taking turns; the best of two counts
        pool = None if kind == "inline" else make_pool(workers, kind)
        out = workdir / f"{kind}.zip"
        t0 = time.perf_counter()
        with ExitStack() as stack:
            w = ZipWriter(out, num, pool, workers if pool else 1, False, stack)
            for start in range(0, num, 256):
                w.write(images[: min(256, num - start)])
            w.close()
        sec = time.perf_counter() - t0
        if pool is not None:
            pool.shutdown()
        best[kind] = min(sec, best.get(kind, sec))
        out.unlink()
    rows = [{"png_encoding": k, "images": num, "seconds": round(v, 2), "images_per_s": round(num / v)} for k, v in best.items()]
    for row in rows:
        print(json.dumps(row), flush=True)
    return rows


def write_readme(path: Path, text: str) -> None:
    readme = path.read_text()
    if README_START not in readme or README_END not in readme:
        raise SystemExit(f"{path} has no {README_START} ... {README_END} markers")
    head, rest = readme.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    path.write_text(f"{head}{README_START}\n{text}\n{README_END}{tail}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--archs", default=",".join(ARCHS))
    ap.add_argument("--batches", help="comma-separated [default: 64,256 on CPU; 64,256,1024,4096 with CUDA]")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5, help="timed batches per variant (median)")
    ap.add_argument("--max-cpu-batch", type=int, default=256, help="on a GPU machine, run onnxruntime CPU only up to this batch")
    ap.add_argument("--spinning", action="store_true", help="also time onnxruntime CPU with its default thread spinning")
    ap.add_argument("--png", type=int, default=0, help="also time writing this many 64x64 PNGs into a zip")
    ap.add_argument("--json", type=Path, default=Path("benchmarks/results/generate.json"))
    ap.add_argument("--readme", type=Path, help="replace the table between the generate-bench markers in this file")
    args = ap.parse_args()
    report = bench(args)
    add_ratios(report)
    if args.png:
        with tempfile.TemporaryDirectory() as tmp:
            report["png_zip"] = png_bench(args.png, Path(tmp))
    text = table(report)
    if report.get("png_zip"):
        text += "\n\nWriting {} 64x64 PNGs into a zip: ".format(args.png) + ", ".join(
            f"{r['png_encoding']} {r['seconds']} s" for r in report["png_zip"])
    print("\n" + text)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.json}")
    if args.readme:
        write_readme(args.readme, text)
        print(f"updated {args.readme}")


if __name__ == "__main__":
    main()
