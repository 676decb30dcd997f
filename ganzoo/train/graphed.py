"""The CUDA-graph training step (``--set cuda_graph=auto|true|false``).

At batch 128 a DCGAN step on an H100 is launch-bound (ANCHORS.md: 12.7k-13.8k images/s in fp32,
and bf16 does not help): the GPU waits for Python to issue a few hundred small kernels. Here the
whole D+G step (forward, backward, both fused Adam updates with ``capturable=True``) is captured
once in one ``torch.cuda.CUDAGraph`` and replayed: one launch per step.

Why a hand-made capture and not ``torch.compile(mode="reduce-overhead")``: the step has two
backward passes, a ``requires_grad`` toggle and two optimizer steps, which compile splits into
several graphs (with the optimizer's own compile) and recompiles when a flag changes; compile of
this very step with channels_last failed in torch 2.11 and without it was not faster (ANCHORS.md);
and it costs tens of seconds of compilation at every start and resume. A capture runs exactly the
eager kernels, costs one step, and its limits are plain (below). Measure before changing this.

How one captured step runs:
- outside the graph, eagerly and in the eager step's order: each D update's real batch (the
  ``BatchFeed`` gather from the uint8 set on the device, conversion, augmentation), its labels,
  the latents and G's labels from the latent RNG. They are copied into static buffers, so the
  data order and the latents are exactly those of an eager run, and resume needs nothing new;
- ``graph.replay()``: n_critic D updates, then the G update, as ``Trainer.train_step``;
- after the replay, eagerly: the EMA update (its decay changes every step during warm-up, a
  Python number a graph would freeze), and one copy of the step's statistics out of the graph's
  output buffer (the next replay overwrites it).
The first ``WARMUP_STEPS`` steps run eagerly on a side stream (cuDNN and the optimizer states
are set up there, as torch's CUDA-graph notes ask); the capture happens at the next step, which
is then replayed. Random numbers drawn inside the graph (dropout) come from the default CUDA
generator, which torch keeps graph-safe: they differ from an eager run's, but the checkpointed
CUDA RNG state still advances with every replay.

What is not captured (a one-line notice, then the eager step): the CPU, several processes (DDP's
all-reduce hooks), ``accumulate`` > 1, ``amp=fp16`` (GradScaler reads the scale back to the CPU),
a loss with a penalty (wgan-gp: a double backward), the R1 penalty (r1), DiffAugment, and any loss or architecture
whose spec does not declare ``capturable=True``: a network that reads a value back to the CPU
(``.item()``), changes shape, or branches on data cannot be replayed. ``cuda_graph=true`` on the
CPU is a notice, not an error: a run's config moves between machines with its checkpoints, and
the setting changes speed, not results.

Checkpoints are the same either way: an Adam with ``capturable=True`` has the same state dict as
one without, and ``restore_optimizer_flags`` keeps each optimizer's own flags when it loads a
state saved by the other kind (torch would otherwise take the saved ``capturable``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

log = logging.getLogger("ganzoo")

WARMUP_STEPS = 3  # eager steps on a side stream before the capture (torch's notes use 3)
SETTINGS = ("auto", "true", "false")
#: The flags an optimizer keeps from its construction whatever a loaded state dict says.
OWN_FLAGS = ("capturable", "fused", "foreach", "differentiable")


@dataclass(frozen=True)
class Plan:
    """Whether the step is captured, and the one-line notice to log when it falls back."""

    capture: bool
    notice: str | None = None


def plan(setting: str, device: torch.device, *, world_size: int = 1, accumulate: int = 1, amp: str = "off",
         diffaugment: str = "", penalty: bool = False, r1: bool = False, loss_name: str = "",
         loss_capturable: bool = False, arch_name: str = "", arch_capturable: bool = False) -> Plan:
    """Decide from the run's settings alone (no CUDA needed). ``amp`` is the resolved precision."""
    if setting not in SETTINGS:
        raise ValueError(f"cuda_graph must be one of {', '.join(SETTINGS)}, not {setting!r}")
    if setting == "false" or (setting == "auto" and device.type != "cuda"):
        return Plan(False)
    reasons = [
        (device.type != "cuda", f"the run is on {device.type}, and CUDA graphs need a CUDA device"),
        (world_size > 1, f"{world_size} processes train together (DDP)"),
        (accumulate > 1, f"accumulate={accumulate}"),
        (amp == "fp16", "amp=fp16 (the gradient scaler syncs with the CPU; amp=bf16 can be captured)"),
        (penalty, f"loss {loss_name!r} has a gradient penalty (a double backward)"),
        (r1, "r1 is on (the R1 penalty is a double backward)"),
        (bool(diffaugment), "DiffAugment is on"),
        (not loss_capturable, f"loss {loss_name!r} is not declared capturable"),
        (not arch_capturable, f"architecture {arch_name!r} is not declared capturable"),
    ]
    why = next((text for hit, text in reasons if hit), None)
    if why is None:
        return Plan(True)
    return Plan(False, f"cuda_graph={setting}: not captured, {why}; the step runs eagerly")


