"""Small deterministic feature extractors registered through the plugin point, for the eval tests.

``tiny``: images resized to 16x16 by ganzoo, in [-1, 1]; features are the 4x4 average-pooled
pixels (48) and 16 channels of a fixed random convolution (seeded, never trained), 64 in all;
10 "class logits" from a fixed random projection. ``tiny-nologits``: the same features, no logits.
``SEEN`` counts the images each extractor has been given, so a test can tell a cache hit.
"""

from __future__ import annotations

import ganzoo
from ganzoo import ExtractorSpec, hookimpl

ganzoo.require_api("1.2")

SEEN = {"tiny": 0, "tiny-nologits": 0}
DIM = 64


def _build(name: str, logits: bool):
    def build(request):
        import torch
        from torch import nn

        class Tiny(nn.Module):
            def __init__(self):
                super().__init__()
                g = torch.Generator().manual_seed(0)
                self.conv = nn.Conv2d(3, 16, 3, stride=2, padding=1)
                self.head = nn.Linear(DIM, 10)
                with torch.no_grad():
                    for p in (*self.conv.parameters(), *self.head.parameters()):
                        p.copy_(torch.randn(p.shape, generator=g) * 0.5)

            def forward(self, x):  # (N, 3, 16, 16) float in [-1, 1]
                SEEN[name] += len(x)
                pooled = nn.functional.avg_pool2d(x, 4).flatten(1)  # (N, 48)
                conv = torch.relu(self.conv(x)).mean(dim=(2, 3))  # (N, 16)
                features = torch.cat([pooled, conv], dim=1)  # (N, 64)
                return (features, self.head(features)) if logits else features

        return Tiny().to(request.device).eval()

    return build


@hookimpl
def ganzoo_register_extractors(register):
    register(ExtractorSpec(name="tiny", description="Test extractor: pooled pixels + a fixed random conv (64)",
                           feature_dim=DIM, build=_build("tiny", True), has_logits=True, input_range="float",
                           input_size=16))
    register(ExtractorSpec(name="tiny-nologits", description="Test extractor without logits",
                           feature_dim=DIM, build=_build("tiny-nologits", False), input_range="float", input_size=16))
