"""FC + upsample generator and a strided-conv discriminator (32x32 or 64x64).

Class-conditional (``num_classes`` given), D adds a projection term (Miyato & Koyama 2018),
the inner product of a class embedding with its globally summed features. G takes the class
in one of two ways (``cond``): ``bn`` (the default), conditional BatchNorm (every BatchNorm
loses its own scale and shift and a per-class one, :class:`ClassAffine`, follows it; the
normalisation still folds into the layer before it at export; ``ganzoo.layers``), or ``concat``, a class
embedding (``nz`` wide) concatenated to z, which was measured to make G ignore z (README
"Class-conditional"). Without ``num_classes`` the modules are exactly the unconditional ones.
"""

import torch
from torch import nn

from ganzoo.layers import ClassAffine, run_with_classes


class Generator(nn.Module):
    def __init__(self, nz: int = 256, ngf: int = 128, image_size: int = 32, num_classes: int | None = None,
                 cond: str = "bn"):
        super().__init__()
        if cond not in ("bn", "concat"):
            raise ValueError(f"cond must be bn or concat, got {cond!r}")
        self.cond = cond if num_classes else None
        zin = nz * 2 if self.cond == "concat" else nz  # concat: [z, embed(y)]
        if image_size not in (32, 64):
            raise ValueError(f"the cifar generator supports 32 or 64, got {image_size}")
        self.ngf, self.base = ngf, image_size // 4

        def norm(kind, c: int) -> list[nn.Module]:
            if self.cond == "bn":  # conditional BatchNorm: normalise, then the class's scale and shift
                return [kind(c, affine=False), ClassAffine(c, num_classes)]
            return [kind(c)]

        # z: (N, nz) -> (N, ngf * base * base), reshaped to (N, ngf, base, base)
        features = ngf * self.base * self.base
        self.fc = nn.Sequential(nn.Linear(zin, features), *norm(nn.BatchNorm1d, features), nn.ReLU(True))

        def up(cin: int, cout: int) -> nn.Sequential:
            # (N, cin, s, s) -> (N, cout, 2s, 2s)
            return nn.Sequential(
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(cin, cout, 3, 1, 1, bias=False),
                *norm(nn.BatchNorm2d, cout),
                nn.ReLU(True),
            )

        self.blocks = nn.Sequential(up(ngf, ngf), up(ngf, ngf // 2))
        # (N, ngf/2, size, size) -> (N, 3, size, size)
        self.to_rgb = nn.Sequential(nn.Conv2d(ngf // 2, 3, 3, 1, 1), nn.Tanh())
        self.embed = nn.Embedding(num_classes, nz) if self.cond == "concat" else None  # (N,) -> (N, nz)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        z = z.flatten(1)
        if self.cond == "concat":
            z = torch.cat([z, self.embed(y)], dim=1)  # (N, 2 nz)
        if self.cond != "bn":
            x = self.fc(z).view(z.shape[0], self.ngf, self.base, self.base)
            return self.to_rgb(self.blocks(x))
        x = run_with_classes(self.fc, z, y).view(z.shape[0], self.ngf, self.base, self.base)
        for block in self.blocks:
            x = run_with_classes(block, x, y)
        return self.to_rgb(x)


class Discriminator(nn.Module):
    """``norm``: ``batch`` (BatchNorm after the second and third conv), ``spectral`` (spectral
    normalization on every conv, the head and the class projection, no BatchNorm; Miyato et al.
    2018) or ``none``. ``num_classes``: a projection discriminator (Miyato & Koyama 2018)."""

    def __init__(self, ndf: int = 64, image_size: int = 32, dropout: float = 0.0, num_classes: int | None = None,
                 norm: str = "batch"):
        super().__init__()
        if norm not in ("batch", "spectral", "none"):
            raise ValueError(f"norm must be batch, spectral or none, got {norm!r}")
        sn = nn.utils.parametrizations.spectral_norm if norm == "spectral" else (lambda m: m)

        def down(cin: int, cout: int, bn: bool) -> list[nn.Module]:
            # (N, cin, s, s) -> (N, cout, s/2, s/2)
            bn = bn and norm == "batch"
            mods: list[nn.Module] = [sn(nn.Conv2d(cin, cout, 3, 2, 1, bias=not bn))]
            if bn:
                mods.append(nn.BatchNorm2d(cout))
            mods.append(nn.LeakyReLU(0.2, inplace=True))
            if dropout > 0:
                mods.append(nn.Dropout(dropout))
            return mods

        self.features = nn.Sequential(*down(3, ndf, False), *down(ndf, ndf * 2, True), *down(ndf * 2, ndf * 4, True))
        # (N, 4ndf, size/8, size/8) -> (N,)
        self.head = sn(nn.Linear(ndf * 4 * (image_size // 8) ** 2, 1))
        self.embed = None
        if num_classes:
            self.embed = nn.Embedding(num_classes, ndf * 4)  # (N,) -> (N, 4ndf), the projection
            if norm == "spectral":
                self.embed = sn(self.embed)
            else:
                nn.init.normal_(self.embed.weight, 0.0, 0.02)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.features(x)  # (N, 4ndf, s, s)
        logit = self.head(h.flatten(1)).view(x.shape[0])  # (N,)
        if self.embed is None:
            return logit
        return logit + (self.embed(y) * h.sum(dim=(2, 3))).sum(dim=1)  # + <embed(y), sum-pooled features>
