"""Latent vectors from a seed, the same for every backend and every batch size.

numpy's ``Generator(PCG64(seed)).standard_normal(dtype=float32)`` draws one stream in a fixed
order, image 0 first. Drawing it batch by batch from one generator continues that stream
exactly (the bit generator keeps its state, buffered bits included), so image i gets the same
z whether it is drawn in batches of 1, 7 or 4096, and the torch and onnx backends see the same
numbers. numpy rather than torch: the onnx backend must not import torch.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np


class LatentStream:
    """Yields float32 latent batches ``(n, *latent_shape)`` for consecutive image indices."""

    def __init__(self, seed: int, latent_shape: Sequence[int]):
        self.latent_shape = tuple(int(d) for d in latent_shape)
        self._rng = np.random.Generator(np.random.PCG64(seed))

    def next(self, n: int) -> np.ndarray:
        # (n, *latent_shape) float32, N(0, 1)
        return self._rng.standard_normal((n, *self.latent_shape), dtype=np.float32)


def latent_batches(seed: int, latent_shape: Sequence[int], num: int, batch_size: int) -> Iterator[np.ndarray]:
    """``num`` latents in batches of at most ``batch_size`` (the last one may be short)."""
    stream = LatentStream(seed, latent_shape)
    for start in range(0, num, batch_size):
        yield stream.next(min(batch_size, num - start))


def latents(seed: int, latent_shape: Sequence[int], num: int) -> np.ndarray:
    """All ``num`` latents at once: ``(num, *latent_shape)`` float32."""
    return LatentStream(seed, latent_shape).next(num)
