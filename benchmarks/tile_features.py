"""A feature extractor suited to the real-tile benchmark set, for ``ganzoo eval`` (extractor ``tiles``).

Inception weights cannot be fetched here, and a random network's features barely tell uniform
noise from images (measured: it scores noise better than a collapsed generator). So the
benchmark trains its own domain extractor, the way issue "Evaluation" intends the plugin point
to be used for a narrow dataset: a small CNN taught to tell which photograph a tile was cut
from (a 9-way task it learns to ~99% held-out accuracy in seconds). Its penultimate layer
(128 features) knows the colours, textures and edges of these photographs and nothing else, so
FID/KID on it separate noise, blobs and photo-like tiles. The figures are comparable only with
figures from the same weights file (every output names its SHA-256), never with Inception FIDs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from ganzoo import ExtractorSpec

FEATURES = 128


class TileNet(nn.Module):
    def __init__(self, classes: int):
        super().__init__()

        def block(cin: int, cout: int) -> list[nn.Module]:
            # (N, cin, s, s) -> (N, cout, s/2, s/2)
            return [nn.Conv2d(cin, cout, 3, 1, 1), nn.BatchNorm2d(cout), nn.ReLU(True), nn.MaxPool2d(2)]

        # (N, 3, 32, 32) in [-1, 1] -> (N, 128) features -> (N, classes) logits
        self.features = nn.Sequential(*block(3, 32), *block(32, 64), *block(64, 128), nn.AdaptiveAvgPool2d(1),
                                      nn.Flatten(), nn.Linear(128, FEATURES), nn.ReLU(True))
        self.head = nn.Linear(FEATURES, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def to_float(images: np.ndarray, size: int) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, size, size) float in [-1, 1]."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1
    return nn.functional.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)


def train(images: np.ndarray, labels: np.ndarray, out: Path, size: int = 32, epochs: int = 8, seed: int = 0) -> float:
    """Train on 80% of the tiles, save the state dict to ``out``; returns held-out accuracy."""
    torch.manual_seed(seed)
    x, y = to_float(images, size), torch.from_numpy(labels).long()
    order = torch.randperm(len(x))
    split = int(0.8 * len(x))
    train_idx, held = order[:split], order[split:]
    net = TileNet(int(labels.max()) + 1)
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    for _ in range(epochs):
        net.train()
        for start in range(0, split, 64):
            idx = train_idx[torch.randperm(split)[:64]]
            batch = x[idx]
            flip = torch.rand(len(idx)) < 0.5
            batch[flip] = batch[flip].flip(3)
            loss = nn.functional.cross_entropy(net(batch), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        accuracy = float((net(x[held]).argmax(1) == y[held]).float().mean())
    torch.save({"state": net.state_dict(), "classes": int(labels.max()) + 1, "size": size}, out)
    return accuracy


def extractor_spec(weights: Path) -> ExtractorSpec:
    def build(request):
        saved = torch.load(request.weights, map_location="cpu", weights_only=True)
        net = TileNet(saved["classes"])
        net.load_state_dict(saved["state"])
        return net.features.eval().to(request.device)

    def weights_file(given):
        return Path(given) if given else weights

    return ExtractorSpec(name="tiles", description="CNN trained to tell the benchmark's photographs apart (128 features)",
                         feature_dim=FEATURES, build=build, input_range="float", input_size=32,
                         weights_file=weights_file)
