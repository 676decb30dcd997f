"""SOURCE for ``ganzoo eval``: what makes the images to score.

- a run directory, a checkpoint or an ``.onnx`` file: a generator, run through ganzoo's own
  backends (``ganzoo.generate``) with the same seeded latents as ``ganzoo generate``;
- a folder of images, a ``.zip`` of PNGs (what ``ganzoo generate --out FILE.zip`` writes) or a
  ``.npy`` uint8 array (N, H, W, 3): images already made.

Every kind yields uint8 batches (n, S, S, 3) and knows its image size S, which is the size the
real images are brought to.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ganzoo.classes import class_ids
from ganzoo.errors import UsageError
from ganzoo.imagefiles import IMAGE_EXTENSIONS, find_images

DEFAULT_NUM = 10_000  # generated images per evaluation unless --num says otherwise


@dataclass
class ImageSource:
    kind: str  # "generator", "folder", "zip" or "npy"
    path: Path
    description: str
    image_size: int
    count: int
    batches: Callable[[int], Iterator[np.ndarray]]  # batch size -> uint8 (n, S, S, 3) batches
    config: dict | None = None  # the run configuration, when SOURCE is a generator that has one
    run_dir: Path | None = None  # set when SOURCE is a run directory
    skipped: int = 0
    extra: dict = field(default_factory=dict)


def _square_side(open_first) -> int:
    from PIL import Image

    try:
        with Image.open(open_first()) as img:
            return min(img.size)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read the first image of SOURCE ({exc})") from None


def _take(count: int, num: int | None, what: str) -> int:
    if num is not None and num > count:
        raise UsageError(f"--num {num}, but {what} holds {count} image{'s' if count != 1 else ''}")
    return count if num is None else num


def _generator(path: Path, num: int | None, seed: int, device: str, batch_size: int) -> ImageSource:
    from ganzoo.generate import open_backend
    from ganzoo.generate.latents import latent_batches

    gen = open_backend(path, None, device, batch_size)
    num = DEFAULT_NUM if num is None else num
    if hasattr(gen, "loaded"):
        config = gen.loaded.config
    else:
        try:
            config = json.loads(gen.metadata.get("ganzoo.config", "null"))
        except json.JSONDecodeError:
            config = None

    classes = list(range(gen.num_classes)) if getattr(gen, "num_classes", None) else None

    def batches(size: int) -> Iterator[np.ndarray]:
        done = 0
        for z in latent_batches(seed, gen.latent_shape, num, size):
            if classes is None:
                yield gen.generate(z)  # (n, S, S, 3) uint8
            else:  # every class in turn, as `ganzoo generate` draws them by default
                yield gen.generate(z, class_ids(np.arange(done, done + len(z)), classes))
            done += len(z)

    run_dir = path if path.is_dir() else None
    return ImageSource("generator", path, f"{path} ({gen.description}, seed {seed})", gen.image_size, num,
                       batches, config if isinstance(config, dict) else None, run_dir)


def _folder(path: Path, num: int | None, progress: bool) -> ImageSource:
    from ganzoo.data.loading import decode_files
    from ganzoo.specs import ImageFile

    files = find_images(path)
    if not files:
        raise UsageError(f"SOURCE {path} holds no image files ({', '.join(IMAGE_EXTENSIONS)})")
    files = files[:_take(len(files), num, str(path))]
    size = _square_side(lambda: files[0])
    images, keep = decode_files([ImageFile(f) for f in files], size, progress=progress)
    skipped = len(files) - len(keep)
    return ImageSource("folder", path, f"{path} ({len(images)} images)", size, len(images),
                       lambda b: (images[i:i + b] for i in range(0, len(images), b)), skipped=skipped)


def _zip(path: Path, num: int | None) -> ImageSource:
    from ganzoo.data.decode import decode_file

    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UsageError(f"SOURCE {path} is not a readable zip ({exc})") from None
    names = sorted(n for n in archive.namelist() if n.lower().endswith(IMAGE_EXTENSIONS) and not n.endswith("/"))
    if not names:
        raise UsageError(f"SOURCE {path} holds no image files")
    names = names[:_take(len(names), num, str(path))]
    size = _square_side(lambda: io.BytesIO(archive.read(names[0])))
    skipped = []

    def batches(b: int) -> Iterator[np.ndarray]:
        for start in range(0, len(names), b):
            decoded = [decode_file(io.BytesIO(archive.read(n)), size) for n in names[start:start + b]]
            skipped.extend(n for n, d in zip(names[start:start + b], decoded) if d is None)
            kept = [d for d in decoded if d is not None]
            if kept:
                yield np.stack(kept)

    return ImageSource("zip", path, f"{path} ({len(names)} images)", size, len(names), batches,
                       extra={"skipped_names": skipped})


def _npy(path: Path, num: int | None) -> ImageSource:
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise UsageError(f"SOURCE {path} is not a readable .npy file ({exc})") from None
    if array.dtype != np.uint8 or array.ndim != 4 or array.shape[-1] != 3 or array.shape[1] != array.shape[2]:
        raise UsageError(f"SOURCE {path} holds {array.dtype} {tuple(array.shape)}; expected uint8 (N, S, S, 3), "
                         "as `ganzoo generate --out FILE.npy` writes")
    n = _take(len(array), num, str(path))
    return ImageSource("npy", path, f"{path} ({n} images)", int(array.shape[1]), n,
                       lambda b: (np.array(array[i:min(i + b, n)]) for i in range(0, n, b)))  # a copy: torch wants writable memory


def open_source(source: str | Path, num: int | None = None, seed: int = 0, device: str = "auto",
                batch_size: int = 64, progress: bool = True) -> ImageSource:
    """What SOURCE names, ready to yield uint8 batches."""
    path = Path(source)
    if num is not None and num < 1:
        raise UsageError("--num must be at least 1")
    if not path.exists():
        raise UsageError(f"SOURCE {path} does not exist (give a run directory, a checkpoint, an .onnx file, "
                         "a folder of images, a .zip of PNGs or a .npy array)")
    if path.is_dir():
        if (path / "config.json").is_file():
            return _generator(path, num, seed, device, batch_size)
        return _folder(path, num, progress)
    suffix = path.suffix.lower()
    if suffix == ".zip":
        return _zip(path, num)
    if suffix == ".npy":
        return _npy(path, num)
    return _generator(path, num, seed, device, batch_size)
