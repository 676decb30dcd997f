"""The onnxruntime backend: runs an exported generator without importing torch.

Provider choice: CUDA when onnxruntime offers it and the session really runs on it (onnxruntime
falls back to CPU silently when the CUDA libraries fail to load, so ``get_providers()`` is
checked after the session is made), else CPU, and ``provider`` says which one runs.

CUDA settings, and why:
- ``cudnn_conv_algo_search=HEURISTIC``: the default EXHAUSTIVE search picked algorithms 6x
  slower for these ConvTranspose graphs at batch 4096 on an H100 (ANCHORS.md).
- ``prefer_nhwc=1`` where the build has it: cuDNN's fast fp16 kernels are NHWC (+25% measured).
- IO binding with one fixed batch size: latents are copied into a device buffer bound once,
  the images stay on the device until the single copy back per batch, and a short last
  batch is padded so the shapes (and the chosen algorithms) never change.
CPU settings: all graph optimisations, one intra-op thread per physical core (hyperthreads
only contend for the same FPU), sequential execution (the graph is a chain), and no spinning:
by default onnxruntime's idle worker threads spin between operators, which on a busy machine
steals the cores the working threads need. Each operator here is milliseconds long, so
spinning saves nothing; measured on the shared 2-core dev machine, dcgan64 batch 256:
215 images/s without spinning against 120 with it (torch eager: 121), in one interleaved run.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np

from ganzoo.errors import GanzooError, UsageError

log = logging.getLogger("ganzoo")

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


def physical_cores() -> int:
    """Physical cores this process may use (Linux /proc/cpuinfo), else the logical count."""
    logical = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        cores, phys = set(), None
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "physical id":
                phys = value.strip()
            elif key == "core id":
                cores.add((phys, value.strip()))
        return max(1, min(len(cores) or logical, logical))
    except OSError:
        return max(1, logical)


def cuda_device_present() -> bool:
    """Whether the CUDA driver sees a GPU, asked of libcuda directly (no torch, no onnxruntime).

    onnxruntime-gpu lists its CUDA provider even on a machine without a GPU and then prints
    errors when it fails to load; asking the driver first keeps CPU machines quiet.
    """
    import ctypes

    try:
        cuda = ctypes.CDLL("libcuda.so.1" if os.name != "nt" else "nvcuda.dll")
        count = ctypes.c_int(0)
        return cuda.cuInit(0) == 0 and cuda.cuDeviceGetCount(ctypes.byref(count)) == 0 and count.value > 0
    except (OSError, AttributeError):
        return False


def cuda_device_count() -> int:
    """GPUs the CUDA driver sees (0 without a driver), asked of libcuda directly like ``cuda_device_present``."""
    import ctypes

    try:
        cuda = ctypes.CDLL("libcuda.so.1" if os.name != "nt" else "nvcuda.dll")
        count = ctypes.c_int(0)
        if cuda.cuInit(0) != 0 or cuda.cuDeviceGetCount(ctypes.byref(count)) != 0:
            return 0
        return count.value
    except (OSError, AttributeError):
        return 0


def cuda_provider_options(prefer_nhwc: bool = True) -> dict[str, str]:
    options = {"device_id": "0", "cudnn_conv_algo_search": "HEURISTIC"}
    if prefer_nhwc:
        options["prefer_nhwc"] = "1"
    return options


def _session_options(ort, threads: int | None, spinning: bool = False):
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.intra_op_num_threads = threads or physical_cores()
    so.inter_op_num_threads = 1
    so.log_severity_level = 3  # warnings about unused initializers etc. are noise for a user
    if not spinning:
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return so


def make_session(path: str | Path, device: str = "auto", threads: int | None = None, spinning: bool = False):
    """An InferenceSession on CUDA (``device`` auto/cuda, when it loads) or the CPU."""
    import onnxruntime as ort

    so = _session_options(ort, threads, spinning)
    want_cuda = device in ("auto", "cuda") and CUDA in ort.get_available_providers() and cuda_device_present()
    if device == "cuda" and not want_cuda:
        raise UsageError("--device cuda was asked for, but there is no GPU or this onnxruntime has no CUDA provider (try --device auto)")
    if want_cuda:
        ort.set_default_logger_severity(3)  # a failed CUDA load is reported below, in one line
        if hasattr(ort, "preload_dlls"):  # CUDA/cuDNN from the nvidia-* wheels, where installed
            try:
                ort.preload_dlls()
            except Exception:  # pragma: no cover - best effort; the session check below decides
                pass
    try:
        if want_cuda:
            for nhwc in (True, False):  # older builds reject prefer_nhwc
                try:
                    sess = ort.InferenceSession(str(path), so, providers=[(CUDA, cuda_provider_options(nhwc)), CPU])
                    break
                except Exception:
                    if not nhwc:
                        raise
            if sess.get_providers()[0] == CUDA:
                return sess
            if device == "cuda":
                raise GanzooError("onnxruntime could not load its CUDA provider (CUDA/cuDNN libraries missing?)")
            log.warning("onnxruntime's CUDA provider did not load (CUDA 13 / cuDNN 9 libraries missing?); falling back to the CPU")
        return ort.InferenceSession(str(path), so, providers=[CPU])
    except GanzooError:
        raise
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise GanzooError(f"onnxruntime cannot load {path}: {first[:300]}") from None


def read_metadata(sess) -> dict[str, str]:
    return dict(sess.get_modelmeta().custom_metadata_map)


def to_uint8(images: np.ndarray) -> np.ndarray:
    """(N, 3, H, W) float in [-1, 1] -> (N, H, W, 3) uint8, rounded like ganzoo.images.to_uint8."""
    x = np.clip(images.astype(np.float32, copy=False), -1.0, 1.0)
    x = np.rint((x + 1.0) * 127.5)
    return x.astype(np.uint8).transpose(0, 2, 3, 1)


_NP_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16}
REQUIRED_METADATA = ("ganzoo.latent_shape", "ganzoo.image_size", "ganzoo.channels", "ganzoo.output_range")


def not_a_generator(path: str | Path, why: str) -> UsageError:
    return UsageError(f"{path} is not a ganzoo generator: {why}")


def _json_metadata(meta: dict[str, str], key: str):
    try:
        return json.loads(meta[key])
    except ValueError:
        return None


def _static(dim) -> int | None:
    """A graph dimension's size when it is fixed (onnxruntime gives a name or None otherwise)."""
    return dim if isinstance(dim, int) and dim > 0 else None


