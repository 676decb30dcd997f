"""Starting and resuming a run: data, networks, the loop, and the run directory around them."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ganzoo.checkpoint import load_checkpoint
from ganzoo.config import SCHEDULE, TrainConfig, default_every, validate
from ganzoo.data import load_images
from ganzoo.errors import UsageError
from ganzoo.eval.training import TrainingEval
from ganzoo.fileio import write_json
from ganzoo.plugins import load_registry
from ganzoo.run_dir import RunDir
from ganzoo.specs import DatasetRequest
from ganzoo.train import distributed
from ganzoo.train.loop import Trainer

log = logging.getLogger("ganzoo")


def _prepare(config: TrainConfig, registry, progress: bool = True):
    dataset = registry.dataset(config.data)
    request = DatasetRequest(
        data_dir=Path(config.data_dir).expanduser() if config.data_dir else None,
        image_size=config.image_size,
        params=config.data_params,
        download=config.download,
    )
    loaded = load_images(dataset, request, cache_dir=config.cache_dir, progress=progress)
    if loaded.skipped:
        log.warning("dataset %s: skipped %d item(s) in all (unreadable files, or left out by the dataset's filters)",
                    config.data, loaded.skipped)
    count = len(loaded.images)
    log.info("dataset %s: %d image%s at %dx%d", config.data, count, "s" if count != 1 else "", config.image_size, config.image_size)
    return loaded


def condition_on_labels(config: TrainConfig, arch_spec, loaded, resuming: bool = False):
    """For a conditional run: check the labels, drop unlabelled images, record the classes.

    The number of classes is the dataset's (its class names, else the largest label + 1); it
    and the names go into ``config`` and so into config.json, which export and generate read.
    Returns the images and labels to train on (labels None for an unconditional run).
    """
    if not arch_spec.is_conditional(config.conditional):
        return loaded.images, None
    if loaded.labels is None:
        raise UsageError(f"architecture {config.arch!r} is class-conditional here, but dataset {config.data!r} "
                         "has no labels (use a labelled dataset or option, e.g. --set labels=true, "
                         "or --set conditional=false)")
    labels = np.asarray(loaded.labels, dtype=np.int64)
    images = loaded.images
    unlabelled = labels < 0
    if unlabelled.any():
        log.warning("dataset %s: %d image(s) have no class label; a conditional run leaves them out",
                    config.data, int(unlabelled.sum()))
        images, labels = images[~unlabelled], labels[~unlabelled]
        if len(labels) == 0:
            raise UsageError(f"dataset {config.data!r} has no labelled images for a conditional run")
    names = list(loaded.class_names) if loaded.class_names else None
    count = len(names) if names else int(labels.max()) + 1
    if int(labels.max()) >= count:
        raise UsageError(f"dataset {config.data!r} has label {int(labels.max())} but only {count} class names")
    names = names or [str(i) for i in range(count)]
    if resuming and (config.num_classes, config.class_names) != (count, names):
        raise UsageError(f"dataset {config.data!r} now has {count} classes, the run was trained on "
                         f"{config.num_classes}: the class ids would not mean the same")
    config.num_classes, config.class_names = count, names
    per_class = np.bincount(labels, minlength=count)
    log.info("conditional on %d classes (%d to %d images each)", count, int(per_class.min()), int(per_class.max()))
    return images, labels
def _log_scale(trainer: Trainer) -> None:
    """The batch that one optimizer step sees, when it is not simply --batch-size."""
    cfg, dist = trainer.config, trainer.dist
    if dist.enabled or cfg.accumulate > 1:
        parts = [f"{cfg.batch_size} per batch"]
        if cfg.accumulate > 1:
            parts.append(f"{cfg.accumulate} batches accumulated")
        if dist.enabled:
            parts.append(f"{dist.world_size} processes ({dist.backend} on {trainer.device.type})")
        log.info("global batch %d (%s)", cfg.global_batch_size, " x ".join(parts))


def start_run(config: TrainConfig, out: str | Path, progress: bool = True, registry=None) -> Trainer:
    """Train a new run into ``out`` (a new or empty directory)."""
    registry = registry or load_registry()
    dist, device = distributed.setup(config.device)
    config.world_size = dist.world_size
    run = RunDir(out)
    run.check_new()  # every rank, before the first collective: rank 0 creates it only after that
    # The extractor, data and networks first: a missing weights file, a bad dataset or plugin
    # leaves no half-made run directory behind. Rank 0 alone evaluates (the others train on and
    # wait for it at the next collective: a long eval needs GANZOO_DIST_TIMEOUT above its seconds).
    evaluator = TrainingEval.open(config, registry, device) if dist.is_main else None
    loaded = dist.in_turn(lambda: _prepare(config, registry, progress=progress and dist.is_main))
    images, labels = condition_on_labels(config, registry.architecture(config.arch), loaded)
    trainer = Trainer(config, run, registry, images, device, labels=labels, dist=dist)
    if evaluator is not None:
        evaluator.prepare(loaded, run.path, progress=progress)
        trainer.evaluator = evaluator
    if dist.is_main:
        run.create(config.to_json())
    _log_scale(trainer)
    trainer.fit(progress=progress)
    return trainer


RESUME_OVERRIDES = ("steps", "epochs", "device", "sample_every", "checkpoint_every")


def resume_run(path: str | Path, overrides: dict | None = None, progress: bool = True, registry=None) -> Trainer:
    """Continue a run from ``checkpoints/last.pt``. ``steps``/``epochs`` set the new total."""
    registry = registry or load_registry()
    run = RunDir.open(path)
    try:
        config = TrainConfig.from_json(run.read_config())
    except ValueError as exc:
        raise UsageError(f"{run.config_path} is not a ganzoo run configuration ({exc})") from None
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    bad = set(overrides) - set(RESUME_OVERRIDES)
    if bad:
        raise UsageError(f"cannot change {', '.join(sorted(bad))} when resuming (only {', '.join(RESUME_OVERRIDES)})")
    unit = config.unit
    if "steps" in overrides:
        config.steps, config.epochs = overrides.pop("steps"), None
    if "epochs" in overrides:
        config.epochs, config.steps = overrides.pop("epochs"), None
    if config.unit != unit:
        # the schedule counted the old unit: "every 1 epoch" must not become "every step"
        for key in SCHEDULE:
            if key not in overrides:
                setattr(config, key, default_every(config.total))
    for key, value in overrides.items():
        setattr(config, key, value)
    try:
        arch_spec = registry.architecture(config.arch)
        validate(config, arch_spec)
        for declared, values in ((arch_spec.params, config.arch_params),
                                 (registry.dataset(config.data).params, config.data_params)):
            for key, value in values.items():
                if key in declared:
                    declared[key].parse(key, value)  # the plugin's own type and range, as --set checks them
    except (TypeError, ValueError) as exc:  # a hand-edited config.json
        raise UsageError(f"{run.config_path} holds a bad value ({exc})") from None
    if not run.last_checkpoint.exists():
        raise UsageError(f"{run.path} has no checkpoints/last.pt to resume from")
    dist, device = distributed.setup(config.device)
    previous_world, config.world_size = config.world_size, dist.world_size
    # A process killed while writing (kill -9, power loss) leaves its temporary file behind;
    # last.pt itself is always whole (written to a temporary name, then renamed).
    for stale in run.checkpoints.glob(".*.tmp") if dist.is_main else ():
        stale.unlink(missing_ok=True)
    # On the CPU: RNG states must stay CPU byte tensors; load_state_dict moves the rest to the device
    state = load_checkpoint(run.last_checkpoint, map_location="cpu")
    if state.get("kind") != "full":
        raise UsageError(f"{run.last_checkpoint} holds no training state to resume from")
    if state["config"].get("arch") != config.arch:
        raise UsageError(f"{run.last_checkpoint} is from architecture {state['config'].get('arch')!r}, not {config.arch!r}")
    evaluator = TrainingEval.open(config, registry, device) if dist.is_main else None
    loaded = dist.in_turn(lambda: _prepare(config, registry, progress=progress and dist.is_main))
    images, labels = condition_on_labels(config, arch_spec, loaded, resuming=True)
    trainer = Trainer(config, run, registry, images, device, labels=labels, dist=dist)
    try:
        trainer.load_state(state)
    except RuntimeError as exc:  # e.g. ngf or nz edited in config.json: the tensors no longer fit
        lines = [line.strip() for line in str(exc).strip().splitlines()]
        detail = next((line for line in lines[1:] if line), lines[0] if lines else "")  # the first mismatch
        raise UsageError(f"{run.last_checkpoint} does not fit the networks {run.config_path} describes: {detail}") from None
    if trainer.step > trainer.total_steps:
        raise UsageError(f"run {run.path} is already at step {trainer.step}; the new total "
                         f"({config.total} {config.unit}{'s' if config.total != 1 else ''}) must not be behind it")
    if previous_world != dist.world_size:
        _warn_world_change(trainer, previous_world)
    if dist.is_main:
        write_json(run.config_path, config.to_json())
    if evaluator is not None:
        evaluator.prepare(loaded, run.path, progress=progress)
        trainer.evaluator = evaluator
    _log_scale(trainer)
    if trainer.step >= trainer.total_steps:
        log.info("run %s already reached step %d of %d", run.path, trainer.step, trainer.total_steps)
        return trainer
    trainer.fit(progress=progress)
    return trainer


def _warn_world_change(trainer: Trainer, previous: int) -> None:
    cfg = trainer.config
    before = cfg.batch_size * cfg.accumulate * previous
    epochs = f"; an epoch is now {trainer.steps_per_epoch} steps" if cfg.unit == "epoch" else ""
    log.warning("run %s was trained by %d process%s (global batch %d) and continues with %d (global batch %d): "
                "the data order and the latents change from step %d on, so this is not what an uninterrupted "
                "run gives (steps still count generator updates%s)", trainer.run.path, previous,
                "es" if previous != 1 else "", before, cfg.world_size, cfg.global_batch_size, trainer.step, epochs)
