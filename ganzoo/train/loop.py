"""The training loop. The engine owns the loop; plugins own the networks and the losses.

One step = the discriminator phase (``n_critic`` updates on real and generated batches), then
the generator phase (one update). The generated batch of the last D update is reused by the G
phase, as in the pytorch/examples DCGAN, so G runs forward once per step when n_critic is 1.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from ganzoo.checkpoint import save_checkpoint
from ganzoo.config import TrainConfig
from ganzoo.data import BatchFeed
from ganzoo.data.augment import DiffAugment, FeedAugment
from ganzoo.images import save_grid
from ganzoo.networks import build_discriminator, build_generator, check_shapes
from ganzoo.run_dir import RunDir
from ganzoo.train.metrics import MetricsLog

SAMPLE_COUNT = 64  # images in each sample grid (8 x 8)


class Interrupted(Exception):
    """Raised after Ctrl-C once the checkpoint is safely written."""

    def __init__(self, step: int):
        super().__init__(step)
        self.step = step


@dataclass
class StepStats:
    """Detached per-step values; summed on the device and read at log time only."""

    loss_d: torch.Tensor
    loss_g: torch.Tensor
    d_real: torch.Tensor  # mean sigmoid(D(x))
    d_fake: torch.Tensor  # mean sigmoid(D(G(z))) in the D phase
    acc_real: torch.Tensor  # fraction of real images D calls real
    acc_fake: torch.Tensor  # fraction of fakes D calls fake


class Trainer:
    def __init__(self, config: TrainConfig, run: RunDir, registry, images, device: torch.device):
        self.config, self.run, self.device = config, run, device
        arch = registry.architecture(config.arch)
        params = config.model_params()
        torch.manual_seed(config.seed)
        self.G = build_generator(arch, params).to(device)
        self.D = build_discriminator(arch, params).to(device)
        check_shapes(arch, self.G, self.D, params)
        self.loss = registry.loss(config.loss).build({"label_smoothing": config.label_smoothing})
        betas = (config.beta1, config.beta2)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=config.lr_g, betas=betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=config.lr_d, betas=betas)
        augment = FeedAugment(flip=config.flip, zoom=config.zoom, shear=config.shear, translate=config.translate)
        self.feed = BatchFeed(images, config.batch_size, device, seed=config.seed, channels_last=config.channels_last,
                              augment=augment)
        # DiffAugment: the same kind of random transform on real and fake, in both phases (identity when off)
        self.diffaugment = DiffAugment(config.diffaugment) if config.diffaugment else (lambda x: x)
        # One fixed latent batch for every sample grid, drawn from its own generator.
        self.fixed_z = torch.randn(SAMPLE_COUNT, config.nz, generator=torch.Generator().manual_seed(config.seed)).to(device)
        self.step = 0  # generator updates done
        self.batches = 0  # real batches consumed (the data order's only state)
        self.steps_per_epoch = max(1, self.feed.batches_per_epoch // config.n_critic)
        self.total_steps = config.steps if config.steps is not None else config.epochs * self.steps_per_epoch

    # ---------------------------------------------------------------- one step
    def train_step(self) -> StepStats:
        cfg, G, D = self.config, self.G, self.D
        B = cfg.batch_size

        # Phase 1: discriminator, n_critic updates on real and generated batches.
        for k in range(cfg.n_critic):
            real = self.feed.batch(self.batches)  # (B, 3, S, S) in [-1, 1]
            self.batches += 1
            last = k == cfg.n_critic - 1
            z = torch.randn(B, cfg.nz, device=self.device)
            with torch.set_grad_enabled(last):  # keep the graph only for the fake reused by G
                fake = G(z)  # (B, 3, S, S)
            real_logits = D(self.diffaugment(real)).view(-1)
            fake_logits = D(self.diffaugment(fake.detach())).view(-1)
            loss_d = self.loss.discriminator_loss(real_logits, fake_logits)
            penalty = getattr(self.loss, "penalty", None)
            if penalty is not None:
                loss_d = loss_d + penalty(D, real, fake.detach())
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_d.step()

        # Phase 2: generator, one update through the just-updated discriminator.
        loss_g = self.loss.generator_loss(D(self.diffaugment(fake)).view(-1))
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()

        with torch.no_grad():
            return StepStats(
                loss_d=loss_d.detach(), loss_g=loss_g.detach(),
                d_real=torch.sigmoid(real_logits).mean(), d_fake=torch.sigmoid(fake_logits).mean(),
                acc_real=(real_logits > 0).float().mean(), acc_fake=(fake_logits < 0).float().mean(),
            )

    # ---------------------------------------------------------------- the loop
    def fit(self, progress: bool = True) -> None:
        cfg = self.config
        metrics = MetricsLog(self.run.metrics_path, resume_step=self.step if self.step else None)
        bar = tqdm(total=self.total_steps, initial=self.step, unit="step", dynamic_ncols=True,
                   disable=None if progress else True, desc=f"{cfg.arch}/{cfg.data}")
        sums: dict[str, torch.Tensor] = {}
        window_start, window_steps = time.perf_counter(), 0
        try:
            while self.step < self.total_steps:
                stats = self.train_step()
                self.step += 1
                window_steps += 1
                for key, value in vars(stats).items():
                    sums[key] = sums[key] + value if key in sums else value
                bar.update(1)
                if self.step % cfg.log_every == 0 or self.step == self.total_steps:
                    elapsed = time.perf_counter() - window_start
                    record = self._record(sums, window_steps, elapsed)
                    metrics.write(record)
                    bar.set_postfix(loss_d=f"{record['loss_d']:.3f}", loss_g=f"{record['loss_g']:.3f}",
                                    img_s=f"{record['images_per_s']:.0f}")
                    sums, window_start, window_steps = {}, time.perf_counter(), 0
                self._at_boundary()
        except KeyboardInterrupt:
            bar.close()
            self.save()
            metrics.close()
            raise Interrupted(self.step) from None
        bar.close()
        metrics.close()

    def _record(self, sums: dict, n: int, elapsed: float) -> dict:
        record = {"step": self.step, "epoch": round(self.batches / self.feed.batches_per_epoch, 4)}
        record.update({k: round(float(v) / n, 6) for k, v in sums.items()})
        record["d_accuracy"] = round((record["acc_real"] + record["acc_fake"]) / 2, 6)
        record["images_per_s"] = round(n * self.config.batch_size * self.config.n_critic / max(elapsed, 1e-9), 2)
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
    @torch.no_grad()
    def sample(self, path) -> None:
        """A grid from the fixed latent batch, in eval mode (as the exported generator runs)."""
        self.G.eval()
        try:
            save_grid(self.G(self.fixed_z), path)
        finally:
            self.G.train()

    def state(self) -> dict:
        rng = {"torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return {
            "kind": "full",
            "config": self.config.to_json(),
            "generator": self.G.state_dict(),
            "discriminator": self.D.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "progress": {"step": self.step, "batches": self.batches},
            "rng": rng,
        }

    def load_state(self, state: dict) -> None:
        self.G.load_state_dict(state["generator"])
        self.D.load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.step = int(state["progress"]["step"])
        self.batches = int(state["progress"]["batches"])
        torch.set_rng_state(state["rng"]["torch"])
        if "cuda" in state["rng"] and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["rng"]["cuda"], self.device)

    def save(self, snapshot=None) -> None:
        """Rewrite last.pt (full state); optionally also a small generator-only snapshot."""
        state = self.state()
        save_checkpoint(self.run.last_checkpoint, state)
        if snapshot is not None:
            save_checkpoint(snapshot, {"kind": "generator", "config": state["config"],
                                       "generator": state["generator"], "progress": state["progress"]})
