"""Training batches from a uint8 image array kept on the training device.

Batch ``b`` of the whole run is a pure function of (seed, b): epoch ``b // batches_per_epoch``
uses its own seeded permutation, and feed-side augmentation draws from a generator seeded by
(seed, b). So the data order survives a resume with nothing to save but the number of batches
consumed. Class labels, when given, live beside the images on the same device and
``labels(b)`` takes them through the same permutation, so batch ``b``'s labels belong to
batch ``b``'s images.

Under data-parallel training (``rank``/``world_size``), batch ``b`` is a global batch of
``world_size x batch_size`` images cut from the same permutation, and each rank takes its own
slice of it (feed-side augmentation is drawn for the whole global batch and sliced the same
way). So K ranks together see exactly what one process with batch K x B sees.

On CUDA the whole uint8 set lives on the GPU when it fits in half of the free memory (64x64
Stanford Dogs crops are ~250 MB; a step then costs one gather, one conversion and the
augmentation, all on the device). When it does not fit it stays in pinned host memory and
each batch is gathered on the host and copied asynchronously.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from ganzoo.data.augment import FeedAugment, batch_generator
from ganzoo.errors import UsageError

log = logging.getLogger("ganzoo")


def _fits_on_device(nbytes: int, device: torch.device) -> bool:
    if device.type != "cuda":
        return True
    free, _total = torch.cuda.mem_get_info(device)
    return nbytes <= free // 2  # leave the other half to the networks and activations


class BatchFeed:
    def __init__(self, images: np.ndarray, batch_size: int, device: torch.device, seed: int = 0,
                 channels_last: bool = False, augment: FeedAugment | None = None,
                 labels: np.ndarray | None = None, rank: int = 0, world_size: int = 1):
        n = images.shape[0]
        if labels is not None and len(labels) != n:
            raise ValueError(f"{len(labels)} labels for {n} images")
        if n < batch_size * world_size:
            per = f" ({world_size} processes x {batch_size})" if world_size > 1 else ""
            raise UsageError(f"the dataset has {n} images, fewer than one batch of {batch_size * world_size}{per}: "
                             "lower --batch-size")
        # (N, H, W, 3) uint8 -> (N, 3, H, W) uint8, once
        host = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).contiguous()
        self.on_device = _fits_on_device(host.numel(), device)
        # On the CPU the batch is gathered and scaled with numpy: single-threaded, so it does
        # not wait on OpenMP threads that the training step (or a busy machine) keeps busy.
        self._numpy = host.numpy() if device.type == "cpu" else None
        if self.on_device:
            self.images = host.to(device)
        else:
            log.info("the image set (%.1f GB) does not fit on %s: batches are copied from pinned host memory",
                     host.numel() / 1e9, device)
            self.images = host.pin_memory()
        # (N,) int64 class ids on the device the permutation lives on (the images' device)
        self.class_ids = (torch.from_numpy(np.asarray(labels, dtype=np.int64)).to(self.images.device)
                          if labels is not None else None)
        self.batch_size = batch_size
        self.rank, self.world_size = rank, world_size
        self.batches_per_epoch = n // (batch_size * world_size)  # the last partial (global) batch is dropped
        self.seed = seed
        self.device = device
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.augment = augment if augment is not None and augment.active else None
        self._epoch = -1
        self._perm: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.images.shape[0]

    def _permutation(self, epoch: int) -> torch.Tensor:
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm = torch.randperm(len(self), generator=g).to(self.images.device)
            self._epoch = epoch
        return self._perm

    def labels(self, index: int) -> torch.Tensor:
        """The class ids of batch number ``index``: (B,) int64 on the training device."""
        if self.class_ids is None:
            raise ValueError("this feed has no labels")
        return self.class_ids.index_select(0, self._indices(index)).to(self.device, non_blocking=True)

    def _indices(self, index: int) -> torch.Tensor:
        """(B,) positions in the set of this rank's slice of global batch ``index``."""
        epoch, i = divmod(index, self.batches_per_epoch)
        first = (i * self.world_size + self.rank) * self.batch_size
        return self._permutation(epoch)[first:first + self.batch_size]

    def batch(self, index: int) -> torch.Tensor:
        """Batch number ``index`` of the run: (B, 3, H, W) float in [-1, 1] on the device."""
        idx = self._indices(index)
        flip = theta = None
        if self.augment is not None:
            flip, theta = self.augment.draw(len(idx) * self.world_size, batch_generator(self.seed, index))
            if self.world_size > 1:
                mine = slice(self.rank * self.batch_size, (self.rank + 1) * self.batch_size)
                flip = flip[mine] if flip is not None else None
                theta = theta[mine] if theta is not None else None
        if self._numpy is not None:
            u8 = self._numpy[idx.numpy()]  # (B, 3, H, W) uint8, a copy
            if flip is not None:
                m = flip.numpy()
                u8[m] = u8[m][..., ::-1]  # horizontal flip
                flip = None
            x = u8.astype(np.float32)
            x *= 1 / 127.5
            x -= 1.0
            x = torch.from_numpy(x)
        else:
            x = self.images.index_select(0, idx)  # (B, 3, H, W) uint8
            if not self.on_device:
                x = x.pin_memory().to(self.device, non_blocking=True)
            x = x.float().div_(127.5).sub_(1.0)
        if flip is not None or theta is not None:
            x = FeedAugment.apply(x, flip, theta)
        return x.contiguous(memory_format=self.memory_format)
