"""Reading the CIFAR-10 python batches (``cifar-10-batches-py/``) without running pickled code.

Each batch is a pickled dict: ``data`` (10000, 3072) uint8 in CHW order, ``labels`` (10000,).
The unpickler accepts only the numpy types such a dict holds, so a hostile file cannot run
code. A batch that fails to unpickle or has the wrong shapes is an error; its md5 is then
compared with torchvision's list of the official files, so that the message can say "this is
a partial or corrupted download" when it differs (batches written by tests or converted by
users are read as long as they parse: their md5 never matches and need not).
"""

from __future__ import annotations

import hashlib
import io
import pickle
from pathlib import Path

import numpy as np

SPLITS = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
SPLITS["all"] = SPLITS["train"] + SPLITS["test"]

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"), ("builtins", "bytes"), ("_codecs", "encode"),
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"unexpected object {module}.{name} in a CIFAR batch")
        return super().find_class(module, name)


def _official_md5() -> dict[str, str]:
    try:
        from torchvision.datasets import CIFAR10
    except ImportError:  # torchvision is a dependency; the message only gets vaguer without it
        return {}
    return {name: md5 for name, md5 in CIFAR10.train_list + CIFAR10.test_list}


def find_batches(data_dir: Path) -> Path:
    """``data_dir/cifar-10-batches-py`` (or ``data_dir`` itself when it holds the batches)."""
    for folder in (data_dir / "cifar-10-batches-py", data_dir):
        if (folder / "data_batch_1").exists() or (folder / "test_batch").exists():
            return folder
    from ganzoo_cifar10 import HOW_TO_GET

    raise FileNotFoundError(f"no CIFAR-10 batches in {data_dir / 'cifar-10-batches-py'} or {data_dir}. {HOW_TO_GET}")


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch -> images (N, 32, 32, 3) uint8, labels (N,) int64; ValueError when damaged."""
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing (a partial download?); run with --download or untar the archive again")
    raw = path.read_bytes()
    try:
        batch = _SafeUnpickler(io.BytesIO(raw), encoding="bytes").load()
        data = np.asarray(batch[b"data"] if b"data" in batch else batch["data"], dtype=np.uint8)
        labels = np.asarray(batch.get(b"labels", batch.get("labels")), dtype=np.int64)
        if data.ndim != 2 or data.shape[1] != 3072 or labels.shape != (data.shape[0],):
            raise ValueError(f"data {data.shape}, labels {labels.shape}")
        if labels.size and (labels.min() < 0 or labels.max() > 9):
            raise ValueError("labels outside 0..9")
    except Exception as exc:  # any failure to parse is a damaged file; say which kind
        official = _official_md5().get(path.name)
        if official and hashlib.md5(raw).hexdigest() != official:
            raise ValueError(f"{path} is a partial or corrupted download (its md5 is not the official one); "
                             "delete cifar-10-batches-py and run with --download") from None
        raise ValueError(f"{path} is not a CIFAR-10 python batch ({exc})") from None
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy(), labels  # CHW rows -> (N, 32, 32, 3)


def read_split(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray, str]:
    """All batches of ``split`` concatenated, and a stamp of their sizes and mtimes (for the cache key)."""
    images, labels, stamp = [], [], []
    for name in SPLITS[split]:
        path = folder / name
        x, y = read_batch(path)
        images.append(x)
        labels.append(y)
        st = path.stat()
        stamp.append(f"{name}:{st.st_size}:{st.st_mtime_ns}")
    return np.concatenate(images), np.concatenate(labels), ";".join(stamp)
