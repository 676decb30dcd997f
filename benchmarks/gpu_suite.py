"""The GPU suite: generation, training and the on-device feed, measured in one process.

    python benchmarks/gpu_suite.py                 # on a GPU machine: the full tables (< 8 minutes on an H100)
    python benchmarks/gpu_suite.py --quick         # tiny widths and batches: a check that every row runs
    python benchmarks/gpu_suite.py --steps 100 --repeats 5 --json out.json

(a) Generation, images/s, for dcgan64 (ngf 64), cifar32 (ngf 128) and biggan (64 px, ch 32,
120 classes) at batch 1024 and 4096: torch eager fp32 (what a naive user gets; PyTorch's
defaults), torch tuned (CUDA: fp16 weights + channels_last + CUDA graph replay; CPU:
channels_last fp32), onnxruntime CUDA fp32 / fp16 / fp16 + ``enable_cuda_graph`` with ganzoo's
provider options (HEURISTIC, prefer_nhwc, IO binding, BatchNorm folded by the exporter), and on
the CPU onnxruntime CPU fp32. Images stay on the device, so the ratios compare compute alone.
(b) Training, images/s of ``Trainer.train_step()`` (dcgan64, BCE, no EMA) at batch 128 and 512:
eager vs ``cuda_graph=true``, fp32 (``amp=off``) vs ``amp=bf16``; on the CPU one small eager row.
(c) The feed: ``BatchFeed`` batches/s from the uint8 set on the device, plain and with flips.

Each figure is the median of ``--repeats`` timed rounds after warm-up, CUDA-synchronised; the
variants of one table take turns. Rows that cannot run here (CUDA rows on a CPU machine, an
onnxruntime without its CUDA provider) are listed with ``status: skipped`` and the reason; a row
that fails is listed with its error, and the suite goes on. FLOPs per image are counted from the
model itself (``torch.utils.flop_counter``, 2 FLOPs per multiply-add) and ``compute_fraction`` is
images/s x FLOPs per image / the peak, where the peak is measured in the same run with a large
dense matrix product (fp16 on CUDA, fp32 on the CPU; the JSON says which): a practical ceiling,
a little below the vendor's datasheet figure. Writes ``benchmarks/results/gpu_suite_<cpu|cuda>.json``.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate_bench import device_name, export_random, timed_interleaved  # noqa: E402  (puts the repository on sys.path too)

from ganzoo.config import resolve_config  # noqa: E402
from ganzoo.generate.onnx_backend import CUDA, cuda_device_present, cuda_provider_options, make_session  # noqa: E402
from ganzoo.plugins import load_registry  # noqa: E402

CLASSES = 120  # biggan: the Stanford Dogs breeds
#: name -> architecture, image size, --set items (full, quick)
MODELS = {
    "dcgan64": ("dcgan", 64, ("ngf=64",), ("ngf=8",)),
    "cifar32": ("cifar", 32, ("ngf=128",), ("ngf=16",)),
    "biggan64": ("biggan", 64, ("ch=32",), ("ch=4", "shared_dim=16", "attn=0")),
}
GEN_VARIANTS = ("torch eager fp32", "torch tuned", "onnxruntime CPU fp32", "onnxruntime CUDA fp32",
                "onnxruntime CUDA fp16", "onnxruntime CUDA fp16 + CUDA graph")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_peak(device: torch.device, quick: bool) -> dict:
    """Dense matrix-product FLOP/s on this device (the best of a few): the compute limit of the fractions."""
    cuda = device.type == "cuda"
    n, dtype = (8192, torch.float16) if cuda else ((512 if quick else 1024), torch.float32)
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    best = float("inf")
    for i in range(5 if quick else 20):
        sync(device)
        start = time.perf_counter()
        a @ b
        sync(device)
        best = min(best, time.perf_counter() - start) if i else best  # the first call warms up
    return {"tflops": round(2 * n ** 3 / best / 1e12, 4), "how": f"{n}x{n} {str(dtype)[6:]} matmul, best of the run"}


def flops_per_image(fn, batch: int) -> float:
    """FLOPs (2 per multiply-add) that ``fn`` runs, per image of a ``batch``-image call."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:  # (not under inference_mode: parametrizations break there)
        fn()
    return counter.get_total_flops() / batch


