"""The training configuration and how it is resolved from defaults, presets and flags.

Precedence, lowest first: ganzoo's defaults, the architecture's ``defaults``, the preset,
explicit command-line flags (``--lr-g``...), then ``--set`` values. ``config.json`` in a run
directory holds the resolved result, enough to rebuild the run without the command line.

Units: with ``epochs`` the run counts epochs and ``sample_every``/``checkpoint_every`` count
epochs too; with ``steps`` (generator updates) they count steps.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import ganzoo
from ganzoo.errors import UsageError, closest
from ganzoo.specs import HYPERPARAMETERS, Param

log = logging.getLogger("ganzoo")

#: Training defaults of the engine itself; architectures and presets override them.
ENGINE_DEFAULTS: dict[str, Any] = {
    "batch_size": 64,
    "lr_g": 2e-4,
    "lr_d": 2e-4,
    "beta1": 0.5,
    "beta2": 0.999,
    "loss": "bce",
    "n_critic": 1,
    "label_smoothing": 0.0,
    "r1": 0.0,
    "ema": False,
    "ema_decay": 0.999,
    "ema_start": 0,
    "ema_bn": "standing",
    "conditional": False,
    "amp": "auto",
    "channels_last": False,
    "epochs": 5,
}

# Hyperparameters that --set may change, with their types (the rest have dedicated flags too).
SETTABLE = {
    "batch_size": Param(64), "image_size": Param(64), "nz": Param(100),
    "lr_g": Param(2e-4), "lr_d": Param(2e-4), "beta1": Param(0.5), "beta2": Param(0.999),
    "loss": Param("bce"), "epochs": Param(None, type=int), "steps": Param(None, type=int),
    "sample_every": Param(None, type=int), "checkpoint_every": Param(None, type=int),
    "n_critic": Param(1), "label_smoothing": Param(0.0), "r1": Param(0.0, min=0.0), "ema": Param(False),
    "ema_decay": Param(0.999), "ema_start": Param(0, min=0),
    "ema_bn": Param("standing", choices=("standing", "copy")), "conditional": Param(False), "amp": Param("auto", choices=("auto", "off", "bf16", "fp16")),
    "channels_last": Param(False), "log_every": Param(10),
    # data augmentation (ganzoo.data.augment)
    "flip": Param(False), "zoom": Param(0.0), "shear": Param(0.0), "translate": Param(0.0),
    "diffaugment": Param(""),
    # evaluation during training (ganzoo.eval.training): FID/KID of the sampler every N units
    "eval_every": Param(None, type=int, min=1), "eval_num": Param(5000, min=2), "eval_extractor": Param("inception"),
    # scale-out (ganzoo.train.distributed): micro-batches per optimizer step, BatchNorm over all ranks
    "accumulate": Param(1), "sync_bn": Param(False),
    # failure detection (ganzoo.train.collapse): warn once, or stop with a checkpoint and exit 3
    "on_collapse": Param("warn", choices=("warn", "stop")), "collapse_window": Param(200, min=1),
    # the training step as one CUDA graph replay (ganzoo.train.graphed): auto = on CUDA where it can be
    "cuda_graph": Param("auto", choices=("auto", "true", "false")),
}
#: Settings of the engine itself, not hyperparameters a plugin or preset sets defaults for.
ENGINE_SETTINGS = {"log_every", "eval_every", "eval_num", "eval_extractor", "on_collapse", "collapse_window",
                   "cuda_graph"}
assert set(SETTABLE) - ENGINE_SETTINGS == HYPERPARAMETERS


@dataclass
class TrainConfig:
    arch: str
    data: str
    image_size: int
    nz: int
    batch_size: int
    lr_g: float
    lr_d: float
    beta1: float
    beta2: float
    loss: str
    epochs: int | None = None
    steps: int | None = None
    arch_params: dict = field(default_factory=dict)
    data_params: dict = field(default_factory=dict)
    data_dir: str | None = None
    download: bool = False
    cache_dir: str | None = None
    n_critic: int = 1
    label_smoothing: float = 0.0
    # R1 penalty weight gamma: D loss += gamma / 2 * E ||grad_x D(x)||^2 on real images (0 = off)
    r1: float = 0.0
    ema: bool = False
    ema_decay: float = 0.999
    # EMA of G from this step on (before it, the average just follows the weights)
    ema_start: int = 0
    # the EMA generator's BatchNorm statistics: recomputed for its weights ("standing") or copied
    # from the raw generator ("copy": what runs made before the setting existed had)
    ema_bn: str = "copy"
    amp: str = "auto"
    channels_last: bool = False
    device: str = "auto"
    seed: int = 0
    sample_every: int | None = None
    checkpoint_every: int | None = None
    log_every: int = 10
    # data augmentation: feed-side on real images (flip, zoom, shear in degrees, translate as a
    # fraction of the side) and DiffAugment policies ("color,translation,cutout") on real and fake
    flip: bool = False
    zoom: float = 0.0
    shear: float = 0.0
    translate: float = 0.0
    diffaugment: str = ""
    # evaluation: FID/KID of the EMA generator (the sampler) every eval_every units (the run's unit)
    eval_every: int | None = None
    eval_num: int = 5000
    eval_extractor: str = "inception"
    # gradient accumulation: each optimizer step sums the gradients of this many batches
    accumulate: int = 1
    sync_bn: bool = False  # SyncBatchNorm across ranks (CUDA); per-rank BatchNorm otherwise
    world_size: int = 1  # processes that train together (set by torchrun; not a --set parameter)
    # failure detection: "warn" says so once, "stop" ends the run (checkpoint, exit 3); the
    # discriminator-has-won test looks at the last collapse_window steps
    on_collapse: str = "warn"
    collapse_window: int = 200
    # capture the step in a CUDA graph: "auto" (on CUDA when the run allows it), "true", "false"
    cuda_graph: str = "auto"
    preset: str | None = None
    # class-conditional runs: asked for here; num_classes and class_names come from the dataset
    # when the run starts (None for unconditional runs)
    conditional: bool = False
    num_classes: int | None = None
    class_names: list | None = None
    ganzoo_version: str = ganzoo.__version__

    @property
    def unit(self) -> str:
        return "epoch" if self.steps is None else "step"

    @property
    def total(self) -> int:
        return self.epochs if self.steps is None else self.steps

    @property
    def global_batch_size(self) -> int:
        """Images per optimizer step: per-process batch x accumulate x world size."""
        return self.batch_size * self.accumulate * self.world_size

    def to_json(self) -> dict:
        # global_batch_size is derived (for the reader of config.json); from_json ignores it
        return {**dataclasses.asdict(self), "global_batch_size": self.global_batch_size}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "TrainConfig":
        """From a run's config.json; ValueError naming what is missing when it is not one."""
        if not isinstance(data, Mapping):
            raise ValueError(f"expected a JSON object, got {type(data).__name__}")
        fields = dataclasses.fields(cls)
        missing = [f.name for f in fields if f.default is dataclasses.MISSING
                   and f.default_factory is dataclasses.MISSING and f.name not in data]
        if missing:
            raise ValueError(f"missing {', '.join(missing)}")
        names = {f.name for f in fields}
        values = {k: v for k, v in data.items() if k in names}
        for f in fields:  # a hand-edited value of the wrong type would fail deep inside torch
            if f.name in values and not _fits(values[f.name], f.type):
                raise ValueError(f"{f.name}={values[f.name]!r} is not {f.type}")
        return cls(**values)

    def model_params(self) -> dict:
        """What the architecture's builders receive (``num_classes`` too in a conditional run)."""
        params = {"nz": self.nz, "image_size": self.image_size, **self.arch_params}
        if self.num_classes is not None:
            params["num_classes"] = self.num_classes
        return params


