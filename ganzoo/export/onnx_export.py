"""torch -> ONNX for a ganzoo generator.

Why the dynamo exporter (``torch.onnx.export(..., dynamo=True)``, the default in torch 2.14):
its graph for the built-ins is just the layers (Reshape, ConvTranspose/Gemm/Resize/Conv, Relu,
Tanh), with the batch dimension symbolic, whereas the TorchScript exporter leaves a
Shape/Gather/Concat chain for every ``view(z.shape[0], ...)`` and is deprecated. We take its
``model_proto`` and save it ourselves so the file is self-contained (the dynamo exporter
writes weights to a side ``.data`` file by default) and carries our metadata.

The batch dimension is declared dynamic and the example batch has 2 rows: with 1 row
torch.export specialises the batch dimension to the constant 1.
"""

from __future__ import annotations

import functools
import io
import logging
import re
import warnings
from contextlib import contextmanager, redirect_stdout

import torch
from torch import nn

from ganzoo.errors import GanzooError

log = logging.getLogger("ganzoo")

DEFAULT_OPSET = 18  # ConvTranspose/Resize/Gemm are stable long before; 18 is the dynamo exporter's floor
MIN_OPSET = 18


class ExportError(GanzooError):
    """The generator cannot be expressed in ONNX (an unsupported operator, data-dependent control flow)."""


_OP_PATTERNS = (
    r"(aten::[\w.]+|aten\.[\w.]+|torch\.ops\.[\w.]+)",  # "No decompositions registered for aten::foo"
    r"operator '?([\w:.]+)'?",
)


def _operator_in(message: str) -> str | None:
    for pattern in _OP_PATTERNS:
        match = re.search(pattern, message)
        if match:
            return match.group(1)
    return None


def _describe_failure(exc: BaseException) -> str:
    """One line naming the operator that did not export, when the exporter's message has one."""
    chain, e = [], exc
    while e is not None and len(chain) < 6:
        chain.append(f"{type(e).__name__}: {e}")
        e = e.__cause__ or e.__context__
    text = "\n".join(chain)
    op = _operator_in(text)
    if op:
        return f"operator {op} has no ONNX translation (rewrite that part of the generator with supported ops)"
    plain = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    return next((line.strip() for line in plain.splitlines() if line.strip()), type(exc).__name__)[:300]


@contextmanager
def _quiet_loggers():
    """The exporter and onnxscript log every optimisation pass at INFO; keep that for --verbose."""
    verbose = log.isEnabledFor(logging.DEBUG)
    loggers = [logging.getLogger(name) for name in ("onnxscript", "onnx_ir", "torch.onnx", "torch.export", "torch._dynamo")]
    # A failed opset conversion is logged as a warning with a traceback; the caller checks the
    # opset it got and reports a mismatch in one line, so that warning is for --verbose only.
    loggers.append(logging.getLogger("onnxscript.version_converter"))
    saved = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.DEBUG if verbose else logging.WARNING)
    loggers[-1].setLevel(logging.DEBUG if verbose else logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, saved):
            lg.setLevel(level)


@functools.lru_cache(maxsize=None)
def onnxruntime_max_opset(ceiling: int) -> int:
    """The newest default-domain opset (at most ``ceiling``) that this onnxruntime loads, or 0.

    Why probe: onnxruntime publishes no such number in Python, and it refuses opsets that onnx
    already defines but has not released (onnx 1.23 defines 28; onnxruntime 1.31 loads up to
    26 and rejects 27 in ValidateOpsetForDomain). Loading a one-node model takes well under a
    millisecond, so asking beats a table that goes stale with every upgrade.
    """
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    so = ort.SessionOptions()
    so.log_severity_level = 4  # the refusals are the answer, not news
    value = [helper.make_tensor_value_info(name, TensorProto.FLOAT, [1]) for name in ("x", "y")]
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "probe", value[:1], value[1:])
    for opset in range(ceiling, 0, -1):
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
        # the oldest IR version that can carry this opset, as an exporter would write it
        model.ir_version = helper.OP_SET_ID_VERSION_MAP.get(("ai.onnx", opset), onnx.IR_VERSION)
        try:
            ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
            return opset
        except Exception:
            continue
    return 0


def supported_opsets() -> tuple[int, int]:
    """(lowest, highest) opset ``ganzoo export`` can write and check with the installed packages.

    The floor is the dynamo exporter's; the ceiling is the lower of what onnx's version converter
    reaches (``onnx.defs.onnx_opset_version()``; the exporter converts its opset-18 graph) and
    what onnxruntime loads (the self-check runs the file on it).
    """
    import onnx.defs

    return MIN_OPSET, onnxruntime_max_opset(onnx.defs.onnx_opset_version())


def model_opset(proto) -> int:
    """The default-domain (ai.onnx) opset a ModelProto really imports."""
    return max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default=0)


def export_to_proto(model: nn.Module, latent_shape: tuple[int, ...], opset: int, fp16: bool,
                    num_classes: int | None = None):
    """Export ``model`` (already eval, BatchNorm folded) and return the ONNX ModelProto.

    Input ``z``: (batch, *latent_shape), float32 (float16 with ``fp16``); a class-conditional
    model (``num_classes``) also takes ``y``: (batch,) int64 class ids. Output ``images``.
    """
    dtype = torch.float16 if fp16 else torch.float32
    model = model.to(dtype)
    example = torch.zeros(2, *latent_shape, dtype=dtype)  # (2, *latent): batch >= 2 keeps it symbolic
    batch = torch.export.Dim("batch", min=1, max=1 << 20)
    args, names, dynamic = (example,), ["z"], ({0: batch},)
    if num_classes is not None:
        # two different ids: an example of equal ids could let a trace treat y as a constant
        args = (example, torch.tensor([0, num_classes - 1], dtype=torch.int64))
        names, dynamic = ["z", "y"], ({0: batch}, {0: batch})
    chatter = io.StringIO()
    try:
        with warnings.catch_warnings(), redirect_stdout(chatter), _quiet_loggers():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                model, args, dynamo=True, opset_version=opset, input_names=names, output_names=["images"],
                dynamic_shapes=dynamic, optimize=True, verbose=False, external_data=False,
            )
    except Exception as exc:
        log.debug("exporter output:\n%s", chatter.getvalue())
        raise ExportError(f"the generator does not export: {_describe_failure(exc)}") from exc
    return program.model_proto
