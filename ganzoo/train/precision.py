"""Mixed precision and memory format: what runs under autocast, and how gradients are scaled.

``amp``: ``off`` (fp32), ``bf16`` (autocast to bfloat16; same exponent range as fp32, so no
loss scaling), ``fp16`` (autocast to float16 with a GradScaler: fp16 gradients underflow without
it), ``auto`` (bf16 on a CUDA device that supports it when the batch is at least
``AUTO_BF16_MIN_BATCH``, else off). Why the batch size: on an H100 the reference DCGAN step
(ANCHORS.md) ran at 12.7k-13.8k images/s in fp32 and 10.8k in bf16 at batch 128, where the
step is bound by kernel launches and casts only add work, but 27.2k fp32 vs 33.9k bf16
(49.5k with channels_last) at batch 512. Mixed precision is a CUDA
feature here: on the CPU ``auto`` means off, and an explicit bf16/fp16 is refused, because CPU
autocast is slower than fp32 on the machines ganzoo's CPU users have.
"""

from __future__ import annotations

import contextlib

import torch

from ganzoo.errors import UsageError

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
AUTO_BF16_MIN_BATCH = 256  # below it, amp=auto stays in fp32 (see the module docstring)


def resolve_amp(amp: str, device: torch.device, batch_size: int | None = None) -> str:
    """The precision actually used: 'off', 'bf16' or 'fp16'."""
    if amp == "auto":
        big_enough = batch_size is None or batch_size >= AUTO_BF16_MIN_BATCH
        if device.type == "cuda" and big_enough and torch.cuda.is_bf16_supported():
            return "bf16"
        return "off"
    if amp in _DTYPES and device.type != "cuda":
        raise UsageError(f"amp={amp} needs a CUDA device (this run is on {device.type}); use amp=off")
    if amp not in ("off", *_DTYPES):
        raise UsageError(f"amp must be one of auto, off, bf16, fp16, not {amp!r}")
    return amp


class Precision:
    """The autocast context and the gradient scaler for one run."""

    def __init__(self, amp: str, device: torch.device, batch_size: int | None = None):
        self.mode = resolve_amp(amp, device, batch_size)
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
        self.backward(loss)
        self.step(optimizer)

    def backward(self, loss: torch.Tensor) -> None:
        """Gradients of ``loss`` (scaled for fp16); micro-batches of one step call it several times."""
        if self.scaler is None:
            loss.backward()
        else:
            self.scaler.scale(loss).backward()

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        if self.scaler is None:
            optimizer.step()
        else:
            self.scaler.step(optimizer)
            self.scaler.update()

    def state_dict(self) -> dict | None:
        return self.scaler.state_dict() if self.scaler is not None else None

    def load_state_dict(self, state: dict | None) -> None:
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)