_TYPES = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,), "dict": (dict,), "list": (list,),
          "None": (type(None),)}


def _fits(value: Any, annotation: str) -> bool:
    """Whether ``value`` (from JSON) fits a TrainConfig annotation such as ``int | None``."""
    kinds = [k.strip() for k in annotation.split("|")]
    if isinstance(value, bool) and "bool" not in kinds:
        return False  # JSON true is not a batch size
    if isinstance(value, float) and not math.isfinite(value):
        return False
    return any(isinstance(value, _TYPES.get(k, (object,))) for k in kinds)


def parse_set(items: tuple[str, ...] | list[str]) -> list[tuple[str, str]]:
    """``["ngf=32", "data.classes=dog,cat"]`` -> [("ngf", "32"), ("data.classes", "dog,cat")]."""
    pairs = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set takes KEY=VALUE, got {item!r}")
        pairs.append((key.strip().replace("-", "_"), value))
    return pairs


def _apply_set(pairs, arch_spec, data_spec, hyper: dict, arch_params: dict, data_params: dict) -> None:
    scopes = {"arch": (arch_spec.params, arch_params), "data": (data_spec.params, data_params)}
    for key, value in pairs:
        scope, _, name = key.rpartition(".")
        if scope and scope not in scopes:
            raise UsageError(f"--set {key}: the prefix must be 'arch.' or 'data.'")
        targets = [s for s in (scopes if not scope else [scope]) if name in scopes[s][0]]
        try:
            if len(targets) > 1:
                raise UsageError(f"--set {name} is ambiguous: write arch.{name} or data.{name}")
            if targets:
                declared, values = scopes[targets[0]]
                values[name] = declared[name].parse(name, value)
            elif not scope and name in SETTABLE:
                hyper[name] = SETTABLE[name].parse(name, value)
            elif scope and name in scopes["data" if scope == "arch" else "arch"][0]:
                other = "data" if scope == "arch" else "arch"
                raise UsageError(f"--set {key}: {name} is a{'n architecture' if other == 'arch' else ' dataset'} "
                                 f"parameter; write {other}.{name}")
            else:
                known = set(arch_spec.params) | set(data_spec.params) | set(SETTABLE)
                hint = closest(name, known)
                raise UsageError(
                    f"--set {name}: not a parameter of architecture {arch_spec.name!r}, dataset "
                    f"{data_spec.name!r} or training" + (f"; did you mean {hint!r}?" if hint else "")
                    + f" (architecture: {', '.join(sorted(arch_spec.params)) or 'none'}; "
                    f"dataset: {', '.join(sorted(data_spec.params)) or 'none'})"
                )
        except ValueError as exc:
            raise UsageError(f"--set {exc}") from None


