"""``resgan``: a residual GAN as a third-party ganzoo plugin.

The generator is a stack of residual up-sampling blocks and the discriminator a stack of
residual down-sampling blocks with spectral normalisation, after Miyato et al. 2018 ("Spectral
Normalization for Generative Adversarial Networks", the ResNet models of its CIFAR experiments)
and Gulrajani et al. 2017 (WGAN-GP). Neither is in ganzoo's core.

This module uses only the public API (``ganzoo.ArchitectureSpec``, ``ganzoo.Param``,
``ganzoo.hookimpl``, ``ganzoo.require_api``) and keeps torch out of import time: the builders
import ``.models`` when ganzoo calls them, so ``ganzoo plugins`` stays fast.
"""

import ganzoo
from ganzoo import ArchitectureSpec, Param, hookimpl

# Fails with one clear line (and only this plugin is left out) on a ganzoo with another API.
ganzoo.require_api("1.0")


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
