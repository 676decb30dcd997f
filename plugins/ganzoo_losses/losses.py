"""GAN losses on raw discriminator logits.

Each loss is a small object with the two phases of the step, in the stylegan2-ada "Loss object"
spirit: ``discriminator_loss(real_logits, fake_logits)`` and ``generator_loss(fake_logits)``;
a loss that needs the networks themselves (the WGAN-GP gradient penalty) adds ``penalty``.
Logits are (N,) float tensors; under autocast they may be bf16/fp16, so every loss computes in
float32 for stable reductions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class NonSaturatingBCE:
    """D: -log D(x) - log(1 - D(G(z))); G: -log D(G(z)) (Goodfellow et al. 2014, non-saturating).

    ``label_smoothing`` > 0 is one-sided: real targets become 1 - label_smoothing.
    """

    def __init__(self, label_smoothing: float = 0.0):
        self.real_target = 1.0 - label_smoothing

    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        real_logits, fake_logits = real_logits.float(), fake_logits.float()
        real = F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, self.real_target))
        fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
        return real + fake

    def generator_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        fake_logits = fake_logits.float()
        return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


class Hinge:
    """D: E[relu(1 - D(x))] + E[relu(1 + D(G(z)))]; G: -E[D(G(z))] (Lim & Ye 2017; SAGAN, BigGAN).

    One-sided label smoothing moves the real margin from 1 to 1 - label_smoothing, the hinge
    analogue of a softer real target.
    """

    def __init__(self, label_smoothing: float = 0.0):
        self.real_margin = 1.0 - label_smoothing

    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return F.relu(self.real_margin - real_logits.float()).mean() + F.relu(1.0 + fake_logits.float()).mean()

    def generator_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return -fake_logits.float().mean()


class LeastSquares:
    """D: E[(D(x) - 1)^2] / 2 + E[D(G(z))^2] / 2; G: E[(D(G(z)) - 1)^2] / 2 (Mao et al. 2017, a=0 b=c=1).

    The logits are used as raw scores (no sigmoid), as in the paper. Label smoothing lowers the
    real target to 1 - label_smoothing.
    """

    def __init__(self, label_smoothing: float = 0.0):
        self.real_target = 1.0 - label_smoothing

    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return 0.5 * ((real_logits.float() - self.real_target) ** 2).mean() + 0.5 * (fake_logits.float() ** 2).mean()

    def generator_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return 0.5 * ((fake_logits.float() - 1.0) ** 2).mean()


class WassersteinGP:
    """WGAN-GP (Gulrajani et al. 2017). D (the critic): E[D(G(z))] - E[D(x)] + lambda * GP;
    G: -E[D(G(z))]. GP = E[(||grad_x_hat D(x_hat)||_2 - 1)^2] on random interpolates x_hat.

    The paper pairs it with n_critic = 5, Adam (0, 0.9) and no BatchNorm in the critic (BatchNorm
    mixes samples, so the per-sample gradient norm is not what the penalty assumes); with a
    BatchNorm critic it still trains, but set those hyperparameters yourself (or use a preset).
    ``last_penalty`` holds the detached value of the last penalty, for the metrics.
    Label smoothing has no meaning for a critic and is ignored.
    """

    def __init__(self, label_smoothing: float = 0.0, gp_weight: float = 10.0):
        self.gp_weight = gp_weight
        self.last_penalty: torch.Tensor | None = None

    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return fake_logits.float().mean() - real_logits.float().mean()

    def generator_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return -fake_logits.float().mean()

    def penalty(self, D, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        # real, fake: (B, 3, S, S); one mixing weight per sample, from the global RNG (saved on resume)
        alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)
        x_hat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)  # (B, 3, S, S)
        scores = D(x_hat).view(-1).float()  # (B,)
        (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)  # (B, 3, S, S)
        norms = grad.float().flatten(1).norm(2, dim=1)  # (B,)
        gp = ((norms - 1.0) ** 2).mean()
        self.last_penalty = gp.detach()
        return self.gp_weight * gp
