"""Data-path benchmark: images/s delivered to the training step, ganzoo's cache vs a plain DataLoader.

    python benchmarks/data_bench.py                      # 2,000 synthetic photo-sized JPEGs, 64x64
    python benchmarks/data_bench.py --photos DIR --count 4000 --image-size 64

Measured on the same JPEG files, in one run:

- ganzoo, first run: decode + crop + resize into the uint8 cache (threads), then one epoch
  of batches from BatchFeed (flip on); images/s = files / (build + epoch);
- ganzoo, later runs: read the cache, then one epoch; and the steady feed rate alone;
- decoding with a process pool instead of threads (the choice ``decode_files`` made);
- torchvision ``ImageFolder`` + ``DataLoader`` (Resize, CenterCrop, RandomHorizontalFlip,
  ToTensor, Normalize; ``--workers`` processes, default all cores): one epoch, after the
  first batch (worker start-up excluded, in its favour);
- the DCGAN training step (ngf = ndf = 64, BCE, Adam) on this device: what a trainer consumes.

With CUDA it also measures the on-device feed (uint8 set on the GPU, flips and affine there)
and the training step at batch 128 with batches from the feed versus one fixed batch: the
difference is what feeding costs the step. It prints a table and writes JSON (``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ganzoo.data import BatchFeed, load_images
from ganzoo.data.augment import FeedAugment
from ganzoo.data.decode import decode_file
from ganzoo.data.loading import decode_files
from ganzoo.plugins import load_registry
from ganzoo.specs import DatasetRequest, ImageFile


# ---------------------------------------------------------------------------- the JPEG set
def synthetic_photo(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """Smooth colour fields, a few blobs and sensor-like noise: JPEG-decodes like a photo."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32) / max(width, height)
    pixels = rng.uniform(0, 255, 3) + xx[..., None] * rng.uniform(-150, 150, 3) + yy[..., None] * rng.uniform(-150, 150, 3)
    for _ in range(4):
        cx, cy, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.05, 0.3)
        pixels += rng.uniform(-90, 90, 3) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / r**2)[..., None]
    pixels += rng.normal(0, 12, pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def make_jpegs(root: Path, count: int, photos: Path | None, seed: int = 0) -> None:
    """``count`` JPEGs of Stanford-Dogs-like sizes (~500x375) in 10 class folders."""
    rng = np.random.default_rng(seed)
    sources = [Image.open(p).convert("RGB") for p in sorted(photos.rglob("*")) if p.suffix.lower() in
               (".jpg", ".jpeg", ".png")] if photos else []
    for i in range(count):
        w, h = int(rng.integers(400, 520)), int(rng.integers(300, 420))
        if sources:
            src = sources[i % len(sources)]
            scale = max(w / src.width, h / src.height) * rng.uniform(1.0, 1.5)
            big = src.resize((int(src.width * scale) + 1, int(src.height * scale) + 1))
            x, y = int(rng.integers(0, big.width - w + 1)), int(rng.integers(0, big.height - h + 1))
            img = big.crop((x, y, x + w, y + h))
        else:
            img = synthetic_photo(rng, w, h)
        folder = root / f"class{i % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        img.save(folder / f"{i:05d}.jpg", quality=90)


# ---------------------------------------------------------------------------- measurements
def one_epoch(feed: BatchFeed, sync) -> float:
    """Seconds to serve every batch of one epoch to a consumer on the feed's device."""
    start = time.perf_counter()
    for b in range(feed.batches_per_epoch):
        x = feed.batch(b)
    sync()
    del x
    return time.perf_counter() - start


def feed_rate(feed: BatchFeed, sync, seconds: float = 2.0) -> float:
    """Steady images/s of the feed alone."""
    feed.batch(0)
    sync()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        feed.batch(n)
        n += 1
        if n % 32 == 0:
            sync()
    sync()
    return n * feed.batch_size / (time.perf_counter() - start)


def _decode_one(args):
    return decode_file(*args)


def process_pool_decode(paths: list[str], size: int, workers: int) -> float:
    start = time.perf_counter()
    with ProcessPoolExecutor(workers) as pool:
        out = list(pool.map(_decode_one, [(p, size, None) for p in paths], chunksize=32))
    assert sum(o is not None for o in out) == len(paths)
    return time.perf_counter() - start


def dataloader_rate(root: Path, size: int, batch: int, workers: int) -> float:
    """images/s of a plain torchvision ImageFolder + DataLoader over one epoch (after batch 1)."""
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    tf = transforms.Compose([transforms.Resize(size), transforms.CenterCrop(size), transforms.RandomHorizontalFlip(),
                             transforms.ToTensor(), transforms.Normalize((0.5,) * 3, (0.5,) * 3)])
    loader = DataLoader(datasets.ImageFolder(str(root), tf), batch_size=batch, shuffle=True, num_workers=workers,
                        drop_last=True, persistent_workers=False)
    it = iter(loader)
    next(it)  # worker start-up and the first batch are not counted
    n, start = 0, time.perf_counter()
    for x, _ in it:
        n += x.shape[0]
    return n / (time.perf_counter() - start)


def train_step_rate(device: torch.device, size: int, batch: int, feed: BatchFeed | None, steps: int,
                    sync) -> float:
    """images/s of a DCGAN step (D on real + fake, then G) with real batches from ``feed``
    (or one fixed batch when ``feed`` is None)."""
    registry = load_registry(report=False)
    arch = registry.architecture("dcgan")
    params = {"nz": arch.latent_size, "image_size": size, **{k: p.default for k, p in arch.params.items()}}
    torch.manual_seed(0)
    G, D = arch.build_generator(params).to(device), arch.build_discriminator(params).to(device)
    opt_g = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999))
    bce = torch.nn.BCEWithLogitsLoss()
    fixed = torch.rand(batch, 3, size, size, device=device) * 2 - 1
    ones, zeros = torch.ones(batch, device=device), torch.zeros(batch, device=device)

    def step(i: int) -> None:
        real = feed.batch(i) if feed is not None else fixed
        fake = G(torch.randn(batch, params["nz"], device=device))
        loss_d = bce(D(real).view(-1), ones) + bce(D(fake.detach()).view(-1), zeros)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        loss_g = bce(D(fake).view(-1), ones)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()

    for i in range(3):
        step(i)
    sync()
    times = []
    for i in range(steps):
        start = time.perf_counter()
        step(3 + i)
        sync()
        times.append(time.perf_counter() - start)
    return batch / statistics.median(times)


