"""The built-in GAN losses, registered like any third-party loss plugin.

``build(options)`` receives the engine's loss options (``label_smoothing``); torch is imported
only when a loss is built, so ``ganzoo plugins`` stays fast.
"""

import ganzoo
from ganzoo import LossSpec, hookimpl

ganzoo.require_api("1.0")


def _builder(class_name: str):
    def build(options: dict):
        from ganzoo_losses import losses

        return getattr(losses, class_name)(**options)

    return build


LOSSES = [
    ("bce", "Non-saturating binary cross-entropy (the original GAN loss)", "NonSaturatingBCE"),
    ("hinge", "Hinge loss (SAGAN/BigGAN): margins on D's scores, G maximises D's score", "Hinge"),
    ("lsgan", "Least squares (LSGAN): D regresses real to 1 and fake to 0", "LeastSquares"),
    ("wgan-gp", "Wasserstein loss with gradient penalty (lambda 10); pair with n_critic=5", "WassersteinGP"),
]


@hookimpl
def ganzoo_register_losses(register):
    for name, description, class_name in LOSSES:
        register(LossSpec(name, description, _builder(class_name)))
