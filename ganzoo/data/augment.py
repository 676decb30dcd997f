"""Augmentation on the training device: feed-side (real images only) and DiffAugment (both).

Feed-side augmentation (``FeedAugment``) changes the real images the discriminator sees:
horizontal flip, and the random affine the seed projects used (zoom, shear, translation),
done as one ``affine_grid``/``grid_sample`` on the whole batch, on the GPU when training runs
there. Its random numbers come from a generator seeded by (seed, batch index), so batch ``b``
is the same after a resume.

DiffAugment (Zhao et al., "Differentiable Augmentation for Data-Efficient GAN Training",
2020) applies the same random, differentiable transforms to real *and* generated images in
both phases, so that D cannot overfit a small dataset and G still gets gradients through the
transform. Policies: ``color`` (brightness, saturation, contrast), ``translation`` (up to
1/8 of the side, zero padding), ``cutout`` (one square of half the side zeroed). It draws
from the global torch RNG on the device, which checkpoints save and restore.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

DIFFAUGMENT_POLICIES = ("color", "translation", "cutout")


@dataclass(frozen=True)
class FeedAugment:
    """Real-image augmentation. ``zoom``: max relative scale change (0.1 = 0.9x..1.1x);
    ``shear``: max shear in degrees; ``translate``: max shift as a fraction of the side."""

    flip: bool = False
    zoom: float = 0.0
    shear: float = 0.0
    translate: float = 0.0

    @property
    def affine(self) -> bool:
        return self.zoom > 0 or self.shear > 0 or self.translate > 0

    @property
    def active(self) -> bool:
        return self.flip or self.affine

    def draw(self, batch: int, generator: torch.Generator) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """The random choices for one batch, on the CPU: flip mask (B,) bool and affine theta (B, 2, 3)."""
        flip = torch.rand(batch, generator=generator) < 0.5 if self.flip else None  # (B,)
        theta = None
        if self.affine:
            u = torch.rand(batch, 4, generator=generator) * 2 - 1  # (B, 4) uniform in [-1, 1]
            scale = 1.0 + self.zoom * u[:, 0]  # > 1 zooms in
            shear = torch.tan(torch.deg2rad(self.shear * u[:, 1]))
            theta = torch.zeros(batch, 2, 3)
            theta[:, 0, 0] = 1 / scale
            theta[:, 0, 1] = shear / scale
            theta[:, 1, 1] = 1 / scale
            theta[:, 0, 2] = 2 * self.translate * u[:, 2]  # grid units: the side spans 2
            theta[:, 1, 2] = 2 * self.translate * u[:, 3]
        return flip, theta

    @staticmethod
    def apply(x: torch.Tensor, flip: torch.Tensor | None, theta: torch.Tensor | None) -> torch.Tensor:
        """x: (B, 3, H, W) float on any device; ``flip``/``theta`` from ``draw``."""
        if flip is not None:
            flip = flip.to(x.device, non_blocking=True)
            x = torch.where(flip[:, None, None, None], x.flip(3), x)
        if theta is not None:
            # non_blocking: a blocking copy from host memory would wait for every queued kernel (a sync per batch)
            theta = theta.to(x.device, x.dtype, non_blocking=True)
            grid = F.affine_grid(theta, list(x.shape), align_corners=False)  # (B, H, W, 2)
            x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
        return x

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """x: (B, 3, H, W) float in [-1, 1] on any device; ``generator`` is a CPU generator."""
        return self.apply(x, *self.draw(x.shape[0], generator))


def parse_policy(policy: str | list | tuple | None) -> tuple[str, ...]:
    """'color,translation' (or a list) -> ('color', 'translation'); ValueError on an unknown name."""
    if not policy:
        return ()
    names = [p.strip() for p in (policy.split(",") if isinstance(policy, str) else policy) if p.strip()]
    bad = [n for n in names if n not in DIFFAUGMENT_POLICIES]
    if bad:
        raise ValueError(f"unknown DiffAugment polic{'ies' if len(bad) > 1 else 'y'} {', '.join(bad)} "
                         f"(choose from {', '.join(DIFFAUGMENT_POLICIES)})")
    return tuple(names)


class DiffAugment:
    """Differentiable augmentation for real and fake batches alike: ``x = aug(x)``."""

    def __init__(self, policy: str | list | tuple):
        self.policy = parse_policy(policy)

    def __bool__(self) -> bool:
        return bool(self.policy)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, H, W) float; returns the same shape, differentiable w.r.t. x."""
        for name in self.policy:
            x = getattr(self, "_" + name)(x)
        return x

    @staticmethod
    def _color(x: torch.Tensor) -> torch.Tensor:
        B = x.shape[0]
        r = torch.rand(B, 3, 1, 1, 1, device=x.device, dtype=x.dtype)  # three factors per image
        x = x + (r[:, 0] - 0.5)  # brightness: shift by [-0.5, 0.5]
        mean_c = x.mean(dim=1, keepdim=True)  # (B, 1, H, W) per-pixel grey
        x = (x - mean_c) * (r[:, 1] * 2) + mean_c  # saturation: x0 .. x2
        mean_all = x.mean(dim=(1, 2, 3), keepdim=True)  # (B, 1, 1, 1)
        return (x - mean_all) * (r[:, 2] + 0.5) + mean_all  # contrast: x0.5 .. x1.5

    @staticmethod
    def _translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
        B, _, H, W = x.shape
        # whole-pixel shifts in [-ratio*side, ratio*side], zero padding (as the paper does)
        max_dx, max_dy = int(W * ratio + 0.5), int(H * ratio + 0.5)
        dx = torch.randint(-max_dx, max_dx + 1, (B, 1, 1), device=x.device)
        dy = torch.randint(-max_dy, max_dy + 1, (B, 1, 1), device=x.device)
        ys = torch.arange(H, device=x.device).view(1, H, 1) - dy  # (B, H, 1) source row
        xs = torch.arange(W, device=x.device).view(1, 1, W) - dx  # (B, 1, W) source column
        valid = ((ys >= 0) & (ys < H) & (xs >= 0) & (xs < W)).unsqueeze(1)  # (B, 1, H, W)
        index = (ys.clamp(0, H - 1) * W + xs.clamp(0, W - 1)).view(B, 1, H * W)  # (B, 1, H*W)
        flat = x.reshape(B, x.shape[1], H * W)
        moved = flat.gather(2, index.expand(-1, x.shape[1], -1)).view_as(x)
        return moved * valid

    @staticmethod
    def _cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
        B, _, H, W = x.shape
        ch, cw = int(H * ratio + 0.5), int(W * ratio + 0.5)
        cy = torch.randint(0, H + (1 - ch % 2), (B, 1, 1), device=x.device)
        cx = torch.randint(0, W + (1 - cw % 2), (B, 1, 1), device=x.device)
        ys = torch.arange(H, device=x.device).view(1, H, 1)
        xs = torch.arange(W, device=x.device).view(1, 1, W)
        inside = ((ys - cy).abs() * 2 < ch) & ((xs - cx).abs() * 2 < cw)  # (B, H, W)
        return x * (~inside).unsqueeze(1).to(x.dtype)


def batch_generator(seed: int, index: int) -> torch.Generator:
    """A CPU generator for batch ``index`` of a run: augmentation survives a resume exactly."""
    return torch.Generator().manual_seed((seed * 1_000_003 + index * 7919 + 12345) % (2**63 - 1))

