"""BigGAN's building blocks: spectrally normalised layers, conditional BatchNorm, self-attention
(and, not BigGAN's, StyleGAN's minibatch standard deviation for D).

Spectral norm is torch's parametrization (``torch.nn.utils.parametrizations.spectral_norm``):
one power iteration per forward in training mode, none in eval mode, and the vectors are
buffers, so checkpoints (and exact resume) keep them. ``ganzoo export`` bakes W / sigma into
plain weights. Every weight starts orthogonal (BigGAN's ``G_init=D_init='ortho'``).
"""

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

SN_EPS = 1e-6  # BigGAN's SN_eps


def _ortho(module: nn.Module) -> nn.Module:
    nn.init.orthogonal_(module.weight)
    if getattr(module, "bias", None) is not None:
        nn.init.zeros_(module.bias)
    return module


def sn_conv(cin: int, cout: int, kernel: int = 3, bias: bool = True) -> nn.Module:
    return spectral_norm(_ortho(nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=bias)), eps=SN_EPS)


def sn_linear(cin: int, cout: int, bias: bool = True) -> nn.Module:
    return spectral_norm(_ortho(nn.Linear(cin, cout, bias=bias)), eps=SN_EPS)


def sn_embedding(num: int, dim: int) -> nn.Module:
    return spectral_norm(_ortho(nn.Embedding(num, dim)), eps=SN_EPS)


class ConditionalBatchNorm(nn.Module):
    """BatchNorm without its own affine; per-sample gain ``1 + W_g c`` and bias ``W_b c`` from
    the conditioning vector ``c`` (BigGAN: shared class embedding + this block's z chunk).

    Not foldable into a convolution at export: the scale and shift depend on ``c``.
    """

    def __init__(self, channels: int, cond_dim: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gain = sn_linear(cond_dim, channels, bias=False)
        self.bias = sn_linear(cond_dim, channels, bias=False)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        # x: (N, C, H, W), c: (N, cond_dim)
        gain = 1 + self.gain(c)  # (N, C)
        return self.bn(x) * gain[:, :, None, None] + self.bias(c)[:, :, None, None]


class SelfAttention(nn.Module):
    """SAGAN self-attention (Zhang et al. 2019) as BigGAN uses it: keys and values max-pooled
    2x, the output added through a learned scale that starts at 0 (the block starts as identity)."""

    def __init__(self, ch: int):
        super().__init__()
        self.ck, self.cv = max(1, ch // 8), max(1, ch // 2)
        self.theta = sn_conv(ch, self.ck, 1, bias=False)
        self.phi = sn_conv(ch, self.ck, 1, bias=False)
        self.g = sn_conv(ch, self.cv, 1, bias=False)
        self.o = sn_conv(self.cv, ch, 1, bias=False)
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        theta = self.theta(x).flatten(2)  # (N, ck, HW)
        phi = F.max_pool2d(self.phi(x), 2).flatten(2)  # (N, ck, HW/4)
        g = F.max_pool2d(self.g(x), 2).flatten(2)  # (N, cv, HW/4)
        beta = torch.softmax(torch.bmm(theta.transpose(1, 2), phi), dim=-1)  # (N, HW, HW/4)
        o = torch.bmm(g, beta.transpose(1, 2)).reshape(n, self.cv, h, w)  # (N, cv, H, W)
        return x + self.gamma * self.o(o)


class MinibatchStd(nn.Module):
    """One extra feature map: how much the samples of a small group differ (Karras et al. 2018).

    The batch is cut into groups of ``group`` samples (sample i in group i mod N/group, as in
    StyleGAN); each group's standard deviation per feature, averaged over features and pixels,
    is appended to every member as a constant channel. A batch of fakes that all look alike
    (one colour, one pose) gets a value near 0 that real batches never have, which D can use
    against mode collapse. The group shrinks to gcd(N, group) when N does not divide.
    """

    def __init__(self, group: int):
        super().__init__()
        self.group = group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = math.gcd(n, self.group)
        y = x.reshape(g, n // g, c, h, w)  # (G, N/G, C, H, W)
        std = (y.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # (N/G,)
        return torch.cat([x, std.repeat(g)[:, None, None, None].expand(n, 1, h, w)], dim=1)  # (N, C + 1, H, W)


class GBlock(nn.Module):
    """Residual up-block: CBN-ReLU-up-conv3-CBN-ReLU-conv3, shortcut up-conv1 (BigGAN Fig. 15b)."""

    def __init__(self, cin: int, cout: int, cond_dim: int):
        super().__init__()
        self.bn1 = ConditionalBatchNorm(cin, cond_dim)
        self.conv1 = sn_conv(cin, cout)
        self.bn2 = ConditionalBatchNorm(cout, cond_dim)
        self.conv2 = sn_conv(cout, cout)
        self.shortcut = sn_conv(cin, cout, 1)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        # (N, cin, s, s) -> (N, cout, 2s, 2s)
        h = F.interpolate(F.relu(self.bn1(x, c)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.bn2(self.conv1(h), c)))
        return h + self.shortcut(F.interpolate(x, scale_factor=2, mode="nearest"))


class DBlock(nn.Module):
    """Residual down-block: (ReLU)-conv3-ReLU-conv3-avgpool, shortcut conv1-avgpool
    (the first block of D takes the image itself: no ReLU before it, pool before its shortcut)."""

    def __init__(self, cin: int, cout: int, down: bool, preactivation: bool):
        super().__init__()
        self.down, self.preactivation = down, preactivation
        self.conv1 = sn_conv(cin, cout)
        self.conv2 = sn_conv(cout, cout)
        self.shortcut = sn_conv(cin, cout, 1) if (cin != cout or down) else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (N, cin, s, s) -> (N, cout, s/2, s/2) when down, else (N, cout, s, s)
        h = F.relu(x) if self.preactivation else x
        h = self.conv2(F.relu(self.conv1(h)))
        if self.down:
            h = F.avg_pool2d(h, 2)
        sc = x
        if self.preactivation:
            if self.shortcut is not None:
                sc = self.shortcut(sc)
            if self.down:
                sc = F.avg_pool2d(sc, 2)
        else:
            if self.down:
                sc = F.avg_pool2d(sc, 2)
            if self.shortcut is not None:
                sc = self.shortcut(sc)
        return h + sc
