"""The built-in GAN losses, registered like any third-party loss plugin.

``build(options)`` receives the engine's loss options (``label_smoothing``); torch is imported
only when a loss is built, so ``ganzoo plugins`` stays fast.
"""

import ganzoo
from ganzoo import LossSpec, hookimpl

ganzoo.require_api("1.4")


def _builder(class_name: str):
    def build(options: dict):
        from ganzoo_losses import losses

        return getattr(losses, class_name)(**options)

    return build


# name, description, class, capturable (plain tensor arithmetic; wgan-gp's penalty is a double backward)
LOSSES = [
    ("bce", "Non-saturating binary cross-entropy (the original GAN loss)", "NonSaturatingBCE", True),
    ("hinge", "Hinge loss (SAGAN/BigGAN): margins on D's scores, G maximises D's score", "Hinge", True),
    ("lsgan", "Least squares (LSGAN): D regresses real to 1 and fake to 0", "LeastSquares", True),
    ("wgan-gp", "Wasserstein loss with gradient penalty (lambda 10); pair with n_critic=5", "WassersteinGP", False),
]


@hookimpl
def ganzoo_register_losses(register):
    for name, description, class_name, capturable in LOSSES:
        register(LossSpec(name, description, _builder(class_name), capturable=capturable))
