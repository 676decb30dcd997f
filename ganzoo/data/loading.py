"""Turning a dataset plugin's ImageSet into uint8 pixels at the training resolution."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ganzoo.errors import GanzooError, UsageError
from ganzoo.specs import DatasetRequest, DatasetSpec, ImageFile


@dataclass
class LoadedImages:
    images: np.ndarray  # (N, S, S, 3) uint8
    labels: np.ndarray | None
    class_names: list[str] | None
    skipped: int


def square_resize(img: Image.Image, size: int, box=None) -> np.ndarray:
    """Crop to ``box`` (if any), centre-crop to a square, resize to size x size (Lanczos)."""
    if box is not None:
        img = img.crop(tuple(int(v) for v in box))
    w, h = img.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    img = img.crop((left, top, left + side, top + side))
    if side != size:
        img = img.resize((size, size), Image.LANCZOS)
    return np.asarray(img.convert("RGB"), dtype=np.uint8)


def _decode(item: ImageFile, size: int) -> np.ndarray | None:
    try:
        with Image.open(item.path) as img:
            img.load()
            return square_resize(img.convert("RGB"), size, item.box)
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def load_images(spec: DatasetSpec, request: DatasetRequest) -> LoadedImages:
    """Ask the dataset for its images and bring them to (N, S, S, 3) uint8."""
    if spec.needs_data_dir and request.data_dir is None:
        raise UsageError(f"dataset {spec.name!r} needs --data-dir. {spec.how_to_get}".strip())
    if request.download:
        if spec.download is None:
            raise UsageError(f"dataset {spec.name!r} has no download; {spec.how_to_get}".strip())
        spec.download(Path(request.data_dir) if request.data_dir else None)
    try:
        imageset = spec.load(request)
    except (FileNotFoundError, ValueError) as exc:
        raise GanzooError(f"dataset {spec.name!r}: {exc}") from exc

    size = request.image_size
    skipped = imageset.skipped
    labels = imageset.labels
    if imageset.images is not None:
        images = np.asarray(imageset.images, dtype=np.uint8)
        if images.ndim != 4 or images.shape[-1] != 3:
            raise GanzooError(f"dataset {spec.name!r} returned images of shape {images.shape}, expected (N, H, W, 3)")
        if images.shape[1:3] != (size, size):
            images = np.stack([square_resize(Image.fromarray(im), size) for im in images])
    else:
        decoded, keep = [], []
        for i, item in enumerate(imageset.files):
            pixels = _decode(item, size)
            if pixels is None:
                skipped += 1
                continue
            decoded.append(pixels)
            keep.append(i)
        images = np.stack(decoded) if decoded else np.zeros((0, size, size, 3), np.uint8)
        if labels is None and any(f.label is not None for f in imageset.files):
            labels = np.array([imageset.files[i].label if imageset.files[i].label is not None else -1 for i in keep])
        elif labels is not None:
            labels = np.asarray(labels)[keep]
    if len(images) == 0:
        raise UsageError(f"dataset {spec.name!r} has no usable images" + (f" ({skipped} skipped)" if skipped else ""))
    class_names = list(imageset.class_names) if imageset.class_names is not None else None
    return LoadedImages(images=images, labels=labels, class_names=class_names, skipped=skipped)
