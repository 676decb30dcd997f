"""The metrics, computed from feature sets. torch-fidelity does the math (Fréchet distance,
KID's polynomial-kernel MMD, the Inception Score, improved precision/recall); MiFID is
torch-fidelity's FID divided by Kaggle's memorization distance, which is computed here.

Conventions: ``fake`` is the generated set, ``real`` the reference set, both ``FeatureSet``.

- **FID** (Heusel et al. 2017): the Fréchet distance between Gaussians fitted to the two
  feature sets, ``|mu_r - mu_f|^2 + Tr(S_r + S_f - 2 (S_r S_f)^(1/2))``. Lower is better.
- **KID** (Bińkowski et al. 2018): the unbiased squared MMD with the kernel
  ``(x.y / d + 1)^3``, averaged over ``subsets`` random subsets of ``subset_size`` per set
  (mean and standard deviation). Unbiased, so fair at small N; lower is better.
- **MiFID** (Kaggle's "Generative Dog Images", 2019): ``FID / d_thr`` where ``d`` is the mean,
  over generated images, of the smallest cosine distance ``1 - |cos|`` to any real image
  (all-zero feature rows left out), and ``d_thr = d`` when ``d < 0.1``, else 1 (no penalty).
  A generator that copies training images gets a small ``d`` and a large MiFID.
- **IS** (Salimans et al. 2016): ``exp E_x KL(p(y|x) || p(y))`` over 10 splits (mean, std);
  needs class logits. Higher is better.
- **Precision/recall** (Kynkäänniemi et al. 2019), k = 3: precision is the fraction of
  generated images inside the k-NN ball of some real image; recall the fraction of real
  images inside the ball of some generated image. The real set is subsampled to the size of
  the generated one (seeded), as the paper compares equal numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ganzoo.errors import UsageError
from ganzoo.eval.names import DEFAULT_METRICS, METRICS, parse_metrics  # noqa: F401  (re-exported)

MIFID_EPS = 0.1  # Kaggle's cosine-distance threshold
KID_SUBSETS, KID_SUBSET_SIZE = 100, 1000  # torch-fidelity's (and the KID paper's) defaults
PR_NEIGHBORHOOD = 3
SEED = 2020  # torch-fidelity's default seed for the KID subsets and IS splits


@dataclass
class FeatureSet:
    """Features (N, D) float32 and, for extractors that have them, class logits (N, C)."""

    features: np.ndarray
    logits: np.ndarray | None = None
    _stats: dict | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.features)

    @property
    def statistics(self) -> dict:
        """``{"mu": (D,), "sigma": (D, D)}`` in float64, as torch-fidelity computes them."""
        if self._stats is None:
            from torch_fidelity.metric_fid import fid_features_to_statistics

            self._stats = fid_features_to_statistics(torch.from_numpy(self.features).double())
        return self._stats


def fid(real: FeatureSet, fake: FeatureSet) -> float:
    from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_statistics_to_metric

    return float(fid_statistics_to_metric(real.statistics, fake.statistics, verbose=False)[KEY_METRIC_FID])


def kid(real: FeatureSet, fake: FeatureSet, subsets: int = KID_SUBSETS, subset_size: int = KID_SUBSET_SIZE) -> tuple[float, float]:
    """(mean, std) over the subsets; the subset size shrinks to the smaller set when needed."""
    from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_features_to_metric

    size = min(subset_size, len(real), len(fake))
    out = kid_features_to_metric(torch.from_numpy(fake.features), torch.from_numpy(real.features),
                                 kid_subsets=subsets, kid_subset_size=size, rng_seed=SEED, verbose=False)
    return float(out[KEY_METRIC_KID_MEAN]), float(out[KEY_METRIC_KID_STD])


def _unit_rows(x: np.ndarray) -> torch.Tensor:
    t = torch.from_numpy(np.asarray(x, dtype=np.float32))
    norms = t.norm(dim=1)
    t = t[norms > 0]  # Kaggle leaves out all-zero feature rows
    return t / t.norm(dim=1, keepdim=True)


def memorization_distance(real: FeatureSet, fake: FeatureSet, chunk: int = 1024) -> float:
    """Mean over generated images of the smallest cosine distance ``1 - |cos|`` to a real one."""
    r, f = _unit_rows(real.features), _unit_rows(fake.features)
    if len(r) == 0 or len(f) == 0:
        return 1.0
    nearest = []
    for part in f.split(chunk):  # (chunk, D) @ (D, N_real): never the whole matrix at once
        nearest.append((1 - (part @ r.T).abs()).clamp(min=0).min(dim=1).values)  # rounding: |cos| may pass 1
    return float(torch.cat(nearest).double().mean())


def mifid(fid_value: float, distance: float, eps: float = MIFID_EPS) -> float:
    """Kaggle's MiFID: the FID divided by the thresholded memorization distance (1e-15 as Kaggle added)."""
    thresholded = distance if distance < eps else 1.0
    return max(fid_value, 0.0) / (thresholded + 1e-15)  # a FID of -1e-8 is rounding, not a negative score


