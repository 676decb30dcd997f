"""A compact BigGAN (Brock et al. 2019) as a ganzoo plugin: class-conditional by default.

Written as a third-party plugin would be: only the public ``ganzoo`` API, registered through
the ``ganzoo`` entry-point group, torch imported when a builder runs. What it has of BigGAN:
a shared class embedding and a hierarchical latent (z split per block) feeding conditional
BatchNorm in residual up-blocks, optional self-attention (``attn`` px; 0 = none), orthogonal
init, spectral norm in G and D, and a discriminator of residual down-blocks with a
projection head (Miyato & Koyama 2018). Not included: orthogonal regularisation, the
truncation trick, BigGAN-deep (standing BatchNorm statistics come from the engine: the
EMA generator's ``ema_bn=standing``). Added, off by default: StyleGAN's
minibatch standard deviation channel in D (``--set mbstd=4``; measured on shapes to keep
colours from collapsing, README "biggan").

``--set conditional=false`` trains it unconditionally (on data without labels).
Parameter counts at the defaults (ch=32, shared_dim=128, nz=120, attn=32) for 120 classes
are in the README and checked by tests/test_biggan.py.
"""

import ganzoo
from ganzoo import ArchitectureSpec, Param, hookimpl

ganzoo.require_api("1.4")


def build_generator(params: dict):
    from ganzoo_biggan.models import Generator

    return Generator(nz=params["nz"], ch=params["ch"], image_size=params["image_size"],
                     num_classes=params.get("num_classes"), shared_dim=params["shared_dim"], attn=params["attn"],
                     layout16=params.get("layout16", "flat"))  # runs configured before layout16 existed were flat


def build_discriminator(params: dict):
    from ganzoo_biggan.models import Discriminator

    return Discriminator(ch=params["d_ch"] or params["ch"], image_size=params["image_size"],
                         num_classes=params.get("num_classes"), attn=params["attn"],
                         mbstd=params.get("mbstd", 0),  # a run configured before mbstd existed had none
                         layout16=params.get("layout16", "flat"))


@hookimpl
def ganzoo_register_architectures(register):
    register(
        ArchitectureSpec(
            name="biggan",
            description="Compact BigGAN: shared embedding, hierarchical z, conditional BN, self-attention, SN, projection D",
            image_sizes=(64, 32, 128, 16),
            latent_size=120,
            build_generator=build_generator,
            build_discriminator=build_discriminator,
            params={
                "ch": Param(32, "width: channels are ch times BigGAN's multipliers (16, 8, 4, 2, 1 at 64 px)", min=1),
                "d_ch": Param(0, "discriminator width (0: the same as ch)", min=0),
                "shared_dim": Param(128, "size of the shared class embedding", min=1),
                "attn": Param(32, "self-attention at this resolution in G and D (0, or above the image size: none)", min=0),
                "layout16": Param("tapered", "16 px only: G widths 4,2,1 x ch from 4 px up, D 1,2,4 (tapered, as "
                                  "BigGAN's 64/128 px), or 4 throughout (flat, the layout before 2026-12-06)",
                                  choices=("tapered", "flat")),
                "mbstd": Param(0, "StyleGAN's minibatch-std channel in D over groups of this size (0: off, as BigGAN)", min=0),
            },
            conditional="optional",
            capturable=True,  # plain tensor ops: the training step may be one CUDA graph (cuda_graph)
            # BigGAN's recipe: hinge loss, Adam (0, 0.999), TTUR (D learns 4x faster), EMA of G
            defaults={"conditional": True, "image_size": 64, "batch_size": 64, "loss": "hinge",
                      "lr_g": 1e-4, "lr_d": 4e-4, "beta1": 0.0, "beta2": 0.999,
                      "ema": True, "ema_decay": 0.9999, "ema_start": 1000},
        )
    )
