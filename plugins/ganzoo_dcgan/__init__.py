"""The DCGAN architecture (Radford et al. 2015) as a ganzoo plugin.

This package is written exactly as a third-party plugin would be: it imports only the public
``ganzoo`` API, registers through the ``ganzoo`` entry-point group, and keeps torch out of import
time (the builders import ``.models`` when called). Copy it to start your own architecture.
"""

import ganzoo
from ganzoo import ArchitectureSpec, Param, hookimpl

ganzoo.require_api("1.6")


def build_generator(params: dict):
    from ganzoo_dcgan.models import Generator

    # num_classes is there only in a conditional run (--set conditional=true on labelled data)
    return Generator(nz=params["nz"], ngf=params["ngf"], image_size=params["image_size"],
                     num_classes=params.get("num_classes"),
                     # a conditional run configured before the cond parameter existed concatenated
                     cond=params.get("cond", "concat"),
                     upsample=params.get("upsample", "transpose"))


def build_discriminator(params: dict):
    from ganzoo_dcgan.models import Discriminator

    return Discriminator(ndf=params["ndf"], image_size=params["image_size"], dropout=params["dropout"],
                         num_classes=params.get("num_classes"),
                         # a run configured before the norm parameter existed had BatchNorm
                         norm=params.get("norm", "batch"))


@hookimpl
def ganzoo_register_architectures(register):
    register(
        ArchitectureSpec(
            name="dcgan",
            description="Conv-transpose DCGAN: G BatchNorm/ReLU/Tanh, D spectral-norm/LeakyReLU (norm=batch: the paper's)",
            image_sizes=(16, 32, 64, 128, 256),
            latent_size=100,
            build_generator=build_generator,
            build_discriminator=build_discriminator,
            params={
                "ngf": Param(64, "generator width (channels of its last hidden layer)", min=1),
                "ndf": Param(64, "discriminator width (channels of its first layer)", min=1),
                "dropout": Param(0.0, "dropout probability after each discriminator block", min=0, max=1),
                "norm": Param("spectral", "discriminator normalization", choices=("batch", "spectral", "none")),
                "cond": Param("bn", "how a conditional G takes the class: conditional BatchNorm, or an embedding "
                                    "concatenated to z (measured to ignore z)", choices=("bn", "concat")),
                "upsample": Param("transpose", "how G doubles the resolution: stride-2 ConvTranspose (the paper's) or "
                                               "nearest-neighbour upsampling + 3x3 conv (no checkerboard)",
                                  choices=("transpose", "nearest")),
            },
            # --set conditional=true: the class in G's BatchNorm (cond), a projection head in D
            conditional="optional",
            capturable=True,  # plain tensor ops: the training step may be one CUDA graph (cuda_graph)
            # The default recipe, chosen by measurement (benchmarks/quality_bench.py, README
            # "The default recipe"): spectral norm in D (norm above), hinge loss, G learning twice
            # as fast as D, Adam without momentum (beta1 0) and two D updates per G update (in
            # one benchmark run they took the worst of 5 seeds from FID 283.2 to 56.5; n_critic=2
            # also won at equal wall-clock), an EMA of G with its own (standing) BatchNorm statistics
            # (without the EMA the raw G at these rates is noisy) and DiffAugment translation
            # (without it SN + hinge collapsed; its colour jitter cost colour fidelity).
            # The seed projects' settings, BatchNorm and BCE included, are presets.
            defaults={"image_size": 64, "batch_size": 128, "lr_g": 1e-3, "lr_d": 5e-4, "beta1": 0.0, "beta2": 0.999,
                      "n_critic": 2, "loss": "hinge", "ema": True, "diffaugment": "translation"},
        )
    )
