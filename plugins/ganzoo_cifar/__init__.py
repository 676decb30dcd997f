"""The "CIFAR GAN": a fully connected layer to a small feature map, then upsample + conv blocks.

Written as a third-party plugin would be (public ``ganzoo`` API only, torch imported lazily).
"""

import ganzoo
from ganzoo import ArchitectureSpec, Param, hookimpl

ganzoo.require_api("1.6")


def build_generator(params: dict):
    from ganzoo_cifar.models import Generator

    # num_classes is there only in a conditional run (--set conditional=true on labelled data)
    return Generator(nz=params["nz"], ngf=params["ngf"], image_size=params["image_size"],
                     num_classes=params.get("num_classes"),
                     # a conditional run configured before the cond parameter existed concatenated
                     cond=params.get("cond", "concat"))


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
                "norm": Param("spectral", "discriminator normalization", choices=("batch", "spectral", "none")),
                "cond": Param("bn", "how a conditional G takes the class: conditional BatchNorm, or an embedding "
                                    "concatenated to z (measured to ignore z)", choices=("bn", "concat")),
            },
            # --set conditional=true: the class in G's BatchNorm (cond), a projection head in D
            conditional="optional",
            capturable=True,  # plain tensor ops: the training step may be one CUDA graph (cuda_graph)
            # dcgan's default recipe, chosen by the same measurement (benchmarks/quality_bench.py
            # --arch cifar, README "The default recipe"): spectral norm in D, hinge, lr G 1e-3 /
            # D 5e-4, Adam beta1 0, two D updates a step, EMA of G, DiffAugment translation. Before
            # beta1 0 and n_critic=2 it did not beat this architecture's old defaults (BatchNorm D,
            # BCE, 2e-4, beta1 0.5; `--preset cifar-subset` keeps BatchNorm and BCE); with them it did.
            defaults={"image_size": 32, "batch_size": 64, "lr_g": 1e-3, "lr_d": 5e-4, "beta1": 0.0, "beta2": 0.999,
                      "n_critic": 2, "loss": "hinge", "ema": True, "diffaugment": "translation"},
        )
    )
