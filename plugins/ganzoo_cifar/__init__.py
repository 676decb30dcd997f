"""The "CIFAR GAN": a fully connected layer to a small feature map, then upsample + conv blocks.

Written as a third-party plugin would be (public ``ganzoo`` API only, torch imported lazily).
"""

import ganzoo
from ganzoo import ArchitectureSpec, Param, hookimpl

ganzoo.require_api("1.4")


def build_generator(params: dict):
    from ganzoo_cifar.models import Generator

    # num_classes is there only in a conditional run (--set conditional=true on labelled data)
    return Generator(nz=params["nz"], ngf=params["ngf"], image_size=params["image_size"],
                     num_classes=params.get("num_classes"))


def build_discriminator(params: dict):
    from ganzoo_cifar.models import Discriminator

    return Discriminator(ndf=params["ndf"], image_size=params["image_size"], dropout=params["dropout"],
                         num_classes=params.get("num_classes"),
                         # a run configured before the norm parameter existed had BatchNorm
                         norm=params.get("norm", "batch"))


@hookimpl
def ganzoo_register_architectures(register):
    register(
        ArchitectureSpec(
            name="cifar",
            description="FC + 2x(upsample, conv, BatchNorm) generator with a conv discriminator",
            image_sizes=(32, 64),
            latent_size=256,
            build_generator=build_generator,
            build_discriminator=build_discriminator,
            params={
                "ngf": Param(128, "channels of the generator's first feature map", min=1),
                "ndf": Param(64, "channels of the discriminator's first layer", min=1),
                "dropout": Param(0.0, "dropout probability in the discriminator", min=0, max=1),
                "norm": Param("batch", "discriminator normalization", choices=("batch", "spectral", "none")),
            },
            # --set conditional=true: a class embedding joins z in G, a projection head in D
            conditional="optional",
            capturable=True,  # plain tensor ops: the training step may be one CUDA graph (cuda_graph)
            # Kept as it was (BatchNorm D, BCE, lr 2e-4): it learned on every seed of the quality
            # benchmark, and dcgan's default recipe did not improve its worst seed (README, "The
            # default recipe"); --set norm=spectral --loss hinge --set ema=true is there to try.
            defaults={"image_size": 32, "batch_size": 64, "lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.5, "beta2": 0.999},
        )
    )
