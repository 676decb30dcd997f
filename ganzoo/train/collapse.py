"""Failure detection: the two ways a GAN run dies without its losses becoming NaN.

1. **The discriminator has won.** D(G(z)) (the mean sigmoid of D's logits on generated images,
   from the logged records) stays below ``D_FAKE_BELOW`` for a whole window of steps while the
   generator loss rises. D then tells every sample apart and G's gradient carries nothing it
   can use: in the DCGAN failure it is a grey noise texture for the rest of the run.
2. **The samples have collapsed.** The fixed-latent sample grid's diversity (mean pairwise
   RMS distance between its images) falls below ``DIVERSITY_BELOW`` times the same measure on a
   real batch: many latents, one image. Grids of the first window are not judged: a freshly
   initialised generator draws near-identical images in eval mode. A class-conditional grid
   (one class per row) is judged row by row, by the mean of the rows' diversities: a generator
   that draws one image per class has collapsed although its rows differ.

Each is said once per run (log and progress bar) with what to try; every metrics record gets
``collapse`` (true while a condition holds) and ``--set on_collapse=stop`` ends the run with a
checkpoint and exit code 3. The thresholds are deliberately far from healthy training: under
the default recipe D(G(z)) stays in 0.1-0.5 and grid diversity near the real data's.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import torch

D_FAKE_BELOW = 0.01
DIVERSITY_BELOW = 0.1

HINTS = ("try the defaults (they use spectral normalization, hinge loss and DiffAugment), or --loss hinge, "
         "--set diffaugment=color,translation, a lower --lr-d, or --set label_smoothing=0.1")


def diversity(images: torch.Tensor) -> float:
    """Mean pairwise RMS distance between images (N, 3, H, W) in [-1, 1], N >= 2."""
    flat = images.detach().float().flatten(1)  # (N, 3*H*W)
    n = flat.shape[0]
    dist = torch.cdist(flat, flat) / flat.shape[1] ** 0.5  # (N, N) RMS distance per pixel
    return float(dist.sum() / (n * (n - 1)))


@dataclass
class Collapse:
    """A detected failure: ``kind`` is ``d_won`` or ``low_diversity``."""

    kind: str
    step: int
    detail: str

    def message(self, stop: bool) -> str:
        what = {"d_won": "the discriminator has won", "low_diversity": "the samples have collapsed"}[self.kind]
        if stop:
            return f"step {self.step}: {what} ({self.detail}); stopped (on_collapse=stop). To fix it, {HINTS}"
        return (f"step {self.step}: {what} ({self.detail}); training goes on (--set on_collapse=stop ends "
                f"such runs). To fix it, {HINTS}")


class CollapseWatch:
    """Fed each metrics record and each sample grid; says when a run has failed."""

    def __init__(self, window: int, real_diversity: float):
        self.window = window  # in steps
        self.real_diversity = real_diversity
        self.records: deque[tuple[int, float, float]] = deque()  # (step, d_fake, loss_g)
        self.d_won = False
        self.low_diversity = False
        self.reported: set[str] = set()

    @property
    def active(self) -> bool:
        return self.d_won or self.low_diversity

    def _new(self, kind: str, step: int, detail: str) -> Collapse | None:
        if kind in self.reported:
            return None
        self.reported.add(kind)
        return Collapse(kind, step, detail)

    def on_record(self, record: dict) -> Collapse | None:
        step = record["step"]
        self.records.append((step, record["d_fake"], record["loss_g"]))
        while self.records and self.records[0][0] <= step - self.window:
            self.records.popleft()
        steps = [s for s, _, _ in self.records]
        # the window must be covered: its oldest record at most one log interval after its start
        covered = len(steps) >= 3 and steps[0] - (steps[1] - steps[0]) <= step - self.window
        self.d_won = covered and all(d < D_FAKE_BELOW for _, d, _ in self.records) and _slope(self.records) > 0
        if self.d_won:
            return self._new("d_won", step, f"D(G(z)) below {D_FAKE_BELOW} for the last {self.window} steps "
                                            "while the generator loss rose")
        return None

    def on_grid(self, step: int, images: torch.Tensor, row: int | None = None) -> Collapse | None:
        """``images`` (N, 3, H, W); ``row``: images per row of a class-conditional grid (one class each)."""
        # Not in the first window: a freshly initialised generator in eval mode (BatchNorm's
        # initial running statistics) draws near-identical images whatever the latent.
        if row is not None and len(images) >= 2 * row:
            rows = images.unflatten(0, (len(images) // row, row))  # (classes, row, 3, H, W)
            spread = sum(diversity(r) for r in rows) / len(rows)
        else:
            spread = diversity(images)
        ratio = spread / max(self.real_diversity, 1e-8)
        self.low_diversity = step >= self.window and ratio < DIVERSITY_BELOW
        if self.low_diversity:
            return self._new("low_diversity", step, f"the sample grid's diversity is {ratio:.3f} of the real "
                                                    f"images', below {DIVERSITY_BELOW}")
        return None


def _slope(records) -> float:
    """Least-squares slope of the generator loss over the window's steps."""
    steps = torch.tensor([s for s, _, _ in records], dtype=torch.float64)
    loss = torch.tensor([g for _, _, g in records], dtype=torch.float64)
    steps = steps - steps.mean()
    return float((steps * (loss - loss.mean())).sum() / (steps * steps).sum().clamp_min(1e-12))