def generator_signature(sess, path: str | Path) -> tuple[tuple[int, ...], int]:
    """(latent_shape, image_size) of a ganzoo export, after checking its graph against its metadata.

    Why check at load: any ONNX file loads, and a foreign one (or edited metadata) would
    otherwise fail mid-run in numpy ("axes don't match", "could not broadcast") after the
    output was created. Checked: one float input (N, latent) and one float output (N, 3, H, W),
    the contract metadata, and every dimension the graph fixes against what the metadata says.
    """
    inputs, outputs = sess.get_inputs(), sess.get_outputs()
    if len(inputs) == 2:  # a class-conditional generator: z and y (checked by conditioning())
        inputs = [i for i in inputs if i.type != "tensor(int64)"]
    if len(inputs) != 1:
        raise not_a_generator(path, f"it has inputs {[i.name for i in sess.get_inputs()]}, a generator has one "
                                    "(the latent z) or two (z and the int64 class ids y)")
    if len(outputs) != 1:
        raise not_a_generator(path, f"it has outputs {[o.name for o in outputs]}, a generator has one (the images)")
    z, images = inputs[0], outputs[0]
    for arg, role in ((z, "input"), (images, "output")):
        if arg.type not in _NP_TYPES:
            raise not_a_generator(path, f"its {role} {arg.name} is {arg.type}, not float or float16")
    if len(z.shape) != 2:
        raise not_a_generator(path, f"its input {z.name} has shape {z.shape}, not (N, latent)")
    if len(images.shape) != 4:
        raise not_a_generator(path, f"its output {images.name} has shape {images.shape}, not (N, 3, H, W)")
    meta = read_metadata(sess)
    missing = [key for key in REQUIRED_METADATA if key not in meta]
    if missing:
        raise not_a_generator(path, f"metadata {', '.join(missing)} missing")
    latent = _json_metadata(meta, "ganzoo.latent_shape")
    if not (isinstance(latent, list) and len(latent) == 1 and isinstance(latent[0], int) and latent[0] > 0):
        raise not_a_generator(path, f"ganzoo.latent_shape is {meta['ganzoo.latent_shape']!r}, not [size] for input {z.shape}")
    if _static(z.shape[1]) not in (None, latent[0]):
        raise not_a_generator(path, f"ganzoo.latent_shape says {latent}, its input {z.name} takes {z.shape[1]}")
    size = meta["ganzoo.image_size"]
    if not (size.isdigit() and int(size) > 0):
        raise not_a_generator(path, f"ganzoo.image_size is {size!r}, not a positive integer")
    size = int(size)
    if meta["ganzoo.channels"] != "3" or _static(images.shape[1]) not in (None, 3):
        raise not_a_generator(path, f"ganzoo writes RGB images; channels {meta['ganzoo.channels']!r}, "
                                    f"output shape {images.shape}")
    if _json_metadata(meta, "ganzoo.output_range") != [-1, 1]:
        raise not_a_generator(path, f"ganzoo.output_range is {meta['ganzoo.output_range']!r}, not [-1, 1]")
    fixed = [d for d in map(_static, images.shape[2:]) if d is not None]
    if any(d != size for d in fixed):
        raise not_a_generator(path, f"ganzoo.image_size says {size}, its output {images.name} is {images.shape}")
    return tuple(latent), size


