"""The residual networks of ``resgan`` for square images of size 2**k (k >= 4).

G: z -> 4x4 map -> (k - 2) residual blocks that each double the resolution -> RGB in [-1, 1].
D: RGB -> (k - 2) residual blocks that each halve it -> 4x4 -> sum over space -> one logit.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


def _depth(image_size: int) -> int:
    """Resolution-doubling blocks between 4x4 and image_size."""
    k = int(math.log2(image_size)) - 2
    if image_size < 16 or 2 ** (k + 2) != image_size:
        raise ValueError(f"resgan needs a power-of-two image size >= 16, got {image_size}")
    return k


class UpBlock(nn.Module):
    """Pre-activation residual block that doubles the resolution (BN, ReLU, upsample, conv, ...)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm2d(cin), nn.Conv2d(cin, cout, 3, 1, 1)
        self.bn2, self.conv2 = nn.BatchNorm2d(cout), nn.Conv2d(cout, cout, 3, 1, 1)
        self.skip = nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (N, cin, s, s) -> (N, cout, 2s, 2s)
        h = F.interpolate(F.relu(self.bn1(x)), scale_factor=2.0, mode="nearest")
        h = self.conv2(F.relu(self.bn2(self.conv1(h))))
        return h + self.skip(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class DownBlock(nn.Module):
    """Residual block that halves the resolution; the first one skips the input ReLU (the
    input is an image, not a feature map)."""

    def __init__(self, cin: int, cout: int, first: bool):
        super().__init__()
        self.first = first
        self.conv1 = spectral_norm(nn.Conv2d(cin, cout, 3, 1, 1))
        self.conv2 = spectral_norm(nn.Conv2d(cout, cout, 3, 1, 1))
        self.skip = spectral_norm(nn.Conv2d(cin, cout, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (N, cin, s, s) -> (N, cout, s/2, s/2)
        h = x if self.first else F.relu(x)
        h = F.avg_pool2d(self.conv2(F.relu(self.conv1(h))), 2)
        return h + F.avg_pool2d(self.skip(x), 2)


class ResGenerator(nn.Module):
    def __init__(self, nz: int = 128, width: int = 128, image_size: int = 32):
        super().__init__()
        self.nz, self.width = nz, width
        self.fc = nn.Linear(nz, 4 * 4 * width)  # (N, nz) -> (N, width * 16)
        self.blocks = nn.Sequential(*[UpBlock(width, width) for _ in range(_depth(image_size))])
        # (N, width, S, S) -> (N, 3, S, S)
        self.to_rgb = nn.Sequential(nn.BatchNorm2d(width), nn.ReLU(), nn.Conv2d(width, 3, 3, 1, 1), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z.view(z.shape[0], self.nz)).view(z.shape[0], self.width, 4, 4)
        return self.to_rgb(self.blocks(h))


class ResDiscriminator(nn.Module):
    def __init__(self, width: int = 128, image_size: int = 32):
        super().__init__()
        depth = _depth(image_size)
        self.blocks = nn.Sequential(*[DownBlock(3 if i == 0 else width, width, first=i == 0) for i in range(depth)])
        self.fc = spectral_norm(nn.Linear(width, 1))  # (N, width) -> (N, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.blocks(x))  # (N, width, 4, 4)
        return self.fc(h.sum(dim=(2, 3))).view(x.shape[0])  # sum pooling, then one logit per image
