"""The typed spec objects that plugins hand to ``register(...)``.

Everything here is plain data plus builder callables. Specs validate themselves on creation so
that a plugin's mistake is reported when it registers, naming the plugin, not deep in training.
Builders receive plain JSON-able dicts, so that ``config.json`` alone can rebuild a run.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

if TYPE_CHECKING:  # torch stays out of import time
    import numpy as np
    import torch

_NAME = re.compile(r"^[a-z][a-z0-9_\-]*$")

#: Training hyperparameters an architecture or preset may set defaults for.
HYPERPARAMETERS = frozenset(
    {
        "batch_size", "image_size", "nz", "lr_g", "lr_d", "beta1", "beta2", "loss",
        "epochs", "steps", "sample_every", "checkpoint_every", "n_critic", "label_smoothing",
        "ema", "ema_decay", "ema_start", "amp", "channels_last",
        "ema_bn",  # plugin API 1.5
        "r1",  # plugin API 1.7
        # class-conditional training (plugin API 1.2, see ArchitectureSpec.conditional)
        "conditional",
        # data augmentation (ganzoo.data.augment): feed-side on real images, DiffAugment on both
        "flip", "zoom", "shear", "translate", "diffaugment",
        # scale-out (ganzoo.train.distributed)
        "accumulate", "sync_bn",
    }
)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _check_name(kind: str, name: str) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"{kind} name {name!r} must be lowercase letters, digits, '-' or '_'")


def _check_description(kind: str, name: str, description: Any) -> None:
    # Shown on one line by `ganzoo plugins`.
    if not isinstance(description, str) or not description.strip() or "\n" in description.strip():
        raise ValueError(f"{kind} {name!r}: description must be a non-empty, one-line string")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# What each hyperparameter a plugin sets a default for must look like (checked at registration,
# so a typo such as lr_g="2e-4" is reported naming the plugin, not when a run starts).
_NON_NEGATIVE_INTS = {"ema_start"}
_POSITIVE_INTS = {"batch_size", "image_size", "nz", "epochs", "steps", "sample_every", "checkpoint_every", "n_critic"}
_OPTIONAL = {"epochs", "steps", "sample_every", "checkpoint_every"}
_POSITIVE_NUMBERS = {"lr_g", "lr_d"}
_UNIT_INTERVAL = {"beta1", "beta2", "label_smoothing", "ema_decay"}


def _check_hyperparameters(where: str, values: Mapping[str, Any]) -> None:
    for key, value in values.items():
        ok = True
        if key in _POSITIVE_INTS:
            ok = (value is None and key in _OPTIONAL) or (_is_int(value) and value > 0)
        elif key in _POSITIVE_NUMBERS:
            ok = _is_number(value) and value > 0
        elif key in _UNIT_INTERVAL:
            ok = _is_number(value) and 0 <= value < 1
        elif key in _NON_NEGATIVE_INTS:
            ok = _is_int(value) and value >= 0
        elif key in {"ema", "channels_last", "flip", "conditional"}:
            ok = isinstance(value, bool)
        elif key in {"loss", "amp", "diffaugment"}:
            ok = isinstance(value, str)
        elif key in {"zoom", "translate"}:
            ok = _is_number(value) and 0 <= value < 1
        elif key == "shear":
            ok = _is_number(value) and 0 <= value < 90
        if not ok:
            raise ValueError(f"{where}: default {key}={value!r} is not valid")


@dataclass(frozen=True)
class Param:
    """A parameter a plugin declares, settable with ``--set NAME=VALUE``.

    ``type`` is inferred from ``default`` when not given; ``list`` values are comma-separated
    on the command line (``--set classes=dog,cat``). ``min``/``max`` (inclusive, numbers only;
    plugin API 1.1) refuse out-of-range values with a one-line usage error before anything is
    built, instead of a failure deep inside the plugin.
    """

    default: Any
    help: str = ""
    type: type | None = None
    choices: tuple | None = None
    min: float | None = None
    max: float | None = None

    def __post_init__(self) -> None:
        if self.type is not None and self.type not in (int, float, str, bool, list):
            raise TypeError(f"Param type must be int, float, str, bool or list, got {self.type!r}")
        if self.choices is not None:
            object.__setattr__(self, "choices", tuple(self.choices))
        if self.default is not None:
            self.parse("default", self.default)  # a default that does not fit its own type/choices

    @property
    def kind(self) -> type:
        if self.type is not None:
            return self.type
        if self.default is None:
            return str
        return type(self.default)

    def parse(self, name: str, value: Any) -> Any:
        """Convert a command-line string (or an already typed value) and validate it."""
        kind = self.kind
        if value is None:
            return None
        try:
            if isinstance(value, str):
                if kind is bool:
                    low = value.strip().lower()
                    if low not in _TRUE | _FALSE:
                        raise ValueError("expected true or false")
                    value = low in _TRUE
                elif kind is list:
                    value = [v.strip() for v in value.split(",") if v.strip()]
                elif kind is str and value.lower() in {"none", "null"} and self.default is None:
                    value = None
                elif kind in (int, float) and value.lower() in {"none", "null"} and self.default is None:
                    value = None
                else:
                    value = kind(value)
            elif kind is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            elif kind is list and isinstance(value, (tuple, list)):
                value = list(value)
            elif not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise ValueError(f"expected {kind.__name__}")
        except ValueError as exc:
            raise ValueError(f"{name}={value!r}: {exc}") from None
        if kind in (int, float) and value is not None:
            if kind is float and not math.isfinite(value):
                raise ValueError(f"{name}={value!r}: must be a finite number")
            if self.min is not None and value < self.min:
                raise ValueError(f"{name}={value!r}: must be at least {self.min}")
            if self.max is not None and value > self.max:
                raise ValueError(f"{name}={value!r}: must be at most {self.max}")
        if self.choices is not None and value is not None:
            bad = [v for v in (value if kind is list else [value]) if v not in self.choices]
            if bad:
                raise ValueError(f"{name}={value!r}: choose from {', '.join(map(str, self.choices))}")
        return value


def _check_params(where: str, params: Mapping[str, Param]) -> None:
    if not isinstance(params, Mapping):
        raise TypeError(f"{where}: params must be a dict of name -> ganzoo.Param")
    for key, p in params.items():
        if not isinstance(key, str) or not key.isidentifier():
            raise ValueError(f"{where}: param name {key!r} must be a Python identifier (it is used as --set {key}=...)")
        if not isinstance(p, Param):
            raise TypeError(f"{where}: param {key!r} must be a ganzoo.Param, got {type(p).__name__}")


@dataclass(frozen=True)
class ArchitectureSpec:
    """A GAN architecture: a generator and a discriminator built from plain parameters.

    - ``build_generator(params)`` returns a ``torch.nn.Module`` mapping ``z`` of shape
      ``(N, nz)`` to images ``(N, 3, image_size, image_size)`` in [-1, 1].
    - ``build_discriminator(params)`` returns a module mapping such images to raw logits ``(N,)``
      (or ``(N, 1)``); losses apply their own sigmoid.
    - ``params`` passed to both builders holds ``nz``, ``image_size`` and every declared
      ``params`` entry (defaults overridden by ``--set``).
    - ``defaults`` holds training hyperparameters that suit this architecture
      (keys from ``HYPERPARAMETERS``, e.g. ``lr_g``); explicit flags and presets override them.
    - ``conditional`` (plugin API 1.2) says whether the networks are class-conditional:
      ``"never"`` (the default), ``"optional"`` (off unless ``--set conditional=true``, or
      ``defaults={"conditional": True}`` to make it on unless ``--set conditional=false``) or
      ``"always"``. A conditional run's builders also receive ``num_classes`` (from the
      dataset's labels) in ``params``; the generator is then called as ``G(z, y)`` and the
      discriminator as ``D(x, y)``, with ``y`` int64 class ids of shape ``(N,)``. Unconditional
      runs call ``G(z)`` and ``D(x)`` exactly as before.
    - ``capturable`` (plugin API 1.4): the networks can be captured in a CUDA graph (the training
      step of ``--set cuda_graph``): no reads back to the CPU (``.item()``), no shapes or
      branches that depend on the data. Off unless declared; then the step runs eagerly.
    """

    name: str
    description: str
    image_sizes: tuple[int, ...]
    latent_size: int
    build_generator: Callable[[dict], "torch.nn.Module"]
    build_discriminator: Callable[[dict], "torch.nn.Module"]
    params: Mapping[str, Param] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    conditional: str = "never"
    capturable: bool = False

    def __post_init__(self) -> None:
        _check_name("architecture", self.name)
        where = f"architecture {self.name!r}"
        _check_description("architecture", self.name, self.description)
        if isinstance(self.image_sizes, int) or not isinstance(self.image_sizes, Sequence):
            raise ValueError(f"{where}: image_sizes must be a tuple of positive ints, e.g. (32, 64)")
        object.__setattr__(self, "image_sizes", tuple(self.image_sizes))  # a list is fine too
        if not self.image_sizes or not all(_is_int(s) and s > 0 for s in self.image_sizes):
            raise ValueError(f"{where}: image_sizes must be positive ints, got {self.image_sizes!r}")
        if not _is_int(self.latent_size) or self.latent_size <= 0:
            raise ValueError(f"{where}: latent_size must be a positive int")
        if not callable(self.build_generator) or not callable(self.build_discriminator):
            raise TypeError(f"{where}: builders must be callables")
        _check_params(where, self.params)
        unknown = set(self.defaults) - HYPERPARAMETERS
        if unknown:
            raise ValueError(f"{where}: unknown defaults {sorted(unknown)} (known: {', '.join(sorted(HYPERPARAMETERS))})")
        _check_hyperparameters(where, self.defaults)
        if "image_size" in self.defaults and self.defaults["image_size"] not in self.image_sizes:
            raise ValueError(f"{where}: default image_size {self.defaults['image_size']} is not one of image_sizes {self.image_sizes}")
        clash = set(self.params) & (HYPERPARAMETERS | {"nz", "image_size", "num_classes"})
        if clash:
            raise ValueError(f"{where}: params shadow hyperparameters {sorted(clash)}")
        if self.conditional not in CONDITIONAL_MODES:
            raise ValueError(f"{where}: conditional must be one of {', '.join(CONDITIONAL_MODES)}, got {self.conditional!r}")
        if "conditional" in self.defaults and self.conditional != "optional":
            raise ValueError(f"{where}: a default for conditional needs conditional='optional'")

    def is_conditional(self, requested: bool) -> bool:
        """Whether a run that asked for ``conditional=requested`` trains class-conditionally."""
        return self.conditional == "always" or (self.conditional == "optional" and requested)


#: ArchitectureSpec.conditional values: never conditional, conditional on request, always conditional.
CONDITIONAL_MODES = ("never", "optional", "always")


@dataclass(frozen=True)
class ImageFile:
    """One image on disk for the engine to decode, optionally crop (box = left, top, right,
    bottom in pixels, as in PASCAL VOC), resize and cache."""

    path: str
    box: tuple[int, int, int, int] | None = None
    label: int | None = None


@dataclass
class ImageSet:
    """What a dataset loader returns: either decoded ``images`` (uint8, N x H x W x 3) or
    ``files`` for the engine to decode, plus optional integer labels and their names.

    ``source_key`` identifies the source for the cache (the engine adds paths, sizes and
    modification times of ``files`` itself); ``skipped`` counts items the loader dropped.
    """

    images: "np.ndarray | None" = None
    files: Sequence[ImageFile] | None = None
    labels: "np.ndarray | None" = None
    class_names: Sequence[str] | None = None
    source_key: str = ""
    skipped: int = 0

    def __post_init__(self) -> None:
        if (self.images is None) == (self.files is None):
            raise ValueError("ImageSet needs exactly one of images= or files=")


@dataclass(frozen=True)
class DatasetRequest:
    """What the engine asks a dataset loader for."""

    data_dir: Path | None
    image_size: int
    params: Mapping[str, Any]
    download: bool = False


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset: ``load(request)`` returns an ``ImageSet``.

    ``needs_data_dir`` datasets get ``--data-dir`` (error when missing); ``how_to_get`` is shown
    to the user when the data cannot be found; ``download(data_dir)``, when given, is what
    ``--download`` runs before ``load``. ``defaults`` holds training hyperparameters that suit
    the data, typically augmentation (``{"flip": True}`` for photos of animals); the
    architecture's defaults, presets and flags override them.
    """

    name: str
    description: str
    load: Callable[[DatasetRequest], ImageSet]
    params: Mapping[str, Param] = field(default_factory=dict)
    needs_data_dir: bool = False
    how_to_get: str = ""
    download: Callable[[Path], None] | None = None
    defaults: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_name("dataset", self.name)
        where = f"dataset {self.name!r}"
        _check_description("dataset", self.name, self.description)
        if not callable(self.load):
            raise TypeError(f"{where}: load must be callable")
        if self.download is not None and not callable(self.download):
            raise TypeError(f"{where}: download must be callable or None")
        if not isinstance(self.how_to_get, str):
            raise TypeError(f"{where}: how_to_get must be a string")
        _check_params(where, self.params)
        unknown = set(self.defaults) - HYPERPARAMETERS
        if unknown:
            raise ValueError(f"{where}: unknown defaults {sorted(unknown)} (known: {', '.join(sorted(HYPERPARAMETERS))})")
        _check_hyperparameters(where, self.defaults)
        clash = set(self.params) & (HYPERPARAMETERS | {"nz", "image_size"})
        if clash:
            raise ValueError(f"{where}: params shadow hyperparameters {sorted(clash)}")


