"""The export checks itself: onnx's checker, then onnxruntime (CPU) against PyTorch.

Tolerances (max absolute difference on images in [-1, 1]):
- fp32: 1e-4. Both sides compute in fp32 and differ only in summation order and kernels
  (onnxruntime's MLAS vs oneDNN); on CPU that lands near 1e-6..1e-5 for these generators, so
  1e-4 catches any real mismatch (a wrong fold, a misread layout) while staying ~80x below
  one 8-bit level (2/255 = 7.8e-3), i.e. invisible in the written PNGs.
- fp16: 1e-2, compared with the fp32 PyTorch model. fp16 keeps 11 significant bits
  (half-ulp 4.9e-4 near 1), rounded after every layer; a handful of layers gives a few 1e-3,
  and 1e-2 is about one 8-bit level.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ganzoo.errors import GanzooError

log = logging.getLogger("ganzoo")

CHECK_BATCHES = (1, 7, 64)
TOLERANCE = {"fp32": 1e-4, "fp16": 1e-2}


class ParityError(GanzooError):
    """onnxruntime's images differ from PyTorch's beyond the tolerance."""


@dataclass
class CheckResult:
    max_abs_error: float
    per_batch: dict[int, float]
    tolerance: float


def check_onnx_file(path: str | Path) -> None:
    import onnx

    try:
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as exc:
        raise GanzooError(f"onnx checker rejected the export: {str(exc).splitlines()[0][:300]}") from None


@torch.no_grad()
def check_parity(path: str | Path, reference: nn.Module, latent_shape: tuple[int, ...], precision: str,
                 batches: tuple[int, ...] = CHECK_BATCHES, seed: int = 0, num_classes: int | None = None) -> CheckResult:
    """Run the file on onnxruntime's CPU provider and ``reference`` (fp32, eval) on the same latents
    (and, for a class-conditional generator, the same class ids, drawn over every class)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    in_dtype = np.float16 if precision == "fp16" else np.float32
    rng = np.random.Generator(np.random.PCG64(seed))
    per_batch = {}
    for n in batches:
        z = rng.standard_normal((n, *latent_shape), dtype=np.float32)  # (n, *latent)
        if num_classes is None:
            got = sess.run(["images"], {"z": z.astype(in_dtype)})[0].astype(np.float32)  # (n, 3, H, W)
            want = reference(torch.from_numpy(z)).float().numpy()
        else:
            y = rng.integers(0, num_classes, size=n, dtype=np.int64)  # (n,)
            got = sess.run(["images"], {"z": z.astype(in_dtype), "y": y})[0].astype(np.float32)
            want = reference(torch.from_numpy(z), torch.from_numpy(y)).float().numpy()
        if got.shape != want.shape:
            raise ParityError(f"onnxruntime gave images of shape {got.shape} for batch {n}, PyTorch {want.shape}")
        per_batch[n] = float(np.abs(got - want).max())
    tol = TOLERANCE[precision]
    result = CheckResult(max(per_batch.values()), per_batch, tol)
    if not result.max_abs_error <= tol:  # also catches NaN
        raise ParityError(
            f"onnxruntime differs from PyTorch by {result.max_abs_error:.3g} (tolerance {tol:g} for {precision}); "
            "the file was not written"
        )
    return result
