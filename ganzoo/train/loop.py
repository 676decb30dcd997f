"""The training loop. The engine owns the loop; plugins own the networks and the losses.

One step = the discriminator phase (``n_critic`` updates on real and generated batches), then
the generator phase (one update). The generated batch of the last D update is reused by the G
phase, as in the pytorch/examples DCGAN, so G runs forward once per step when n_critic is 1.

Exact resume: everything a step reads is either in the checkpoint (weights, optimizers, EMA,
the fp16 loss scale, the global RNG for dropout and penalties, the latent RNG) or a pure
function of the seed and the counters (the data order, see ``BatchFeed``). So on the CPU,
N + M steps in one go and N steps then ``--resume`` for M give bit-identical weights.

Class-conditional runs (``ArchitectureSpec.conditional``): D sees each real batch with its
labels, ``D(x, y)``; G's labels are drawn uniformly from the latent RNG right after its
latents, ``G(z, y)``, so they are checkpointed with it. Unconditional runs draw nothing more
and call ``G(z)`` / ``D(x)`` exactly as before.

Under torchrun the same loop runs on every rank (``ganzoo.train.distributed`` says how the
networks, the data and the RNGs are split); rank 0 alone writes samples, metrics and checkpoints.
With ``accumulate`` = A each optimizer step sums the gradients of A batches (D and G alike).
On CUDA the step can be one CUDA graph replay instead (``cuda_graph``, ``ganzoo.train.graphed``).
"""

from __future__ import annotations

import functools
import logging
import math
import time
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from ganzoo.checkpoint import save_checkpoint
from ganzoo.classes import GRID_COLUMNS, grid_classes
from ganzoo.config import TrainConfig
from ganzoo.data import BatchFeed
from ganzoo.data.augment import DiffAugment, FeedAugment
from ganzoo.errors import GanzooError
from ganzoo.images import save_grid
from ganzoo.networks import build_discriminator, build_generator, check_shapes
from ganzoo.run_dir import RunDir
from ganzoo.train.collapse import Collapse, CollapseWatch, diversity
from ganzoo.train.distributed import STOP_COLLAPSED, STOP_SIGNAL, Dist, rank_seed
from ganzoo.train.ema import EMA
from ganzoo.train.graphed import GraphedStep, plan, restore_optimizer_flags
from ganzoo.train.metrics import MetricsLog, read_metrics
from ganzoo.train.precision import Precision
from ganzoo.signals import deferred_stop
from ganzoo.train.tensorboard import TensorBoardLog

log = logging.getLogger("ganzoo")

SAMPLE_COUNT = 64  # images in each sample grid (8 x 8)
STANDING_SAMPLES = 1024  # latents behind the EMA generator's standing BatchNorm statistics (ema_bn=standing)
PLOT_EVERY_LOGS = 10  # redraw loss_curve.png every this many metric records (and at the end)


class Interrupted(GanzooError):
    """Ctrl-C or SIGTERM: raised after the checkpoint of the last whole step is safely written."""

    exit_code = 130

    def __init__(self, step: int, signal_name: str, run: RunDir):
        super().__init__(
            f"stopped by {signal_name} at step {step}; checkpoint saved to {run.last_checkpoint} "
            f"(continue with: ganzoo train --resume {run.path})"
        )
        self.step = step


class Collapsed(GanzooError):
    """The run failed (the discriminator won, or the samples collapsed) and ``on_collapse=stop``."""

    exit_code = 3


class NonFiniteLoss(GanzooError):
    """A loss became NaN or inf: training diverged. The last good checkpoint is kept."""


@dataclass
class StepStats:
    """Detached per-step values; summed on the device and read at log time only (no sync per step)."""

    loss_d: torch.Tensor
    loss_g: torch.Tensor
    d_real: torch.Tensor  # mean sigmoid(D(x))
    d_fake: torch.Tensor  # mean sigmoid(D(G(z))) in the D phase
    acc_real: torch.Tensor  # fraction of real images D calls real (logit > 0)
    acc_fake: torch.Tensor  # fraction of fakes D calls fake (logit < 0)
    gp: torch.Tensor | None = None  # the gradient penalty, for losses that have one
    r1: torch.Tensor | None = None  # E ||grad_x D(x)||^2 on real images, when --set r1 is on


