"""Data-parallel training on ``torch.distributed``: what a process does differently when torchrun
started it as one rank of several.

``torchrun --nproc-per-node K -m ganzoo train ...`` (or ``ganzoo train --nproc K``) sets RANK,
WORLD_SIZE and LOCAL_RANK for each process; ``setup`` reads them and joins the process group
(NCCL between GPUs, one GPU per process, ``cuda:LOCAL_RANK``; gloo on CPUs). Started any other
way, or with WORLD_SIZE=1, nothing here runs and training is the plain single-process loop.

Choices, and why:
- G and D are each wrapped in ``DistributedDataParallel``. The D phase runs the wrapped D (real,
  then fakes: two forwards, one backward, so every D parameter is reduced once, the gradient
  penalty's term included). The G phase runs the *unwrapped* D with its gradients off: its
  backward only reaches G, whose wrapper reduces G's gradients, and D's reducer never waits
  for gradients that do not come. So ``find_unused_parameters`` stays off (it costs a graph
  walk per step) and nothing is reduced twice.
- Buffers are not broadcast at each forward (``forward_sync_buffers=False``): BatchNorm keeps
  per-rank running statistics, like single-GPU training on the rank's own batch, and D being
  called two or three times per step does not trigger a broadcast each time. Training mode
  normalises with batch statistics, so those running statistics never change a gradient; rank
  0's are the ones checkpointed, sampled and exported. ``sync_bn=true`` converts BatchNorm to
  ``SyncBatchNorm`` (statistics over the global batch; CUDA only, as torch's is).
- Every rank holds the whole uint8 image set and takes its slice of each global batch, and the
  latents come from one stream that every rank draws in full and slices the same way. So the
  run's data order and latents depend on the global batch only: K ranks x B images see what
  one process with batch K x B sees. Everything else random (dropout, penalties, DiffAugment)
  draws from each rank's own global RNG, seeded from (seed, rank).
- Small control messages (the stop vote, RNG states for the checkpoint) travel on a separate
  gloo group, so they never queue behind gradient buckets and never need a GPU sync.
- Timeouts are finite (GANZOO_DIST_TIMEOUT seconds, default 600), so a hung rank ends the job
  instead of holding it forever; a rank that dies closes its sockets, and the others fail on
  their next collective at once. Preparing the data (building the image cache) may take long:
  that wait has its own limit, GANZOO_DIST_DATA_TIMEOUT (default 7200 s).
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable, Iterator, TypeVar

import torch

from ganzoo.errors import GanzooError
from ganzoo.signals import ignore_sigterm

log = logging.getLogger("ganzoo")

T = TypeVar("T")

TIMEOUT_ENV = "GANZOO_DIST_TIMEOUT"
DATA_TIMEOUT_ENV = "GANZOO_DIST_DATA_TIMEOUT"


#: Reasons a rank asks every rank to stop (the stop vote keeps the largest).
STOP_SIGNAL, STOP_COLLAPSED = 1, 2


class PeerLost(GanzooError):
    """A collective failed: another rank died, hung past the timeout, or the network broke."""


def env_rank() -> int:
    """This process's rank as torchrun set it (0 when not started by torchrun)."""
    return int(os.environ.get("RANK", "0") or 0)


def env_world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def restart_count() -> int:
    """How many times torchrun has restarted the workers (``--max-restarts``): 0 on the first start."""
    return int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") or 0)


def _seconds(name: str, default: float) -> timedelta:
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        raise GanzooError(f"{name} must be a number of seconds, got {os.environ[name]!r}") from None
    return timedelta(seconds=max(1.0, value))


def rank_seed(seed: int, rank: int) -> int:
    """The seed of rank ``rank``'s own RNG: ``seed`` itself on rank 0 (so one process trains as it
    always did), a well-mixed value from (seed, rank) elsewhere."""
    if rank == 0:
        return seed
    import numpy as np

    return int(np.random.SeedSequence([seed, rank]).generate_state(1, dtype=np.uint64)[0] >> 1)


