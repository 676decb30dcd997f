"""The built-in GAN losses, registered like any third-party loss plugin."""

from ganzoo import LossSpec, hookimpl


def _bce(options: dict):
    from ganzoo_losses.losses import NonSaturatingBCE

    return NonSaturatingBCE(**options)


@hookimpl
def ganzoo_register_losses(register):
    register(LossSpec("bce", "Non-saturating binary cross-entropy (the original GAN loss)", _bce))
