"""Where generated images go: a directory of PNGs, a .zip of PNGs, or one .npy array.

- PNG encoding (zlib) is the slow part of writing images, so it runs in a thread pool, batch
  k encoding while batch k+1 is generated. Threads, not processes: Pillow releases the GIL
  while it compresses, and threads need no pickling of pixels and bytes across processes.
  Measured on the 2-core dev machine (benchmarks/generate_bench.py --png 10000), 10,000 64x64
  PNGs into a zip, machine otherwise quiet: inline 11.1 s, threads 5.9 s, processes 7.3 s.
  With other jobs loading both cores the order varied from run to run (all within ~1.5x).
- A .zip is written to a temporary file beside the target and renamed into place when
  complete (``ganzoo.fileio.atomic_path``): a crash never leaves a half-written zip. Members
  are stored, not deflated: PNG data is compressed already.
- A .npy is one uint8 array (N, H, W, 3), memory-mapped while it fills, renamed when complete.
- A directory gets one PNG per image, each written atomically (temporary file, fsync, rename)
  by the encoding threads themselves, so the per-file fsyncs overlap; it must be new or empty.
Nothing existing is overwritten unless ``force``.
"""

from __future__ import annotations

import io
import os
import zipfile
from concurrent.futures import Executor, Future
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from ganzoo.errors import GanzooError, UsageError
from ganzoo.fileio import atomic_path


