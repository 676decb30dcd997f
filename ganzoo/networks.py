"""Building an architecture's networks from a config, with a shape check at build time."""

from __future__ import annotations

import torch
from torch import nn

from ganzoo.errors import PluginError
from ganzoo.plugins import describe_spec
from ganzoo.specs import ArchitectureSpec


def _call(spec: ArchitectureSpec, what: str, fn, *args):
    """Run plugin code; its exceptions become one line naming the plugin (traceback with -v)."""
    try:
        return fn(*args)
    except Exception as exc:
        raise PluginError(f"{describe_spec('architecture', spec)}: {what} failed: {type(exc).__name__}: {exc}") from exc


def build_generator(spec: ArchitectureSpec, params: dict) -> nn.Module:
    g = _call(spec, "build_generator", spec.build_generator, dict(params))
    if not isinstance(g, nn.Module):
        raise PluginError(f"{describe_spec('architecture', spec)}: build_generator returned {type(g).__name__}, not a torch.nn.Module")
    return g


def build_discriminator(spec: ArchitectureSpec, params: dict) -> nn.Module:
    d = _call(spec, "build_discriminator", spec.build_discriminator, dict(params))
    if not isinstance(d, nn.Module):
        raise PluginError(f"{describe_spec('architecture', spec)}: build_discriminator returned {type(d).__name__}, not a torch.nn.Module")
    return d


@torch.no_grad()
def check_shapes(spec: ArchitectureSpec, g: nn.Module, d: nn.Module, params: dict, conditional: bool = False) -> None:
    """Run two latents through G and D on the CPU-side copy and compare with what the spec promises.

    Conditional networks get class ids too: ``G(z, y)`` and ``D(x, y)`` with ``y`` = (0, last class).
    """
    size, nz = params["image_size"], params["nz"]
    was_training = g.training, d.training
    g.eval(), d.eval()
    try:
        device = next(g.parameters()).device
        z = torch.zeros(2, nz, device=device)
        if conditional:
            y = torch.tensor([0, params["num_classes"] - 1], dtype=torch.int64, device=device)
            images = _call(spec, f"the generator on latents (2, {nz}) and class ids (2,)", g, z, y)
        else:
            images = _call(spec, f"the generator on latents of shape (2, {nz})", g, z)
        expect = (2, 3, size, size)
        if tuple(images.shape) != expect:
            raise PluginError(
                f"{describe_spec('architecture', spec)}: the generator returned {tuple(images.shape)} for image size {size}, expected {expect}"
            )
        if conditional:
            logits = _call(spec, f"the discriminator on images of shape {expect} and class ids (2,)", d, images, y)
        else:
            logits = _call(spec, f"the discriminator on images of shape {expect}", d, images)
        if logits.numel() != 2:
            raise PluginError(
                f"{describe_spec('architecture', spec)}: the discriminator returned {tuple(logits.shape)}, expected one logit per image (2,)"
            )
    finally:
        g.train(was_training[0]), d.train(was_training[1])
