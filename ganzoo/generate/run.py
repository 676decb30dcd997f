"""One generation job: pick the backend for SOURCE, stream latents through it, write the images."""

from __future__ import annotations

import logging
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from ganzoo.errors import GanzooError, UsageError
from ganzoo.classes import GRID_COLUMNS, GRID_MAX_CLASSES, class_ids, parse_classes
from ganzoo.generate.grid import ClassRows, check_grid, save_grid
from ganzoo.generate.latents import latent_batches
from ganzoo.generate.writers import check_output, open_writer
from ganzoo.signals import deferred_stop
from ganzoo.source import Source, resolve_source

log = logging.getLogger("ganzoo")

GRID_IMAGES = 64


def open_backend(source: str | Path | Source, backend: str | None = None, device: str = "auto", batch_size: int = 256,
                 devices: str | None = None):
    """The backend for SOURCE: ``onnx`` by default for an .onnx file, ``torch`` otherwise.

    ``--backend onnx`` on a checkpoint is refused rather than exported on the fly: an export
    is a deliberate, checked step (``ganzoo export``). ``devices`` (``all``, ``0,1``, ``cpu:N``)
    spreads the batches over one worker process per device (``ganzoo.generate.sharded``).
    """
    src = source if isinstance(source, Source) else resolve_source(source)
    backend = backend or ("onnx" if src.is_onnx else "torch")
    if devices is not None:
        return _sharded(src, backend, device, batch_size, devices)
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


def _sharded(src: Source, backend: str, device: str, batch_size: int, devices: str):
    from ganzoo.generate.sharded import ShardedGenerator, parse_devices

    if backend not in ("torch", "onnx") or src.is_onnx != (backend == "onnx"):
        open_backend(src, backend, "cpu", batch_size)  # the same refusal as without --devices
    if devices.strip().lower().startswith("cpu:"):
        count = 0
    elif backend == "onnx":
        from ganzoo.generate.onnx_backend import cuda_device_count

        count = cuda_device_count()
    else:
        import torch

        count = torch.cuda.device_count()
    chosen = parse_devices(devices, count)
    if device != "auto" and device != chosen.kind:
        raise UsageError(f"--device {device} and --devices {devices} disagree (drop --device)")
    return ShardedGenerator(src.path, backend, chosen, batch_size)


@dataclass
class GenerateResult:
    num: int
    seconds: float
    backend: str


class GenerationStopped(GanzooError):
    """Ctrl-C or SIGTERM between batches: raised inside the writer's stack, so temporary files go."""

    exit_code = 130  # what training uses for both signals (ganzoo.train.loop.Interrupted)

    def __init__(self, signal_name: str, done: int, num: int, out: str | Path, kind: str):
        if kind == "dir":
            kept = f"{out} keeps the images written so far (rerun with --force, or use a .zip for all or nothing)"
        else:
            kept = f"nothing was written to {out}"
        super().__init__(f"stopped by {signal_name} after {done} of {num} images; {kept}")


def check_request(num: int, out: str | Path, *, batch_size: int = 256, workers: int | None = None,
                  grid: str | Path | None = None, force: bool = False) -> str:
    """Refuse a bad request before the backend loads and before anything is written; the output kind.

    Loading a backend takes seconds and generating minutes: a typo in --grid or --workers
    should cost neither, nor leave a main output written without its grid.
    """
    if num < 1:
        raise UsageError("--num must be at least 1")
    if batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    if workers is not None and workers < 0:
        raise UsageError("--workers must be 0 (encode inline) or more")
    kind = check_output(out, force)
    if grid is not None:
        check_grid(grid, force)
    return kind


def _missing_dirs(path: Path) -> list[Path]:
    """``path`` and its ancestors that do not exist yet, deepest first."""
    missing = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    return missing


@contextmanager
def _no_empty_dirs_left(dirs: list[Path]) -> Iterator[None]:
    """On failure, remove those of ``dirs`` (made by this job) that are empty, deepest first.

    A failed or stopped job should leave the file system as it found it, not an empty folder
    that looks like a finished run with no images; a folder with images in it is kept.
    """
    try:
        yield
    except BaseException:
        for d in sorted(dirs, key=lambda p: len(p.parts), reverse=True):
            try:
                d.rmdir()  # only ever succeeds on an empty directory
            except OSError:
                pass
        raise


