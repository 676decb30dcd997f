"""Checkpoints: tensors and JSON-able metadata only, loaded with ``weights_only=True``.

Format (a dict): ``format`` = "ganzoo-checkpoint", ``format_version``, ``kind`` ("full" with
optimizer/RNG state for resuming, or "generator" for snapshots), ``config`` (the run's
config.json), ``generator`` / ``ema`` / ``discriminator`` state dicts, ``opt_g`` / ``opt_d``,
``progress`` (step, batches consumed) and ``rng`` states.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import torch

from ganzoo.errors import GanzooError, UsageError
from ganzoo.fileio import atomic_path

FORMAT = "ganzoo-checkpoint"
FORMAT_VERSION = 1


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write atomically: a crash mid-write leaves the previous file intact."""
    state = {"format": FORMAT, "format_version": FORMAT_VERSION, **state}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load safely (no code runs); a truncated or foreign file gives a one-line error."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"checkpoint {path} does not exist")
    if not zipfile.is_zipfile(path):  # torch.save writes a zip archive whose index is at its end
        raise GanzooError(f"{path} is not a readable ganzoo checkpoint (not a PyTorch file, or truncated)")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # the unpickler raises many types (KeyError, EOFError, ...) on foreign bytes
        # The unpickler's messages can be bare (a KeyError on a byte value reads "174812789"): name the type.
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        if len(first) > 160:
            first = first[:160].rsplit(" ", 1)[0] + " ..."
        reason = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
        raise GanzooError(f"{path} is not a readable ganzoo checkpoint ({reason})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise GanzooError(f"{path} is not a ganzoo checkpoint")
    if state.get("format_version", 0) > FORMAT_VERSION:
        raise GanzooError(f"{path} was written by a newer ganzoo (format {state['format_version']}); upgrade ganzoo")
    return state
