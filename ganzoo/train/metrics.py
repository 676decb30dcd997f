"""metrics.jsonl: one JSON object per logged step, appended and flushed as training goes."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ganzoo.fileio import atomic_path


class MetricsLog:
    """``path`` None: a log that keeps nothing (the ranks other than 0 of a distributed run)."""

    def __init__(self, path: str | Path | None, resume_step: int | None = None):
        if path is None:
            self._file = None
            return
        self.path = Path(path)
        if resume_step is not None and self.path.exists():
            self._truncate_after(resume_step)
        self._file = open(self.path, "a", buffering=1)

    def _truncate_after(self, step: int) -> None:
        """On resume, drop records logged after the checkpoint (they will be logged again)."""
        kept = []
        for line in self.path.read_text().splitlines():
            try:
                if json.loads(line).get("step", 0) <= step:
                    kept.append(line)
            except json.JSONDecodeError:
                continue  # a line cut by a crash
        with atomic_path(self.path) as tmp:
            tmp.write_text("".join(line + "\n" for line in kept))

    def write(self, record: dict) -> None:
        if self._file is None:
            return
        self._file.write(json.dumps(record) + "\n")

    def close(self) -> None:
        if self._file is None:
            return
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()


def read_metrics(path: str | Path) -> list[dict]:
    records = []
    for line in Path(path).read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records
