"""BigGAN throughput: the engine's training step, and generation with PyTorch vs onnxruntime.

    python benchmarks/biggan_bench.py                      # CPU: 64 px, ch=32 (the defaults), batch 64
    python benchmarks/biggan_bench.py --ch 16 --steps 3    # narrower, quicker
    python benchmarks/biggan_bench.py --device cuda --steps 50 --batches 50
    python benchmarks/biggan_bench.py --image-size 16 --layout16 flat   # 16 px: tapered (default) or flat

What is measured, in one process, with the biggan plugin's networks at the given width,
class-conditional on 120 classes (the Stanford Dogs breeds; the data are random uint8 pixels
with random labels, the content does not change the cost):

- train: ``Trainer.train_step()`` (hinge loss, one D step, EMA, spectral norm's power
  iterations in G and D), images/s = batch x steps / seconds after ``--warmup`` steps;
- generate: the EMA generator in eval mode, fp32, on the same latents and class ids,
  ``torch eager`` (what a user of the checkpoint gets) against the file ``ganzoo export``
  writes (spectral norm baked in, conditional BatchNorm unfolded) on onnxruntime's CPU (or
  CUDA) provider with ganzoo's session settings. The variants are interleaved ``--repeats``
  times; the median is reported, and the ratio onnx / torch is taken within each repeat.

Prints a table and writes JSON (``--json``). On a shared machine the absolute figures move
with the other jobs; the within-run ratio is the figure to quote.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_trainer(args, device: torch.device, out: Path):
    from ganzoo.config import resolve_config
    from ganzoo.plugins import load_registry
    from ganzoo.run_dir import RunDir
    from ganzoo.train.loop import Trainer

    registry = load_registry()
    config = resolve_config(registry, arch="biggan", data="shapes",
                            flags={"image_size": args.image_size, "batch_size": args.batch_size, "steps": 10 ** 6,
                                   "device": device.type},
                            set_items=[f"ch={args.ch}", f"attn={args.attn}", "ema_start=0", f"layout16={args.layout16}"])
    config.num_classes, config.class_names = args.classes, [f"class{i}" for i in range(args.classes)]
    rng = np.random.default_rng(0)
    n = args.batch_size * 4
    images = rng.integers(0, 256, (n, args.image_size, args.image_size, 3), dtype=np.uint8)
    labels = rng.integers(0, args.classes, n).astype(np.int64)
    run = RunDir(out / "run")
    run.create(config.to_json())
    return Trainer(config, run, registry, images, device, labels=labels)


def bench_train(trainer, args, device) -> float:
    for _ in range(args.warmup):
        trainer.train_step()
    sync(device)
    start = time.perf_counter()
    for _ in range(args.steps):
        trainer.train_step()
    sync(device)
    return args.batch_size * args.steps / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--ch", type=int, default=32)
    ap.add_argument("--attn", type=int, default=32)
    ap.add_argument("--layout16", default="tapered", choices=("tapered", "flat"), help="16 px only: G/D channel layout")
    ap.add_argument("--classes", type=int, default=120)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--steps", type=int, default=3, help="training steps timed")
    ap.add_argument("--batches", type=int, default=4, help="generation batches timed per repeat")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path, default=Path("benchmarks/results/biggan_cpu.json"))
    args = ap.parse_args()
    device = torch.device(args.device)

    from ganzoo.checkpoint import save_checkpoint
    from ganzoo.export import export_generator
    from ganzoo.generate.onnx_backend import OnnxGenerator
    from ganzoo.generate.torch_backend import TorchGenerator
    from ganzoo.source import load_generator, resolve_source

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        trainer = make_trainer(args, device, tmp)
        g_params = sum(p.numel() for p in trainer.G.parameters())
        d_params = sum(p.numel() for p in trainer.D.parameters())
        train = bench_train(trainer, args, device)
        rows.append({"variant": "train step (engine)", "images_per_s": round(train, 2)})
        print(json.dumps(rows[-1]), flush=True)
        save_checkpoint(trainer.run.last_checkpoint, trainer.state())
        onnx_path = tmp / "g.onnx"
        exported = export_generator(trainer.run.path, onnx_path)
        torch_gen = TorchGenerator(load_generator(resolve_source(trainer.run.path)), device)
        onnx_gen = OnnxGenerator(onnx_path, device="cuda" if device.type == "cuda" else "cpu", batch_size=args.batch_size)
        rng = np.random.default_rng(1)
        z = rng.standard_normal((args.batch_size, 120), dtype=np.float32)
        y = rng.integers(0, args.classes, args.batch_size).astype(np.int64)
        times = {"torch eager fp32": [], "onnxruntime fp32": []}
        gens = {"torch eager fp32": torch_gen, "onnxruntime fp32": onnx_gen}
        for gen in gens.values():
            gen.generate(z, y)  # warm-up
        for _ in range(args.repeats):
            for name, gen in gens.items():
                start = time.perf_counter()
                for _ in range(args.batches):
                    gen.generate(z, y)
                times[name].append(args.batch_size * args.batches / (time.perf_counter() - start))
        ratios = [o / t for o, t in zip(times["onnxruntime fp32"], times["torch eager fp32"])]
        for name, values in times.items():
            rows.append({"variant": f"generate {name}", "images_per_s": round(statistics.median(values), 2),
                         "all": [round(v, 2) for v in values]})
            print(json.dumps(rows[-1]), flush=True)
        rows.append({"variant": "generate onnx / torch", "ratio": round(statistics.median(ratios), 3)})

    report = {
        "benchmark": "biggan", "device": device_name(device), "python": sys.version.split()[0], "torch": torch.__version__,
        "image_size": args.image_size, "ch": args.ch, "attn": args.attn, "classes": args.classes,
        "layout16": args.layout16 if args.image_size == 16 else None,
        "batch_size": args.batch_size, "g_params": g_params, "d_params": d_params,
        "onnx_max_abs_error": exported.max_abs_error, "batchnorm_unfolded": exported.unfolded,
        "train_steps": args.steps, "generate_batches": args.batches, "repeats": args.repeats, "results": rows,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nbiggan {args.image_size} px, ch={args.ch}, attn={args.attn}, {args.classes} classes, batch {args.batch_size} "
          f"on {report['device']} (G {g_params / 1e6:.2f}M, D {d_params / 1e6:.2f}M parameters)")
    print(f"{'variant':<28} {'images/s':>10}")
    for r in rows:
        value = f"{r['images_per_s']:.1f}" if "images_per_s" in r else f"x{r['ratio']:.2f}"
        print(f"{r['variant']:<28} {value:>10}")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