def conditioning(sess, path: str | Path) -> tuple[int, list[str]] | None:
    """(num_classes, class_names) of a class-conditional export, None for an unconditional one.

    A conditional file has a second input, int64 of shape (N,), and says its classes in
    ``ganzoo.num_classes`` / ``ganzoo.class_names``; a mismatch between the two is refused.
    """
    labels = [i for i in sess.get_inputs() if i.type == "tensor(int64)"]
    meta = read_metadata(sess)
    if not labels:
        if "ganzoo.num_classes" in meta:
            raise not_a_generator(path, "its metadata gives ganzoo.num_classes but the graph has no int64 class input y")
        return None
    y = labels[0]
    if len(y.shape) != 1:
        raise not_a_generator(path, f"its class input {y.name} has shape {y.shape}, not (N,)")
    count = meta.get("ganzoo.num_classes", "")
    if not (count.isdigit() and int(count) > 0):
        raise not_a_generator(path, f"it takes class ids {y.name} but ganzoo.num_classes is {count or 'missing'}")
    names = _json_metadata(meta, "ganzoo.class_names") if "ganzoo.class_names" in meta else None
    if names is None:
        names = [str(i) for i in range(int(count))]
    if not (isinstance(names, list) and len(names) == int(count)):
        raise not_a_generator(path, f"ganzoo.class_names does not list ganzoo.num_classes={count} names")
    return int(count), [str(n) for n in names]