def restore_optimizer_flags(optimizer: torch.optim.Optimizer, load) -> None:
    """``load()`` (an ``optimizer.load_state_dict`` call) keeping the optimizer's own flags.

    torch's ``load_state_dict`` takes every hyperparameter of the saved groups, ``capturable``
    included: a state saved by a captured run would make a CPU run's Adam capturable, and one
    saved eagerly would make a captured run's Adam refuse the capture. The step counters are
    then put where this optimizer's flags want them (on the parameters' device as float32 for
    fused or capturable Adam, as torch places them).
    """
    own = [{k: g[k] for k in OWN_FLAGS if k in g} for g in optimizer.param_groups]
    load()
    for group, flags in zip(optimizer.param_groups, own):
        group.update(flags)
        on_device = group.get("fused") or group.get("capturable")
        for p in group["params"]:
            state = optimizer.state.get(p, {})
            step = state.get("step")
            if isinstance(step, torch.Tensor):
                state["step"] = step.to(torch.float32).to(p.device if on_device else "cpu")


class GraphedStep:
    """``Trainer.train_step`` as one CUDA graph replay; see the module docstring."""

    def __init__(self, trainer):
        self.trainer = trainer
        self.captured = False
        self.warm = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.inputs: list[tuple] = []  # per D update: (real, y_real, z, y_fake) static buffers
        self.stats: torch.Tensor | None = None  # (6,) float32, refilled by each replay
        self.side: torch.cuda.Stream | None = None  # the warm-up stream

    def __call__(self):
        t = self.trainer
        if self.warm < WARMUP_STEPS:
            self.warm += 1
            self.side = self.side or torch.cuda.Stream(t.device)
            self.side.wait_stream(torch.cuda.current_stream(t.device))
            with torch.cuda.stream(self.side):
                stats = t.eager_step()
            torch.cuda.current_stream(t.device).wait_stream(self.side)
            return stats
        fresh = [self._draw() for _ in range(t.config.n_critic)]
        if self.graph is None:
            self.inputs = fresh  # these tensors become the static buffers
            self._capture()
        else:
            for static, new in zip(self.inputs, fresh):
                for s, n in zip(static, new):
                    if s is not None:
                        s.copy_(n)
        self.graph.replay()
        t.update_ema()
        from ganzoo.train.loop import StepStats

        return StepStats(*self.stats.clone().unbind(0))  # views of one copy: the sums read them later

    def _draw(self) -> tuple:
        """The inputs of one D update, drawn as the eager step draws them (same order, same RNG)."""
        t, B = self.trainer, self.trainer.config.batch_size
        real = t.feed.batch(t.batches)  # (B, 3, S, S) in [-1, 1]
        y_real = t.feed.labels(t.batches) if t.conditional else None  # (B,) int64
        t.batches += 1
        z = t._latents(B)  # (B, nz)
        y_fake = t._classes(B) if t.conditional else None  # (B,) int64, drawn right after z
        return real, y_real, z, y_fake

    def _capture(self) -> None:
        t = self.trainer
        t.opt_d.zero_grad(set_to_none=True)  # backward inside the capture allocates the grads from its pool
        t.opt_g.zero_grad(set_to_none=True)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.stats = self._step()
        self.captured = True
        log.info("cuda_graph: the training step is captured in a CUDA graph (batch %d)", t.config.batch_size)

    def _step(self) -> torch.Tensor:
        """The captured step: what ``eager_step`` does for accumulate=1, without penalty or DiffAugment
        (run eagerly on the CPU, it gives the eager step's figures bit for bit: tests/test_cuda_graph.py)."""
        t = self.trainer
        G, D, call = t.G, t.D, t._call
        for k, (real, y_real, z, y_fake) in enumerate(self.inputs):
            t.opt_d.zero_grad(set_to_none=True)
            with self._autocast():
                with torch.set_grad_enabled(k == len(self.inputs) - 1):  # keep the graph only for the fake reused by G
                    fake = call(G, z, y_fake)  # (B, 3, S, S)
                real_logits = call(D, real, y_real).view(-1)  # (B,)
                fake_logits = call(D, fake.detach(), y_fake).view(-1)  # (B,)
                loss_d = t.loss.discriminator_loss(real_logits, fake_logits)
            loss_d.backward()
            t.opt_d.step()
        D.requires_grad_(False)  # as in the eager step: D's weight gradients are skipped in the G phase
        try:
            t.opt_g.zero_grad(set_to_none=True)
            with self._autocast():
                loss_g = t.loss.generator_loss(call(D, fake, y_fake).view(-1))
            loss_g.backward()
            t.opt_g.step()
        finally:
            D.requires_grad_(True)
        with torch.no_grad():
            real_logits, fake_logits = real_logits.float(), fake_logits.float()
            return torch.stack([  # (6,) in StepStats' field order
                loss_d.detach().float(), loss_g.detach().float(),
                torch.sigmoid(real_logits).mean(), torch.sigmoid(fake_logits).mean(),
                (real_logits > 0).float().mean(), (fake_logits < 0).float().mean(),
            ])

    def _autocast(self):
        # autocast's cast cache must be off inside a capture (torch's make_graphed_callables asks the same)
        p = self.trainer.precision
        dtype = {"bf16": torch.bfloat16}.get(p.mode)
        return torch.autocast("cuda", dtype=dtype, enabled=dtype is not None, cache_enabled=False)