# ---------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=2000, help="number of JPEG files")
    ap.add_argument("--photos", type=Path, help="cut the JPEGs from these photos instead of synthesising them")
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--workers", type=int, default=os.cpu_count(), help="DataLoader / decoding workers")
    ap.add_argument("--train-steps", type=int, default=5, help="timed CPU training steps")
    ap.add_argument("--work-dir", type=Path, help="keep the JPEGs and cache here (default: a temporary folder)")
    ap.add_argument("--machine", help="how to name this machine in the results (default: host, CPU, cores)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/data_bench.json"))
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)

    load_at_start = os.getloadavg()[0]  # other work on the machine skews every figure: recorded with them
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="ganzoo-data-bench-"))
    jpegs, cache = work / "jpegs", work / "cache"
    if not jpegs.exists():
        print(f"writing {args.count} JPEGs into {jpegs} ...", file=sys.stderr)
        make_jpegs(jpegs, args.count, args.photos)
    shutil.rmtree(cache, ignore_errors=True)
    size, batch = args.image_size, args.batch_size
    cpu = torch.device("cpu")
    no_sync = lambda: None  # noqa: E731
    spec = load_registry(report=False).dataset("folder")
    request = DatasetRequest(data_dir=jpegs, image_size=size, params={"labels": False})
    rows: list[tuple[str, float, str]] = []

    # ganzoo, first run: build the cache, then one epoch
    start = time.perf_counter()
    loaded = load_images(spec, request, cache_dir=cache, progress=False)
    build = time.perf_counter() - start
    n = len(loaded.images)
    feed = BatchFeed(loaded.images, batch, cpu, augment=FeedAugment(flip=True))
    first_epoch = one_epoch(feed, no_sync)
    rows.append(("ganzoo, first run (cache built: decode + crop + resize, then 1 epoch)", n / (build + first_epoch),
                 f"cache build {build:.1f} s ({n / build:.0f} img/s decoding, threads)"))
    # ganzoo, later runs: read the cache, then one epoch
    start = time.perf_counter()
    again = load_images(spec, request, cache_dir=cache, progress=False)
    read = time.perf_counter() - start
    assert again.from_cache
    feed = BatchFeed(again.images, batch, cpu, augment=FeedAugment(flip=True))
    later_epoch = one_epoch(feed, no_sync)
    rows.append(("ganzoo, later run (read cache, then 1 epoch)", n / (read + later_epoch), f"cache read {read:.2f} s"))
    steady = feed_rate(feed, no_sync)
    rows.append(("ganzoo feed alone, steady (flip on)", steady, "BatchFeed.batch on the CPU"))
    affine = feed_rate(BatchFeed(again.images, batch, cpu, augment=FeedAugment(True, 0.1, 5, 0.1)), no_sync)
    rows.append(("ganzoo feed alone, flip + zoom/shear/translate", affine, ""))
    paths = [str(p) for p in sorted(jpegs.rglob("*.jpg"))]
    start = time.perf_counter()
    decode_files([ImageFile(p) for p in paths], size, workers=args.workers, progress=False)
    threads = time.perf_counter() - start
    proc = process_pool_decode(paths, size, args.workers)
    rows.append((f"decoding alone, thread pool ({args.workers} threads, as ganzoo does)", len(paths) / threads, ""))
    rows.append((f"decoding alone, process pool ({args.workers} processes)", len(paths) / proc, ""))
    loader = dataloader_rate(jpegs, size, batch, args.workers)
    rows.append((f"torchvision ImageFolder + DataLoader ({args.workers} workers)", loader, "decodes every epoch"))
    step_cpu = train_step_rate(cpu, size, batch, None, args.train_steps, no_sync)
    rows.append((f"DCGAN training step on the CPU (ngf=ndf=64, batch {batch})", step_cpu, "what training consumes"))

    result = {
        "machine": args.machine or f"{platform.node()} {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores",
        "torch": torch.__version__, "load_average_1min_at_start": round(load_at_start, 2), "files": len(paths), "images": n, "image_size": size, "batch_size": batch,
        "rows": [{"what": w, "images_per_s": round(r, 1), "note": note} for w, r, note in rows],
        "ratios": {
            "feed_vs_cpu_train_step": round(steady / step_cpu, 1),
            "later_run_vs_dataloader": round(rows[1][1] / loader, 1),
            "feed_vs_dataloader": round(steady / loader, 1),
            "first_run_vs_dataloader": round(rows[0][1] / loader, 2),
            "thread_vs_process_decoding": round(proc / threads, 2),
        },
    }

    if torch.cuda.is_available():
        gpu = torch.device("cuda")
        sync = torch.cuda.synchronize
        result["gpu"] = torch.cuda.get_device_name(0)
        gfeed = BatchFeed(again.images, 128, gpu, augment=FeedAugment(flip=True))
        result["gpu_feed_flip_b128"] = round(feed_rate(gfeed, sync), 1)
        result["gpu_feed_affine_b128"] = round(
            feed_rate(BatchFeed(again.images, 128, gpu, augment=FeedAugment(True, 0.1, 5, 0.1)), sync), 1)
        fixed = train_step_rate(gpu, size, 128, None, 50, sync)
        fed = train_step_rate(gpu, size, 128, gfeed, 50, sync)
        result["gpu_train_step_b128_fixed_batch"] = round(fixed, 1)
        result["gpu_train_step_b128_from_feed"] = round(fed, 1)
        result["ratios"]["gpu_step_from_feed_vs_fixed"] = round(fed / fixed, 3)
        rows += [(f"GPU feed, flip, batch 128 ({result['gpu']})", result["gpu_feed_flip_b128"], "uint8 set on the GPU"),
                 ("GPU feed, flip + affine, batch 128", result["gpu_feed_affine_b128"], ""),
                 ("GPU DCGAN step b128, one fixed batch", fixed, ""),
                 ("GPU DCGAN step b128, batches from the feed", fed, f"{fed / fixed:.3f}x the fixed-batch step")]

    width = max(len(w) for w, _, _ in rows)
    print(f"\nData path, {len(paths)} JPEGs (~500x375) -> {size}x{size}, batch {batch}; {result['machine']} "
          f"(load average {load_at_start:.1f} at start)")
    print(f"{'path':<{width}}  {'images/s':>10}  note")
    for what, rate, note in rows:
        print(f"{what:<{width}}  {rate:>10,.0f}  {note}")
    print("ratios:", ", ".join(f"{k} {v}x" for k, v in result["ratios"].items()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    if not args.work_dir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
