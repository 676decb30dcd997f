"""One generation job: pick the backend for SOURCE, stream latents through it, write the images."""

from __future__ import annotations

import logging
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ganzoo.errors import UsageError
from ganzoo.generate.grid import save_grid
from ganzoo.generate.latents import latent_batches
from ganzoo.generate.writers import open_writer
from ganzoo.source import Source, resolve_source

log = logging.getLogger("ganzoo")

GRID_IMAGES = 64


def open_backend(source: str | Path | Source, backend: str | None = None, device: str = "auto", batch_size: int = 256):
    """The backend for SOURCE: ``onnx`` by default for an .onnx file, ``torch`` otherwise.

    ``--backend onnx`` on a checkpoint is refused rather than exported on the fly: an export
    is a deliberate, checked step (``ganzoo export``).
    """
    src = source if isinstance(source, Source) else resolve_source(source)
    backend = backend or ("onnx" if src.is_onnx else "torch")
    if backend == "onnx":
        if not src.is_onnx:
            raise UsageError(f"--backend onnx needs an .onnx SOURCE; export {src.path} first with `ganzoo export`")
        from ganzoo.generate.onnx_backend import OnnxGenerator

        return OnnxGenerator(src.path, device=device, batch_size=batch_size)
    if backend != "torch":
        raise UsageError(f"unknown backend {backend!r} (choose torch or onnx)")
    if src.is_onnx:
        raise UsageError(f"--backend torch needs a run directory or checkpoint, not {src.path}")
    from ganzoo.device import resolve_device
    from ganzoo.generate.torch_backend import TorchGenerator
    from ganzoo.source import load_generator

    return TorchGenerator(load_generator(src), resolve_device(device))


@dataclass
class GenerateResult:
    num: int
    seconds: float
    backend: str


def generate(gen, num: int, out: str | Path, *, seed: int = 0, batch_size: int = 256, grid: str | Path | None = None,
             force: bool = False, progress: bool = True, workers: int | None = None) -> GenerateResult:
    """Generate ``num`` images with backend ``gen`` into ``out`` (DIR, FILE.zip or FILE.npy)."""
    from tqdm import tqdm

    if num < 1:
        raise UsageError("--num must be at least 1")
    if batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    if grid is not None and Path(grid).exists() and not force:
        raise UsageError(f"--grid {grid} exists (use --force to overwrite it)")
    start = time.perf_counter()
    first: list[np.ndarray] = []
    with ExitStack() as stack:
        writer = open_writer(out, num, gen.image_size, force, stack, workers)
        bar = stack.enter_context(tqdm(total=num, unit="img", disable=None if progress else True, leave=False))
        for z in latent_batches(seed, gen.latent_shape, num, batch_size):
            images = gen.generate(z)  # (n, H, W, 3) uint8
            if sum(len(f) for f in first) < GRID_IMAGES:
                first.append(images[:GRID_IMAGES])
            writer.write(images)
            bar.update(len(images))
        writer.close()
    if grid is not None:
        save_grid(np.concatenate(first)[:GRID_IMAGES], grid, force=force)
    return GenerateResult(num, time.perf_counter() - start, gen.description)