class OnnxGenerator:
    """Latents (numpy) in, uint8 images (numpy, NHWC) out, through onnxruntime."""

    name = "onnx"

    def __init__(self, path: str | Path, device: str = "auto", batch_size: int = 256, threads: int | None = None):
        self.path = Path(path)
        self.session = make_session(self.path, device, threads)
        self.provider = self.session.get_providers()[0]
        self.latent_shape, self.image_size = generator_signature(self.session, self.path)
        cond = conditioning(self.session, self.path)
        self.num_classes, self.class_names = cond if cond else (None, None)
        self.input = next(i for i in self.session.get_inputs() if i.type != "tensor(int64)")
        self.label_input = next((i.name for i in self.session.get_inputs() if i.type == "tensor(int64)"), None)
        self.output_name = self.session.get_outputs()[0].name
        self.dtype = _NP_TYPES[self.input.type]
        self.metadata = read_metadata(self.session)
        self.batch_size = batch_size
        self._binding = None
        self._ran = False  # a failure before the first good batch means a bad file, not a bad day

    @property
    def description(self) -> str:
        where = "CUDA" if self.provider == CUDA else f"CPU, {self.session.get_session_options().intra_op_num_threads} threads"
        precision = "fp16" if self.dtype == np.float16 else "fp32"
        return f"onnxruntime {precision} on {where} ({self.provider})"

    def _run_cuda(self, z: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
        """One fixed-size batch through IO binding; returns host float images (B, 3, H, W)."""
        import onnxruntime as ort

        if self._binding is None:
            shape = (self.batch_size, *self.latent_shape)
            self._z_dev = ort.OrtValue.ortvalue_from_shape_and_type(shape, self.dtype, "cuda", 0)
            self._binding = self.session.io_binding()
            self._binding.bind_ortvalue_input(self.input.name, self._z_dev)
            if self.label_input is not None:
                self._y_dev = ort.OrtValue.ortvalue_from_shape_and_type((self.batch_size,), np.int64, "cuda", 0)
                self._binding.bind_ortvalue_input(self.label_input, self._y_dev)
            # (B, 3, H, W) on the device, allocated once: no allocation per batch
            self._out_dev = ort.OrtValue.ortvalue_from_shape_and_type(
                (self.batch_size, 3, self.image_size, self.image_size), self.dtype, "cuda", 0)
            self._binding.bind_ortvalue_output(self.output_name, self._out_dev)
        self._z_dev.update_inplace(np.ascontiguousarray(z))
        if self.label_input is not None:
            self._y_dev.update_inplace(np.ascontiguousarray(y, dtype=np.int64))
        self.session.run_with_iobinding(self._binding)
        return self._out_dev.numpy()  # the one device -> host copy

    def images(self, z: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
        """(n, *latent) float32 [and (n,) int64 class ids] -> (n, 3, H, W) float images, n <= batch_size on CUDA.

        The shape is checked on every batch (a tuple comparison): a graph whose dimensions are
        symbolic can only show at run time that it disagrees with its metadata.
        """
        n = z.shape[0]
        try:
            if (y is None) != (self.label_input is None):
                raise GanzooError(f"{self.path}: class ids are {'needed' if y is None else 'not taken'} by this generator")
            images = self._run(z.astype(self.dtype, copy=False), y)[:n]
        except Exception as exc:  # onnxruntime's errors; KeyboardInterrupt is not an Exception
            first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
            if not self._ran:
                raise not_a_generator(self.path, f"onnxruntime cannot run it on a latent batch: {first}") from None
            raise GanzooError(f"onnxruntime failed on {self.path}: {first}") from None
        want = (n, 3, self.image_size, self.image_size)
        if images.shape != want:
            raise not_a_generator(self.path, f"it made images of shape {images.shape}; its metadata says {want}")
        self._ran = True
        return images

    def _run(self, z: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
        if self.provider == CUDA:
            n = z.shape[0]
            if n < self.batch_size:  # pad: a constant shape keeps the cuDNN plans and bindings valid
                z = np.concatenate([z, np.zeros((self.batch_size - n, *self.latent_shape), self.dtype)])
                if y is not None:
                    y = np.concatenate([y, np.zeros(self.batch_size - n, np.int64)])
            return self._run_cuda(z, y)
        feeds = {self.input.name: z}
        if y is not None:
            feeds[self.label_input] = np.ascontiguousarray(y, dtype=np.int64)
        return self.session.run([self.output_name], feeds)[0]

    def generate(self, z: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
        """(n, *latent) float32 [and (n,) int64 class ids] -> (n, H, W, 3) uint8."""
        return to_uint8(self.images(z, y))
