"""Training batches from a uint8 image array kept on the training device.

Batch ``b`` of the whole run is a pure function of (seed, b): epoch ``b // batches_per_epoch``
uses its own seeded permutation. So the data order survives a resume with nothing to save but
the number of batches consumed.
"""

from __future__ import annotations

import numpy as np
import torch

from ganzoo.errors import UsageError


class BatchFeed:
    def __init__(self, images: np.ndarray, batch_size: int, device: torch.device, seed: int = 0,
                 channels_last: bool = False):
        n = images.shape[0]
        if n < batch_size:
            raise UsageError(f"the dataset has {n} images, fewer than one batch of {batch_size}: lower --batch-size")
        # (N, H, W, 3) uint8 -> (N, 3, H, W) uint8, once, on the device
        self.images = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).contiguous().to(device)
        self.batch_size = batch_size
        self.batches_per_epoch = n // batch_size  # the last partial batch is dropped
        self.seed = seed
        self.device = device
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self._epoch = -1
        self._perm: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.images.shape[0]

    def _permutation(self, epoch: int) -> torch.Tensor:
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm = torch.randperm(len(self), generator=g).to(self.device)
            self._epoch = epoch
        return self._perm

    def batch(self, index: int) -> torch.Tensor:
        """Batch number ``index`` of the run: (B, 3, H, W) float in [-1, 1] on the device."""
        epoch, i = divmod(index, self.batches_per_epoch)
        idx = self._permutation(epoch)[i * self.batch_size:(i + 1) * self.batch_size]
        x = self.images.index_select(0, idx).float().div_(127.5).sub_(1.0)
        return x.contiguous(memory_format=self.memory_format)
