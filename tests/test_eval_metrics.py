"""The metric wiring on feature sets and on images through a small extractor registered as a plugin."""

from __future__ import annotations

import numpy as np
import pytest

from ganzoo.errors import UsageError
from ganzoo.eval.extractor import array_batches, open_extractor
from ganzoo.eval.metrics import (FeatureSet, compute, fid, inception_score, kid, memorization_distance, mifid,
                                 parse_metrics, precision_recall)


def gaussian(n: int, shift: float = 0.0, seed: int = 0, dim: int = 16) -> FeatureSet:
    return FeatureSet(np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32) + shift)


def test_identical_sets_score_zero_and_shifts_score_more():
    a = gaussian(400)
    assert abs(fid(a, FeatureSet(a.features.copy()))) < 1e-6
    scores = [fid(a, gaussian(400, shift=s, seed=1)) for s in (0.0, 0.5, 1.0)]
    assert scores[0] < scores[1] < scores[2]
    # a mean shift of s in each of 16 dimensions adds about 16 s^2
    assert scores[2] - scores[0] == pytest.approx(16.0, rel=0.15)
    # KID is unbiased: about 0 (either sign) for the same distribution, clearly positive for another
    kids = [kid(a, s, subsets=20, subset_size=200)[0] for s in (FeatureSet(a.features.copy()), gaussian(400, seed=1),
                                                                 gaussian(400, shift=1.0, seed=1))]
    assert abs(kids[0]) < 0.05 * kids[2] and abs(kids[1]) < 0.05 * kids[2]


def test_mifid_penalises_copies_only():
    real = gaussian(300)
    other = gaussian(300, seed=5)
    d_other = memorization_distance(real, other)
    assert d_other > 0.1  # independent 16-d Gaussians are far apart in angle
    assert mifid(fid(real, other), d_other) == pytest.approx(fid(real, other))
    copies = FeatureSet(real.features[:150] + 0.01 * gaussian(150, seed=9).features)
    d_copies = memorization_distance(real, copies)
    assert d_copies < 1e-3
    assert mifid(fid(real, copies), d_copies) > 100 * fid(real, copies)
    zeros = FeatureSet(np.zeros((4, 16), np.float32))
    assert memorization_distance(real, zeros) == 1.0  # all-zero rows are left out, as Kaggle does


def test_inception_score_bounds():
    uniform = FeatureSet(np.zeros((100, 5), np.float32), logits=np.zeros((100, 5), np.float32))
    assert inception_score(uniform)[0] == pytest.approx(1.0)
    confident = np.full((5000, 5), -20.0, np.float32)  # sure of each image, every class equally often
    confident[np.arange(5000), np.arange(5000) % 5] = 20.0
    assert inception_score(FeatureSet(confident, logits=confident))[0] == pytest.approx(5.0, rel=0.01)


def test_precision_recall_of_same_and_disjoint_sets():
    a = gaussian(200)
    assert precision_recall(a, FeatureSet(a.features.copy())) == (1.0, 1.0)
    assert precision_recall(a, gaussian(200, shift=50.0, seed=1)) == (0.0, 0.0)
    # a generator covering only part of the real distribution: precise but with low recall
    flat = gaussian(1000, dim=2)  # in 2-d the k-NN balls are small and the geometry is plain
    part = FeatureSet(flat.features[flat.features[:, 0] > 0.5])
    precision, recall = precision_recall(flat, part)
    assert precision > 0.75 and recall < 0.6, (precision, recall)


def test_compute_returns_flat_labelled_numbers():
    a, b = gaussian(100), gaussian(100, shift=0.3, seed=2)
    b.logits = np.zeros((100, 3), np.float32)
    out = compute(["fid", "kid", "mifid", "is", "pr"], a, b, kid_subsets=5)
    assert set(out) == {"fid", "kid", "kid_std", "mifid", "mifid_distance", "is", "is_std", "precision", "recall"}
    assert all(isinstance(v, float) for v in out.values())


@pytest.mark.parametrize("text, message", [("fid,kdi", "did you mean 'kid'"), ("nope", "choose from"), (",", "at least one")])
def test_parse_metrics_refuses_unknown_names(text, message):
    with pytest.raises(UsageError, match=message):
        parse_metrics(text)
    assert parse_metrics(None) == ["fid", "kid"] and parse_metrics("FID, pr,fid") == ["fid", "pr"]


def test_through_a_registered_extractor(tiny_extractor):
    """Images through the plugin point: identical sets ~ 0, brighter sets further, copies penalised."""
    from ganzoo_shapes.render import render_shapes

    ext = open_extractor(tiny_extractor, "tiny")
    assert ext.label == "tiny" and ext.weights_sha256 is None
    images = render_shapes(count=300, image_size=32, kinds=["circle", "square", "triangle"], seed=0).images
    real = ext.features(array_batches(images, 64), progress=False)
    assert real.features.shape == (300, 64) and real.logits.shape == (300, 10)
    same = ext.features(array_batches(images, 7), progress=False)  # batch size does not matter
    np.testing.assert_allclose(same.features, real.features, atol=1e-5)
    assert abs(fid(real, same)) < 1e-3
    others = render_shapes(count=300, image_size=32, kinds=["circle", "square", "triangle"], seed=1).images
    brighter = np.clip(others.astype(np.int16) + 60, 0, 255).astype(np.uint8)
    f_other = fid(real, ext.features(array_batches(others, 64), progress=False))
    f_bright = fid(real, ext.features(array_batches(brighter, 64), progress=False))
    assert f_other < f_bright
    # a "generator" that hands back training images: FID is small, MiFID is not
    copier = ext.features(array_batches(images[:150], 64), progress=False)
    out = compute(["fid", "mifid"], real, copier)
    assert out["mifid_distance"] < 1e-4 and out["mifid"] > out["fid"]
