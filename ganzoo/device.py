"""Device selection: ``auto`` picks CUDA when it is usable, else the CPU."""

from __future__ import annotations

import torch

from ganzoo.errors import UsageError

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda was asked for, but no CUDA device is available (try --device auto)")
    if name not in DEVICES:
        raise UsageError(f"unknown device {name!r} (choose from {', '.join(DEVICES)})")
    return torch.device(name)
