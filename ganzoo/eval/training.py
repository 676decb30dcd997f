"""``--set eval_every=N``: FID and KID of the sampler (the EMA generator when EMA is on) during
training, against the training images' cached statistics.

The extractor is opened when the run starts, so a missing weights file stops the run before
any data is decoded or any step is taken, with the same one line as ``ganzoo eval``. Each
evaluation draws the same ``eval_num`` latents (numpy, from the run's seed, as ``ganzoo
generate`` does) and touches no RNG the training steps read, so ``--resume`` stays exact.
Results go to metrics.jsonl (a record with ``fid``, ``kid``, ``kid_std`` and the extractor's
label), TensorBoard (``eval/<extractor>/fid``...) and the loss curve; the generator with the
lowest FID so far is kept in ``checkpoints/best.pt`` (written atomically).

``eval_every`` counts in the run's unit, like ``sample_every``; the last step is always scored.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import numpy as np
import torch

from ganzoo.checkpoint import load_checkpoint, save_checkpoint
from ganzoo.classes import class_ids
from ganzoo.eval.extractor import Extractor, array_batches, open_extractor
from ganzoo.eval.metrics import FeatureSet, fid, kid
from ganzoo.eval.real import images_key
from ganzoo.eval.stats import real_features
from ganzoo.generate.latents import latent_batches
from ganzoo.images import to_uint8

log = logging.getLogger("ganzoo")

BEST = "best.pt"
KID_SUBSETS = 10  # a tenth of `ganzoo eval`'s 100: the mean is as good, its std is rougher, and it costs seconds, not tens
LATENT_SEED_OFFSET = 7919  # eval latents differ from the sample grid's and the training steps'


class TrainingEval:
    def __init__(self, config, extractor: Extractor, batch_size: int):
        self.config, self.extractor, self.batch_size = config, extractor, batch_size
        self.real: FeatureSet | None = None
        self.best: float = math.inf

    @classmethod
    def open(cls, config, registry, device: torch.device) -> "TrainingEval | None":
        """None when eval_every is off; else the extractor, built (a missing file is one line, now)."""
        if not config.eval_every:
            return None
        extractor = open_extractor(registry, config.eval_extractor, None, device)
        return cls(config, extractor, min(config.batch_size, 256))

    def prepare(self, loaded, run_dir: Path, progress: bool = True) -> None:
        """Real statistics of the training images (cached), and the best FID so far on resume."""
        images = loaded.images
        describe = f"{self.config.data} ({len(images)} training images)"
        self.real, _, _ = real_features(
            self.extractor, images_key(loaded, images), self.config.image_size,
            lambda: self.extractor.features(array_batches(images, self.batch_size), len(images), progress, "real features"),
            describe, self.config.cache_dir)
        best = Path(run_dir) / "checkpoints" / BEST
        if best.is_file():
            try:
                self.best = float(load_checkpoint(best).get("eval", {}).get("fid", math.inf))
            except Exception:  # noqa: BLE001 - an unreadable best.pt is replaced by the next best one
                self.best = math.inf

    def due(self, trainer) -> bool:
        if trainer.step == trainer.total_steps:
            return True
        if self.config.unit == "epoch":
            if trainer.step % trainer.steps_per_epoch:
                return False
            return (trainer.step // trainer.steps_per_epoch) % self.config.eval_every == 0
        return trainer.step % self.config.eval_every == 0

    @torch.no_grad()
    def _generated(self, G: torch.nn.Module, device: torch.device, conditional: bool = False) -> FeatureSet:
        cfg = self.config

        def batches():
            done = 0
            for z in latent_batches(cfg.seed + LATENT_SEED_OFFSET, (cfg.nz,), cfg.eval_num, self.batch_size):
                z = torch.from_numpy(z).to(device)  # (n, nz)
                if cfg.num_classes is None or not conditional:
                    yield to_uint8(G(z)).cpu().numpy()  # (n, S, S, 3)
                else:  # every class in turn, as `ganzoo generate` and `ganzoo eval` draw them
                    y = torch.from_numpy(class_ids(np.arange(done, done + len(z)), range(cfg.num_classes))).to(device)
                    yield to_uint8(G(z, y)).cpu().numpy()
                done += len(z)

        return self.extractor.features(batches(), cfg.eval_num, progress=False)

    def evaluate(self, trainer, metrics, board) -> dict:
        """Score the sampler now; log the record; keep best.pt. Returns the record."""
        started = time.perf_counter()
        G = trainer.sampler
        was_training = G.training
        G.eval()
        try:
            fake = self._generated(G, trainer.device, conditional=trainer.conditional)
        finally:
            G.train(was_training)
        record = {"step": trainer.step, "fid": round(fid(self.real, fake), 6)}
        record["kid"], record["kid_std"] = (round(v, 8) for v in kid(self.real, fake, subsets=KID_SUBSETS))
        record.update({"eval_num": len(fake), "eval_extractor": self.extractor.label,
                       "eval_seconds": round(time.perf_counter() - started, 2), "time": round(time.time(), 3)})
        metrics.write(record)
        board.write({k: record[k] for k in ("step", "fid", "kid")}, prefix=f"eval/{self.extractor.name}")
        improved = record["fid"] < self.best
        if improved:
            self.best = record["fid"]
            self._save_best(trainer, record)
        log.info("step %d: FID %.4f, KID %.6f (%s, %d images)%s", trainer.step, record["fid"], record["kid"],
                 self.extractor.label, len(fake), "; the best so far: checkpoints/best.pt" if improved else "")
        return record

    def _save_best(self, trainer, record: dict) -> None:
        state = {"kind": "generator", "config": trainer.config.to_json(), "generator": trainer.G.state_dict(),
                 "progress": {"step": trainer.step, "batches": trainer.batches},
                 "eval": {k: record[k] for k in ("step", "fid", "kid", "eval_extractor", "eval_num")}}
        if trainer.ema is not None:
            state["ema"] = trainer.sampler.state_dict()  # with its standing statistics (ema_bn=standing)
        save_checkpoint(trainer.run.checkpoints / BEST, state)
