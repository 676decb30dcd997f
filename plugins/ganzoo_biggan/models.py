"""A compact BigGAN (Brock et al. 2019) generator and discriminator for 32, 64 and 128 px
(and 16 px, for quick CPU runs and tests: not in BigGAN; see ``LAYOUTS_16``).

Generator: z is split into one chunk per up-block plus one for the first linear layer
(hierarchical latent); each block's conditional BatchNorms see [shared class embedding,
its z chunk]; residual up-blocks from 4x4; optional self-attention after the block that
reaches ``attn`` pixels; BatchNorm-ReLU-conv3-tanh to RGB.
Discriminator: residual down-blocks, ReLU, global sum pooling, a linear logit plus the
projection term <embed(y), features> (Miyato & Koyama 2018). ``mbstd`` (not BigGAN's, off by
default) adds StyleGAN's minibatch standard deviation channel before D's last block.
Widths are ``ch`` times BigGAN's multipliers per resolution (its 32/64/128 configurations).
Without ``num_classes`` (``--set conditional=false``) G's BatchNorms are conditioned on the z
chunks alone and D has no projection term.
"""

import torch
import torch.nn.functional as F
from torch import nn

from ganzoo_biggan.layers import DBlock, GBlock, MinibatchStd, SelfAttention, sn_conv, sn_embedding, sn_linear

# channel multipliers of ch, from the 4x4 input up to the output (BigGAN's G_arch)
G_MULTIPLIERS = {32: (4, 4, 4, 4), 64: (16, 8, 4, 2, 1), 128: (16, 16, 8, 4, 2, 1)}
# (output multiplier, downsample) per D block (BigGAN's D_arch)
D_BLOCKS = {
    32: ((4, True), (4, True), (4, False), (4, False)),
    64: ((1, True), (2, True), (4, True), (8, True), (16, False)),
    128: ((1, True), (2, True), (4, True), (8, True), (16, True), (16, False)),
}
# 16 px (``layout16``), G multipliers and D blocks. "tapered" narrows G and widens D with
# resolution, as BigGAN's 64 and 128 px layouts do: on a 2-core CPU it trains 2.4x faster than
# "flat" at ch=16, batch 32 (the 32 px layout one block shorter, the only 16 px layout before
# 2026-12-06; README "biggan" has the figures), and at 2,400 steps it drew shapes about
# as well: two runs of four met the conditional quality test's three conditions with each (its docstring).
LAYOUTS_16 = {
    "tapered": ((4, 2, 1), ((1, True), (2, True), (4, False))),
    "flat": ((4, 4, 4), ((4, True), (4, True), (4, False))),
}
SIZES = (16, 32, 64, 128)


def layout(image_size: int, layout16: str = "tapered") -> tuple[tuple, tuple]:
    """(G's channel multipliers, D's blocks) at ``image_size``."""
    if image_size == 16:
        return LAYOUTS_16[layout16]
    if image_size not in G_MULTIPLIERS:
        raise ValueError(f"biggan supports image sizes {', '.join(map(str, SIZES))}, not {image_size}")
    return G_MULTIPLIERS[image_size], D_BLOCKS[image_size]


def _check(image_size: int, attn: int, mults: tuple) -> None:
    places = [4 * 2 ** (i + 1) for i in range(len(mults) - 1)]
    # attn above the image size means no attention (the default 32 at 16 px); below, it must be a block's size
    if attn and attn <= image_size and attn not in places:
        raise ValueError(f"attn={attn}: at {image_size} px self-attention can sit at {', '.join(map(str, places))} (or 0: none)")


