"""``pyramid``: a feature extractor that needs no weights file, for narrow synthetic data.

Inception features describe natural photographs; on flat coloured shapes most of their 2,048
dimensions say nothing. This extractor describes what such images are made of, at three scales
(32, 16 and 8 px): the mean and spread of each colour channel in each quarter of the image, the
edge strength in each quarter, and how much of the edge energy runs horizontally and
vertically. 30 numbers per scale, 90 in all; FID over them needs a few hundred images.

Its figures are comparable only with other ``pyramid`` figures (ganzoo labels them so).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

SCALES = (32, 16, 8)
FEATURE_DIM = 30 * len(SCALES)


class PyramidFeatures(nn.Module):
    """(N, 3, 32, 32) float in [-1, 1] -> (N, 90) features."""

    def __init__(self):
        super().__init__()
        sobel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
        self.register_buffer("kernels", torch.stack([sobel, sobel.t()]).unsqueeze(1))  # (2, 1, 3, 3): d/dx, d/dy

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = []
        for size in SCALES:
            s = x if x.shape[-1] == size else F.adaptive_avg_pool2d(x, size)  # (N, 3, size, size)
            mean = F.adaptive_avg_pool2d(s, 2)  # (N, 3, 2, 2) colour per quarter
            spread = (F.adaptive_avg_pool2d(s * s, 2) - mean * mean).clamp_min(0).sqrt()  # (N, 3, 2, 2)
            grey = s.mean(dim=1, keepdim=True)  # (N, 1, size, size)
            grad = F.conv2d(grey, self.kernels, padding=1)  # (N, 2, size, size)
            strength = F.adaptive_avg_pool2d(grad.norm(dim=1, keepdim=True), 2)  # (N, 1, 2, 2)
            direction = grad.abs().mean(dim=(2, 3))  # (N, 2): horizontal and vertical edge energy
            parts += [mean.flatten(1), spread.flatten(1), strength.flatten(1), direction]
        return torch.cat(parts, dim=1)  # (N, 90)


def build(request) -> nn.Module:
    return PyramidFeatures().to(request.device).eval()
