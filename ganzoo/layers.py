"""Layers for plugin authors (public API, 1.6); importing this module imports torch.

``ClassAffine`` after an affine-free BatchNorm makes conditional BatchNorm that still exports
well: the normalisation part stays a plain ``BatchNorm`` right after its Conv/Linear, so the
exporter folds it into that layer's weights, and only the per-class scale and shift (a Gather,
a Mul and an Add) are left in the graph. The built-in dcgan and cifar use it (``cond=bn``)::

    nn.Sequential(nn.ConvTranspose2d(cin, c, 4, 2, 1, bias=False),
                  nn.BatchNorm2d(c, affine=False), ClassAffine(c, num_classes), nn.ReLU())
    h = run_with_classes(stage, h, y)
"""

from __future__ import annotations

import torch
from torch import nn


class ClassAffine(nn.Module):
    """Per-class scale and shift: (N, C) or (N, C, H, W), class ids (N,) -> the same shape.

    Initialised like DCGAN's BatchNorm for every class (scale N(1, 0.02), shift 0), so the
    classes differ slightly from the first step."""

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.scale = nn.Embedding(num_classes, channels)  # (N,) -> (N, C)
        self.shift = nn.Embedding(num_classes, channels)
        nn.init.normal_(self.scale.weight, 1.0, 0.02)
        nn.init.zeros_(self.shift.weight)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        view = (x.shape[0], x.shape[1]) + (1,) * (x.dim() - 2)  # broadcast over the spatial axes
        return x * self.scale(y).view(view) + self.shift(y).view(view)


def run_with_classes(stage: nn.Sequential, h: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Run ``stage`` layer by layer, giving the class ids to its ClassAffine layers."""
    for layer in stage:
        h = layer(h, y) if isinstance(layer, ClassAffine) else layer(h)
    return h