@dataclass(frozen=True)
class LossSpec:
    """A GAN loss. ``build(options)`` returns an object with
    ``discriminator_loss(real_logits, fake_logits) -> Tensor`` and
    ``generator_loss(fake_logits) -> Tensor``; optionally ``penalty(D, real, fake) -> Tensor``
    (e.g. a gradient penalty) added to the discriminator loss. ``capturable`` (plugin API 1.4):
    both losses are plain tensor arithmetic that a CUDA graph can capture (``--set cuda_graph``)."""

    name: str
    description: str
    build: Callable[[dict], Any]
    capturable: bool = False

    def __post_init__(self) -> None:
        _check_name("loss", self.name)
        _check_description("loss", self.name, self.description)
        if not callable(self.build):
            raise TypeError(f"loss {self.name!r}: build must be callable")


@dataclass(frozen=True)
class PresetSpec:
    """Named hyperparameters that reproduce a known recipe (``--preset NAME``).

    ``values`` holds training hyperparameters (keys from ``HYPERPARAMETERS``) and may hold
    ``set``: a dict of architecture/dataset parameters. Explicit flags override a preset.
    """

    name: str
    description: str
    arch: str | None = None
    data: str | None = None
    values: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_name("preset", self.name)
        _check_description("preset", self.name, self.description)
        for kind, value in (("architecture", self.arch), ("dataset", self.data)):
            if value is not None:
                _check_name(kind, value)
        unknown = set(self.values) - HYPERPARAMETERS - {"set"}
        if unknown:
            raise ValueError(f"preset {self.name!r}: unknown values {sorted(unknown)}")
        _check_hyperparameters(f"preset {self.name!r}", {k: v for k, v in self.values.items() if k != "set"})
        if not isinstance(self.values.get("set", {}), Mapping):
            raise ValueError(f"preset {self.name!r}: values['set'] must be a dict of parameter -> value")


