"""Export a trained generator to one self-describing, self-checked ONNX file.

Steps: load the generator (EMA weights when present) -> eval -> bake parametrizations (spectral
norm) into plain weights -> fold BatchNorm where exact -> torch.onnx
(dynamo) -> metadata_props -> save to a temp file beside the target -> onnx checker ->
onnxruntime-vs-PyTorch parity at batch 1, 7, 64 -> rename into place. A file that fails a check
is never renamed into place.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from ganzoo.errors import UsageError

log = logging.getLogger("ganzoo")


@dataclass
class ExportResult:
    path: Path
    arch: str
    weights: str
    precision: str
    folded: int
    opset: int
    max_abs_error: float
    per_batch: dict[int, float]
    tolerance: float
    unfolded: int = 0  # BatchNorm left as BatchNormalization (not right after a Conv/Linear: e.g. conditional BN)
    baked: int = 0  # parametrized weights (spectral norm) baked into plain tensors
    num_classes: int | None = None


def _check_out(out: Path, force: bool) -> None:
    if out.name.lower() == ".onnx":  # Path(".onnx").suffix is "": a dot file with no extension
        raise UsageError(f"--onnx {out}: give the file a name before the extension, e.g. {out.with_name('gen.onnx')}")
    if out.suffix.lower() != ".onnx":
        raise UsageError(f"--onnx {out}: the file name must end in .onnx")
    if out.exists() and not force:
        raise UsageError(f"--onnx {out} exists (use --force to overwrite it)")


def export_generator(source: str | Path, out: str | Path, *, fp16: bool = False, opset: int | None = None,
                     force: bool = False, registry=None) -> ExportResult:
    """Export SOURCE (run directory or checkpoint) to ``out`` (.onnx); see the module docstring."""
    import onnx

    from ganzoo.export.check import check_onnx_file, check_parity
    from ganzoo.export.fold import bake_parametrizations, count_batchnorm, fold_batchnorm
    from ganzoo.export.metadata import export_metadata, set_metadata
    from ganzoo.export.onnx_export import DEFAULT_OPSET, ExportError, export_to_proto, model_opset, supported_opsets
    from ganzoo.fileio import atomic_path
    from ganzoo.source import load_generator, resolve_source

    out = Path(out)
    _check_out(out, force)
    opset = DEFAULT_OPSET if opset is None else opset
    low, high = supported_opsets()
    if not low <= opset <= high:
        import onnxruntime

        raise UsageError(f"--opset {opset}: this installation exports opsets {low} to {high} "
                         f"(onnx {onnx.__version__}, onnxruntime {onnxruntime.__version__})")
    src = resolve_source(source, accepts="a run directory or a checkpoint .pt")
    if src.is_onnx:
        raise UsageError(f"{src.path} is already an ONNX file; export needs a run directory or a checkpoint")
    loaded = load_generator(src, registry)
    latent_shape = (loaded.nz,)
    precision = "fp16" if fp16 else "fp32"
    plain_model, baked = bake_parametrizations(loaded.model)
    folded_model, folded = fold_batchnorm(plain_model)
    unfolded = count_batchnorm(folded_model)
    log.info("exporting %s (%s weights, %d BatchNorm folded, %s, opset %d)", loaded.arch, loaded.weights, folded, precision, opset)
    if unfolded:
        # e.g. conditional BatchNorm: its scale and shift depend on y, so no weight can absorb it
        log.info("%d BatchNorm not folded (not directly after a Conv/Linear in a Sequential, e.g. conditional "
                 "BatchNorm); they export as BatchNormalization", unfolded)
    proto = export_to_proto(folded_model, latent_shape, opset, fp16, num_classes=loaded.num_classes)
    if model_opset(proto) != opset:  # the exporter falls back to its own opset when conversion fails
        raise ExportError(f"the exporter could not convert the graph to opset {opset} (it stayed at opset "
                          f"{model_opset(proto)}); nothing was written")
    set_metadata(proto, export_metadata(
        arch=loaded.arch, latent_shape=latent_shape, image_size=loaded.image_size, config=loaded.config,
        weights=loaded.weights, precision=precision, folded=folded, opset=opset,
        num_classes=loaded.num_classes, class_names=loaded.class_names,
    ))
    cond = f", y (N,) int64 in [0, {loaded.num_classes})" if loaded.conditional else ""
    proto.doc_string = f"ganzoo {loaded.arch} generator: z (N, {loaded.nz}) ~ N(0, 1){cond} -> images (N, 3, H, W) in [-1, 1]"
    with atomic_path(out) as tmp:
        onnx.save_model(proto, str(tmp), save_as_external_data=False)
        check_onnx_file(tmp)
        result = check_parity(tmp, loaded.model, latent_shape, precision, num_classes=loaded.num_classes)
    return ExportResult(out, loaded.arch, loaded.weights, precision, folded, opset, result.max_abs_error,
                        result.per_batch, result.tolerance, unfolded=unfolded, baked=baked,
                        num_classes=loaded.num_classes)
