"""Resolve a SOURCE argument (run directory, checkpoint file or .onnx file) for export and generate.

Importing this module does not import torch: an ``.onnx`` SOURCE must be usable by a process
that never loads PyTorch. Torch comes in only when a checkpoint is actually loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ganzoo.errors import GanzooError, UsageError

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn


@dataclass
class Source:
    """What SOURCE names: ``kind`` is "onnx" or "checkpoint"; ``path`` the file to load."""

    kind: str
    path: Path

    @property
    def is_onnx(self) -> bool:
        return self.kind == "onnx"


def resolve_source(source: str | Path, accepts: str = "a run directory, a checkpoint .pt or an .onnx file") -> Source:
    """A run directory means its ``checkpoints/last.pt``; a file is taken as it is.
    ``accepts`` is what the command takes, for the message when ``source`` does not exist."""
    path = Path(source)
    if path.is_dir():
        last = path / "checkpoints" / "last.pt"
        if not last.is_file():
            if not (path / "config.json").is_file():
                raise UsageError(f"{path} is not a ganzoo run directory (no config.json)")
            raise UsageError(f"run {path} has no checkpoints/last.pt yet")
        return Source("checkpoint", last)
    if not path.exists():
        raise UsageError(f"SOURCE {path} does not exist (give {accepts})")
    if path.suffix.lower() == ".onnx":
        return Source("onnx", path)
    return Source("checkpoint", path)


@dataclass
class LoadedGenerator:
    """A generator rebuilt from a checkpoint, in eval mode on the CPU."""

    model: "nn.Module"
    config: dict[str, Any]
    arch: str
    nz: int
    image_size: int
    weights: str  # "ema" or "generator": which state dict was loaded
    num_classes: int | None = None  # a class-conditional generator: G(z, y), y in [0, num_classes)
    class_names: list[str] | None = None

    @property
    def conditional(self) -> bool:
        return self.num_classes is not None


def load_generator(source: Source, registry=None) -> LoadedGenerator:
    """Rebuild the architecture from the checkpoint's config and load its weights.

    The EMA weights (key ``ema``) are preferred when present: they are the ones that make
    the better images, and the reason a run keeps them.
    """
    from ganzoo.checkpoint import load_checkpoint
    from ganzoo.config import TrainConfig
    from ganzoo.networks import build_generator
    from ganzoo.plugins import load_registry

    if source.is_onnx:
        raise UsageError(f"{source.path} is already an ONNX file; this needs a run directory or checkpoint")
    state = load_checkpoint(source.path)
    config = state.get("config")
    if not isinstance(config, dict) or "arch" not in config:
        raise GanzooError(f"{source.path} has no run config; cannot tell which architecture to rebuild")
    registry = registry or load_registry()
    spec = registry.architecture(config["arch"])
    try:
        train_config = TrainConfig.from_json(config)
        params = train_config.model_params()
    except ValueError as exc:
        raise GanzooError(f"{source.path}: its run config is incomplete ({exc})") from None
    model = build_generator(spec, params)
    weights = "ema" if isinstance(state.get("ema"), dict) and state["ema"] else "generator"
    if not isinstance(state.get(weights), dict):
        raise GanzooError(f"{source.path} holds no generator weights")
    try:
        model.load_state_dict(state[weights])
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise GanzooError(f"{source.path}: the {weights} weights do not fit architecture {config['arch']!r} ({first})") from None
    model.eval()
    num_classes = train_config.num_classes if spec.is_conditional(train_config.conditional) else None
    names = None
    if num_classes is not None:
        names = [str(n) for n in (train_config.class_names or range(num_classes))]
        if len(names) != num_classes:
            raise GanzooError(f"{source.path}: its run config names {len(names)} classes but has num_classes={num_classes}")
    return LoadedGenerator(model, config, config["arch"], int(config["nz"]), int(config["image_size"]), weights,
                           num_classes, names)