def latent_chunks(nz: int, blocks: int) -> list[int]:
    """nz split into blocks + 1 near-equal chunks (the first feeds the linear layer)."""
    parts = blocks + 1
    if nz < parts:
        raise ValueError(f"nz={nz} is too small to split into {parts} chunks (one per block + one)")
    base, extra = divmod(nz, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


class Generator(nn.Module):
    def __init__(self, nz: int = 120, ch: int = 32, image_size: int = 64, num_classes: int | None = None,
                 shared_dim: int = 128, attn: int = 32, layout16: str = "tapered"):
        super().__init__()
        mults = layout(image_size, layout16)[0]
        _check(image_size, attn, mults)
        self.chunks = latent_chunks(nz, len(mults) - 1)
        self.c0 = ch * mults[0]
        # (N,) -> (N, shared_dim). Left at N(0, 1), not orthogonal like the other weights: an
        # orthogonal (num_classes, 128) matrix has rows of norm 1, a z chunk of ~24 N(0, 1) values
        # has norm ~5, so the class would start as a whisper beside the noise in every BatchNorm
        # and class control would take far longer to appear (seen on shapes: rows identical at 500 steps).
        self.shared = nn.Embedding(num_classes, shared_dim) if num_classes else None
        extra = shared_dim if num_classes else 0
        # first chunk: (N, chunk0) -> (N, c0 * 4 * 4)
        self.linear = sn_linear(self.chunks[0], self.c0 * 16)
        self.blocks = nn.ModuleList()
        self.attention = nn.ModuleDict()
        size = 4
        for i, (cin, cout) in enumerate(zip(mults, mults[1:])):
            self.blocks.append(GBlock(ch * cin, ch * cout, extra + self.chunks[i + 1]))  # (s) -> (2s)
            size *= 2
            if size == attn:
                self.attention[str(i)] = SelfAttention(ch * cout)
        self.out_bn = nn.BatchNorm2d(ch * mults[-1])
        self.to_rgb = sn_conv(ch * mults[-1], 3)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        zs = torch.split(z, self.chunks, dim=1)
        shared = self.shared(y) if self.shared is not None else None  # (N, shared_dim)
        h = self.linear(zs[0]).reshape(z.shape[0], self.c0, 4, 4)  # (N, c0, 4, 4)
        for i, block in enumerate(self.blocks):
            c = zs[i + 1] if shared is None else torch.cat([shared, zs[i + 1]], dim=1)
            h = block(h, c)
            if str(i) in self.attention:
                h = self.attention[str(i)](h)
        return torch.tanh(self.to_rgb(F.relu(self.out_bn(h))))  # (N, 3, S, S)


class Discriminator(nn.Module):
    def __init__(self, ch: int = 32, image_size: int = 64, num_classes: int | None = None, attn: int = 32,
                 mbstd: int = 0, layout16: str = "tapered"):
        super().__init__()
        mults, blocks = layout(image_size, layout16)
        _check(image_size, attn, mults)
        self.blocks = nn.ModuleList()
        self.attention = nn.ModuleDict()
        self.mbstd = MinibatchStd(mbstd) if mbstd else None
        self.last = len(blocks) - 1
        cin, size = 3, image_size
        for i, (mult, down) in enumerate(blocks):
            extra = 1 if (self.mbstd is not None and i == self.last) else 0  # the std channel
            self.blocks.append(DBlock(cin + extra, ch * mult, down, preactivation=i > 0))
            cin = ch * mult
            size //= 2 if down else 1
            if size == attn and down:
                self.attention[str(i)] = SelfAttention(cin)
        self.linear = sn_linear(cin, 1)
        self.embed = sn_embedding(num_classes, cin) if num_classes else None  # (N,) -> (N, C), the projection

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = x
        for i, block in enumerate(self.blocks):
            if i == self.last and self.mbstd is not None:
                h = self.mbstd(h)  # (N, C, s, s) -> (N, C + 1, s, s)
            h = block(h)
            if str(i) in self.attention:
                h = self.attention[str(i)](h)
        h = F.relu(h).sum(dim=(2, 3))  # (N, C): global sum pooling
        logit = self.linear(h).view(x.shape[0])  # (N,)
        if self.embed is None:
            return logit
        return logit + (self.embed(y) * h).sum(dim=1)  # + projection <embed(y), h>