# ------------------------------------------------------------------------------ (a) generation
def build_model(name: str, quick: bool, workdir: Path, fp16: bool):
    """The eval generator (random weights), its ONNX exports, nz and the number of classes (None: unconditional)."""
    arch, size, full, small = MODELS[name]
    registry = load_registry(report=False)
    config = resolve_config(registry, arch=arch, data="shapes", flags={"image_size": size, "steps": 1},
                            set_items=small if quick else full)
    classes = CLASSES if registry.architecture(arch).is_conditional(config.conditional) else None
    if classes:
        config.num_classes, config.class_names = classes, [f"class{i}" for i in range(classes)]
    g, files = export_random(registry, config, name, workdir, fp16)
    return g, config.nz, classes, files


def torch_variants(g, z: torch.Tensor, y: torch.Tensor | None, device: torch.device):
    """(name, callable) pairs: eager fp32 and the tuned path; each call generates one batch on the device."""
    args = (z,) if y is None else (z, y)  # z: (B, nz) float, y: (B,) int64
    eager = g.to(device).eval()

    @torch.inference_mode()
    def run_eager():
        return eager(*args)

    yield "torch eager fp32", run_eager
    tuned = copy.deepcopy(eager).to(memory_format=torch.channels_last)
    if device.type != "cuda":
        yield "torch tuned", torch.inference_mode()(lambda: tuned(*args))
        return
    tuned.half()
    static = (z.half(),) + args[1:]
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.inference_mode(), torch.cuda.stream(stream):
        for _ in range(3):  # cuDNN picks its algorithms outside the graph
            tuned(*static)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.inference_mode(), torch.cuda.graph(graph):
        out = tuned(*static)  # (B, 3, S, S) fp16, refilled by each replay
    yield "torch tuned", lambda: (graph.replay(), out)


def ort_variant(path: Path, z: np.ndarray, y: np.ndarray | None, cuda: bool, graph: bool = False):
    """One onnxruntime session; on CUDA with IO binding (inputs and output on the device, bound once)."""
    import onnxruntime as ort

    if not cuda:
        sess = make_session(path, device="cpu")
        feeds = {"z": z, **({"y": y} if y is not None else {})}
        return lambda: sess.run(["images"], feeds)
    options = {**cuda_provider_options(), **({"enable_cuda_graph": "1"} if graph else {})}
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    sess = ort.InferenceSession(str(path), so, providers=[(CUDA, options), "CPUExecutionProvider"])
    if sess.get_providers()[0] != CUDA:
        raise RuntimeError("onnxruntime's CUDA provider did not load")
    dtype = np.float16 if sess.get_inputs()[0].type == "tensor(float16)" else np.float32
    binding = sess.io_binding()
    keep = [ort.OrtValue.ortvalue_from_numpy(z.astype(dtype), "cuda", 0)]  # the bound buffers must outlive the runs
    binding.bind_ortvalue_input("z", keep[0])
    if y is not None:
        keep.append(ort.OrtValue.ortvalue_from_numpy(y, "cuda", 0))
        binding.bind_ortvalue_input("y", keep[1])
    size = int(sess.get_modelmeta().custom_metadata_map["ganzoo.image_size"])
    keep.append(ort.OrtValue.ortvalue_from_shape_and_type((z.shape[0], 3, size, size), dtype, "cuda", 0))
    binding.bind_ortvalue_output("images", keep[-1])
    return lambda: (sess.run_with_iobinding(binding), keep)


