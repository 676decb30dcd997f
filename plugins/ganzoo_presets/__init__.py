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

ganzoo.require_api("1.0")

PRESETS = [
    PresetSpec(
        name="dogs-dcgan",
        description="DCGAN on Stanford Dogs, 64x64: batch 32, lr G 1e-3 / D 5e-4, latent 128, dropout in D, 10 epochs",
        arch="dcgan",
        data="dogs",
        values={
            "image_size": 64, "batch_size": 32, "nz": 128, "lr_g": 1e-3, "lr_d": 5e-4,
            "beta1": 0.5, "beta2": 0.999, "epochs": 10, "loss": "bce", "ema": False, "diffaugment": "",
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
            "beta1": 0.5, "beta2": 0.999, "epochs": 25, "sample_every": 5, "loss": "bce", "ema": False,
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
            "beta1": 0.5, "beta2": 0.99, "epochs": 250, "loss": "bce", "ema": False, "diffaugment": "",
            "set": {"subset": 2500, "norm": "batch"},
        },
    ),
]


@hookimpl
def ganzoo_register_presets(register):
    for preset in PRESETS:
        register(preset)
