"""A small real-photograph dataset, built offline: tiles cut from the photographs that Python
packages on this machine ship (matplotlib's sample data always; scikit-image's when installed).

No machine here can download Stanford Dogs or CIFAR-10, and the embedded ``shapes`` set is too
easy to tell a GAN that learns from one that does not. Photographs have texture, edges, colour
gradients and faces at many scales, which is what a default recipe must cope with.

Each tile is a random square crop (side 1/8 to 1/2 of the photo's short side, random place,
random horizontal flip) resized to ``size``; the crops are seeded, so the set is the same on
every machine with the same packages. ``python benchmarks/realtiles.py DIR`` writes PNG files
into DIR (an image folder for ``--data folder --data-dir DIR``).
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import numpy as np
from PIL import Image

# The colour photographs of scikit-image's bundled data (its grayscale ones, drawings and the
# right image of the stereo pair are left out: they would make the set easier or duplicated).
SKIMAGE_PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "hubble_deep_field.jpg", "ihc.png",
                  "motorcycle_left.png", "retina.jpg", "rocket.jpg")


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    return Path(spec.origin).parent if spec and spec.origin else None


def photo_paths(use_skimage: bool = True) -> list[Path]:
    """The photographs on this machine, in a fixed order."""
    paths = [_package_dir("matplotlib") / "mpl-data" / "sample_data" / "grace_hopper.jpg"]
    skimage = _package_dir("skimage") if use_skimage else None
    if skimage is not None:
        paths += [skimage / "data" / name for name in SKIMAGE_PHOTOS if (skimage / "data" / name).exists()]
    return [p for p in paths if p.exists()]


def cut_tiles(photos: list[Path], count: int, size: int, seed: int = 0) -> np.ndarray:
    """(count, size, size, 3) uint8 tiles, spread evenly over the photos."""
    rng = np.random.default_rng(seed)
    images = [np.asarray(Image.open(p).convert("RGB")) for p in photos]
    tiles = np.empty((count, size, size, 3), np.uint8)
    for i in range(count):
        img = images[i % len(images)]
        h, w = img.shape[:2]
        short = min(h, w)
        side = int(rng.integers(short // 8, short // 2 + 1))
        top, left = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        crop = Image.fromarray(img[top:top + side, left:left + side]).resize((size, size), Image.BICUBIC)
        tile = np.asarray(crop)
        tiles[i] = tile[:, ::-1] if rng.random() < 0.5 else tile
    return tiles


def write_folder(out: Path, count: int = 2000, size: int = 64, seed: int = 0, use_skimage: bool = True) -> int:
    """Write the tiles as PNG files into ``out`` (created); returns how many photographs were used."""
    photos = photo_paths(use_skimage)
    out.mkdir(parents=True, exist_ok=True)
    for i, tile in enumerate(cut_tiles(photos, count, size, seed)):
        Image.fromarray(tile).save(out / f"tile_{i:05d}.png")
    return len(photos)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    n = write_folder(args.out, args.count, args.size, args.seed)
    print(f"{args.count} tiles of {args.size}x{args.size} from {n} photographs in {args.out}")


if __name__ == "__main__":
    main()