def generation(args, device: torch.device, tmp: Path) -> list[dict]:
    cuda = device.type == "cuda"
    ort_cuda = cuda and cuda_device_present() and CUDA in __import__("onnxruntime").get_available_providers()
    rows = []
    for name in args.models:
        g, nz, classes, files = build_model(name, args.quick, tmp, fp16=ort_cuda)
        z1 = torch.randn(2, nz)
        y1 = torch.arange(2) if classes else None
        flops = flops_per_image(lambda: torch.no_grad()(g)(*((z1,) if y1 is None else (z1, y1))), 2)
        for batch in args.gen_batches:
            rng = np.random.default_rng(0)
            z = rng.standard_normal((batch, nz), dtype=np.float32)
            y = rng.integers(0, classes, batch).astype(np.int64) if classes else None
            zt, yt = torch.from_numpy(z).to(device), (torch.from_numpy(y).to(device) if classes else None)
            base = {"model": name, "batch": batch, "gflop_per_image": round(flops / 1e9, 4)}
            makers = {}
            for variant, fn in torch_variants(g, zt, yt, device):
                makers[variant] = lambda fn=fn: fn
            makers["onnxruntime CPU fp32"] = (lambda: ort_variant(files["fp32"], z, y, False)) if not cuda else \
                "the CPU provider is not timed on a GPU machine"
            for variant, path, graph in (("onnxruntime CUDA fp32", "fp32", False), ("onnxruntime CUDA fp16", "fp16", False),
                                         ("onnxruntime CUDA fp16 + CUDA graph", "fp16", True)):
                makers[variant] = (lambda p=path, gr=graph: ort_variant(files[p], z, y, True, gr)) if ort_cuda else \
                    "no CUDA device" if not cuda else "onnxruntime has no CUDA provider here (install onnxruntime-gpu)"
            ok = []
            for variant in GEN_VARIANTS:  # a variant that cannot even run once is reported, not fatal
                make = makers[variant]
                if isinstance(make, str):
                    rows.append({**base, "variant": variant, "status": "skipped", "reason": make})
                    continue
                try:
                    fn = make()
                    fn()
                    ok.append((variant, fn))
                except Exception as exc:
                    rows.append({**base, "variant": variant, "status": "error", "error": _short(exc)})
            for (variant, _), sec in zip(ok, timed_interleaved(ok, args.warmup, args.repeats, lambda: sync(device))):
                rows.append({**base, "variant": variant, "status": "ok", "images_per_s": round(batch / sec, 1)})
            del ok, makers
            if cuda:
                torch.cuda.empty_cache()
    return rows


# ------------------------------------------------------------------------------ (b) training
def make_trainer(registry, images, batch: int, amp: str, graph: bool, device, quick: bool, out: Path):
    from ganzoo.run_dir import RunDir
    from ganzoo.train.loop import Trainer

    width, size = (8, 32) if quick else (64, 64)
    # The timed step is the GAN step itself: no EMA and no DiffAugment (the dcgan defaults use
    # DiffAugment, which cuda_graph does not capture yet), so eager and captured run the same work.
    items = [f"ngf={width}", f"ndf={width}", f"amp={amp}", "ema=false", "diffaugment="]
    if device.type == "cuda":  # the setting exists for CUDA runs; the CPU row keeps the defaults
        items.append(f"cuda_graph={str(graph).lower()}")
    config = resolve_config(registry, arch="dcgan", data="shapes", set_items=items,
                            flags={"image_size": size, "batch_size": batch, "steps": 10 ** 6, "device": device.type})
    return Trainer(config, RunDir(out), registry, images, device)


