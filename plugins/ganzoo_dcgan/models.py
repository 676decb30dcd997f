"""DCGAN networks for square images of size 2**k (k >= 4).

The generator starts from a 4x4 map and doubles the resolution with each stride-2
ConvTranspose (``upsample=transpose``, the paper's) or with nearest-neighbour upsampling and a
3x3 convolution (``upsample=nearest``); the discriminator mirrors it with stride-2 convolutions.

Class-conditional (``num_classes`` given), D adds a projection term (Miyato & Koyama 2018),
the inner product of a class embedding with D's mean-pooled last feature map, to its
unconditional logit. G takes the class in one of two ways (``cond``):

- ``bn`` (the default): conditional BatchNorm. Each BatchNorm loses its own scale and shift
  and a per-class one (``ganzoo.layers.ClassAffine``) follows it; ``z`` alone is the input. The
  normalisation still folds into the ConvTranspose before it at export; only the per-class
  scale and shift (a Gather, Mul and Add) stay in the graph.
- ``concat``: a learned class embedding (``nz`` wide) concatenated to ``z``.

Measured (shapes, 16 px, 1,200 steps, README "Class-conditional"): with ``concat`` G draws one
image per class (it ignores ``z``: 0.05 of the real within-class spread); with ``bn`` it keeps
0.88-0.95 of it. Without ``num_classes`` the modules (and the order their weights are drawn in)
are exactly the unconditional DCGAN's.
"""

import math

import torch
from torch import nn

from ganzoo.layers import ClassAffine, run_with_classes


def _depth(image_size: int) -> int:
    """Number of stride-2 layers between 4x4 and image_size."""
    k = int(math.log2(image_size)) - 2
    if image_size < 16 or 2 ** (k + 2) != image_size:
        raise ValueError(f"DCGAN needs a power-of-two image size >= 16, got {image_size}")
    return k


def init_weights(module: nn.Module) -> None:
    """DCGAN init: conv weights N(0, 0.02), BatchNorm scale N(1, 0.02) and shift 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d) and module.affine:
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def _up(upsample: str, cin: int, cout: int, bias: bool) -> list[nn.Module]:
    """(N, cin, s, s) -> (N, cout, 2s, 2s): a stride-2 4x4 ConvTranspose (the paper's), or
    nearest-neighbour upsampling then a 3x3 convolution (Odena et al. 2016, "Deconvolution and
    checkerboard artifacts": every output pixel sees the same number of weights, so no
    checkerboard texture)."""
    if upsample == "transpose":
        return [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=bias)]
    return [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, cout, 3, 1, 1, bias=bias)]


class Generator(nn.Module):
    def __init__(self, nz: int = 100, ngf: int = 64, image_size: int = 64, num_classes: int | None = None,
                 cond: str = "bn", upsample: str = "transpose"):
        super().__init__()
        if cond not in ("bn", "concat"):
            raise ValueError(f"cond must be bn or concat, got {cond!r}")
        if upsample not in ("transpose", "nearest"):
            raise ValueError(f"upsample must be transpose or nearest, got {upsample!r}")
        self.nz = nz
        self.cond = cond if num_classes else None
        depth = _depth(image_size)
        ch = ngf * 2 ** (depth - 1)

        def norm(c: int) -> list[nn.Module]:
            if self.cond == "bn":  # conditional BatchNorm: normalise, then the class's scale and shift
                return [nn.BatchNorm2d(c, affine=False), ClassAffine(c, num_classes)]
            return [nn.BatchNorm2d(c)]

        zin = nz * 2 if self.cond == "concat" else nz  # concat: [z, embed(y)]
        # z: (N, zin, 1, 1) -> (N, ngf*2^(depth-1), 4, 4)
        layers = [nn.ConvTranspose2d(zin, ch, 4, 1, 0, bias=False), *norm(ch), nn.ReLU(True)]
        for _ in range(depth - 1):
            # (N, ch, s, s) -> (N, ch/2, 2s, 2s)
            layers += [*_up(upsample, ch, ch // 2, bias=False), *norm(ch // 2), nn.ReLU(True)]
            ch //= 2
        # (N, ngf, size/2, size/2) -> (N, 3, size, size)
        layers += [*_up(upsample, ch, 3, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)
        self.apply(init_weights)
        self.embed = nn.Embedding(num_classes, nz) if self.cond == "concat" else None  # (N,) -> (N, nz)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = z.reshape(z.shape[0], self.nz, 1, 1)
        if self.cond == "concat":
            h = torch.cat([h, self.embed(y)[:, :, None, None]], dim=1)  # (N, 2 nz, 1, 1)
        if self.cond != "bn":
            return self.main(h)
        return run_with_classes(self.main, h, y)


def _conv(norm: str, cin: int, cout: int, k: int, s: int, p: int) -> nn.Module:
    """A discriminator convolution; under spectral normalization its weight is divided by its
    largest singular value (Miyato et al. 2018), which keeps D 1-Lipschitz per layer."""
    if norm == "spectral":
        return nn.utils.parametrizations.spectral_norm(nn.Conv2d(cin, cout, k, s, p, bias=True))
    return nn.Conv2d(cin, cout, k, s, p, bias=False)


class Discriminator(nn.Module):
    """``norm``: ``batch`` (the DCGAN paper's BatchNorm after every hidden conv but the first),
    ``spectral`` (spectral normalization on every conv and the class projection, no BatchNorm)
    or ``none``. ``num_classes``: a projection discriminator (Miyato & Koyama 2018)."""

    def __init__(self, ndf: int = 64, image_size: int = 64, dropout: float = 0.0, num_classes: int | None = None,
                 norm: str = "batch"):
        super().__init__()
        if norm not in ("batch", "spectral", "none"):
            raise ValueError(f"norm must be batch, spectral or none, got {norm!r}")
        depth = _depth(image_size)

        def block(cin: int, cout: int, bn: bool) -> list[nn.Module]:
            mods: list[nn.Module] = [_conv(norm, cin, cout, 4, 2, 1)]
            if bn and norm == "batch":
                mods.append(nn.BatchNorm2d(cout))
            mods.append(nn.LeakyReLU(0.2, inplace=True))
            if dropout > 0:
                mods.append(nn.Dropout2d(dropout))
            return mods

        # (N, 3, size, size) -> (N, ndf, size/2, size/2), no BatchNorm on the input layer
        layers = block(3, ndf, bn=False)
        ch = ndf
        for _ in range(depth - 1):
            # (N, ch, s, s) -> (N, 2ch, s/2, s/2)
            layers += block(ch, ch * 2, bn=True)
            ch *= 2
        # (N, ch, 4, 4) -> (N, 1, 1, 1): one logit per image
        layers.append(_conv(norm, ch, 1, 4, 1, 0))
        self.main = nn.Sequential(*layers)
        if norm != "spectral":  # spectral norm keeps PyTorch's default init: N(0, 0.02) would be rescaled anyway
            self.apply(init_weights)
        self.embed = None
        if num_classes:
            self.embed = nn.Embedding(num_classes, ch)  # (N,) -> (N, ch), the projection
            if norm == "spectral":
                self.embed = nn.utils.parametrizations.spectral_norm(self.embed)
            else:
                nn.init.normal_(self.embed.weight, 0.0, 0.02)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is None:
            return self.main(x).view(x.shape[0])
        h = self.main[:-1](x)  # (N, ch, 4, 4)
        logit = self.main[-1](h).view(x.shape[0])  # (N,)
        return logit + (self.embed(y) * h.mean(dim=(2, 3))).sum(dim=1)  # + <embed(y), mean-pooled features>
