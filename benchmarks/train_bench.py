"""Training throughput: ganzoo's full step against a plain reference loop of the same networks.

    python benchmarks/train_bench.py                       # CPU: 32x32 DCGAN (ngf=ndf=32), batch 64, NCHW and NHWC
    python benchmarks/train_bench.py --image-size 64 --width 64 --batch-size 64
    python benchmarks/train_bench.py --device cuda         # GPU: batch 128 and 512, fp32 / bf16 / channels_last / compile

What is compared, in one process, on one device, with the same networks (built by the dcgan
plugin from the same seed) and the same hyperparameters (BCE, Adam 2e-4, betas 0.5/0.999):

- reference: the pytorch/examples ``dcgan/main.py`` step written out plainly: D on a real batch
  (backward), D on a fake batch (backward), D step, then G (backward, step). Its data comes from
  a ``torch.utils.data.DataLoader`` (shuffle, drop_last, no workers) over a ``TensorDataset`` of
  the images already decoded and normalised to float in CPU memory, moved to the device each
  step, as that script does. No JPEG decoding on either side: this measures the training step
  and the feed, not the decoder.
- engine: ``Trainer.train_step()`` of ganzoo, with its ``BatchFeed`` (uint8 images kept on the
  device, one ``index_select`` and a conversion per batch), the statistics it logs (D(x), D(G(z)),
  accuracies, kept on the device), EMA when asked, and its fused Adam (the reference keeps the
  default ``torch.optim.Adam``, as pytorch/examples does).

Images/s = generator images per second (batch size x steps / seconds), after warm-up, over the
same number of steps; the variants are interleaved ``--repeats`` times and the median is
reported, with the ratio engine / reference measured within each repeat. The images are random
uint8 pixels (the content does not change the cost). Prints a table and writes JSON.
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
import torch.nn.functional as F


# The hyperparameters both loops run with: pytorch/examples dcgan's (BCE is in each step)
LR, BETAS = 2e-4, (0.5, 0.999)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


# ------------------------------------------------------------------------------ the reference
class ReferenceLoop:
    """The pytorch/examples DCGAN step, plainly (autocast and channels_last when asked)."""

    def __init__(self, G, D, images: np.ndarray, batch_size: int, nz: int, device, amp: str, channels_last: bool):
        self.G, self.D, self.nz, self.device, self.batch_size = G, D, nz, device, batch_size
        self.fmt = torch.channels_last if channels_last else torch.contiguous_format
        if channels_last:
            G.to(memory_format=torch.channels_last)
            D.to(memory_format=torch.channels_last)
        data = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)  # (N, 3, S, S) in [-1, 1]
        self.loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(data), batch_size=batch_size,
                                                  shuffle=True, drop_last=True)
        self.batches = iter(self.loader)
        self.opt_g = torch.optim.Adam(G.parameters(), lr=LR, betas=BETAS)
        self.opt_d = torch.optim.Adam(D.parameters(), lr=LR, betas=BETAS)
        self.dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)

    def _next(self) -> torch.Tensor:
        try:
            (x,) = next(self.batches)
        except StopIteration:
            self.batches = iter(self.loader)
            (x,) = next(self.batches)
        return x.to(self.device, non_blocking=True).contiguous(memory_format=self.fmt)

    def step(self) -> None:
        G, D, B = self.G, self.D, self.batch_size
        ac = torch.autocast(self.device.type, dtype=self.dtype, enabled=self.dtype is not None)
        real = self._next()  # (B, 3, S, S)
        ones = torch.ones(B, device=self.device)
        zeros = torch.zeros(B, device=self.device)
        # (1) Update D: maximize log(D(x)) + log(1 - D(G(z)))
        D.zero_grad()
        with ac:
            err_real = F.binary_cross_entropy_with_logits(D(real).view(-1).float(), ones)
        err_real.backward()
        z = torch.randn(B, self.nz, device=self.device)
        with ac:
            fake = G(z)
            err_fake = F.binary_cross_entropy_with_logits(D(fake.detach()).view(-1).float(), zeros)
        err_fake.backward()
        self.opt_d.step()
        # (2) Update G: maximize log(D(G(z)))
        G.zero_grad()
        with ac:
            err_g = F.binary_cross_entropy_with_logits(D(fake).view(-1).float(), ones)
        err_g.backward()
        self.opt_g.step()


# ------------------------------------------------------------------------------ the engine
def build_engine(registry, images, args, batch_size: int, device, amp: str, channels_last: bool, tmp: Path):
    from ganzoo.config import resolve_config
    from ganzoo.run_dir import RunDir
    from ganzoo.train.loop import Trainer

    config = resolve_config(
        registry, arch="dcgan", data="shapes",
        flags={"image_size": args.image_size, "batch_size": batch_size, "steps": 10**6, "nz": args.nz,
               "device": device.type, "seed": 0, "loss": "bce", "lr_g": LR, "lr_d": LR,
               "beta1": BETAS[0], "beta2": BETAS[1]},
        # the reference's work per step: one D update, BCE, no DiffAugment (dcgan's defaults do more)
        set_items=[f"ngf={args.width}", f"ndf={args.width}", f"amp={amp}", f"channels_last={channels_last}",
                   f"ema={args.ema}", "n_critic=1", "diffaugment="],
    )
    return Trainer(config, RunDir(tmp), registry, images, device)


def build_networks(registry, args, device):
    from ganzoo.networks import build_discriminator, build_generator

    spec = registry.architecture("dcgan")
    params = {"nz": args.nz, "image_size": args.image_size, "ngf": args.width, "ndf": args.width, "dropout": 0.0}
    torch.manual_seed(0)
    return build_generator(spec, params).to(device), build_discriminator(spec, params).to(device)


def time_steps(step, steps: int, device) -> float:
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    return time.perf_counter() - start


def measure(registry, images, args, device, batch_size: int, amp: str, channels_last: bool, compile_: bool, tmp: Path) -> dict:
    trainer = build_engine(registry, images, args, batch_size, device, amp, channels_last, tmp)
    G, D = build_networks(registry, args, device)
    reference = ReferenceLoop(G, D, images, batch_size, args.nz, device, amp, channels_last)
    if compile_:
        trainer.G, trainer.D = torch.compile(trainer.G), torch.compile(trainer.D)
        reference.G, reference.D = torch.compile(reference.G), torch.compile(reference.D)
    runners = {"reference": reference.step, "engine": trainer.train_step}
    for run in runners.values():  # warm-up: cuDNN autotuning, allocator, compilation
        time_steps(run, args.warmup, device)
    rates: dict[str, list[float]] = {k: [] for k in runners}
    ratios = []
    block = min(args.block, args.steps)
    for _ in range(args.repeats):
        seconds = dict.fromkeys(runners, 0.0)
        for _ in range(args.steps // block):  # alternate blocks: both see the same machine load
            for name, run in runners.items():
                seconds[name] += time_steps(run, block, device)
        for name in runners:
            rates[name].append(batch_size * (args.steps // block) * block / seconds[name])
        ratios.append(rates["engine"][-1] / rates["reference"][-1])
    return {
        "batch_size": batch_size, "amp": amp, "channels_last": channels_last, "compile": compile_,
        "reference_img_s": statistics.median(rates["reference"]), "engine_img_s": statistics.median(rates["engine"]),
        "ratio": statistics.median(ratios), "ratios": ratios,
    }


def variants(device: torch.device, args) -> list[tuple[int, str, bool, bool]]:
    """(batch size, amp, channels_last, torch.compile) to measure on this device."""
    if device.type != "cuda":  # NHWC helps oneDNN's CPU convolutions too (the demo uses it)
        return [(b, "off", cl, False) for b in args.batch_size for cl in (False, True)]
    out = []
    for b in args.batch_size:
        out += [(b, "off", False, False), (b, "bf16", False, False), (b, "bf16", True, False)]
        if args.compile:
            out += [(b, "off", False, True), (b, "bf16", False, True)]
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--image-size", type=int, default=None, help="[CPU 32, GPU 64]")
    parser.add_argument("--width", type=int, default=None, help="ngf = ndf [CPU 32, GPU 64]")
    parser.add_argument("--nz", type=int, default=100)
    parser.add_argument("--batch-size", type=int, nargs="+", default=None, help="[CPU 64, GPU 128 512]")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per repeat [CPU 10, GPU 50]")
    parser.add_argument("--warmup", type=int, default=None, help="[CPU 3, GPU 20]")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--block", type=int, default=None,
                        help="steps timed in one go before switching variant [CPU 1: a shared CPU's load "
                             "hits both alike; GPU 50: per-step syncs would hide the GPU's pipelining]")
    parser.add_argument("--images", type=int, default=2048, help="images in the in-memory dataset")
    parser.add_argument("--ema", action="store_true", help="EMA on in the engine (the reference has none)")
    parser.add_argument("--compile", action="store_true", help="also torch.compile variants (CUDA)")
    parser.add_argument("--json", type=Path, default=None, help="[benchmarks/results/train_bench_<device>.json]")
    args = parser.parse_args(argv)

    from ganzoo.device import resolve_device
    from ganzoo.plugins import load_registry

    device = resolve_device(args.device)
    gpu = device.type == "cuda"
    args.image_size = args.image_size or (64 if gpu else 32)
    args.width = args.width or (64 if gpu else 32)
    args.batch_size = args.batch_size or ([128, 512] if gpu else [64])
    args.steps = args.steps or (50 if gpu else 10)
    args.warmup = args.warmup or (20 if gpu else 3)
    args.block = args.block or (50 if gpu else 1)
    args.images = max(args.images, 2 * max(args.batch_size))
    registry = load_registry()
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (args.images, args.image_size, args.image_size, 3), dtype=np.uint8)

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (batch, amp, cl, comp) in enumerate(variants(device, args)):
            try:
                row = measure(registry, images, args, device, batch, amp, cl, comp, Path(tmp) / str(i))
            except Exception as exc:  # a variant that does not work here (compile) is reported, not fatal
                row = {"batch_size": batch, "amp": amp, "channels_last": cl, "compile": comp,
                       "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"}
            rows.append(row)
            print_row(row)

    result = {
        "benchmark": "train_step", "device": device_name(device), "torch": torch.__version__,
        "arch": "dcgan", "image_size": args.image_size, "ngf": args.width, "ndf": args.width, "nz": args.nz,
        "steps": args.steps, "warmup": args.warmup, "repeats": args.repeats, "ema": args.ema,
        "reference": "pytorch/examples dcgan step; DataLoader over an in-memory float TensorDataset",
        "engine": "ganzoo Trainer.train_step with BatchFeed (uint8 on device)", "rows": rows,
    }
    path = args.json or Path(__file__).parent / "results" / f"train_bench_{device.type}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\ndevice: {result['device']}; dcgan {args.image_size}x{args.image_size}, ngf=ndf={args.width}; "
          f"median of {args.repeats} interleaved repeats of {args.steps} steps; JSON: {path}")
    return 0


_HEADER = False


def print_row(row: dict) -> None:
    global _HEADER
    if not _HEADER:
        print(f"{'batch':>5} {'amp':>4} {'NHWC':>4} {'compile':>7} | {'reference img/s':>15} {'engine img/s':>12} {'ratio':>6}")
        print("-" * 66)
        _HEADER = True
    head = f"{row['batch_size']:>5} {row['amp']:>4} {'yes' if row['channels_last'] else 'no':>4} {'yes' if row['compile'] else 'no':>7} |"
    if "error" in row:
        print(f"{head} failed: {row['error']}")
    else:
        print(f"{head} {row['reference_img_s']:>15.1f} {row['engine_img_s']:>12.1f} {row['ratio']:>6.2f}")
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
