"""``ganzoo train --nproc K``: torchrun on this machine, for the user who does not want to type it.

It is ``torchrun --standalone --nproc-per-node K -m ganzoo train ...`` with the same arguments
minus ``--nproc``, run in this process through ``torch.distributed.run`` (the same code as the
``torchrun`` command): ``--standalone`` picks a free port on localhost, so two jobs on one
machine do not collide. What it adds: OMP_NUM_THREADS = cores / K when unset (torchrun's own
default is 1, which leaves most of a CPU idle), and one line instead of torchrun's report when
a rank dies (the ranks that stop say why themselves). For more processes than one machine,
restarts or another rendezvous, call torchrun itself (README, "Scale-out").
"""

from __future__ import annotations

import logging
import os
import signal

from ganzoo.errors import GanzooError, UsageError


def without_nproc(argv: list[str]) -> list[str]:
    """``argv`` with every ``--nproc N`` / ``--nproc=N`` taken out."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out


def launch(nproc: int, argv: list[str]) -> int:
    """Run ``ganzoo <argv>`` on ``nproc`` local processes; the exit code of the job."""
    if nproc < 1:
        raise UsageError(f"--nproc must be at least 1, got {nproc}")
    if "TORCHELASTIC_RUN_ID" in os.environ or int(os.environ.get("WORLD_SIZE", "1") or 1) > 1:
        raise UsageError("--nproc starts torchrun itself; under torchrun, drop --nproc")
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, cores // nproc)))
    # The elastic agent logs each step of a shutdown at WARNING/ERROR; the ranks report their own errors.
    for name in [n for n in logging.root.manager.loggerDict if n.startswith("torch.distributed.elastic")] + [
            "torch.distributed.elastic"]:  # its modules set their own levels: each one, not just the parent
        logging.getLogger(name).setLevel(logging.CRITICAL)
    args = parse_args(["--standalone", "--nproc-per-node", str(nproc), "-m", "ganzoo", *argv])
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        run(args)
        return 0
    except SignalException as exc:  # Ctrl-C or SIGTERM: the agent passed it on; the ranks saved and said so
        return 128 + int(exc.sigval)
    except ChildFailedError as exc:
        rank, failure = exc.get_first_failure()
        codes = {f.exitcode for f in exc.failures.values()}
        if failure.exitcode > 0 and all(c > 0 for c in codes):
            return max(codes) if len(codes) == 1 else 1  # the ranks printed their own one-line errors
        how = f"was killed by {failure.signal_name()}" if failure.exitcode < 0 else f"exited with {failure.exitcode}"
        raise GanzooError(f"rank {rank} (pid {failure.pid}) {how}; torchrun stopped the other processes") from None
    finally:
        for s, h in handlers.items():
            signal.signal(s, h)
