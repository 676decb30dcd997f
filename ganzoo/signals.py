"""Stop requests (Ctrl-C, SIGTERM) that take effect between training steps or generated batches.

A KeyboardInterrupt raised in the middle of a step would leave the discriminator updated and
the generator not: a checkpoint written then would not resume exactly. So the first Ctrl-C (or
a SIGTERM from a scheduler) only sets a flag that the loop reads after each step; a second
Ctrl-C interrupts at once, for a step that hangs. ``ganzoo generate`` reads the same flag after
each batch and unwinds normally, so a SIGTERM removes the temporary .zip/.npy like a Ctrl-C
does (Python's default SIGTERM action ends the process without running any cleanup).
Outside ``ganzoo.train`` so that the onnx backend can use it without importing torch.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator


class StopFlag:
    def __init__(self) -> None:
        self.requested: str | None = None  # the signal's name once one arrived

    def __bool__(self) -> bool:
        return self.requested is not None


@contextlib.contextmanager
def deferred_stop() -> Iterator[StopFlag]:
    flag = StopFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag  # signal handlers can only be set from the main thread
        return

    def handler(signum, _frame):
        if signum == signal.SIGINT and flag:
            raise KeyboardInterrupt  # the second Ctrl-C
        flag.requested = signal.Signals(signum).name

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield flag
    finally:
        for s, h in previous.items():
            if signal.getsignal(s) is handler:  # not where code inside chose another (see ignore_sigterm)
                signal.signal(s, h)


def ignore_sigterm() -> None:
    """From now on SIGTERM does nothing in this process: for a process that is already ending on
    its own with an error it has yet to print (a distributed rank whose peer died; torchrun then
    sends SIGTERM to the survivors, and the default action would end it silently first)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