def encode_png(pixels: np.ndarray) -> bytes:
    """(H, W, 3) uint8 -> PNG bytes."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def _encode_many(batch: np.ndarray) -> list[bytes]:
    return [encode_png(img) for img in batch]


def _save_many(directory: Path, names: list[str], batch: np.ndarray) -> list[bytes]:
    """Encode and write each image atomically (fsync, rename) inside the pool, where the
    fsyncs of many files overlap instead of queueing behind generation. Returns nothing to put."""
    for name, img in zip(names, batch):
        with atomic_path(directory / name) as tmp:
            tmp.write_bytes(encode_png(img))
    return []


def make_pool(workers: int | None, kind: str = "threads") -> Executor | None:
    """A pool for PNG encoding (threads; "processes" for comparison); None (inline) for 0/1 worker."""
    workers = (os.cpu_count() or 1) if workers is None else workers
    if workers <= 1:
        return None
    if kind == "threads":
        from concurrent.futures import ThreadPoolExecutor

        return ThreadPoolExecutor(workers, thread_name_prefix="png")
    from concurrent.futures import ProcessPoolExecutor
    import multiprocessing as mp

    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
    return ProcessPoolExecutor(workers, mp_context=ctx)


def image_name(index: int, num: int) -> str:
    return f"{index:0{max(6, len(str(num - 1)))}d}.png"


class _PngSink:
    """Encodes batches in a pool and hands (index, png bytes) to ``_put`` in order."""

    def __init__(self, num: int, pool: Executor | None, workers: int):
        self.num, self.pool, self.workers = num, pool, max(1, workers)
        self.pending: list[tuple[int, list[Future]]] = []
        self.index = 0

    def write(self, batch: np.ndarray) -> None:
        """Queue a (n, H, W, 3) uint8 batch; keeps at most two batches in flight."""
        start, self.index = self.index, self.index + len(batch)
        if self.pool is None:
            fn, *args = self._task(start, batch)
            self._flush_one((start, [_done(fn(*args))]))
            return
        futures, offset = [], start
        for chunk in np.array_split(batch, min(len(batch), self.workers * 4)):
            if len(chunk):
                futures.append(self.pool.submit(*self._task(offset, chunk)))
                offset += len(chunk)
        self.pending.append((start, futures))
        while len(self.pending) > 2:
            self._flush_one(self.pending.pop(0))

    def _task(self, start: int, chunk: np.ndarray) -> tuple:
        """(function, *args) for the pool: module-level, so a process pool can pickle it."""
        return (_encode_many, chunk)

    def _flush_one(self, item: tuple[int, list[Future]]) -> None:
        start, futures = item
        i = start
        for fut in futures:
            for png in fut.result():
                self._put(i, png)
                i += 1

    def flush(self) -> None:
        while self.pending:
            self._flush_one(self.pending.pop(0))

    def _put(self, index: int, png: bytes) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


def _done(value) -> Future:
    fut: Future = Future()
    fut.set_result(value)
    return fut


class DirWriter(_PngSink):
    def __init__(self, path: Path, num: int, pool, workers: int, force: bool):
        super().__init__(num, pool, workers)
        _refuse_nonempty_dir(path, force)
        path.mkdir(parents=True, exist_ok=True)
        self.path = path

    def _task(self, start: int, chunk: np.ndarray) -> tuple:
        names = [image_name(start + j, self.num) for j in range(len(chunk))]
        return (_save_many, self.path, names, chunk)

    def close(self) -> None:
        self.flush()


class ZipWriter(_PngSink):
    def __init__(self, path: Path, num: int, pool, workers: int, force: bool, stack: ExitStack):
        super().__init__(num, pool, workers)
        _refuse_existing(path, force)
        tmp = stack.enter_context(atomic_path(path))  # renamed into place when the stack closes cleanly
        self.zip = zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED)

    def _put(self, index: int, png: bytes) -> None:
        self.zip.writestr(image_name(index, self.num), png)

    def close(self) -> None:
        self.flush()
        self.zip.close()


class NpyWriter:
    def __init__(self, path: Path, num: int, image_size: int, force: bool, stack: ExitStack):
        _refuse_existing(path, force)
        tmp = stack.enter_context(atomic_path(path))
        # (N, H, W, 3) uint8, filled batch by batch
        self.array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(num, image_size, image_size, 3))
        self.index = 0

    def write(self, batch: np.ndarray) -> None:
        self.array[self.index:self.index + len(batch)] = batch
        self.index += len(batch)

    def close(self) -> None:
        self.array.flush()
        del self.array


def _refuse_nonempty_dir(path: Path, force: bool) -> None:
    if path.exists() and not path.is_dir():
        raise UsageError(f"--out {path} exists and is not a directory")
    if path.is_dir() and any(path.iterdir()) and not force:
        raise UsageError(f"--out {path} exists and is not empty (use --force to write into it)")


def _refuse_existing(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise UsageError(f"--out {path} exists (use --force to overwrite it)")
    if path.is_dir():
        raise UsageError(f"--out {path} is a directory; give a new .zip/.npy file name")


def output_kind(out: str | Path) -> str:
    """"zip", "npy", "dir" (no suffix, a trailing slash, or an existing directory) or "bad"."""
    path = Path(out)
    suffix = path.suffix.lower()
    if suffix in (".zip", ".npy"):
        return suffix[1:]
    if not suffix or str(out).endswith(("/", os.sep)) or path.is_dir():
        return "dir"
    return "bad"


def refuse_uncreatable(path: Path, flag: str, *, directory: bool = False) -> None:
    """Refuse ``path`` unless files can be made there: the nearest existing one of ``path`` (a
    ``directory`` only) and its ancestors must be a writable directory.

    Asked before any image is generated: a run can take minutes, and learning only at the end
    that a file cannot be placed (a parent that is a file, a read-only directory) wastes it.
    """
    parent = path if directory else path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(f"{flag} {path}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):  # the environment, not the request: exit 1 as elsewhere
        raise GanzooError(f"{flag} {path}: cannot write in {parent} (permission denied)")


def check_output(out: str | Path, force: bool) -> str:
    """Refuse a bad ``--out`` before any work (its form, an existing output, a place it cannot go); its kind."""
    path = Path(out)
    kind = output_kind(out)
    if path.name.lower() in (".zip", ".npy"):  # Path(".zip").suffix is "": it would become a folder
        raise UsageError(f"--out {out}: give the file a name before the extension, e.g. images{path.name.lower()}")
    if kind == "bad":
        raise UsageError(f"--out {out}: give a directory, a .zip or a .npy file")
    if kind == "dir":
        _refuse_nonempty_dir(path, force)
        refuse_uncreatable(path, "--out", directory=True)
    else:
        _refuse_existing(path, force)
        refuse_uncreatable(path, "--out")
    return kind


def open_writer(out: str | Path, num: int, image_size: int, force: bool, stack: ExitStack, workers: int | None = None):
    """The writer for ``out`` by its form: DIR, FILE.zip or FILE.npy. ``stack`` owns temp files and the pool."""
    path = Path(out)
    kind = check_output(out, force)
    if kind == "npy":
        return NpyWriter(path, num, image_size, force, stack)
    workers = (os.cpu_count() or 1) if workers is None else workers
    pool = make_pool(workers)
    if pool is not None:
        stack.callback(pool.shutdown, cancel_futures=True)
    if kind == "zip":
        return ZipWriter(path, num, pool, workers, force, stack)
    return DirWriter(path, num, pool, workers, force)
