"""Drawing the shapes dataset with Pillow (supersampled for smooth edges)."""

import numpy as np
from PIL import Image, ImageDraw

from ganzoo import ImageSet

_SUPERSAMPLE = 4


# Saturated shape colours on dark backgrounds: the shape, not the colour noise, is what a
# generator must learn, so that a few minutes of CPU training show recognisable shapes.
PALETTE = np.array([(230, 40, 40), (40, 200, 60), (50, 90, 240), (240, 200, 30), (220, 60, 220), (30, 210, 220), (245, 245, 245)])


def _background(rng: np.random.Generator) -> tuple[int, int, int]:
    base = rng.integers(10, 70)
    return tuple(int(base + d) for d in rng.integers(-10, 11, size=3))


def _shape_colour(rng: np.random.Generator) -> tuple[int, int, int]:
    c = PALETTE[rng.integers(len(PALETTE))] + rng.integers(-15, 16, size=3)
    return tuple(int(v) for v in np.clip(c, 0, 255))


def render_one(rng: np.random.Generator, kind: str, size: int) -> np.ndarray:
    s = size * _SUPERSAMPLE
    img = Image.new("RGB", (s, s), _background(rng))
    draw = ImageDraw.Draw(img)
    r = rng.uniform(0.22, 0.42) * s  # half the shape's extent
    cx, cy = rng.uniform(r, s - r, size=2)
    fill = _shape_colour(rng)
    if kind == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
    elif kind == "square":
        angle = rng.uniform(0, np.pi / 2)
        draw.polygon(_regular(cx, cy, r * 1.1, 4, angle), fill=fill)
    else:
        angle = rng.uniform(0, 2 * np.pi)
        draw.polygon(_regular(cx, cy, r * 1.1, 3, angle), fill=fill)
    return np.asarray(img.reduce(_SUPERSAMPLE), dtype=np.uint8)


def _regular(cx: float, cy: float, r: float, n: int, angle: float) -> list[tuple[float, float]]:
    """Corners of a regular n-gon with circumradius r, clipped by the caller's canvas margin."""
    a = angle + 2 * np.pi * np.arange(n) / n
    return list(zip((cx + r * np.cos(a)).tolist(), (cy + r * np.sin(a)).tolist()))


def render_shapes(count: int, image_size: int, kinds, seed: int) -> ImageSet:
    if count <= 0:
        raise ValueError("count must be positive")
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(kinds), size=count)
    images = np.stack([render_one(rng, kinds[k], image_size) for k in labels])  # (N, H, W, 3) uint8
    return ImageSet(
        images=images,
        labels=labels.astype(np.int64),
        class_names=list(kinds),
        source_key=f"shapes:{seed}:{count}:{','.join(kinds)}",
    )
