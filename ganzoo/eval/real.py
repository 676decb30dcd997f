"""``--real``: the reference images, loaded the way training loads them.

A dataset name goes through the dataset plugin and ganzoo's uint8 image cache at the
generated images' size, so dogs are scored on the same crops they were trained on. When SOURCE
is a run of that same dataset, the run's dataset parameters and ``--data-dir`` are used unless
``--data-dir`` is given. A folder (any path: write ``./NAME`` for a folder that has a
dataset's name) is decoded through the same cache.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ganzoo.errors import UsageError
from ganzoo.imagefiles import IMAGE_EXTENSIONS, find_images
from ganzoo.eval.stats import pixels_key
from ganzoo.specs import DatasetRequest, DatasetSpec, ImageFile, ImageSet

log = logging.getLogger("ganzoo")

FOLDER_DATASET = "eval-folder"  # the image-cache name of a --real folder


@dataclass
class RealImages:
    images: np.ndarray  # (N, S, S, 3) uint8
    key: str  # identifies the pixels, for the statistics cache
    describe: str  # "shapes (8192 images)", for the log and the report
    name: str  # the dataset name or the folder path
    cache_dir: str | None = None  # the cache the images came through (the statistics go beside them)


def images_key(loaded, images: np.ndarray) -> str:
    """The image cache's key when the images came through it, else a hash of the pixels."""
    if getattr(loaded, "cache_path", None) is not None:
        return f"cache:{Path(loaded.cache_path).name}"
    return pixels_key(images)


def _looks_like_path(real: str, registry) -> bool:
    if os.sep in real or real.startswith(".") or (os.altsep and os.altsep in real):
        return True
    return real not in registry.names("dataset") and Path(real).exists()


def _folder_spec(root: Path) -> DatasetSpec:
    def load(request: DatasetRequest) -> ImageSet:
        files = find_images(root)
        if not files:
            raise FileNotFoundError(f"no image files ({', '.join(IMAGE_EXTENSIONS)}) under {root}")
        return ImageSet(files=[ImageFile(f) for f in files], source_key=f"folder:{root.resolve()}")

    return DatasetSpec(name=FOLDER_DATASET, description="a --real folder", load=load, needs_data_dir=True)


def load_real(registry, real: str, image_size: int, data_dir: str | None = None, cache_dir: str | None = None,
              source_config: dict | None = None, progress: bool = True) -> RealImages:
    from ganzoo.data import load_images

    if _looks_like_path(real, registry):
        root = Path(real).expanduser()
        if not root.is_dir():
            raise UsageError(f"--real {real}: no such folder (nor a dataset name; see `ganzoo plugins`)")
        if data_dir:
            raise UsageError("--data-dir goes with a dataset name in --real, not with a folder")
        spec, request = _folder_spec(root), DatasetRequest(data_dir=root, image_size=image_size, params={})
        name = str(root)
    else:
        spec = registry.dataset(real)
        params = {k: p.default for k, p in spec.params.items()}
        same = bool(source_config) and source_config.get("data") == real
        if same:  # score against the data the run was trained on, with its parameters
            params.update({k: v for k, v in (source_config.get("data_params") or {}).items() if k in spec.params})
            data_dir = data_dir or source_config.get("data_dir")
            cache_dir = cache_dir or source_config.get("cache_dir")
        request = DatasetRequest(data_dir=Path(data_dir).expanduser() if data_dir else None,
                                 image_size=image_size, params=params)
        name = real
    loaded = load_images(spec, request, cache_dir=cache_dir, progress=progress)
    images = loaded.images
    if loaded.skipped:
        log.warning("--real %s: %d item(s) skipped (unreadable files or left out by the dataset)", real, loaded.skipped)
    return RealImages(images, images_key(loaded, images), f"{name} ({len(images)} images at {image_size}x{image_size})",
                      name, cache_dir)