@dataclass(frozen=True)
class ExtractorRequest:
    """What the engine hands an extractor's ``build``: the weights file (``weights_file``'s
    answer, None for an extractor that needs none) and the torch device to build on."""

    weights: Path | None
    device: "torch.device | str" = "cpu"


#: What an extractor's module receives (``ExtractorSpec.input_range``).
INPUT_RANGES = ("uint8", "float")


@dataclass(frozen=True)
class ExtractorSpec:
    """A feature extractor for evaluation (``ganzoo eval --extractor NAME``; plugin API 1.2).

    - ``build(request)`` returns a ``torch.nn.Module`` in eval mode mapping images
      ``(N, 3, H, W)`` to features ``(N, feature_dim)``; when ``has_logits``, to a tuple
      ``(features, logits)`` with class logits ``(N, C)`` (the Inception Score needs them).
    - ``input_range``: ``"uint8"`` gives the module uint8 pixels 0..255 (what FID Inception
      expects); ``"float"`` gives float32 in [-1, 1], the generators' range.
    - ``input_size``: ganzoo resizes images to this square side (bilinear, antialiased)
      before the call; None hands them over at their own size (the module resizes itself).
    - ``weights_file(given)``, for extractors that load a file: return the path to use
      (``given`` is ``--inception-weights`` or None), or raise ``ganzoo.errors.UsageError``
      with one line saying which file to fetch and where to put it. ganzoo hashes the file
      (SHA-256) and labels every figure and cached statistic with it.
    """

    name: str
    description: str
    feature_dim: int
    build: Callable[[ExtractorRequest], "torch.nn.Module"]
    has_logits: bool = False
    input_range: str = "uint8"
    input_size: int | None = None
    weights_file: Callable[[str | None], Path] | None = None

    def __post_init__(self) -> None:
        _check_name("extractor", self.name)
        where = f"extractor {self.name!r}"
        _check_description("extractor", self.name, self.description)
        if not _is_int(self.feature_dim) or self.feature_dim <= 0:
            raise ValueError(f"{where}: feature_dim must be a positive int")
        if not callable(self.build):
            raise TypeError(f"{where}: build must be callable")
        if self.weights_file is not None and not callable(self.weights_file):
            raise TypeError(f"{where}: weights_file must be callable or None")
        if self.input_range not in INPUT_RANGES:
            raise ValueError(f"{where}: input_range must be one of {', '.join(INPUT_RANGES)}, got {self.input_range!r}")
        if self.input_size is not None and (not _is_int(self.input_size) or self.input_size <= 0):
            raise ValueError(f"{where}: input_size must be a positive int or None")
        if not isinstance(self.has_logits, bool):
            raise TypeError(f"{where}: has_logits must be True or False")
