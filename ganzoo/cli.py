"""The ``ganzoo`` command line.

Only click and small ganzoo modules are imported at start-up; each command imports torch and
the engine when it runs, so ``ganzoo --help`` and ``ganzoo plugins`` stay fast.
Errors a user can cause print one line and exit 2 (usage) or 1 (runtime); ``--verbose`` shows
the traceback.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import datetime

import click

from ganzoo import __version__
from ganzoo.errors import GanzooError, UsageError

log = logging.getLogger("ganzoo")


class GanzooGroup(click.Group):
    """Turns GanzooError (and Ctrl-C) into one line and an exit code."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["ganzoo.argv"] = list(args)  # what `train --nproc` hands on to torchrun
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except GanzooError as exc:
            self._fail(ctx, str(exc), exc.exit_code)
        except OSError as exc:  # a path that cannot be read or written: no traceback either
            where = f"{exc.filename}: " if exc.filename else ""
            self._fail(ctx, f"{where}{exc.strerror or exc}", 1)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(130)

    @staticmethod
    def _fail(ctx: click.Context, message: str, code: int):
        rank = _rank()
        if rank > 0 and code in (2, 3):
            # 2: every rank got the same command line; 3: the ranks stopped together on a collapse
            ctx.exit(code)  # rank 0 says what is wrong
        if rank > 0 and not message.startswith("rank "):
            message = f"[rank {rank}] {message}"
        if ctx.meta.get("ganzoo.verbose"):  # the traceback too, but the same exit code
            import traceback

            traceback.print_exc()
        click.echo(f"Error: {message}", err=True)
        ctx.exit(code)


def _set_verbose(ctx: click.Context, _param, value: bool) -> bool:
    if value:
        ctx.meta["ganzoo.verbose"] = True
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    # --verbose is ganzoo's debug output (and tracebacks), not every library's: matplotlib alone
    # logs hundreds of font-search lines at DEBUG. Exporter logs are opened by the exporter itself.
    logging.getLogger().setLevel(logging.INFO)  # basicConfig is a no-op the second time (`ganzoo CMD -v`)
    log.setLevel(logging.DEBUG if ctx.meta.get("ganzoo.verbose") else logging.INFO if _rank() == 0 else logging.ERROR)
    return value


def _rank() -> int:
    """The torchrun rank of this process (0 outside torchrun), without importing torch."""
    return int(os.environ.get("RANK", "0") or 0) if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1 else 0


verbose_option = click.option(
    "-v", "--verbose", is_flag=True, expose_value=False, is_eager=True, callback=_set_verbose,
    help="Show debug logs and full tracebacks.",
)


