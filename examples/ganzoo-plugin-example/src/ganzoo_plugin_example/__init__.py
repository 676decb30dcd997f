"""``resgan``, a residual GAN, and ``pyramid``, an evaluation feature extractor, as a
third-party ganzoo plugin.

The generator is a stack of residual up-sampling blocks and the discriminator a stack of
residual down-sampling blocks with spectral normalisation, after Miyato et al. 2018 ("Spectral
Normalization for Generative Adversarial Networks", the ResNet models of its CIFAR experiments)
and Gulrajani et al. 2017 (WGAN-GP). Neither is in ganzoo's core.

This module uses only the public API (``ganzoo.ArchitectureSpec``, ``ganzoo.ExtractorSpec``,
``ganzoo.Param``, ``ganzoo.hookimpl``, ``ganzoo.require_api``) and keeps torch out of import time: the builders
import ``.models`` when ganzoo calls them, so ``ganzoo plugins`` stays fast.
"""

import ganzoo
from ganzoo import ArchitectureSpec, ExtractorSpec, Param, hookimpl

# Fails with one clear line (and only this plugin is left out) on a ganzoo with another API.
# 1.2: the first API with feature extractors (ganzoo_register_extractors).
ganzoo.require_api("1.2")


def build_generator(params: dict):
    from ganzoo_plugin_example.models import ResGenerator

    return ResGenerator(nz=params["nz"], width=params["gwidth"], image_size=params["image_size"])


def build_discriminator(params: dict):
    from ganzoo_plugin_example.models import ResDiscriminator

    return ResDiscriminator(width=params["dwidth"], image_size=params["image_size"])


@hookimpl
def ganzoo_register_architectures(register):
    register(
        ArchitectureSpec(
            name="resgan",
            description="Residual up/down-sampling GAN, spectrally normalised discriminator (SNGAN-style)",
            image_sizes=(16, 32, 64, 128),
            latent_size=128,
            build_generator=build_generator,
            build_discriminator=build_discriminator,
            params={
                "gwidth": Param(128, "channels of every generator block"),
                "dwidth": Param(128, "channels of every discriminator block"),
            },
            # Spectral norm keeps D Lipschitz, so D can learn as fast as G (no lr_d < lr_g).
            defaults={"image_size": 32, "batch_size": 64, "lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.5, "beta2": 0.999},
        )
    )


def build_pyramid(request):
    from ganzoo_plugin_example.pyramid import build

    return build(request)


@hookimpl
def ganzoo_register_extractors(register):
    register(
        ExtractorSpec(
            name="pyramid",
            description="Colour, spread and edge statistics per image quarter at 32/16/8 px (90 features, no weights)",
            feature_dim=90,
            build=build_pyramid,
            input_range="float",
            input_size=32,
        )
    )