def inception_score(fake: FeatureSet, splits: int = 10) -> tuple[float, float]:
    from torch_fidelity.metric_isc import KEY_METRIC_ISC_MEAN, KEY_METRIC_ISC_STD, isc_features_to_metric

    splits = max(1, min(splits, len(fake)))
    out = isc_features_to_metric(torch.from_numpy(fake.logits), splits=splits, shuffle=True, rng_seed=SEED)
    return float(out[KEY_METRIC_ISC_MEAN]), float(out[KEY_METRIC_ISC_STD])


def precision_recall(real: FeatureSet, fake: FeatureSet, k: int = PR_NEIGHBORHOOD) -> tuple[float, float]:
    from torch_fidelity.metric_prc import KEY_METRIC_PRECISION, KEY_METRIC_RECALL, prc_features_to_metric

    real_f = real.features
    if len(real_f) > len(fake):
        real_f = real_f[np.random.default_rng(SEED).choice(len(real_f), len(fake), replace=False)]
    out = prc_features_to_metric(torch.from_numpy(fake.features), torch.from_numpy(np.ascontiguousarray(real_f)),
                                 prc_neighborhood=k, prc_batch_size=1024, save_cpu_ram=True, verbose=False)
    return float(out[KEY_METRIC_PRECISION]), float(out[KEY_METRIC_RECALL])


def check_counts(metrics: list[str], n_real: int, n_fake: int) -> None:
    """Refuse sets too small for a metric before any feature is extracted."""
    need = {"fid": 2, "mifid": 2, "kid": 2, "is": 1, "pr": PR_NEIGHBORHOOD + 2}
    for name in metrics:
        low = min(n_real, n_fake)
        if low < need[name]:
            raise UsageError(f"{name} needs at least {need[name]} images in each set (have {n_fake} generated, {n_real} real)")


def compute(metrics: list[str], real: FeatureSet, fake: FeatureSet, kid_subsets: int = KID_SUBSETS) -> dict[str, float]:
    """The requested metrics as flat JSON-able numbers: fid, kid, kid_std, mifid,
    mifid_distance, is, is_std, precision, recall."""
    out: dict[str, float] = {}
    if "fid" in metrics or "mifid" in metrics:
        value = fid(real, fake)
        if "fid" in metrics:
            out["fid"] = value
        if "mifid" in metrics:
            distance = memorization_distance(real, fake)
            out["mifid"] = mifid(value, distance)
            out["mifid_distance"] = distance
    if "kid" in metrics:
        out["kid"], out["kid_std"] = kid(real, fake, subsets=kid_subsets)
    if "is" in metrics:
        out["is"], out["is_std"] = inception_score(fake)
    if "pr" in metrics:
        out["precision"], out["recall"] = precision_recall(real, fake)
    return out