def _check_batch(gen, images: np.ndarray, n: int) -> None:
    want = (n, gen.image_size, gen.image_size, 3)
    if images.shape != want:
        raise GanzooError(f"{gen.description}: the generator made a batch of shape {images.shape}, expected {want}")


def choose_classes(gen, text: str | None) -> list[int] | None:
    """The class ids to generate: ``--class`` parsed against the generator's class names, all
    classes when not given (a conditional generator), None for an unconditional generator."""
    num_classes = getattr(gen, "num_classes", None)
    if num_classes is None:
        if text:
            raise UsageError("--class: this generator is not class-conditional (it was trained without labels)")
        return None
    if not text:
        return list(range(num_classes))
    return parse_classes(text, gen.class_names)


def generate(gen, num: int, out: str | Path, *, seed: int = 0, batch_size: int = 256, grid: str | Path | None = None,
             force: bool = False, progress: bool = True, workers: int | None = None,
             classes: list[int] | None = None) -> GenerateResult:
    """Generate ``num`` images with backend ``gen`` into ``out`` (DIR, FILE.zip or FILE.npy).

    A class-conditional ``gen`` gets class ids round-robin over ``classes`` (default: all),
    image ``i`` the class ``classes[i % len(classes)]``, so the same seed gives the same
    images on every backend and batch size; its grid has one row per class.
    Ctrl-C or SIGTERM stops after the current batch with GenerationStopped (a second Ctrl-C
    at once): a .zip/.npy is never left half-written; a directory keeps its finished PNGs.
    """
    from tqdm import tqdm

    kind = check_request(num, out, batch_size=batch_size, workers=workers, grid=grid, force=force)
    conditional = getattr(gen, "num_classes", None) is not None
    if conditional and classes is None:
        classes = list(range(gen.num_classes))
    if not conditional and classes is not None:
        raise UsageError("--class: this generator is not class-conditional (it was trained without labels)")
    rows = ClassRows(classes, GRID_COLUMNS, GRID_MAX_CLASSES) if conditional else None
    new_dirs = _missing_dirs(Path(out) if kind == "dir" else Path(out).parent)
    if grid is not None:
        new_dirs += _missing_dirs(Path(grid).parent)
    start = time.perf_counter()
    first: list[np.ndarray] = []
    done = 0
    with deferred_stop() as stop, _no_empty_dirs_left(new_dirs):
        with ExitStack() as stack:
            writer = open_writer(out, num, gen.image_size, force, stack, workers)
            bar = stack.enter_context(tqdm(total=num, unit="img", disable=None if progress else True, leave=False))
            def with_classes():  # (z, y) batches; y: (n,) int64 round-robin over classes, None if unconditional
                start = 0
                for z in latent_batches(seed, gen.latent_shape, num, batch_size):
                    yield z, class_ids(np.arange(start, start + len(z)), classes) if conditional else None
                    start += len(z)

            # a sharded backend keeps several batches in flight and hands them back in order
            outputs = (gen.imap(with_classes()) if hasattr(gen, "imap")
                       else (((z, y), gen.generate(z) if y is None else gen.generate(z, y)) for z, y in with_classes()))
            for (z, y), images in outputs:  # images: (n, H, W, 3) uint8
                _check_batch(gen, images, len(z))
                if conditional:
                    rows.add(images, y)
                if not conditional and sum(len(f) for f in first) < GRID_IMAGES:
                    first.append(images[:GRID_IMAGES])
                writer.write(images)
                done += len(images)
                bar.update(len(images))
                if stop and done < num:
                    if kind == "dir":  # finish the PNGs already queued, so the count said is the count kept
                        writer.flush()
                    raise GenerationStopped(stop.requested, done, num, out, kind)
            writer.close()
        if grid is not None and conditional:  # one row per class
            save_grid(rows.grid_images((gen.image_size, gen.image_size, 3)), grid, force=force, nrow=GRID_COLUMNS)
        elif grid is not None:
            save_grid(np.concatenate(first)[:GRID_IMAGES], grid, force=force)
    return GenerateResult(num, time.perf_counter() - start, gen.description)
