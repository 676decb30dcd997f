"""The real-statistics cache: features of a reference set, extracted once per extractor.

One entry is ``<cache dir>/eval/<extractor>-<size>px-<key>/`` holding ``features.npy``
(float32, (N, D)), ``logits.npy`` (when the extractor has logits), ``mu.npy`` and ``sigma.npy``
(float64, FID's Gaussian) and ``manifest.json``, written last, each file atomically, as the
image cache does: an entry without a manifest is unfinished and never read.

The key is a SHA-256 over the images' own key (the image cache's key, or a hash of the pixels
when the dataset is not cached), their size, and what decides the features: the extractor's
name, its weights' SHA-256, its feature size and its input convention. New data, a resize,
another extractor or another weights file: another entry.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ganzoo.data.cache import cache_root
from ganzoo.eval.extractor import Extractor
from ganzoo.eval.metrics import FeatureSet
from ganzoo.fileio import atomic_path, write_json

log = logging.getLogger("ganzoo")

STATS_VERSION = 1  # bump when what an entry holds changes


def pixels_key(images: np.ndarray) -> str:
    """A content key for images that have no image-cache entry (arrays a dataset returns)."""
    h = hashlib.sha256(str((images.shape, str(images.dtype))).encode())
    h.update(np.ascontiguousarray(images).data)
    return "pixels-" + h.hexdigest()[:20]


def stats_key(images_key: str, image_size: int, extractor: Extractor) -> str:
    head = {"images": images_key, "image_size": image_size, "extractor": extractor.cache_identity(),
            "version": STATS_VERSION}
    return hashlib.sha256(json.dumps(head, sort_keys=True).encode()).hexdigest()[:20]


@dataclass
class StatsEntry:
    path: Path

    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"

    def exists(self) -> bool:
        return self.manifest_path.is_file()

    def read(self) -> FeatureSet:
        manifest = json.loads(self.manifest_path.read_text())
        features = np.load(self.path / "features.npy", allow_pickle=False)
        logits = np.load(self.path / "logits.npy", allow_pickle=False) if manifest.get("has_logits") else None
        stats = {"mu": np.load(self.path / "mu.npy", allow_pickle=False),
                 "sigma": np.load(self.path / "sigma.npy", allow_pickle=False)}
        if features.ndim != 2 or len(features) != manifest.get("count") or stats["mu"].shape != features.shape[1:]:
            raise ValueError(f"statistics entry {self.path} does not match its manifest")
        return FeatureSet(features, logits, stats)

    def _save(self, name: str, array: np.ndarray) -> None:
        with atomic_path(self.path / name) as tmp:
            with open(tmp, "wb") as f:
                np.save(f, array, allow_pickle=False)

    def write(self, found: FeatureSet, manifest: dict) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        self.manifest_path.unlink(missing_ok=True)  # incomplete until the manifest is back
        self._save("features.npy", np.ascontiguousarray(found.features, dtype=np.float32))
        if found.logits is not None:
            self._save("logits.npy", np.ascontiguousarray(found.logits, dtype=np.float32))
        self._save("mu.npy", found.statistics["mu"])
        self._save("sigma.npy", found.statistics["sigma"])
        write_json(self.manifest_path, {**manifest, "count": int(len(found)), "has_logits": found.logits is not None})

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def stats_entry(extractor: Extractor, images_key: str, image_size: int, cache_dir=None) -> StatsEntry:
    key = stats_key(images_key, image_size, extractor)
    return StatsEntry(cache_root(cache_dir) / "eval" / f"{extractor.name}-{image_size}px-{key}")


def real_features(extractor: Extractor, images_key: str, image_size: int, compute: Callable[[], FeatureSet],
                  describe: str, cache_dir=None) -> tuple[FeatureSet, StatsEntry, bool]:
    """The reference set's features from the cache, or ``compute()`` them and cache them.
    Returns (features, entry, whether they came from the cache)."""
    entry = stats_entry(extractor, images_key, image_size, cache_dir)
    if entry.exists():
        try:
            found = entry.read()
            log.info("real statistics of %s with %s from the cache %s; not recomputed", describe, extractor.label, entry.path)
            return found, entry, True
        except (OSError, ValueError) as exc:
            log.warning("the statistics entry %s is damaged (%s); recomputing it", entry.path, exc)
            entry.remove()
    started = time.perf_counter()
    found = compute()
    seconds = time.perf_counter() - started
    try:
        entry.write(found, {"real": describe, "images_key": images_key, "image_size": image_size,
                            "extractor": extractor.as_json(), "seconds": round(seconds, 2)})
        log.info("real statistics of %s with %s computed in %.1f s and cached in %s",
                 describe, extractor.label, seconds, entry.path)
    except OSError as exc:  # a read-only cache costs time next run, not this result
        log.warning("could not write the statistics cache %s (%s); set --cache-dir or GANZOO_CACHE_DIR", entry.path, exc)
    return found, entry, False
