"""The preprocessed-image cache: decode once, train from uint8 arrays ever after.

One entry is a directory ``<cache dir>/<dataset>-<size>px-<key>/`` holding ``images.npy``
(uint8, (N, S, S, 3)), ``labels.npy`` (int64, (N,), only when the dataset has labels) and
``manifest.json`` (what it was built from, counts, class names). ``manifest.json`` is written
last, each file atomically, so an entry without a manifest is unfinished and never read.

The key is a SHA-256 over everything that decides the pixels: the dataset name, its
parameters, the image size, the loader's ``source_key``, every file's path, size, mtime,
crop box and label, and ``PREPROCESS_VERSION``. Touch, add or remove one source file, change
a parameter, or upgrade the preprocessing, and the key changes, so the next run rebuilds.

Where: ``--cache-dir DIR``, else ``$GANZOO_CACHE_DIR``, else ``$XDG_CACHE_HOME/ganzoo``,
else ``~/.cache/ganzoo``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ganzoo.data.decode import PREPROCESS_VERSION
from ganzoo.fileio import atomic_path, write_json

ENV_VAR = "GANZOO_CACHE_DIR"


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """The cache directory: the argument, $GANZOO_CACHE_DIR, $XDG_CACHE_HOME/ganzoo or ~/.cache/ganzoo."""
    if cache_dir:
        return Path(cache_dir).expanduser()
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "ganzoo"


def file_fingerprint(files: Sequence[Any]) -> list:
    """[path, size, mtime_ns, box, label] per ImageFile; a missing file fingerprints as size -1."""
    rows = []
    for f in files:
        try:
            st = os.stat(f.path)
            size, mtime = st.st_size, st.st_mtime_ns
        except OSError:
            size, mtime = -1, 0
        rows.append([os.path.abspath(f.path), size, mtime, list(f.box) if f.box else None, f.label])
    return rows


def cache_key(dataset: str, params: Mapping[str, Any], image_size: int, source_key: str,
              files: Sequence[Any] | None) -> str:
    """A short hex digest of everything that decides the cached pixels."""
    h = hashlib.sha256()
    head = {"dataset": dataset, "params": dict(params), "image_size": image_size,
            "source_key": source_key, "preprocess": PREPROCESS_VERSION}
    h.update(json.dumps(head, sort_keys=True, default=str).encode())
    if files is not None:
        h.update(json.dumps(file_fingerprint(files), default=str).encode())
    return h.hexdigest()[:20]


@dataclass
class CacheEntry:
    """One cached, preprocessed dataset."""

    path: Path

    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"

    def exists(self) -> bool:
        return self.manifest_path.is_file()

    def read(self) -> tuple[np.ndarray, np.ndarray | None, dict]:
        """(images (N, S, S, 3) uint8, labels (N,) or None, manifest); raises OSError/ValueError when damaged."""
        manifest = json.loads(self.manifest_path.read_text())
        images = np.load(self.path / "images.npy", allow_pickle=False)
        labels = np.load(self.path / "labels.npy", allow_pickle=False) if manifest.get("has_labels") else None
        if images.dtype != np.uint8 or images.ndim != 4 or len(images) != manifest.get("count"):
            raise ValueError(f"cache entry {self.path} does not match its manifest")
        return images, labels, manifest

    def write(self, images: np.ndarray, labels: np.ndarray | None, manifest: Mapping[str, Any]) -> None:
        """Write arrays then the manifest, each atomically (the manifest marks the entry complete)."""
        self.path.mkdir(parents=True, exist_ok=True)
        self.manifest_path.unlink(missing_ok=True)  # an entry being rewritten is incomplete until the end
        with atomic_path(self.path / "images.npy") as tmp:
            with open(tmp, "wb") as f:
                np.save(f, np.ascontiguousarray(images, dtype=np.uint8), allow_pickle=False)
        if labels is not None:
            with atomic_path(self.path / "labels.npy") as tmp:
                with open(tmp, "wb") as f:
                    np.save(f, np.asarray(labels, dtype=np.int64), allow_pickle=False)
        write_json(self.manifest_path, {**manifest, "count": int(len(images)), "has_labels": labels is not None})

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def cache_entry(root: Path, dataset: str, image_size: int, key: str) -> CacheEntry:
    return CacheEntry(root / f"{dataset}-{image_size}px-{key}")