def training(args, device: torch.device, tmp: Path) -> list[dict]:
    cuda = device.type == "cuda"
    grid = [(b, amp, graph) for b in (128, 512) for amp in ("off", "bf16") for graph in (False, True)]
    rows = [] if cuda else [{"batch": b, "amp": amp, "cuda_graph": graph, "status": "skipped", "reason": "no CUDA device"}
                            for b, amp, graph in grid]
    if not cuda:
        grid = [(args.cpu_train_batch, "off", False)]
    registry = load_registry(report=False)
    size = 32 if args.quick else 64
    images = np.random.default_rng(0).integers(0, 256, (max(2048, 2 * max(b for b, _, _ in grid)), size, size, 3), np.uint8)
    probe = make_trainer(registry, images, 4, "off", False, device, args.quick, tmp / "probe")
    probe.train_step()
    flops = flops_per_image(probe.train_step, 4)  # one eager fp32 step, per real image
    del probe
    for i, (batch, amp, graph) in enumerate(grid):
        row = {"model": f"dcgan{size}", "batch": batch, "amp": amp, "cuda_graph": graph,
               "gflop_per_image": round(flops / 1e9, 4)}
        try:
            trainer = make_trainer(registry, images, batch, amp, graph, device, args.quick, tmp / f"t{i}")
            for _ in range(args.warmup + 3):  # + the graph's eager warm-up and its capture
                trainer.train_step()
            rates = []
            for _ in range(args.repeats):
                sync(device)
                start = time.perf_counter()
                for _ in range(args.steps):
                    trainer.train_step()
                sync(device)
                rates.append(batch * args.steps / (time.perf_counter() - start))
            captured = getattr(trainer, "graphed", None) is not None and trainer.graphed.captured
            rows.append({**row, "status": "ok", "captured": captured, "images_per_s": round(statistics.median(rates), 1)})
            del trainer
        except Exception as exc:
            rows.append({**row, "status": "error", "error": _short(exc)})
        if cuda:
            torch.cuda.empty_cache()
    return rows


# ------------------------------------------------------------------------------ (c) the feed
def feed(args, device: torch.device) -> list[dict]:
    from ganzoo.data import BatchFeed
    from ganzoo.data.augment import FeedAugment

    n, batch = (256, 32) if args.quick else (16384, 512)
    images = np.random.default_rng(0).integers(0, 256, (n, 64, 64, 3), np.uint8)
    rows = []
    for name, augment in (("plain", None), ("flip", FeedAugment(flip=True))):
        f = BatchFeed(images, batch, device, augment=augment)
        count = [0]

        def next_batch(f=f):
            count[0] += 1
            return f.batch(count[0])

        sec = timed_interleaved([(name, next_batch)], args.warmup, args.repeats * args.steps, lambda: sync(device))[0]
        rows.append({"feed": name, "batch": batch, "on_device": f.on_device, "status": "ok",
                     "batches_per_s": round(1 / sec, 1), "images_per_s": round(batch / sec, 1)})
    return rows


# ------------------------------------------------------------------------------ report
def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200] if text else ''}"


def add_fractions(report: dict) -> None:
    """Ratios to the eager baseline of the same run, and the fraction of the compute limit."""
    peak = report["peak"]["tflops"] * 1e12
    eager = {(r["model"], r["batch"]): r["images_per_s"] for r in report["generation"]
             if r["variant"] == "torch eager fp32" and r["status"] == "ok"}
    for r in report["generation"]:
        if r["status"] == "ok":
            r["compute_fraction"] = round(r["images_per_s"] * r["gflop_per_image"] * 1e9 / peak, 4)
            if (r["model"], r["batch"]) in eager:
                r["vs_torch_eager"] = round(r["images_per_s"] / eager[r["model"], r["batch"]], 2)
    step = {(r["batch"], r["amp"]): r["images_per_s"] for r in report["training"] if r["status"] == "ok" and not r["cuda_graph"]}
    for r in report["training"]:
        if r["status"] == "ok":
            r["compute_fraction"] = round(r["images_per_s"] * r["gflop_per_image"] * 1e9 / peak, 4)
            if r["cuda_graph"] and (r["batch"], r["amp"]) in step:
                r["vs_eager"] = round(r["images_per_s"] / step[r["batch"], r["amp"]], 2)


def _cell(r: dict) -> str:
    if r["status"] != "ok":
        return r["status"]
    extra = f" ({r['vs_torch_eager']:.2f}x)" if "vs_torch_eager" in r else f" ({r['vs_eager']:.2f}x)" if "vs_eager" in r else ""
    return f"{r['images_per_s']:,.0f}{extra}, {100 * r['compute_fraction']:.2g}%"


