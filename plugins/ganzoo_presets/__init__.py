"""The recipes of the projects ganzoo replaces, as named presets (``--preset NAME``).

They are presets, not defaults, so that the users of those projects can reproduce their runs
(failures included: on small real data their BatchNorm discriminators often win within a few
hundred steps, see the README's quality table) while everyone else gets ganzoo's defaults.
Each preset therefore pins what the defaults changed: a BatchNorm discriminator, no EMA and no
DiffAugment. Explicit flags and ``--set`` override a preset;
``config.json`` records the preset's name and the values it resolved to.
"""

import ganzoo
from ganzoo import PresetSpec, hookimpl

ganzoo.require_api("1.3")  # 1.3: the ema_start and conditional values

PRESETS = [
    PresetSpec(
        name="dogs-dcgan",
        description="DCGAN on Stanford Dogs, 64x64: batch 32, lr G 1e-3 / D 5e-4, latent 128, dropout in D, 10 epochs",
        arch="dcgan",
        data="dogs",
        values={
            "image_size": 64, "batch_size": 32, "nz": 128, "lr_g": 1e-3, "lr_d": 5e-4,
            "beta1": 0.5, "beta2": 0.999, "n_critic": 1, "epochs": 10, "loss": "bce", "ema": False, "diffaugment": "",
            # the seed project's discriminator dropped out after each block
            "set": {"dropout": 0.25, "norm": "batch"},
        },
    ),
    PresetSpec(
        name="dcgan64",
        description="The pytorch/examples DCGAN at 64x64: batch 128, latent 100, lr 2e-4, 25 epochs, samples every 5",
        arch="dcgan",
        values={
            "image_size": 64, "batch_size": 128, "nz": 100, "lr_g": 2e-4, "lr_d": 2e-4,
            "beta1": 0.5, "beta2": 0.999, "n_critic": 1, "epochs": 25, "sample_every": 5, "loss": "bce", "ema": False,
            "diffaugment": "",
            "set": {"ngf": 64, "ndf": 64, "norm": "batch"},
        },
    ),
    PresetSpec(
        name="cifar-subset",
        description="FC+upsample GAN on a random 2,500-image CIFAR-10 subset: batch 64, latent 256, lr 5e-3, 250 epochs",
        arch="cifar",
        data="cifar10",
        values={
            "image_size": 32, "batch_size": 64, "nz": 256, "lr_g": 5e-3, "lr_d": 5e-3,
            "beta1": 0.5, "beta2": 0.99, "n_critic": 1, "epochs": 250, "loss": "bce", "ema": False, "diffaugment": "",
            "set": {"subset": 2500, "norm": "batch"},
        },
    ),
]


# The BigGAN recipes. biggan-dogs is the recipe of the Kaggle "Generative Dog Images" BigGAN
# entries: breed-conditional BigGAN-style G, 64x64 crops of the annotated boxes, flips, hinge
# loss, Adam betas (0, 0.999), batch 32, self-attention at 32x32, an EMA of G started once the
# weights are past their first transient. Learning rates: equal, 2e-4 for both (as in BigGAN's
# own small-data CIFAR setup), rather than ImageNet BigGAN's TTUR 1e-4 / 4e-4, which was tuned
# for batch 2048; the write-ups of the winning entry report equal rates too (3e-4 there, with
# BCE and label smoothing instead of hinge). DiffAugment stays off (add
# --set diffaugment=color,translation for small subsets, e.g. a few breeds).
PRESETS += [
    PresetSpec(
        name="biggan-dogs",
        description="BigGAN on Stanford Dogs breeds, 64x64 box crops + flips: hinge, lr 2e-4/2e-4, betas (0, 0.999), batch 32, EMA from step 2000",
        arch="biggan",
        data="dogs",
        values={
            "image_size": 64, "batch_size": 32, "nz": 120, "lr_g": 2e-4, "lr_d": 2e-4,
            "beta1": 0.0, "beta2": 0.999, "loss": "hinge", "epochs": 130, "sample_every": 5,
            "ema": True, "ema_decay": 0.999, "ema_start": 2000, "flip": True, "conditional": True,
            "set": {"ch": 32, "attn": 32, "crop": "box"},
        },
    ),
    PresetSpec(
        name="biggan-cifar10",
        description="BigGAN on CIFAR-10 at 32x32 (BigGAN's CIFAR setup): hinge, lr 2e-4, 4 D steps, batch 50, EMA, no attention",
        arch="biggan",
        data="cifar10",
        values={
            "image_size": 32, "batch_size": 50, "nz": 128, "lr_g": 2e-4, "lr_d": 2e-4,
            "beta1": 0.0, "beta2": 0.999, "loss": "hinge", "n_critic": 4, "epochs": 500, "sample_every": 10,
            "ema": True, "ema_decay": 0.9999, "ema_start": 1000, "conditional": True,
            "set": {"ch": 64, "attn": 0},
        },
    ),
]


@hookimpl
def ganzoo_register_presets(register):
    for preset in PRESETS:
        register(preset)
