"""The embedded shapes dataset: deterministic, varied, any size, labelled."""

import numpy as np
import pytest

from ganzoo.data import load_images
from ganzoo.specs import DatasetRequest


def _load(registry, size=32, **params):
    spec = registry.dataset("shapes")
    full = {k: p.default for k, p in spec.params.items()} | params
    return load_images(spec, DatasetRequest(data_dir=None, image_size=size, params=full))


def test_deterministic_and_seeded(registry):
    a = _load(registry, count=40)
    b = _load(registry, count=40)
    c = _load(registry, count=40, seed=1)
    assert np.array_equal(a.images, b.images)
    assert not np.array_equal(a.images, c.images)


@pytest.mark.parametrize("size", [16, 32, 64])
def test_layout_and_labels(registry, size):
    loaded = _load(registry, size=size, count=60)
    assert loaded.images.shape == (60, size, size, 3) and loaded.images.dtype == np.uint8
    assert loaded.class_names == ["circle", "square", "triangle"]
    assert set(loaded.labels.tolist()) == {0, 1, 2}
    # every image has a visible shape: more than one colour, and not a constant frame
    per_image_std = loaded.images.reshape(60, -1, 3).std(axis=1).sum(axis=1)
    assert (per_image_std > 10).all()


def test_kinds_subset(registry):
    loaded = _load(registry, count=30, kinds=["circle"])
    assert loaded.class_names == ["circle"] and set(loaded.labels.tolist()) == {0}
