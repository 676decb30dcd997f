"""Optional TensorBoard event files (``RUN/tensorboard/``) when the ``tensorboard`` package is
installed; without it, nothing happens. metrics.jsonl stays the record of truth."""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger("ganzoo")


class TensorBoardLog:
    def __init__(self, logdir: str | Path | None, purge_step: int | None = None):
        self._writer = None
        if logdir is None:  # not rank 0
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # tensorboard not installed: an optional extra
            return
        # purge_step: the first step a resumed run logs again; events from the killed run at or
        # after it are hidden, as metrics.jsonl drops its records after the checkpoint
        self._writer = SummaryWriter(log_dir=str(logdir), purge_step=purge_step)
        log.debug("TensorBoard events in %s", logdir)

    @property
    def enabled(self) -> bool:
        return self._writer is not None

    def write(self, record: dict, prefix: str = "train") -> None:
        if self._writer is None:
            return
        step = record["step"]
        for key, value in record.items():
            if key not in ("step", "time") and isinstance(value, (int, float)):
                self._writer.add_scalar(f"{prefix}/{key}", value, step)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
