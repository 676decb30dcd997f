"""Mixed precision and memory format: what runs under autocast, and how gradients are scaled.

``amp``: ``off`` (fp32), ``bf16`` (autocast to bfloat16; same exponent range as fp32, so no
loss scaling), ``fp16`` (autocast to float16 with a GradScaler: fp16 gradients underflow without
it), ``auto`` (bf16 on a CUDA device that supports it, else off). Mixed precision is a CUDA
feature here: on the CPU ``auto`` means off, and an explicit bf16/fp16 is refused, because CPU
autocast is slower than fp32 on the machines ganzoo's CPU users have.
"""

from __future__ import annotations

import contextlib

import torch

from ganzoo.errors import UsageError

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_amp(amp: str, device: torch.device) -> str:
    """The precision actually used: 'off', 'bf16' or 'fp16'."""
    if amp == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return "bf16"
        return "off"
    if amp in _DTYPES and device.type != "cuda":
        raise UsageError(f"amp={amp} needs a CUDA device (this run is on {device.type}); use amp=off")
    if amp not in ("off", *_DTYPES):
        raise UsageError(f"amp must be one of auto, off, bf16, fp16, not {amp!r}")
    return amp


class Precision:
    """The autocast context and the gradient scaler for one run."""

    def __init__(self, amp: str, device: torch.device):
        self.mode = resolve_amp(amp, device)
        self.device = device
        self.scaler = torch.amp.GradScaler("cuda") if self.mode == "fp16" else None

    def autocast(self):
        if self.mode == "off":
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=_DTYPES[self.mode])

    def backward_step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        """loss.backward() and optimizer.step(), through the scaler for fp16.

        The scale is updated after every optimizer step, not once per training step: with
        n_critic > 1 the D optimizer steps several times, and a GradScaler refuses a second
        step() of one optimizer before update().
        """
        if self.scaler is None:
            loss.backward()
            optimizer.step()
        else:
            self.scaler.scale(loss).backward()
            self.scaler.step(optimizer)
            self.scaler.update()

    def state_dict(self) -> dict | None:
        return self.scaler.state_dict() if self.scaler is not None else None

    def load_state_dict(self, state: dict | None) -> None:
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)
