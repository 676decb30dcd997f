"""A PNG grid of the first images, in numpy + Pillow (the onnx backend has no torch)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ganzoo.errors import UsageError
from ganzoo.fileio import atomic_path


def make_grid(images: np.ndarray, nrow: int | None = None, padding: int = 2) -> np.ndarray:
    """(N, H, W, 3) uint8 -> one (rows*(H+p)+p, nrow*(W+p)+p, 3) uint8 grid with black padding."""
    n, h, w, c = images.shape
    nrow = nrow or max(1, math.ceil(math.sqrt(n)))
    rows = math.ceil(n / nrow)
    grid = np.zeros((rows * (h + padding) + padding, nrow * (w + padding) + padding, c), np.uint8)
    for i, img in enumerate(images):
        r, col = divmod(i, nrow)
        y, x = padding + r * (h + padding), padding + col * (w + padding)
        grid[y:y + h, x:x + w] = img
    return grid


def check_grid(path: str | Path, force: bool = False) -> None:
    """Refuse a grid path before any image is generated: the grid comes last, after the main output."""
    from ganzoo.generate.writers import refuse_uncreatable

    path = Path(path)
    if path.suffix.lower() != ".png":  # Pillow would write a PNG under any name
        raise UsageError(f"--grid {path}: the grid is a PNG; give a file name ending in .png")
    if path.is_dir():
        raise UsageError(f"--grid {path} is a directory; give a new .png file name")
    if path.exists() and not force:
        raise UsageError(f"--grid {path} exists (use --force to overwrite it)")
    refuse_uncreatable(path, "--grid")


def save_grid(images: np.ndarray, path: str | Path, force: bool = False) -> None:
    from PIL import Image

    path = Path(path)
    check_grid(path, force)
    with atomic_path(path) as tmp:
        Image.fromarray(make_grid(images)).save(tmp, format="PNG")
