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


def save_grid(images: np.ndarray, path: str | Path, force: bool = False, nrow: int | None = None) -> None:
    from PIL import Image

    path = Path(path)
    check_grid(path, force)
    with atomic_path(path) as tmp:
        Image.fromarray(make_grid(images, nrow=nrow)).save(tmp, format="PNG")


class ClassRows:
    """Collects the grid of a conditional generation: one row per class (at most ``max_rows``
    classes, the first chosen), the first ``columns`` images of each class in output order;
    a row short of images (few images asked for) is padded with black."""

    def __init__(self, classes: list[int], columns: int, max_rows: int):
        self.rows = list(dict.fromkeys(classes))[:max_rows]
        self.columns = columns
        self.kept: dict[int, list[np.ndarray]] = {c: [] for c in self.rows}

    def add(self, images: np.ndarray, labels: np.ndarray) -> None:
        for img, c in zip(images, labels.tolist()):
            if c in self.kept and len(self.kept[c]) < self.columns:
                self.kept[c].append(img)

    def grid_images(self, shape: tuple[int, ...]) -> np.ndarray:
        blank = np.zeros(shape, np.uint8)
        return np.stack([(self.kept[c] + [blank] * self.columns)[i] for c in self.rows for i in range(self.columns)])
