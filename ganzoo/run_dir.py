"""The run directory, the unit a user handles.

    RUN/config.json          the resolved TrainConfig (rebuilds the run)
    RUN/checkpoints/last.pt  full training state, rewritten atomically
    RUN/checkpoints/epoch_005.pt | step_000500.pt   generator-only snapshots (small)
    RUN/samples/epoch_005.png | step_000500.png     grids from one fixed latent batch
    RUN/metrics.jsonl        one JSON object per logged step
    RUN/loss_curve.png       losses and D's outputs over the steps, redrawn as training goes
"""

from __future__ import annotations

import json
from pathlib import Path

from ganzoo.errors import UsageError
from ganzoo.fileio import write_json


class RunDir:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    config_path = property(lambda self: self.path / "config.json")
    checkpoints = property(lambda self: self.path / "checkpoints")
    samples = property(lambda self: self.path / "samples")
    metrics_path = property(lambda self: self.path / "metrics.jsonl")
    last_checkpoint = property(lambda self: self.checkpoints / "last.pt")
    loss_curve = property(lambda self: self.path / "loss_curve.png")

    def is_run(self) -> bool:
        return self.config_path.is_file()

    def check_new(self) -> None:
        """Refuse an existing non-empty directory (a ganzoo run there gets a --resume hint)."""
        if not self.path.exists():
            return
        if not self.path.is_dir():
            raise UsageError(f"--out {self.path} exists and is not a directory")
        if any(self.path.iterdir()):
            if self.is_run():
                raise UsageError(
                    f"{self.path} already holds a ganzoo run: continue it with --resume {self.path}, "
                    "or choose a new --out"
                )
            raise UsageError(f"--out {self.path} exists and is not empty; ganzoo writes only into a new or empty directory")

    def create(self, config_json: dict) -> None:
        """Make the directory tree and write config.json. Never writes into a non-empty directory."""
        self.check_new()
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        self.samples.mkdir(exist_ok=True)
        write_json(self.config_path, config_json)

    @classmethod
    def open(cls, path: str | Path) -> "RunDir":
        run = cls(path)
        if not run.is_run():
            raise UsageError(f"{run.path} is not a ganzoo run directory (no config.json)")
        return run

    def read_config(self) -> dict:
        try:
            return json.loads(self.config_path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise UsageError(f"cannot read {self.config_path}: {exc}") from None
