"""A registered feature extractor made ready to run: weights found and hashed, module built,
and a label that names both, so that figures from different extractors are never mixed up."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from ganzoo.errors import GanzooError, UsageError
from ganzoo.eval.metrics import FeatureSet
from ganzoo.eval.names import DEFAULT_EXTRACTOR
from ganzoo.plugins import describe_spec
from ganzoo.specs import ExtractorRequest, ExtractorSpec

log = logging.getLogger("ganzoo")


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


@dataclass
class Extractor:
    spec: ExtractorSpec
    module: torch.nn.Module
    device: torch.device
    weights: Path | None = None
    weights_sha256: str | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def label(self) -> str:
        """``inception[sha256:6726825d]``: the name every figure is printed with."""
        return f"{self.name}[sha256:{self.weights_sha256[:8]}]" if self.weights_sha256 else self.name

    def as_json(self) -> dict:
        return {"name": self.name, "label": self.label, "feature_dim": self.spec.feature_dim,
                "weights": str(self.weights) if self.weights else None, "weights_sha256": self.weights_sha256}

    def cache_identity(self) -> dict:
        """What decides the features, for the statistics cache key."""
        s = self.spec
        return {"name": s.name, "weights_sha256": self.weights_sha256, "feature_dim": s.feature_dim,
                "input_range": s.input_range, "input_size": s.input_size}

    def _prepare(self, images: np.ndarray) -> torch.Tensor:
        """uint8 (n, H, W, 3) numpy -> what the module takes: (n, 3, H', W') uint8 or float in [-1, 1]."""
        x = torch.from_numpy(np.ascontiguousarray(images)).to(self.device).permute(0, 3, 1, 2)  # (n, 3, H, W)
        size = self.spec.input_size
        if size is not None and tuple(x.shape[-2:]) != (size, size):
            x = F.interpolate(x.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
            if self.spec.input_range == "uint8":
                x = x.round().clamp(0, 255).to(torch.uint8)
        if self.spec.input_range == "float":
            x = x.float() / 127.5 - 1
        return x.contiguous()

    @torch.inference_mode()
    def run(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """One batch of uint8 (n, H, W, 3) -> features (n, D) float32 and logits (n, C) or None."""
        out = self.module(self._prepare(images))
        logits = None
        if self.spec.has_logits:
            if not (isinstance(out, (tuple, list)) and len(out) == 2):
                raise GanzooError(f"{describe_spec('extractor', self.spec)} has logits but returned "
                                  f"{type(out).__name__}, not a (features, logits) pair")
            out, logits = out
        n = len(images)
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != (n, self.spec.feature_dim):
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise GanzooError(f"{describe_spec('extractor', self.spec)} returned features of shape {shape}, "
                              f"expected {(n, self.spec.feature_dim)}")
        feats = out.float().cpu().numpy()
        if not np.isfinite(feats).all():
            raise GanzooError(f"{describe_spec('extractor', self.spec)} returned non-finite features")
        return feats, (logits.float().cpu().numpy() if logits is not None else None)

    def features(self, batches: Iterable[np.ndarray], total: int | None = None, progress: bool = True,
                 desc: str = "features") -> FeatureSet:
        """Features of every image the batches yield (uint8 (n, H, W, 3) each)."""
        from tqdm.auto import tqdm

        feats, logits = [], []
        bar = tqdm(total=total, unit="img", desc=desc, disable=None if progress else True, leave=False)
        try:
            for batch in batches:
                f, l = self.run(batch)
                feats.append(f)
                if l is not None:
                    logits.append(l)
                bar.update(len(batch))
        finally:
            bar.close()
        if not feats:
            raise UsageError("no images to extract features from")
        return FeatureSet(np.concatenate(feats), np.concatenate(logits) if logits else None)


def array_batches(images: np.ndarray, batch_size: int) -> Iterator[np.ndarray]:
    for start in range(0, len(images), batch_size):
        yield images[start:start + batch_size]


def open_extractor(registry, name: str = DEFAULT_EXTRACTOR, weights: str | Path | None = None,
                   device: torch.device | str = "cpu") -> Extractor:
    """Find the weights (one-line UsageError when missing), hash them, build the module."""
    spec = registry.extractor(name)
    path = None
    if spec.weights_file is not None:
        path = Path(spec.weights_file(str(weights) if weights else None))
    elif weights:
        raise UsageError(f"--inception-weights: extractor {name!r} loads no weights file")
    digest = sha256_file(path) if path is not None else None
    device = torch.device(device)
    module = spec.build(ExtractorRequest(weights=path, device=device))
    if not isinstance(module, torch.nn.Module):
        raise GanzooError(f"{describe_spec('extractor', spec)}: build returned {type(module).__name__}, not a torch.nn.Module")
    module = module.to(device).eval()
    log.debug("extractor %s built (weights %s)", name, path)
    return Extractor(spec, module, device, path, digest)
