"""Turning a dataset plugin's ImageSet into uint8 pixels at the training resolution.

``load_images`` asks the dataset for its ``ImageSet``; files are decoded, cropped and resized
once, in parallel, into the uint8 cache (``ganzoo.data.cache``), and every later run with
the same source and parameters reads the cache instead. Arrays a dataset returns directly
(``images=``) are only cached when they must be resized and the dataset names its source
(``source_key``): resizing 60,000 CIFAR images is worth keeping, copying them is not.
"""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from ganzoo.data.cache import cache_entry, cache_key, cache_root
from ganzoo.data.decode import decode_file, square_resize
from ganzoo.errors import GanzooError, UsageError
from ganzoo.specs import DatasetRequest, DatasetSpec, ImageFile

log = logging.getLogger("ganzoo")

__all__ = ["LoadedImages", "load_images", "decode_files", "square_resize"]


@dataclass
class LoadedImages:
    images: np.ndarray  # (N, S, S, 3) uint8
    labels: np.ndarray | None  # (N,) int64, or None
    class_names: list[str] | None
    skipped: int  # items the dataset or the decoder dropped (unreadable files, tiny boxes...)
    cache_path: Path | None = None  # the cache entry used or written, if any
    from_cache: bool = False


def decode_files(files: list[ImageFile], size: int, workers: int | None = None,
                 progress: bool = True) -> tuple[np.ndarray, list[int]]:
    """Decode ``files`` in parallel into (N, size, size, 3) uint8; also return the indices kept.

    Threads, not processes: Pillow releases the GIL while it decodes and resizes, so threads
    scale with the cores without pickling pixels between processes (benchmarks/data_bench.py
    measures both).
    """
    workers = workers or min(32, os.cpu_count() or 1)
    out = np.empty((len(files), size, size, 3), dtype=np.uint8)
    keep: list[int] = []

    def one(i: int) -> int | None:
        pixels = decode_file(files[i].path, size, files[i].box)
        if pixels is None:
            return None
        out[i] = pixels  # (size, size, 3)
        return i

    bar = tqdm(total=len(files), unit="img", desc="decoding", disable=None if progress else True, leave=False)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for result in pool.map(one, range(len(files)), chunksize=16):
            if result is not None:
                keep.append(result)
            bar.update(1)
    bar.close()
    if len(keep) == len(files):
        return out, keep
    return out[keep], keep


def _labels_of(imageset, files: list[ImageFile], keep: list[int]) -> np.ndarray | None:
    if imageset.labels is not None:
        return np.asarray(imageset.labels, dtype=np.int64)[keep]
    if any(f.label is not None for f in files):
        return np.array([files[i].label if files[i].label is not None else -1 for i in keep], dtype=np.int64)
    return None


def load_images(spec: DatasetSpec, request: DatasetRequest, cache_dir: str | os.PathLike | None = None,
                progress: bool = True, use_cache: bool = True) -> LoadedImages:
    """Ask the dataset for its images and bring them to (N, S, S, 3) uint8, through the cache."""
    if request.download and spec.download is None:
        why = spec.how_to_get or ("It is made on the fly: drop --download." if not spec.needs_data_dir else "")
        raise UsageError(f"dataset {spec.name!r} has no download. {why}".strip())
    if spec.needs_data_dir and request.data_dir is None:
        if request.download:
            raise UsageError(f"dataset {spec.name!r} needs --data-dir: the folder to download it into")
        raise UsageError(f"dataset {spec.name!r} needs --data-dir. {spec.how_to_get}".strip())
    if request.data_dir is not None and not spec.needs_data_dir and spec.download is None:
        log.warning("dataset %s takes no --data-dir; %s is not used", spec.name, request.data_dir)
    if request.download:
        spec.download(Path(request.data_dir) if request.data_dir else None)
    try:
        imageset = spec.load(request)
    except GanzooError:
        raise
    except FileNotFoundError as exc:
        raise UsageError(f"dataset {spec.name!r}: {exc}") from exc
    except ValueError as exc:
        raise GanzooError(f"dataset {spec.name!r}: {exc}") from exc

    size = request.image_size
    files = list(imageset.files) if imageset.files is not None else None
    needs_work = files is not None or (
        imageset.images is not None and tuple(np.shape(imageset.images)[1:3]) != (size, size))
    entry = None
    if use_cache and needs_work and (files is not None or imageset.source_key):
        key = cache_key(spec.name, request.params, size, imageset.source_key, files)
        entry = cache_entry(cache_root(cache_dir), spec.name, size, key)
        if entry.exists():
            try:
                images, labels, manifest = entry.read()
                log.info("dataset %s: %d images from the cache %s", spec.name, len(images), entry.path)
                return LoadedImages(images=images, labels=labels, class_names=manifest.get("class_names"),
                                    skipped=int(manifest.get("skipped", 0)), cache_path=entry.path, from_cache=True)
            except (OSError, ValueError) as exc:
                log.warning("dataset %s: the cache entry %s is damaged (%s); rebuilding it", spec.name, entry.path, exc)
                entry.remove()

    skipped = imageset.skipped
    labels = imageset.labels
    started = time.perf_counter()
    if imageset.images is not None:
        images = np.asarray(imageset.images)
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
            raise GanzooError(f"dataset {spec.name!r} returned images of {images.dtype} {images.shape}, "
                              "expected uint8 (N, H, W, 3)")
        if images.shape[1:3] != (size, size):
            images = np.stack([square_resize(Image.fromarray(im), size) for im in
                               tqdm(images, desc="resizing", unit="img", disable=None if progress else True, leave=False)])
        labels = np.asarray(labels, dtype=np.int64) if labels is not None else None
    else:
        if files:
            log.info("dataset %s: decoding %d files at %dx%d (once; cached for later runs)", spec.name, len(files), size, size)
        images, keep = decode_files(files, size, progress=progress)
        bad = len(files) - len(keep)
        if bad:
            kept = set(keep)
            examples = [files[i].path for i in range(len(files)) if i not in kept][:3]
            log.warning("dataset %s: skipped %d unreadable file(s) (corrupt, truncated, empty or not an image), e.g. %s",
                        spec.name, bad, ", ".join(examples))
        skipped += bad
        labels = _labels_of(imageset, files, keep)
    if len(images) == 0:
        raise UsageError(f"dataset {spec.name!r} has no usable images" + (f" ({skipped} skipped)" if skipped else ""))
    class_names = list(imageset.class_names) if imageset.class_names is not None else None
    if entry is not None:
        try:
            entry.write(images, labels, {"dataset": spec.name, "image_size": size, "params": dict(request.params),
                                         "source_key": imageset.source_key, "skipped": skipped,
                                         "class_names": class_names, "seconds": round(time.perf_counter() - started, 2)})
            log.info("dataset %s: cached %d images in %s", spec.name, len(images), entry.path)
        except OSError as exc:  # a read-only or full cache directory costs time, not the run
            log.warning("dataset %s: could not write the cache %s (%s); set --cache-dir or %s",
                        spec.name, entry.path, exc, "GANZOO_CACHE_DIR")
            entry = None
    return LoadedImages(images=images, labels=labels, class_names=class_names, skipped=skipped,
                        cache_path=entry.path if entry is not None else None)
