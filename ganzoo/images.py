"""Image tensors <-> uint8 pixels and sample grids (torchvision's grid, written atomically)."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torchvision.utils import make_grid

from ganzoo.fileio import atomic_path


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) float in [-1, 1] -> (N, H, W, 3) uint8 on the same device."""
    return ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1)


def save_grid(images: torch.Tensor, path: str | Path, nrow: int | None = None) -> None:
    """Write (N, 3, H, W) images in [-1, 1] as one PNG grid, atomically."""
    from PIL import Image

    images = images.detach().float().cpu()
    nrow = nrow or max(1, int(math.ceil(math.sqrt(images.shape[0]))))
    grid = make_grid(images, nrow=nrow, padding=2, normalize=True, value_range=(-1, 1))
    pixels = (grid * 255).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    with atomic_path(path) as tmp:
        Image.fromarray(pixels).save(tmp, format="PNG")
