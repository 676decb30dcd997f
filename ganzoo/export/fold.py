"""Fold eval-mode BatchNorm into the layer before it, so the exported graph has no BatchNorm.

Why: onnxruntime fuses Conv+BatchNorm but not ConvTranspose+BatchNorm (nor Gemm+BatchNorm in
every provider), so an unfolded DCGAN generator runs an extra pass over every feature map.
In eval mode BatchNorm is an affine map per channel, y = a * x + b, so folding it into the
weights and bias of the preceding Conv2d / ConvTranspose2d / Linear is exact up to rounding.

Only adjacent pairs inside an ``nn.Sequential`` are folded (the way the built-ins and most
plugins compose layers): that is where "BatchNorm directly follows the layer" is certain
without tracing the forward. Anything else is left as it is and still exports correctly.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_weights, fuse_linear_bn_weights

_BN = (nn.BatchNorm1d, nn.BatchNorm2d)


def _foldable(layer: nn.Module, bn: nn.Module) -> bool:
    if not isinstance(bn, _BN) or not bn.track_running_stats or bn.running_mean is None:
        return False
    if isinstance(layer, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
        return layer.out_channels == bn.num_features
    if isinstance(layer, nn.ConvTranspose2d) and isinstance(bn, nn.BatchNorm2d):
        # groups > 1 lays ConvTranspose weights out as (in, out/groups, k, k); keep it simple
        return layer.groups == 1 and layer.out_channels == bn.num_features
    if isinstance(layer, nn.Linear) and isinstance(bn, nn.BatchNorm1d):
        # exact only when the Linear's output is (N, features): BatchNorm1d then normalises that axis
        return layer.out_features == bn.num_features
    return False


def _fold_pair(layer: nn.Module, bn: nn.Module) -> nn.Module:
    fused = copy.deepcopy(layer)
    if isinstance(layer, nn.Linear):
        w, b = fuse_linear_bn_weights(layer.weight, layer.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias)
    else:
        w, b = fuse_conv_bn_weights(layer.weight, layer.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias,
                                    transpose=isinstance(layer, nn.ConvTranspose2d))
    fused.weight, fused.bias = w, b
    return fused


@torch.no_grad()
def fold_batchnorm(model: nn.Module) -> tuple[nn.Module, int]:
    """A copy of ``model`` (eval mode) with BatchNorm folded where exact; returns (copy, number folded).

    A BatchNorm without affine parameters (``affine=False``) is folded too: ``fuse_*_bn_weights``
    treats missing scale/shift as 1/0.
    """
    model = copy.deepcopy(model).eval()
    folded = 0
    for seq in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        names = list(seq._modules)
        for first, second in zip(names, names[1:]):
            layer, bn = seq._modules[first], seq._modules[second]
            if _foldable(layer, bn):
                if bn.weight is None:  # affine=False: scale 1, shift 0
                    bn = copy.deepcopy(bn)
                    bn.weight = nn.Parameter(torch.ones_like(bn.running_mean))
                    bn.bias = nn.Parameter(torch.zeros_like(bn.running_mean))
                seq._modules[first] = _fold_pair(layer, bn)
                seq._modules[second] = nn.Identity()
                folded += 1
    return model, folded


def count_batchnorm(model: nn.Module) -> int:
    return sum(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) for m in model.modules())


@torch.no_grad()
def bake_parametrizations(model: nn.Module) -> tuple[nn.Module, int]:
    """A copy of ``model`` (eval) with every parametrization (spectral norm, weight norm...)
    replaced by the plain tensor it computes; returns (copy, number of tensors baked).

    Why: an exported file must hold the weights the network uses, not the recipe for them
    (spectral norm would become a power iteration in the graph). In eval mode torch's
    spectral norm divides by sigma from its stored vectors without updating them, so the
    baked weight is exactly what the eval-mode module computes.
    """
    from torch.nn.utils import parametrize

    model = copy.deepcopy(model).eval()
    baked = 0
    for module in list(model.modules()):
        if not parametrize.is_parametrized(module):
            continue
        # Not parametrize.remove_parametrizations: a deep copy shares the generated
        # "ParametrizedLinear" class with the original, and removing deletes the property from
        # that class, which would break the original model (the parity reference) too.
        values = {name: getattr(module, name).detach().clone() for name in module.parametrizations}
        del module._modules["parametrizations"]
        module.__class__ = module.__class__.__bases__[0]  # the class before parametrize subclassed it
        for name, value in values.items():
            module.register_parameter(name, nn.Parameter(value, requires_grad=False))
            baked += 1
    return model, baked
