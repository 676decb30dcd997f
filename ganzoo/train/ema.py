"""An exponential moving average of the generator's weights.

Samples drawn from the averaged weights are smoother and usually better than the raw ones
(Karras et al. 2018, Yazici et al. 2019). The average is a full copy of the generator, so its
``state_dict`` has exactly the generator's keys: the checkpoint stores it under ``ema`` and
export/generation load it into a freshly built generator. Buffers (BatchNorm running
statistics) are copied, not averaged: they already are running averages.
"""

from __future__ import annotations

import copy

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

    def state_dict(self) -> dict:
        return self.model.state_dict()

    def load_state_dict(self, state: dict, updates: int) -> None:
        self.model.load_state_dict(state)
        self.updates = updates