def make_adam(model: torch.nn.Module, lr: float, betas: tuple[float, float], device: torch.device,
              capturable: bool = False) -> torch.optim.Adam:
    """Adam with the fused kernel where torch has one (CPU and CUDA): one kernel per parameter
    instead of a dozen elementwise ops; measured 40x faster than the default on the 2-core CPU.
    Its state dict is the same as the default Adam's, so checkpoints do not depend on it.
    ``capturable``: its step counters stay on the device, so a CUDA graph can capture ``step()``."""
    if device.type in ("cpu", "cuda"):
        return torch.optim.Adam(model.parameters(), lr=lr, betas=betas, fused=True, capturable=capturable)
    return torch.optim.Adam(model.parameters(), lr=lr, betas=betas)


class Trainer:
    def __init__(self, config: TrainConfig, run: RunDir, registry, images, device: torch.device,
                 labels=None, dist: Dist | None = None):
        self.config, self.run, self.device = config, run, device
        self.dist = dist or Dist()
        arch = registry.architecture(config.arch)
        self.conditional = arch.is_conditional(config.conditional)
        if self.conditional and (labels is None or config.num_classes is None):
            raise GanzooError(f"a conditional {config.arch} run needs the dataset's labels and num_classes")
        self.num_classes = config.num_classes if self.conditional else None
        params = config.model_params()
        torch.manual_seed(config.seed)
        self.G = build_generator(arch, params).to(device)
        self.D = build_discriminator(arch, params).to(device)
        check_shapes(arch, self.G, self.D, params, conditional=self.conditional)
        if config.channels_last:  # NHWC: what tensor cores want for convolutions under bf16/fp16
            self.G.to(memory_format=torch.channels_last)
            self.D.to(memory_format=torch.channels_last)
        # What the step runs: DDP wrappers under torchrun, G and D themselves otherwise
        self.G_step, self.D_step = self.dist.wrap(self.G, self.D, device, config.sync_bn, config.seed)
        loss_spec = registry.loss(config.loss)
        self.loss = loss_spec.build({"label_smoothing": config.label_smoothing})
        self.precision = Precision(config.amp, device, config.batch_size)
        graph = plan(config.cuda_graph, device, world_size=self.dist.world_size, accumulate=config.accumulate,
                     amp=self.precision.mode, diffaugment=config.diffaugment,
                     penalty=getattr(self.loss, "penalty", None) is not None, r1=config.r1 > 0, loss_name=loss_spec.name,
                     loss_capturable=loss_spec.capturable, arch_name=arch.name, arch_capturable=arch.capturable)
        if graph.notice and self.dist.is_main:
            (log.warning if config.cuda_graph == "true" else log.info)(graph.notice)
        self.opt_g = make_adam(self.G, config.lr_g, (config.beta1, config.beta2), device, capturable=graph.capture)
        self.opt_d = make_adam(self.D, config.lr_d, (config.beta1, config.beta2), device, capturable=graph.capture)
        self.ema = EMA(self.G, config.ema_decay) if config.ema and self.dist.is_main else None
        augment = FeedAugment(flip=config.flip, zoom=config.zoom, shear=config.shear, translate=config.translate)
        self.feed = BatchFeed(images, config.batch_size, device, seed=config.seed, channels_last=config.channels_last,
                              augment=augment, labels=labels if self.conditional else None,
                              rank=self.dist.rank, world_size=self.dist.world_size)
        # DiffAugment: the same kind of random transform on real and fake, in both phases (identity when off)
        self.diffaugment = DiffAugment(config.diffaugment) if config.diffaugment else (lambda x: x)
        # Latents come from their own generator, so nothing else that draws random numbers
        # (dropout, penalties, a plugin) changes them; its state is checkpointed.
        self.latent_rng = torch.Generator(device=device).manual_seed(config.seed + 1)
        # One fixed latent batch for every sample grid, drawn from its own generator.
        self.fixed_y = None
        if not self.conditional:
            self.fixed_z = torch.randn(SAMPLE_COUNT, config.nz, generator=torch.Generator().manual_seed(config.seed)).to(device)
        else:
            # one row per class (at most GRID_MAX_CLASSES rows), the same 8 latents in every row:
            # a column shows one latent through the classes, a row one class through the latents
            rows = grid_classes(self.num_classes)
            z = torch.randn(GRID_COLUMNS, config.nz, generator=torch.Generator().manual_seed(config.seed))
            self.fixed_z = z.repeat(len(rows), 1).to(device)  # (rows * 8, nz)
            self.fixed_y = torch.tensor(rows, dtype=torch.int64).repeat_interleave(GRID_COLUMNS).to(device)
        self.step = 0  # generator updates done
        self.batches = 0  # real batches consumed (the data order's only state)
        self.saved_step: int | None = None  # step of the last checkpoint written (the last good one)
        self.steps_per_epoch = max(1, self.feed.batches_per_epoch // (config.n_critic * config.accumulate))
        self.total_steps = config.steps if config.steps is not None else config.epochs * self.steps_per_epoch
        self._unchecked: torch.Tensor | None = None  # sum of the losses since the last finiteness check
        self.evaluator = None  # ganzoo.eval.training.TrainingEval when eval_every is on (set by train.run)
        # failure detection, against the diversity of a real batch (batch 0: a pure function of the seed)
        self.watch = CollapseWatch(config.collapse_window, diversity(self.feed.batch(0)[:SAMPLE_COUNT]))
        self._collapse: Collapse | None = None  # a failure found with on_collapse=stop: the run stops after this step
        self._bar = None  # the progress bar while fit() runs
        self.graphed = GraphedStep(self) if graph.capture else None  # the step as a CUDA graph replay
        self._stats_step: int | None = None  # step of the EMA generator's standing BatchNorm statistics

    # ---------------------------------------------------------------- one step
    def _latents(self, n: int) -> torch.Tensor:
        """(n, nz) latents for this rank: its slice of the global batch drawn from the shared stream."""
        W, r = self.dist.world_size, self.dist.rank
        z = torch.randn(n * W, self.config.nz, device=self.device, generator=self.latent_rng)  # (W*n, nz)
        return z[r * n:(r + 1) * n] if W > 1 else z

    def _classes(self, n: int) -> torch.Tensor:
        """(n,) class ids for G on this rank, drawn like ``_latents`` from the shared stream."""
        W, r = self.dist.world_size, self.dist.rank
        y = torch.randint(self.num_classes, (n * W,), device=self.device, generator=self.latent_rng)  # (W*n,)
        return y[r * n:(r + 1) * n] if W > 1 else y

    @staticmethod
    def _call(net, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """``net(x, y)`` for a conditional run, ``net(x)`` otherwise."""
        return net(x) if y is None else net(x, y)

    def train_step(self) -> StepStats:
        """One step: a CUDA graph replay when the run captures it, else ``eager_step``."""
        return self.graphed() if self.graphed is not None else self.eager_step()

    def update_ema(self) -> None:
        """The EMA after a step; before ``ema_start`` the average follows the weights (early weights are worth nothing)."""
        if self.ema is None:
            return
        if self.step + 1 > self.config.ema_start:
            self.ema.update(self.G)
        else:
            self.ema.copy_from(self.G)

    def eager_step(self) -> StepStats:
        cfg, G, D, amp = self.config, self.G_step, self.D_step, self.precision
        B, A = cfg.batch_size, cfg.accumulate
        penalty = getattr(self.loss, "penalty", None)
        gp = r1 = None

        # Phase 1: discriminator, n_critic updates on real and generated batches (A micro-batches each).
        for k in range(cfg.n_critic):
            last = k == cfg.n_critic - 1
            self.opt_d.zero_grad(set_to_none=True)
            zs, losses = [], []
            for m in range(A):
                real = self.feed.batch(self.batches)  # (B, 3, S, S) in [-1, 1]
                y_real = self.feed.labels(self.batches) if self.conditional else None  # (B,) int64 classes
                self.batches += 1
                z = self._latents(B)  # (B, nz)
                y_fake = self._classes(B) if self.conditional else None  # (B,) int64, drawn right after z
                with self.dist.accumulating(D, m == A - 1):
                    with amp.autocast():
                        with torch.set_grad_enabled(last and A == 1):  # keep the graph only for the fake reused by G
                            fake = self._call(G, z, y_fake)  # (B, 3, S, S)
                        real_logits = self._call(D, self.diffaugment(real), y_real).view(-1)  # (B,)
                        fake_logits = self._call(D, self.diffaugment(fake.detach()), y_fake).view(-1)  # (B,)
                        loss_d = self.loss.discriminator_loss(real_logits, fake_logits)
                    if penalty is not None:
                        # In fp32: a double backward in fp16 would underflow, and the scaler cannot see inside it.
                        # Conditional: the interpolates are scored with the real images' labels.
                        D_real = functools.partial(self.D, y=y_real) if self.conditional else self.D
                        loss_d = loss_d + penalty(D_real, real, fake.detach().float())
                        gp = getattr(self.loss, "last_penalty", None)
                    if cfg.r1 > 0:
                        r1 = self._r1(real, y_real)
                        loss_d = loss_d + cfg.r1 / 2 * r1
                        r1 = r1.detach()
                    amp.backward(loss_d / A if A > 1 else loss_d)
                zs.append((z, y_fake))
                losses.append(loss_d.detach())
            amp.step(self.opt_d)
        if A > 1:
            loss_d = torch.stack(losses).mean()

        # Phase 2: generator, one update through the just-updated discriminator. D's weights
        # need no gradients here (stylegan2-ada does the same): their backward is skipped, and
        # the unwrapped D runs, so that its DDP reducer does not wait for them.
        self.D.requires_grad_(False)
        try:
            self.opt_g.zero_grad(set_to_none=True)
            losses = []
            for m in range(A):
                with self.dist.accumulating(G, m == A - 1):
                    with amp.autocast():
                        z, y_fake = zs[m]
                        if A > 1:  # regenerated with gradients: keeping A graphs would cost what accumulating saves
                            fake = self._call(G, z, y_fake)
                        loss_g = self.loss.generator_loss(self._call(self.D, self.diffaugment(fake), y_fake).view(-1))
                    amp.backward(loss_g / A if A > 1 else loss_g)
                losses.append(loss_g.detach())
            amp.step(self.opt_g)
        finally:
            self.D.requires_grad_(True)
        if A > 1:
            loss_g = torch.stack(losses).mean()
        self.update_ema()

        with torch.no_grad():
            real_logits, fake_logits = real_logits.float(), fake_logits.float()
            return StepStats(
                loss_d=loss_d.detach().float(), loss_g=loss_g.detach().float(),
                d_real=torch.sigmoid(real_logits).mean(), d_fake=torch.sigmoid(fake_logits).mean(),
                acc_real=(real_logits > 0).float().mean(), acc_fake=(fake_logits < 0).float().mean(),
                gp=gp, r1=r1,
            )

    def _r1(self, real: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """R1 (Mescheder et al. 2018): E ||grad_x D(x)||^2 over real images, un-augmented; the
        step adds r1 / 2 times it to D's loss. Like wgan-gp's penalty it runs in fp32 (a double
        backward in fp16 would underflow) and on the unwrapped D. Cost: one more D forward and a
        double backward per D update (README "The default recipe" has the measured price)."""
        x = real.detach().float().requires_grad_(True)  # (B, 3, S, S)
        scores = self._call(self.D, x, y).view(-1).float()  # (B,)
        (grad,) = torch.autograd.grad(scores.sum(), x, create_graph=True)  # (B, 3, S, S)
        return grad.square().sum(dim=(1, 2, 3)).mean()  # x is fp32, so is its gradient

    # ---------------------------------------------------------------- the loop
    def fit(self, progress: bool = True) -> None:
        cfg = self.config
        resumed = self.step if self.step else None
        main = self.dist.is_main  # rank 0 writes the run directory; the other ranks only train
        metrics = MetricsLog(self.run.metrics_path if main else None, resume_step=resumed)
        # TensorBoard drops events at steps >= purge_step: the checkpoint's own step stays logged
        board = TensorBoardLog(self.run.path / "tensorboard" if main else None, purge_step=resumed + 1 if resumed else None)
        bar = self._bar = tqdm(total=self.total_steps, initial=self.step, unit="step", dynamic_ncols=True,
                               disable=None if progress and main else True, desc=f"{cfg.arch}/{cfg.data}")
        sums: dict[str, torch.Tensor] = {}
        window_start, window_steps, logs = time.perf_counter(), 0, 0
        try:
            with deferred_stop() as stop, self.dist.failures(
                    lambda: f"{self._kept()} (continue with --resume {self.run.path})"):
                while self.step < self.total_steps:
                    stats = self.train_step()
                    self.step += 1
                    window_steps += 1
                    for key, value in vars(stats).items():
                        if value is not None:
                            sums[key] = sums[key] + value if key in sums else value
                    watch = stats.loss_d + stats.loss_g
                    self._unchecked = watch if self._unchecked is None else self._unchecked + watch
                    bar.update(1)
                    if self.step % cfg.log_every == 0 or self.step == self.total_steps:
                        self._check_finite()
                        record = self._record(sums, window_steps, time.perf_counter() - window_start)
                        found = self.watch.on_record(record)
                        record["collapse"] = self.watch.active
                        metrics.write(record)
                        board.write(record)
                        logs += 1
                        if logs % PLOT_EVERY_LOGS == 0 and main:
                            self.plot()
                        bar.set_postfix(loss_d=f"{record['loss_d']:.3f}", loss_g=f"{record['loss_g']:.3f}",
                                        img_s=f"{record['images_per_s']:.0f}",
                                        **({"COLLAPSED": self.watch.active} if self.watch.reported else {}))
                        if found is not None:
                            self._collapsed(found)
                        sums, window_start, window_steps = {}, time.perf_counter(), 0
                    self._at_boundary()
                    if self.evaluator is not None and self.evaluator.due(self):
                        self.evaluator.evaluate(self, metrics, board)
                    reason = STOP_COLLAPSED if self._collapse is not None else STOP_SIGNAL if stop else 0
                    decided = self.dist.stop_vote(reason)  # every rank stops at the same step
                    if decided:
                        self.save()
                        if decided == STOP_COLLAPSED:
                            raise Collapsed(self._collapse.message(stop=True) + f"; checkpoint saved to "
                                            f"{self.run.last_checkpoint}" if self._collapse is not None
                                            else "rank 0 found the run collapsed (on_collapse=stop)")
                        raise Interrupted(self.step, stop.requested or "a signal to another rank", self.run)
                self.dist.finish_votes()
        finally:
            bar.close()
            metrics.close()
            board.close()
            if logs and main:
                self.plot()

    def _kept(self) -> str:
        """What survives a stop: the last checkpoint, for the one-line message."""
        if self.saved_step is None:
            return "no checkpoint had been written yet"
        return f"the last good checkpoint is {self.run.last_checkpoint} (step {self.saved_step})"

    def _collapsed(self, found: Collapse) -> None:
        """Say it once (above the progress bar when there is one), or with on_collapse=stop end
        the run after this step (the stop vote tells the other ranks; the error line says it)."""
        if self.config.on_collapse == "stop":
            self._collapse = self._collapse or found
            return
        if not self.dist.is_main:
            return
        message = found.message(stop=False)
        if self._bar is not None and not self._bar.disable:
            self._bar.write(f"Warning: {message}")
        else:
            log.warning("Warning: %s", message)

    def _check_finite(self) -> None:
        """Stop on a NaN/inf loss before anything derived from it is written (one sync; over all ranks)."""
        if self._unchecked is None:
            return
        value, self._unchecked = float(self.dist.all_sum(self._unchecked)), None
        if math.isfinite(value):
            return
        kept = self._kept()
        raise NonFiniteLoss(
            f"a loss became {value} by step {self.step}: training diverged and stopped; {kept}. "
            "Try a lower learning rate, another --loss, or amp=off"
        )

    def _record(self, sums: dict, n: int, elapsed: float) -> dict:
        sums = self.dist.mean_of(sums)  # the means over all ranks
        record = {"step": self.step, "epoch": round(self.batches / self.feed.batches_per_epoch, 4)}
        record.update({k: round(float(v) / n, 6) for k, v in sums.items()})
        record["d_accuracy"] = round((record["acc_real"] + record["acc_fake"]) / 2, 6)
        # images/s of the whole job: every rank's real batches, all micro-batches
        record["images_per_s"] = round(n * self.config.global_batch_size * self.config.n_critic / max(elapsed, 1e-9), 2)
        record["lr_g"] = self.opt_g.param_groups[0]["lr"]
        record["lr_d"] = self.opt_d.param_groups[0]["lr"]
        record["time"] = round(time.time(), 3)
        return record

    def _at_boundary(self) -> None:
        """Samples and checkpoints when a step (or epoch) count in the run's unit is due."""
        cfg = self.config
        if cfg.unit == "epoch":
            if self.step % self.steps_per_epoch and self.step != self.total_steps:
                return
            point = -(-self.step // self.steps_per_epoch)
            name = f"epoch_{point:03d}"
        else:
            point = self.step
            name = f"step_{point:06d}"
        end = self.step == self.total_steps
        if end or point % cfg.sample_every == 0:
            self.sample(self.run.samples / f"{name}.png")
        if end or point % cfg.checkpoint_every == 0:
            self.save(snapshot=self.run.checkpoints / f"{name}.pt")

    # ---------------------------------------------------------------- outputs
    @property
    def sampler(self) -> torch.nn.Module:
        """The generator that samples and exports: the EMA weights when on (``ema_bn=standing``:
        with BatchNorm statistics recomputed for those weights, once per step at most)."""
        if self.ema is None:
            return self.G
        self._standing_stats()
        return self.ema.model

    def _standing_stats(self) -> None:
        if self.config.ema_bn != "standing" or self._stats_step == self.step:
            return
        n, nz = self.config.batch_size, self.config.nz

        def draw(gen: torch.Generator) -> tuple:
            z = torch.randn(n, nz, device=self.device, generator=gen)  # (n, nz)
            if not self.conditional:
                return (z,)
            return z, torch.randint(self.num_classes, (n,), device=self.device, generator=gen)  # (n,)

        # the latents are a pure function of (seed, step): sampling twice, or resuming, gives the same statistics
        self.ema.standing_stats(draw, batches=max(4, -(-STANDING_SAMPLES // n)),
                                seed=(self.config.seed << 32) + self.step)
        self._stats_step = self.step

    @torch.no_grad()
    def sample(self, path) -> None:
        """A grid from the fixed latent batch, in eval mode (as the exported generator runs); rank 0's."""
        if not self.dist.is_main:
            return
        G = self.sampler
        was_training = G.training
        G.eval()
        try:
            if self.fixed_y is not None:
                images = G(self.fixed_z, self.fixed_y)  # (rows * 8, 3, S, S)
                save_grid(images, path, nrow=GRID_COLUMNS)  # one class per row
            else:
                images = G(self.fixed_z)  # (64, 3, S, S)
                save_grid(images, path)
        finally:
            G.train(was_training)
        found = self.watch.on_grid(self.step, images, row=GRID_COLUMNS if self.fixed_y is not None else None)
        if found is not None:
            self._collapsed(found)

    def plot(self) -> None:
        from ganzoo.train.plots import plot_losses

        records = read_metrics(self.run.metrics_path) if self.run.metrics_path.exists() else []
        if records:
            cfg = self.config
            plot_losses(records, self.run.loss_curve, title=f"{cfg.arch} on {cfg.data}, loss {cfg.loss}")

    def state(self) -> dict | None:
        """The full training state, on rank 0 (None on the others, which send it their RNG states)."""
        rng = {"torch": torch.get_rng_state(), "latent": self.latent_rng.get_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        # Each rank's own RNG (dropout, penalties): rank r resumes from entry r. The latent stream is shared.
        ranks = self.dist.gather({k: v for k, v in rng.items() if k != "latent"})
        if not self.dist.is_main:
            return None
        state = {
            "kind": "full",
            "config": self.config.to_json(),
            "generator": self.G.state_dict(),
            "discriminator": self.D.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "progress": {"step": self.step, "batches": self.batches},
            "rng": rng,
        }
        if self.ema is not None:
            state["ema"] = self.sampler.state_dict()  # the EMA weights (and their standing statistics)
            state["progress"]["ema_updates"] = self.ema.updates
        if self.precision.scaler is not None:
            state["scaler"] = self.precision.state_dict()
        if ranks is not None:
            state["distributed"] = {"world_size": self.dist.world_size, "rng": ranks}
        return state

    def load_state(self, state: dict) -> None:
        self.G.load_state_dict(state["generator"])
        self.D.load_state_dict(state["discriminator"])
        # each optimizer keeps its own flags (capturable or not) whichever kind of run saved the state
        restore_optimizer_flags(self.opt_g, lambda: self.opt_g.load_state_dict(state["opt_g"]))
        restore_optimizer_flags(self.opt_d, lambda: self.opt_d.load_state_dict(state["opt_d"]))
        self.step = int(state["progress"]["step"])
        self.batches = int(state["progress"]["batches"])
        self.saved_step = self.step
        if self.ema is not None:
            if "ema" in state:
                self.ema.load_state_dict(state["ema"], int(state["progress"].get("ema_updates", self.step)))
                self._stats_step = self.step  # saved with its standing statistics (when ema_bn=standing)
            else:  # EMA switched on for a run that had none: start the average from the weights
                self.ema = EMA(self.G, self.config.ema_decay)
        self.precision.load_state_dict(state.get("scaler"))
        # torch accepts RNG states only as CPU byte tensors, whatever device the generator is on
        rng = {k: v.cpu() if isinstance(v, torch.Tensor) else v for k, v in state["rng"].items()}
        rng.update(self._rank_rng(state))
        rng = {k: v for k, v in rng.items() if v is not None}
        torch.set_rng_state(rng["torch"])
        if "latent" in rng and rng["latent"].numel() == self.latent_rng.get_state().numel():
            self.latent_rng.set_state(rng["latent"])
        elif "latent" in rng:  # CPU and CUDA generators keep different states: moved between devices
            self.latent_rng.manual_seed(self.config.seed + 1 + self.step)
            log.info("the run moved between CPU and CUDA: latents continue from a new seed (not bit-exact)")
        if "cuda" in rng and self.device.type == "cuda":
            torch.cuda.set_rng_state(rng["cuda"], self.device)

    def _rank_rng(self, state: dict) -> dict:
        """This rank's own RNG states from a checkpoint: entry ``rank`` when the world size is the
        one it was saved with; else rank 0 keeps ``rng`` and the others start new streams."""
        saved = state.get("distributed", {}).get("rng") if isinstance(state.get("distributed"), dict) else None
        W, r = self.dist.world_size, self.dist.rank
        if saved is not None and len(saved) == W:
            return {k: v.cpu() for k, v in saved[r].items()}
        if r == 0:
            return {}
        gen = torch.Generator().manual_seed(rank_seed(self.config.seed, r) + self.step)
        return {"torch": gen.get_state(), "cuda": None}  # CUDA's keeps the (seed, rank) seeding

    def save(self, snapshot=None) -> None:
        """Rewrite last.pt (full state); optionally also a small generator-only snapshot.

        Never after a non-finite loss: the last good checkpoint must survive a divergence.
        Every rank calls it (the RNG states are gathered); rank 0 writes.
        """
        self._check_finite()
        state = self.state()
        self.saved_step = self.step
        if state is None:
            return
        save_checkpoint(self.run.last_checkpoint, state)
        if snapshot is not None:
            small = {"kind": "generator", "config": state["config"], "generator": state["generator"],
                     "progress": state["progress"]}
            if "ema" in state:
                small["ema"] = state["ema"]
            save_checkpoint(snapshot, small)