def _applies(key: str, arch_spec, data_spec) -> bool:
    """Whether a preset's ``set`` key names a parameter of these networks, this data or training."""
    scope, _, name = key.rpartition(".")
    if scope == "arch":
        return name in arch_spec.params
    if scope == "data":
        return name in data_spec.params
    return name in arch_spec.params or name in data_spec.params or name in SETTABLE


SCHEDULE = ("sample_every", "checkpoint_every")  # counted in the run's unit (epochs or steps)


def default_every(total: int) -> int:
    """Ten sample grids and ten checkpoints per run by default."""
    return max(1, total // 10)


def _unit(hyper: Mapping[str, Any]) -> str:
    return "steps" if hyper.get("steps") is not None else "epochs"


def resolve_config(registry, *, arch: str | None, data: str | None, preset: str | None = None,
                   flags: Mapping[str, Any] | None = None, set_items=()) -> TrainConfig:
    """Build the TrainConfig for a new run. ``flags`` holds explicit command-line values (None =
    not given); unknown names raise UsageError with the closest match."""
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    if "steps" in flags and "epochs" in flags:
        raise UsageError("give --epochs or --steps, not both")
    preset_spec = registry.preset(preset) if preset else None
    if preset_spec is not None:
        arch = arch or preset_spec.arch
        data = data or preset_spec.data
    if not arch:
        raise UsageError("--arch is required (see `ganzoo plugins` for the architectures)")
    arch_spec = registry.architecture(arch)
    data_spec = registry.dataset(data or "shapes")

    hyper: dict[str, Any] = dict(ENGINE_DEFAULTS)
    hyper["nz"] = arch_spec.latent_size
    hyper["image_size"] = arch_spec.image_sizes[0]
    hyper.update(data_spec.defaults)  # what suits the data (e.g. flips for photos) ...
    hyper.update(arch_spec.defaults)  # ... and the networks, which know best
    if arch_spec.conditional == "always":
        hyper["conditional"] = True
    arch_params = {k: p.default for k, p in arch_spec.params.items()}
    data_params = {k: p.default for k, p in data_spec.params.items()}
    if preset_spec is not None:
        values = dict(preset_spec.values)
        preset_set = values.pop("set", {})
        hyper.update(values)
        # --arch/--data override the preset's: its parameters for the other networks or data go
        applies = {k: v for k, v in preset_set.items() if _applies(k, arch_spec, data_spec)}
        for key in sorted(set(preset_set) - set(applies)):
            log.info("preset %s: %s does not apply to architecture %r / dataset %r; left out",
                     preset_spec.name, key, arch_spec.name, data_spec.name)
        _apply_set(list(applies.items()), arch_spec, data_spec, hyper, arch_params, data_params)
    base_unit, base_schedule = _unit(hyper), {k: hyper.get(k) for k in SCHEDULE}
    # An explicit --steps replaces a default or preset epoch count (and vice versa).
    if "steps" in flags:
        hyper["epochs"] = None
    if "epochs" in flags:
        hyper["steps"] = None
    hyper.update({k: v for k, v in flags.items() if k in SETTABLE})
    set_pairs = parse_set(set_items)
    _apply_set(set_pairs, arch_spec, data_spec, hyper, arch_params, data_params)

    if hyper.get("steps") is not None:
        hyper["epochs"] = None
    if _unit(hyper) != base_unit:
        # "samples every 5" from a preset counted epochs; under --steps it would mean every 5 steps
        given = set(flags) | {key for key, _ in set_pairs}
        for key in SCHEDULE:
            if key not in given and hyper.get(key) == base_schedule[key]:
                hyper[key] = None
    total = hyper["steps"] if hyper.get("steps") is not None else hyper["epochs"]
    for key in SCHEDULE:
        if hyper.get(key) is None and isinstance(total, int):
            hyper[key] = default_every(total)
    config = TrainConfig(
        arch=arch_spec.name,
        data=data_spec.name,
        arch_params=arch_params,
        data_params=data_params,
        data_dir=flags.get("data_dir"),
        download=bool(flags.get("download", False)),
        cache_dir=flags.get("cache_dir"),
        device=flags.get("device", "auto"),
        seed=flags.get("seed", 0),
        preset=preset,
        **{k: v for k, v in hyper.items() if k in SETTABLE},
    )
    validate(config, arch_spec)
    registry.loss(config.loss)  # an unknown loss fails now, before any work
    return config


def validate(config: TrainConfig, arch_spec) -> None:
    if config.image_size not in arch_spec.image_sizes:
        raise UsageError(
            f"architecture {arch_spec.name!r} supports image sizes "
            f"{', '.join(map(str, arch_spec.image_sizes))}, not {config.image_size}"
        )
    positive = {"batch_size": config.batch_size, "nz": config.nz, "n_critic": config.n_critic, "log_every": config.log_every,
                "accumulate": config.accumulate, "collapse_window": config.collapse_window}
    positive["epochs" if config.steps is None else "steps"] = config.total
    for key in ("sample_every", "checkpoint_every", "eval_every"):
        if getattr(config, key) is not None:
            positive[key] = getattr(config, key)
    positive["eval_num"] = config.eval_num
    for key, value in positive.items():
        if value is None or value <= 0:
            raise UsageError(f"{key.replace('_', '-')} must be a positive integer, got {value}")
    for key in ("lr_g", "lr_d", "beta1", "beta2", "label_smoothing", "r1", "ema_decay", "zoom", "shear", "translate"):
        if not math.isfinite(getattr(config, key)):
            raise UsageError(f"{key.replace('_', '-') if key.startswith('lr') else key} must be a finite number, "
                             f"got {getattr(config, key)}")
    for key in ("lr_g", "lr_d"):
        if getattr(config, key) <= 0:
            raise UsageError(f"{key.replace('_', '-')} must be positive")
    for key in ("beta1", "beta2"):
        if not 0 <= getattr(config, key) < 1:
            raise UsageError(f"{key} must be in [0, 1)")
    if not 0 <= config.label_smoothing < 1:
        raise UsageError("label_smoothing must be in [0, 1)")
    if config.r1 < 0:
        raise UsageError(f"r1 must be 0 (off) or a positive penalty weight, got {config.r1}")
    if config.on_collapse not in ("warn", "stop"):
        raise UsageError(f"on_collapse must be warn or stop, got {config.on_collapse!r}")
    if not 0 < config.ema_decay < 1:
        raise UsageError(f"ema_decay must be in (0, 1), e.g. 0.999; got {config.ema_decay}")
    if config.ema_start < 0:
        raise UsageError(f"ema_start must be 0 or more, got {config.ema_start}")
    if config.conditional and arch_spec.conditional == "never":
        raise UsageError(f"architecture {arch_spec.name!r} is not class-conditional; drop --set conditional=true")
    if not config.conditional and arch_spec.conditional == "always":
        raise UsageError(f"architecture {arch_spec.name!r} is always class-conditional; drop --set conditional=false")
    if config.num_classes is not None and (not isinstance(config.num_classes, int) or config.num_classes < 1):
        raise UsageError(f"num_classes must be a positive integer, got {config.num_classes}")
    _validate_augment(config)


def _validate_augment(config: TrainConfig) -> None:
    from ganzoo.data.augment import parse_policy  # imports torch: only reached when a run starts

    for key in ("zoom", "translate"):
        if not 0 <= getattr(config, key) < 1:
            raise UsageError(f"--set {key} must be in [0, 1), got {getattr(config, key)}")
    if not 0 <= config.shear < 90:
        raise UsageError(f"--set shear must be in [0, 90) degrees, got {config.shear}")
    try:
        parse_policy(config.diffaugment)
    except ValueError as exc:
        raise UsageError(f"--set diffaugment: {exc}") from None
