"""GAN losses on raw discriminator logits."""

import torch
import torch.nn.functional as F


class NonSaturatingBCE:
    """D: -log D(x) - log(1 - D(G(z))); G: -log D(G(z)) (Goodfellow et al. 2014, non-saturating).

    ``label_smoothing`` > 0 is one-sided: real targets become 1 - label_smoothing.
    """

    def __init__(self, label_smoothing: float = 0.0):
        self.real_target = 1.0 - label_smoothing

    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        real = F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, self.real_target))
        fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
        return real + fake

    def generator_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
