"""An exponential moving average of the generator's weights.

Samples drawn from the averaged weights are smoother and usually better than the raw ones
(Karras et al. 2018, Yazici et al. 2019). The average is a full copy of the generator, so its
``state_dict`` has exactly the generator's keys: the checkpoint stores it under ``ema`` and
export/generation load it into a freshly built generator.

BatchNorm statistics: the running statistics of the raw generator describe the raw weights'
activations, not the averaged weights'. ``ema_bn="copy"`` copies them anyway (what most code
does); ``ema_bn="standing"`` (the default) recomputes them for the averaged weights before each
sample grid, evaluation and checkpoint, from a fixed number of batches of fresh latents run
through the averaged generator in training mode ("standing statistics", Brock et al. 2019).
The latents come from a generator seeded by the step, so the statistics, and resume, stay
exact. Spectral norm's power-iteration vectors, where G has them, advance in those
training-mode passes too: they then belong to the averaged weights as well. README "The default
recipe (measured)" has what it changed: 4 of 5 seeds better, mean FID 164.6 -> 141.6 in the
earlier machine's run of the quality benchmark.
"""

from __future__ import annotations

import copy
from typing import Callable

import torch
from torch import nn


class EMA:
    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)
        self.updates = 0

    def effective_decay(self) -> float:
        # Warm-up as in TensorFlow's ExponentialMovingAverage(num_updates=...): early on the
        # average follows the weights closely, so short runs do not sample the initial weights.
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        d = self.effective_decay()
        ema_p = [p for p in self.model.parameters()]
        src_p = [p.detach() for p in model.parameters()]
        if ema_p:
            torch._foreach_lerp_(ema_p, src_p, 1.0 - d)  # ema += (1 - d) * (p - ema)
        for e, b in zip(self.model.buffers(), model.buffers()):
            e.copy_(b)
        self.updates += 1

    @torch.no_grad()
    def copy_from(self, model: nn.Module) -> None:
        """Follow the weights exactly (before ``ema_start``); the warm-up counter stays at 0."""
        for e, p in zip(self.model.parameters(), model.parameters()):
            e.copy_(p.detach())
        for e, b in zip(self.model.buffers(), model.buffers()):
            e.copy_(b)

    @torch.no_grad()
    def standing_stats(self, draw: Callable[[torch.Generator], tuple], batches: int, seed: int) -> bool:
        """Recompute every BatchNorm's running statistics for the averaged weights.

        ``draw(gen)`` returns the generator's inputs for one batch (``(z,)`` or ``(z, y)``) drawn
        from ``gen``. Each BatchNorm averages over all ``batches`` (momentum None: a cumulative
        mean). Returns False (and changes nothing) when the generator has no BatchNorm.
        """
        norms = [m for m in self.model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
                 and m.track_running_stats]
        if not norms or any(isinstance(m, nn.SyncBatchNorm) for m in norms):
            return False  # SyncBatchNorm would all-reduce with ranks that are not sampling: keep the copy
        momenta = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None
        gen = torch.Generator(device=next(self.model.parameters()).device).manual_seed(seed)
        self.model.train()
        try:
            for _ in range(batches):
                self.model(*draw(gen))
        finally:
            self.model.eval()
            for m, momentum in zip(norms, momenta):
                m.momentum = momentum
        return True

    def state_dict(self) -> dict:
        return self.model.state_dict()

    def load_state_dict(self, state: dict, updates: int) -> None:
        self.model.load_state_dict(state)
        self.updates = updates