@dataclass
class Dist:
    """This process's place in the job. ``Dist()`` is the single-process job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None
    control: Any = field(default=None, repr=False)  # the gloo group for small CPU-side messages
    _vote: Any = field(default=None, repr=False)

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def describe(self) -> str:
        return f"{self.world_size} processes ({self.backend})" if self.enabled else "1 process"

    # ---------------------------------------------------------------- networks
    def wrap(self, G: torch.nn.Module, D: torch.nn.Module, device: torch.device, sync_bn: bool,
             seed: int) -> tuple[torch.nn.Module, torch.nn.Module]:
        """The modules the step runs: DDP wrappers of G and D (themselves when alone).

        Also reseeds this rank's global RNG from (seed, rank), after the networks were built
        from ``seed`` (DDP broadcasts rank 0's weights anyway, so every rank starts equal).
        """
        if not self.enabled:
            if sync_bn:
                log.info("sync_bn: one process, so BatchNorm is the plain one")
            return G, D
        from torch.nn.parallel import DistributedDataParallel as DDP

        if sync_bn and device.type != "cuda":
            from ganzoo.errors import UsageError

            raise UsageError("sync_bn=true needs CUDA devices (torch's SyncBatchNorm runs on GPUs only); "
                             "on CPUs BatchNorm stays per process")

        if sync_bn:
            G = torch.nn.SyncBatchNorm.convert_sync_batchnorm(G)
            D = torch.nn.SyncBatchNorm.convert_sync_batchnorm(D)
        torch.manual_seed(rank_seed(seed, self.rank))
        kwargs: dict[str, Any] = {"device_ids": [device.index]} if device.type == "cuda" else {}
        # forward_sync_buffers (torch >= 2.13) replaces broadcast_buffers; both mean: no broadcast per forward
        if "forward_sync_buffers" in inspect.signature(DDP.__init__).parameters:
            kwargs["forward_sync_buffers"] = False
        else:  # pragma: no cover - older torch
            kwargs["broadcast_buffers"] = False
        return DDP(G, **kwargs), DDP(D, **kwargs)

    @contextlib.contextmanager
    def accumulating(self, module: torch.nn.Module, last: bool) -> Iterator[None]:
        """Around one micro-batch's forward and backward: the gradient all-reduce only on the last."""
        if last or not hasattr(module, "no_sync"):
            yield
        else:
            with module.no_sync():
                yield

    # ---------------------------------------------------------------- collectives
    def in_turn(self, work: Callable[[], T]) -> T:
        """Run ``work`` on rank 0 first, then on each other node's local rank 0, then on the rest.

        For the image cache: rank 0 builds it while the others wait; on a shared file system
        everyone else then reads it; on node-local disks one process per node builds it.
        """
        if not self.enabled:
            return work()
        result = None
        for turn in (self.rank == 0, self.rank != 0 and self.local_rank == 0, self.local_rank != 0):
            if turn:
                result = work()
            self.barrier(_seconds(DATA_TIMEOUT_ENV, 7200))
        return result  # type: ignore[return-value]

    def barrier(self, timeout: timedelta | None = None) -> None:
        if self.enabled:
            import torch.distributed as dist

            dist.monitored_barrier(group=self.control, timeout=timeout or _seconds(TIMEOUT_ENV, 600),
                                   wait_all_ranks=True)

    def all_sum(self, value: torch.Tensor) -> torch.Tensor:
        """The sum over ranks of a small tensor (a synchronising read follows anyway)."""
        if not self.enabled:
            return value
        import torch.distributed as dist

        total = value.detach().clone()
        dist.all_reduce(total)
        return total

    def mean_of(self, sums: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Per-key means over ranks of the logged sums: one all-reduce, at log time only."""
        if not self.enabled or not sums:
            return sums
        keys = sorted(sums)
        stacked = self.all_sum(torch.stack([sums[k].float() for k in keys])) / self.world_size
        return dict(zip(keys, stacked))

    def gather(self, obj: Any) -> list | None:
        """Every rank's ``obj`` (small, CPU) on rank 0, in rank order; None elsewhere and when alone."""
        if not self.enabled:
            return None
        import torch.distributed as dist

        out = [None] * self.world_size if self.is_main else None
        dist.gather_object(obj, out, dst=0, group=self.control)
        return out

    def stop_vote(self, requested: int) -> int:
        """Whether (and why) every rank stops after this step: 0 = go on, else the largest reason
        any rank gave (``STOP_SIGNAL`` for Ctrl-C/SIGTERM, ``STOP_COLLAPSED`` for on_collapse=stop).

        Alone: the request itself. Together: each step starts a non-blocking max-reduce of the
        local reason and reads the one started a step earlier, so all ranks decide the same at
        the same step (one step after the request) and nobody waits on it.
        """
        if not self.enabled:
            return requested
        import torch.distributed as dist

        decided = False
        if self._vote is not None:
            work, flag = self._vote
            work.wait()
            decided = int(flag.item())
            self._vote = None
            if decided:
                return decided
        flag = torch.tensor([int(requested)], dtype=torch.int32)
        self._vote = (dist.all_reduce(flag, op=dist.ReduceOp.MAX, group=self.control, async_op=True), flag)
        return decided

    def finish_votes(self) -> None:
        if self._vote is not None:
            self._vote[0].wait()
            self._vote = None

    @contextlib.contextmanager
    def failures(self, where: Callable[[], str]) -> Iterator[None]:
        """Turn a failed collective into one line; ``where`` says what is kept and how to go on."""
        try:
            yield
        except Exception as exc:
            if not self.enabled or not is_comm_error(exc):
                raise
            # torchrun answers a dead rank with SIGTERM to the others, often while this one unwinds
            # (closing logs, drawing the loss plot): it must not end this rank before it says why
            ignore_sigterm()
            raise PeerLost(f"rank {self.rank}: lost contact with the other processes ({short(exc)}); "
                           f"a rank died, hung past {TIMEOUT_ENV} or the network failed, so this one stops; "
                           + where()) from None


def short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return (text[:200] + " ...") if len(text) > 200 else (text or type(exc).__name__)


def is_comm_error(exc: BaseException) -> bool:
    import torch.distributed as dist

    if isinstance(exc, getattr(dist, "DistError", ())):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and any(
        s in text for s in ("gloo", "Gloo", "NCCL", "Connection closed", "Connection reset", "Broken pipe", "timed out",
                            "Timed out", "ProcessGroup"))


def setup(device_name: str) -> tuple[Dist, torch.device]:
    """Join the job torchrun started (if any) and pick this rank's device."""
    from ganzoo.device import resolve_device

    world = env_world_size()
    if world <= 1:
        return Dist(), resolve_device(device_name)
    import torch.distributed as dist

    rank, local_rank = env_rank(), int(os.environ.get("LOCAL_RANK", "0") or 0)
    device = resolve_device(device_name)
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise GanzooError(f"rank {rank}: local rank {local_rank} has no GPU (this machine has "
                              f"{torch.cuda.device_count()}); start at most that many processes per node")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        backend = "gloo"
    timeout = _seconds(TIMEOUT_ENV, 600)
    if not dist.is_initialized():
        kwargs: dict[str, Any] = {"device_id": device} if device.type == "cuda" else {}
        if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True":
            # torchrun's agent keeps one store for all of a job's attempts; after a --max-restarts
            # restart the new processes read the dead ones' addresses from it and cannot connect
            # (torch 2.14, cf. pytorch#167288). A prefix per attempt keeps each attempt's keys apart.
            store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), world,
                                  is_master=False, timeout=timeout)
            kwargs.update(store=dist.PrefixStore(f"ganzoo/attempt_{restart_count()}", store), rank=rank, world_size=world)
        dist.init_process_group(backend, timeout=timeout, **kwargs)
    control = dist.new_group(backend="gloo", timeout=timeout)
    if rank != 0:  # one voice in the log: rank 0's (errors still come from every rank)
        log.setLevel(logging.ERROR)
    return Dist(rank, dist.get_world_size(), local_rank, backend, control), device


def shutdown() -> None:
    """Leave the process group after a healthy end (after a failure the process just exits)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
