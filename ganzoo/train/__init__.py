"""The training engine: the loop (``loop.Trainer``), metrics and the run orchestration."""

from ganzoo.train.run import resume_run, start_run

__all__ = ["resume_run", "start_run"]