@click.group(cls=GanzooGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ganzoo")
@verbose_option
def main() -> None:
    """ganzoo: train GANs from plugins, export generators to ONNX, mass-produce images."""


# ------------------------------------------------------------------------------------ plugins
# The kinds `plugins --json` lists: DESIGN.md's three, and the extractors `ganzoo eval` takes
# (eval is in the same CLI contract, so a script must be able to see which extractors exist).
JSON_KINDS = ("architecture", "dataset", "loss", "extractor")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of a table.")
@verbose_option
def plugins(as_json: bool) -> None:
    """List the architectures, datasets, losses, presets and evaluation feature extractors,
    and the plugin each came from.

    Plugins that failed to load (or that GANZOO_PLUGINS disabled) are listed last, with the
    reason; everything else is listed as usual. --json prints the architectures, datasets,
    losses and extractors (keys kind, name, description, plugin, distribution, version, status) and reports
    the plugins that did not load on stderr. GANZOO_PLUGINS unset loads every plugin,
    empty loads only the built-ins, "a,b" loads the built-ins and the third-party plugins a
    and b (distribution, entry-point or module names).
    """
    from ganzoo.plugins import ENV_VAR, load_registry

    registry = load_registry(report=False)
    entries = registry.all()
    for u in registry.unloaded:
        if u.cause is not None:  # the plugin's own traceback, on stderr with -v
            log.debug("%s; traceback:", u.message, exc_info=u.cause)
    if as_json:
        # DESIGN.md's kinds plus extractor (see JSON_KINDS); presets are in the table, and
        # plugins that did not load are one line each on stderr.
        rows = [e.as_json() for e in entries if e.kind in JSON_KINDS]
        click.echo(json.dumps(rows, indent=2))
        for u in registry.unloaded:
            click.echo(f"ganzoo: {u.message}", err=True)
        return
    for kind in ("architecture", "dataset", "loss", "preset", "extractor"):
        rows = [e for e in entries if e.kind == kind]
        if not rows:
            continue
        click.secho({"loss": "losses"}.get(kind, kind + "s") + ":", bold=True)
        width = max(len(e.name) for e in rows)
        for e in rows:
            origin = e.plugin + (f" ({e.distribution} {e.version})" if e.distribution else "")
            click.echo(f"  {e.name:<{width}}  {e.spec.description}  [{origin}]")
    for status, title in (("failed", "failed plugins"), ("disabled", f"disabled plugins ({ENV_VAR})")):
        rows = [u for u in registry.unloaded if u.status == status]
        if rows:
            click.secho(f"{title}:", bold=True, fg="red" if status == "failed" else None)
            for u in rows:
                click.echo(f"  {u.message}")


# ------------------------------------------------------------------------------------ train
@main.command(context_settings={"show_default": True})
@click.option("--arch", help="Architecture name (see `ganzoo plugins`).")
@click.option("--data", help="Dataset name [default: shapes, or the preset's].")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Where the dataset lives (or goes, with --download).")
@click.option("--download", is_flag=True, default=None, help="Download the dataset into --data-dir first.")
@click.option("--cache-dir", type=click.Path(file_okay=False),
              help="Where preprocessed image caches go [default: $GANZOO_CACHE_DIR, else $XDG_CACHE_HOME/ganzoo or ~/.cache/ganzoo].")
@click.option("--epochs", type=int, help="Passes over the data [default: the architecture's or 5].")
@click.option("--steps", type=int, help="Generator updates (instead of --epochs).")
@click.option("--batch-size", type=int)
@click.option("--image-size", type=int)
@click.option("--nz", type=int, help="Latent size [default: the architecture's].")
@click.option("--lr-g", type=float, help="Generator learning rate.")
@click.option("--lr-d", type=float, help="Discriminator learning rate.")
@click.option("--beta1", type=float, help="Adam beta1 for both networks.")
@click.option("--beta2", type=float, help="Adam beta2 for both networks.")
@click.option("--loss", help="Loss name (see `ganzoo plugins`).")
@click.option("--preset", help="Named hyperparameters (see `ganzoo plugins`); flags override it.")
@click.option("--set", "set_items", multiple=True, metavar="KEY=VALUE",
              help="Architecture, dataset or training parameter (repeatable), e.g. --set ngf=32.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default=None, help="[default: auto]")
@click.option("--seed", type=int, help="Seed for weights, latents and data order [default: 0].")
@click.option("--out", type=click.Path(), help="New run directory [default: runs/ARCH-DATA-TIME].")
@click.option("--resume", type=click.Path(), help="Continue this run directory; --steps/--epochs set the new total.")
@click.option("--sample-every", type=int, help="Sample grid every N epochs (or steps with --steps).")
@click.option("--checkpoint-every", type=int, help="Checkpoint every N epochs (or steps with --steps).")
@click.option("--nproc", type=int, help="Train on this many processes of this machine (torchrun + DDP: one per GPU, "
              "or CPU processes); see README, Scale-out.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@verbose_option
def train(arch, data, preset, set_items, out, resume, no_progress, nproc, **flags) -> None:
    """Train a GAN and write a run directory (config, checkpoints, samples, metrics).

    \b
    Training parameters for --set, besides the flags' own names:
      n_critic=5  label_smoothing=0.1  ema=true  ema_decay=0.999  ema_start=1000
      r1=10 (R1 gradient penalty on real images, any loss; 0 = off)
      ema_bn=standing|copy (the EMA generator's BatchNorm statistics: recomputed, or G's)
      conditional=true|false (class-conditional architectures, on labelled data)
      amp=auto|off|bf16|fp16  channels_last=true  log_every=10
      eval_every=N  eval_num=5000  eval_extractor=inception   (FID/KID of the EMA generator)
      accumulate=4 (batches per optimizer step)  sync_bn=true (SyncBatchNorm, CUDA)
      on_collapse=warn|stop  collapse_window=200  (failure detection; stop = exit 3)
      cuda_graph=auto|true|false  (the step as one CUDA graph replay; auto: on CUDA where it can be)
    Losses and presets: see `ganzoo plugins`. Ctrl-C saves a checkpoint; continue with --resume.
    Several GPUs or machines: torchrun --nproc-per-node K -m ganzoo train ... (or --nproc K).
    """
    if nproc is not None:
        from ganzoo.train.launch import launch, without_nproc

        code = launch(nproc, without_nproc(click.get_current_context().meta["ganzoo.argv"]))
        if code:
            sys.exit(code)
        return
    from ganzoo.train import distributed
    from ganzoo.train.loop import Interrupted

    try:
        with distributed.Dist(distributed.env_rank(), distributed.env_world_size()).failures(
                lambda: "the run directory keeps its last checkpoint, if any"):  # outside the loop too
            _train(arch, data, preset, set_items, out, resume, no_progress, flags)
    except Interrupted as stop:  # Ctrl-C / SIGTERM: the checkpoint is saved; one line, no "Error:"
        distributed.shutdown()
        if _rank() == 0:
            click.echo(str(stop), err=True)
        sys.exit(stop.exit_code)
    distributed.shutdown()


def _train(arch, data, preset, set_items, out, resume, no_progress, flags) -> None:
    from pathlib import Path

    from ganzoo.config import resolve_config
    from ganzoo.train import resume_run, start_run
    from ganzoo.train.distributed import restart_count

    say = click.echo if _rank() == 0 else (lambda *a, **k: None)
    if not resume and out and restart_count() and (Path(out) / "checkpoints" / "last.pt").is_file():
        # torchrun --max-restarts started this command again after a failure: continue the run
        log.warning("torchrun restart %d: continuing %s from its last checkpoint", restart_count(), out)
        trainer = resume_run(out, {k: flags.get(k) for k in ("steps", "epochs")}, progress=not no_progress)
        say(f"Run {trainer.run.path}: step {trainer.step}/{trainer.total_steps}.")
        return
    if resume:
        given = {k: v for k, v in flags.items() if v is not None}
        if arch or data or preset or set_items or out:
            raise UsageError("--resume continues a run as configured: drop --arch/--data/--preset/--set/--out")
        trainer = resume_run(resume, given, progress=not no_progress)
        say(f"Run {trainer.run.path}: step {trainer.step}/{trainer.total_steps}.")
        return
    from ganzoo.plugins import load_registry

    registry = load_registry()
    config = resolve_config(registry, arch=arch, data=data, preset=preset, flags=flags, set_items=set_items)
    out = out or f"runs/{config.arch}-{config.data}-{datetime.now():%Y%m%d-%H%M%S}"
    log.info("training %s on %s -> %s", config.arch, config.data, out)
    trainer = start_run(config, out, progress=not no_progress, registry=registry)
    say(f"Done: {trainer.step} step{'s' if trainer.step != 1 else ''}. Run directory: {trainer.run.path}")


# ------------------------------------------------------------------------------------ export
@main.command(context_settings={"show_default": True})
@click.argument("source", type=click.Path())
@click.option("--onnx", "onnx_path", required=True, type=click.Path(dir_okay=False), help="The .onnx file to write.")
@click.option("--fp16", is_flag=True, help="Half-precision weights, input and output (for GPU inference).")
@click.option("--opset", type=int, help="ONNX opset [default: 18; up to the newest both onnx and onnxruntime support].")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@verbose_option
def export(source, onnx_path, fp16, opset, force) -> None:
    """Export the generator of SOURCE (a run directory or checkpoint) to one ONNX file.

    EMA weights when the checkpoint has them; BatchNorm folded; dynamic batch size. The file
    is checked (onnx checker, onnxruntime vs PyTorch at batch 1, 7, 64) before it is put in place.
    """
    from ganzoo.export import export_generator

    result = export_generator(source, onnx_path, fp16=fp16, opset=opset, force=force)
    errors = ", ".join(f"batch {n}: {e:.2g}" for n, e in result.per_batch.items())
    extra = ""
    if result.unfolded:
        extra += f", {result.unfolded} BatchNorm not folded (not exact: conditional or pre-activation BatchNorm)"
    if result.baked:
        extra += f", {result.baked} spectral-norm weights baked in"
    inputs = f"inputs z and y (int64 class ids, {result.num_classes} classes), " if result.num_classes else ""
    click.echo(f"Wrote {result.path}: {result.arch} generator, {result.weights} weights, {result.precision}, "
               f"opset {result.opset}, {inputs}{result.folded} BatchNorm folded{extra}.")
    click.echo(f"Check: onnx checker ok; onnxruntime vs PyTorch max abs error {result.max_abs_error:.2g} "
               f"({errors}; tolerance {result.tolerance:g}).")


# ------------------------------------------------------------------------------------ generate
@main.command(context_settings={"show_default": True})
@click.argument("source", type=click.Path())
@click.option("--num", type=int, required=True, help="How many images.")
@click.option("--out", required=True, type=click.Path(), help="A directory (PNGs), FILE.zip (PNGs) or FILE.npy (uint8 N,H,W,3).")
@click.option("--batch-size", type=int, default=256)
@click.option("--seed", type=int, default=0, help="Same seed, same images, whatever the backend and batch size.")
@click.option("--backend", type=click.Choice(["torch", "onnx"]), help="[default: onnx for an .onnx SOURCE, else torch]")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto")
@click.option("--grid", type=click.Path(dir_okay=False),
              help="Also write a PNG grid of the first 64 images (a conditional generator: one row per class, "
                   "8 images each, at most 16 classes).")
@click.option("--class", "class_text", metavar="NAME_OR_ID[,...]",
              help="Class-conditional generators: these classes, round-robin [default: all classes].")
@click.option("--devices", help="Spread the batches over devices, one process each: all (every GPU), 0,1 (these GPUs) "
              "or cpu:N (N CPU processes). Same images as one device.")
@click.option("--workers", type=int, help="PNG encoding threads [default: CPU count; 0 = inline].")
@click.option("--force", is_flag=True, help="Overwrite an existing output file (or write into a non-empty directory).")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@verbose_option
def generate(source, num, out, batch_size, seed, backend, device, grid, class_text, devices, workers, force,
             no_progress) -> None:
    """Generate NUM images from SOURCE: a run directory, a checkpoint or an .onnx file.

    The onnx backend runs on onnxruntime alone (no PyTorch), on CUDA when its provider loads,
    else on the CPU. Ctrl-C or SIGTERM stops after the current batch (exit 130). Each file is
    written atomically; an interrupted directory keeps the images written so far, so rerun
    with --force, or write a .zip for all or nothing.
    """
    from ganzoo.generate import GenerationStopped, check_request, open_backend
    from ganzoo.generate import generate as run_generate
    from ganzoo.generate.run import choose_classes

    check_request(num, out, batch_size=batch_size, workers=workers, grid=grid, force=force)  # before loading
    gen = open_backend(source, backend, device, batch_size, devices=devices)
    classes = choose_classes(gen, class_text)
    click.echo(f"Backend: {gen.description}", err=True)
    if classes is not None:
        shown = ", ".join(gen.class_names[c] for c in classes[:8]) + (", ..." if len(classes) > 8 else "")
        click.echo(f"Classes: {len(classes)} of {gen.num_classes}, round-robin ({shown})", err=True)
    try:
        result = run_generate(gen, num, out, seed=seed, batch_size=batch_size, grid=grid, force=force,
                              progress=not no_progress, workers=workers, classes=classes)
    except GenerationStopped as stop:  # like an interrupted training run: one line, no "Error:"
        click.echo(str(stop), err=True)
        sys.exit(stop.exit_code)
    finally:
        if hasattr(gen, "close"):
            gen.close()  # the device worker processes
    click.echo(f"Wrote {result.num} images to {out} in {result.seconds:.1f} s "
               f"({result.num / result.seconds:.0f} images/s){f'; grid {grid}' if grid else ''}.")


# ------------------------------------------------------------------------------------ eval
@main.command("eval", context_settings={"show_default": True})
@click.argument("source", type=click.Path())
@click.option("--real", required=True, help="Reference images: a dataset name (see `ganzoo plugins`) or a folder.")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Where the --real dataset lives [default: the run's, when SOURCE is a run of it].")
@click.option("--cache-dir", type=click.Path(file_okay=False), help="Image and statistics caches [default: as for train].")
@click.option("--metrics", default="fid,kid", help="Comma-separated: fid, kid, mifid, is, pr (precision/recall).")
@click.option("--num", type=int, help="Images to score [default: 10000 from a generator; every image of a folder, .zip or .npy].")
@click.option("--batch-size", type=int, default=64)
@click.option("--seed", type=int, default=0, help="Latent seed for a generator SOURCE (as `ganzoo generate --seed`).")
@click.option("--extractor", default="inception", help="Feature extractor (see `ganzoo plugins`).")
@click.option("--inception-weights", type=click.Path(dir_okay=False),
              help="The Inception v3 weights file [default: $GANZOO_INCEPTION_WEIGHTS, else the cache dir's weights/].")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@click.option("--no-progress", is_flag=True, help="No progress bars.")
@verbose_option
def eval_cmd(source, real, data_dir, cache_dir, metrics, num, batch_size, seed, extractor, inception_weights,
             device, as_json, no_progress) -> None:
    """Score SOURCE against --real: FID, KID, MiFID, Inception Score, precision/recall.

    SOURCE is a run directory, a checkpoint or an .onnx file (images generated with --seed),
    or images already made: a folder, a .zip of PNGs or a .npy uint8 array (N, H, W, 3). The
    real images are brought to SOURCE's image size through the training data path and their
    features are cached. Every figure is labelled with the extractor (and its weights' hash)
    that produced it; figures from different extractors are not comparable. A run directory
    SOURCE also gets the result appended to RUN/eval.jsonl.
    """
    from ganzoo.eval.job import append_eval_log, evaluate

    result = evaluate(source, real, metrics=metrics, num=num, batch_size=batch_size, seed=seed, extractor=extractor,
                      weights=inception_weights, data_dir=data_dir, cache_dir=cache_dir, device=device,
                      progress=not no_progress)
    if result.run_dir is not None:
        path = append_eval_log(result.run_dir, result)
        log.info("appended to %s", path)
    if as_json:
        click.echo(json.dumps(result.as_json(), indent=2))
        return
    click.echo(f"{result.num_fake} generated images from {result.source} vs {result.real}, "
               f"{result.image_size}x{result.image_size}; extractor {result.extractor.label}"
               f"{' (real statistics from the cache)' if result.real_from_cache else ''}")
    click.echo(result.table())
