"""Tiny run directories in the real on-disk layout, made without training (for export/generate tests).

A run is config.json from ganzoo's own config resolution plus checkpoints/last.pt written by
``save_checkpoint``; BatchNorm running statistics are randomised so folding them is not a no-op.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch.nn.utils import parametrize  # noqa: F401  (torch.nn.utils.parametrize below)

from ganzoo.checkpoint import save_checkpoint
from ganzoo.config import resolve_config
from ganzoo.networks import build_generator
from ganzoo.plugins import load_registry
from ganzoo.run_dir import RunDir

TINY_ARCHS = {
    "dcgan": {"image_size": 32, "set": ("ngf=8", "ndf=8")},
    "cifar": {"image_size": 32, "set": ("ngf=16", "ndf=8")},
    # self-attention at 16 px, so the export covers it too
    "biggan": {"image_size": 32, "set": ("ch=4", "attn=16", "conditional=false")},
}
SHAPE_CLASSES = ["circle", "square", "triangle"]


def _randomise(model: torch.nn.Module, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)
                if m.weight is not None:  # affine=False (conditional BatchNorm) has none
                    m.weight.copy_(1 + 0.1 * torch.randn(m.weight.shape, generator=gen))
                    m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=gen))
            elif torch.nn.utils.parametrize.is_parametrized(m):
                continue  # spectral norm rescales whatever is there
            elif isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear)):
                # wider than the DCGAN init so the images use the whole [-1, 1] range
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * 0.15)
        for name, p in model.named_parameters():
            if name.endswith("gamma"):  # self-attention starts switched off (gamma 0): switch it on
                p.fill_(0.5)


def make_run(root: Path, arch: str, *, ema: bool = False, seed: int = 0, conditional: bool = False,
             extra: tuple[str, ...] = ()) -> Path:
    """A run directory for ``arch`` at tiny sizes; with ``ema``, last.pt also holds different EMA weights;
    ``conditional``: class-conditional on the three shapes, as a training run on shapes records it;
    ``extra``: more ``--set`` items (architecture parameters)."""
    registry = load_registry()
    tiny = TINY_ARCHS[arch]
    items = tuple(i for i in tiny["set"] if not i.startswith("conditional=")) + (f"conditional={str(conditional).lower()}",)
    items += tuple(extra)
    config = resolve_config(registry, arch=arch, data="shapes", flags={"image_size": tiny["image_size"], "steps": 1},
                            set_items=items)
    if conditional:
        config.num_classes, config.class_names = len(SHAPE_CLASSES), list(SHAPE_CLASSES)
    run = RunDir(root / f"{arch}{'-cond' if conditional else ''}-run")
    run.create(config.to_json())
    torch.manual_seed(seed)
    g = build_generator(registry.architecture(arch), config.model_params())
    _randomise(g, seed)
    state = {"kind": "full", "config": config.to_json(), "generator": g.state_dict()}
    if ema:
        g_ema = build_generator(registry.architecture(arch), config.model_params())
        _randomise(g_ema, seed + 1)
        state["ema"] = g_ema.state_dict()
    save_checkpoint(run.last_checkpoint, state)
    return run.path