def table(report: dict) -> str:
    gen = report["generation"]
    cols = list(dict.fromkeys((r["model"], r["batch"]) for r in gen))
    cell = {(r["variant"], r["model"], r["batch"]): r for r in gen}
    lines = [f"GPU suite on {report['device']}; torch {report['torch']}, onnxruntime {report['onnxruntime']}; "
             f"compute limit {report['peak']['tflops']} TFLOP/s ({report['peak']['how']})", "",
             "Generation, images/s (x torch eager fp32), % of the compute limit", "",
             "| variant | " + " | ".join(f"{m} b{b}" for m, b in cols) + " |", "|---|" + "---:|" * len(cols)]
    for v in GEN_VARIANTS:
        lines.append(f"| {v} | " + " | ".join(_cell(cell[v, m, b]) if (v, m, b) in cell else "–" for m, b in cols) + " |")
    lines += ["", "Training step (dcgan, BCE), images/s (captured x eager), % of the compute limit", "",
              "| batch | amp | cuda_graph | images/s |", "|---:|---|---|---:|"]
    for r in report["training"]:
        graph = ("on" if r.get("captured") else "fell back") if r["cuda_graph"] and r["status"] == "ok" else \
            "on" if r["cuda_graph"] else "off"
        lines.append(f"| {r['batch']} | {r['amp']} | {graph} | {_cell(r)} |")
    lines += ["", "Feed (BatchFeed, 64x64 uint8 set on the device)", "", "| feed | batch | batches/s | images/s |",
              "|---|---:|---:|---:|"]
    lines += [f"| {r['feed']} | {r['batch']} | {r['batches_per_s']:,.0f} | {r['images_per_s']:,.0f} |" for r in report["feed"]]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--quick", action="store_true", help="tiny widths and batches, few repeats (seconds on a CPU)")
    ap.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, of {', '.join(MODELS)}")
    ap.add_argument("--steps", type=int, default=None, help="training steps (feed batches) per timed round [quick 2, else 30]")
    ap.add_argument("--repeats", type=int, default=None, help="timed rounds per figure (median) [quick 2, else 10]")
    ap.add_argument("--warmup", type=int, default=None, help="untimed calls before timing [quick 1, else 5]")
    ap.add_argument("--json", type=Path, default=None, help="[benchmarks/results/gpu_suite_<cpu|cuda>.json]")
    args = ap.parse_args(argv)
    from ganzoo.device import resolve_device

    device = resolve_device(args.device)
    cuda = device.type == "cuda"
    args.models = [m for m in args.models.split(",") if m]
    unknown = [m for m in args.models if m not in MODELS]
    if unknown:
        print(f"error: unknown model {unknown[0]!r}; known: {', '.join(MODELS)}", file=sys.stderr)
        return 2
    args.steps = args.steps or (2 if args.quick else 30)
    args.repeats = args.repeats or (2 if args.quick else 10)
    args.warmup = args.warmup or (1 if args.quick else 5)
    args.gen_batches = (1024, 4096) if cuda and not args.quick else (64, 256) if cuda else (8,) if args.quick else (64,)
    args.cpu_train_batch = 8 if args.quick else 32
    report = {"suite": "gpu", "device": device_name(), "device_type": device.type, "torch": torch.__version__,
              "onnxruntime": __import__("onnxruntime").__version__, "quick": args.quick, "steps": args.steps,
              "repeats": args.repeats, "warmup": args.warmup, "peak": measure_peak(device, args.quick)}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        report["generation"] = generation(args, device, Path(tmp))
        report["training"] = training(args, device, Path(tmp))
        report["feed"] = feed(args, device)
    report["seconds"] = round(time.perf_counter() - started, 1)
    add_fractions(report)
    print(table(report))
    path = args.json or Path(__file__).parent / "results" / f"gpu_suite_{device.type}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\n{report['seconds']} s; wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
