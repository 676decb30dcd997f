"""``ganzoo generate ... --devices all|0,1,..|cpu:N``: one worker process per device, one ordered output.

The parent draws the latents exactly as a single-device run does (``latents.py``: one seeded
stream, batch after batch) and deals the batches out round-robin, at most ``AHEAD`` in flight
per worker; each worker runs its own backend (a PyTorch generator or an onnxruntime session)
on its device and sends back uint8 images; the parent writes them in batch order. A generator
in eval mode maps each latent to its image independently of the other images in the batch,
so the output is the single-device output, whatever the number of devices.

Why processes and not threads: one CUDA context and one onnxruntime session per GPU, each fed
without contending for the parent's GIL; and ``cpu:N`` runs the same code on N CPU worker
processes (cores / N threads each), so the path is tested on machines without a GPU.
Each worker sees only its own GPU (CUDA_VISIBLE_DEVICES is set before CUDA starts in it).
"""

from __future__ import annotations

import os
import signal
from collections import deque
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np

from ganzoo.errors import GanzooError, UsageError

AHEAD = 2  # batches queued per worker: one running, one waiting


@dataclass(frozen=True)
class DeviceSet:
    kind: str  # "cuda" or "cpu"
    ids: tuple[int, ...]  # GPU indices, or range(N) for N CPU workers

    def __len__(self) -> int:
        return len(self.ids)

    def describe(self) -> str:
        return f"{len(self)} CPU worker processes" if self.kind == "cpu" else f"GPUs {','.join(map(str, self.ids))}"


def parse_devices(spec: str, gpu_count: int) -> DeviceSet:
    """``all`` (every GPU), ``0,1,3`` (these GPUs) or ``cpu:N`` (N CPU worker processes)."""
    text = spec.strip().lower()
    if text.startswith("cpu:"):
        n = text[4:]
        if not n.isdigit() or int(n) < 1:
            raise UsageError(f"--devices cpu:N takes a number of worker processes N >= 1, got {spec!r}")
        return DeviceSet("cpu", tuple(range(int(n))))
    if text == "all":
        if gpu_count < 1:
            raise UsageError("--devices all: no GPU found (for CPU worker processes write --devices cpu:N)")
        return DeviceSet("cuda", tuple(range(gpu_count)))
    try:
        ids = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise UsageError(f"--devices takes all, GPU indices such as 0,1 or cpu:N; got {spec!r}") from None
    if len(set(ids)) != len(ids) or any(i < 0 for i in ids):
        raise UsageError(f"--devices {spec}: each GPU index once, none negative")
    missing = [i for i in ids if i >= gpu_count]
    if missing:
        raise UsageError(f"--devices {spec}: no GPU {missing[0]} (this machine has {gpu_count})")
    return DeviceSet("cuda", ids)


def _worker(source: str, backend: str | None, kind: str, device_id: int, threads: int, batch_size: int,
            inbox, outbox) -> None:
    """One device's generator: (index, z, y) in (y None unless conditional), (index, images) out; None ends it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it stops us
    if kind == "cuda":
        os.environ["CUDA_VISIBLE_DEVICES"] = str(device_id)  # before torch or onnxruntime start CUDA
    try:
        if backend == "torch" or (backend is None and not str(source).lower().endswith(".onnx")):
            import torch

            torch.set_num_threads(threads)
        gen = _open(source, backend, "cuda" if kind == "cuda" else "cpu", batch_size, threads)
        classes = (getattr(gen, "num_classes", None), getattr(gen, "class_names", None))
        outbox.put(("ready", device_id, (tuple(gen.latent_shape), gen.image_size, gen.description, classes)))
        for item in iter(inbox.get, None):
            index, z, y = item
            outbox.put(("images", index, gen.generate(z) if y is None else gen.generate(z, y)))
    except GanzooError as exc:
        outbox.put(("error", device_id, str(exc)))
    except Exception as exc:  # noqa: BLE001 - reported in the parent as one line
        outbox.put(("error", device_id, f"{type(exc).__name__}: {exc}"))


def _open(source, backend, device: str, batch_size: int, threads: int):
    from ganzoo.generate.run import open_backend
    from ganzoo.source import resolve_source

    src = resolve_source(source)
    if (backend or ("onnx" if src.is_onnx else "torch")) == "onnx":
        from ganzoo.generate.onnx_backend import OnnxGenerator

        return OnnxGenerator(src.path, device=device, batch_size=batch_size, threads=threads)
    return open_backend(src, backend, device, batch_size)


class ShardedGenerator:
    """A backend over several worker processes: ``imap`` keeps them all busy and yields in order."""

    name = "sharded"

    def __init__(self, source, backend: str | None, devices: DeviceSet, batch_size: int):
        import multiprocessing as mp

        from ganzoo.generate.onnx_backend import physical_cores

        ctx = mp.get_context("spawn")  # CUDA cannot be forked; neither can a process's OpenMP pool
        threads = max(1, physical_cores() // len(devices)) if devices.kind == "cpu" else 1
        self.outbox = ctx.Queue()
        self.inboxes = [ctx.Queue() for _ in devices.ids]
        self.procs = [ctx.Process(target=_worker, daemon=True,
                                  args=(str(source), backend, devices.kind, i, threads, batch_size, inbox, self.outbox))
                      for i, inbox in zip(devices.ids, self.inboxes)]
        for p in self.procs:
            p.start()
        try:
            ready = [self._get("ready") for _ in self.procs]
        except BaseException:
            self.close()
            raise
        shapes = {(shape, size) for _, (shape, size, _, _) in ready}
        if len(shapes) != 1:
            self.close()
            raise GanzooError("the device workers loaded different generators")
        (self.latent_shape, self.image_size), = shapes
        self.description = f"{len(devices)} x {ready[0][1][2]} ({devices.describe()})"
        self.num_classes, self.class_names = ready[0][1][3]  # (None, None) for an unconditional generator

    def _get(self, kind: str):
        import queue

        while True:
            try:
                message = self.outbox.get(timeout=1.0)
            except queue.Empty:
                dead = [p for p in self.procs if not p.is_alive()]
                if dead:
                    raise GanzooError(f"a generation worker process died (exit code {dead[0].exitcode})") from None
                continue
            tag, key, value = message
            if tag == "error":
                raise GanzooError(f"device worker {key}: {value}")
            if tag != kind:
                raise GanzooError(f"device worker {key} sent {tag!r}, expected {kind!r}")
            return key, value

    def imap(self, batches: Iterable[tuple[np.ndarray, np.ndarray | None]]) -> Iterator[tuple[tuple, np.ndarray]]:
        """((z, y), images) for each (latents, class ids or None) batch, in order."""
        pending: dict[int, np.ndarray] = {}
        sent: deque[tuple[int, tuple]] = deque()
        it = iter(batches)
        next_index, exhausted = 0, False
        while True:
            while not exhausted and len(sent) < AHEAD * len(self.procs):
                batch = next(it, None)
                if batch is None:
                    exhausted = True
                    break
                self.inboxes[next_index % len(self.procs)].put((next_index, *batch))
                sent.append((next_index, batch))
                next_index += 1
            if not sent:
                return
            first, batch = sent[0]
            while first not in pending:
                index, images = self._get("images")
                pending[index] = images
            sent.popleft()
            yield batch, pending.pop(first)

    def generate(self, z: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
        return next(self.imap([(z, y)]))[1]

    def close(self) -> None:
        for inbox in self.inboxes:
            try:
                inbox.put(None)
            except (OSError, ValueError):
                pass
        for p in self.procs:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)
