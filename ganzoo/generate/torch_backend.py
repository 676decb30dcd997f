"""The PyTorch backend: the checkpoint's generator, fed the same numpy latents as the onnx one."""

from __future__ import annotations

import numpy as np
import torch

from ganzoo.images import to_uint8
from ganzoo.source import LoadedGenerator


class TorchGenerator:
    """Latents (numpy) in, uint8 images (numpy, NHWC) out, through the PyTorch generator.

    fp32 in eval mode, so its images match the exported ONNX file up to rounding; the
    conversion to uint8 happens on the device, so only uint8 pixels cross to the host.
    """

    name = "torch"

    def __init__(self, loaded: LoadedGenerator, device: torch.device):
        self.device = device
        self.model = loaded.model.to(device).eval()
        self.latent_shape = (loaded.nz,)
        self.image_size = loaded.image_size
        self.num_classes, self.class_names = loaded.num_classes, loaded.class_names
        self.loaded = loaded

    @property
    def description(self) -> str:
        return f"torch fp32 on {self.device.type} ({self.loaded.weights} weights)"

    @torch.inference_mode()
    def images(self, z: np.ndarray, y: np.ndarray | None = None) -> torch.Tensor:
        # (n, nz) [, (n,) int64] -> (n, 3, H, W) float in [-1, 1]
        z = torch.from_numpy(np.ascontiguousarray(z)).to(self.device)
        if self.num_classes is None:
            return self.model(z)
        return self.model(z, torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64)).to(self.device))

    def generate(self, z: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
        """(n, nz) float32 [and (n,) int64 class ids] -> (n, H, W, 3) uint8."""
        with torch.inference_mode():
            return to_uint8(self.images(z, y)).cpu().numpy()
