"""CIFAR-10 from the python batches: splits, classes by name, seeded subsets, damaged files."""

from __future__ import annotations

import numpy as np
import pytest

from datafixtures import write_cifar
from ganzoo.data import load_images
from ganzoo.errors import GanzooError, UsageError
from ganzoo.specs import DatasetRequest


def _load(registry, root, size=32, **params):
    spec = registry.dataset("cifar10")
    values = {k: p.default for k, p in spec.params.items()} | params
    return load_images(spec, DatasetRequest(data_dir=root, image_size=size, params=values), progress=False)


def test_splits(tmp_path, registry):
    write_cifar(tmp_path, per_batch=20, batches=("data_batch_1", "data_batch_2", "data_batch_3",
                                                  "data_batch_4", "data_batch_5", "test_batch"))
    assert len(_load(registry, tmp_path).images) == 100
    assert len(_load(registry, tmp_path, split="test").images) == 20
    loaded = _load(registry, tmp_path, split="all")
    assert loaded.images.shape == (120, 32, 32, 3) and len(loaded.class_names) == 10
    # the writer stores each label in pixel (0, 0)'s red value: pixels and labels stay paired (HWC order)
    np.testing.assert_array_equal(loaded.images[:, 0, 0, 0], loaded.labels)


def test_classes_and_subset_combine(tmp_path, registry):
    write_cifar(tmp_path, per_batch=50, batches=("test_batch",))
    picked = _load(registry, tmp_path, split="test", classes=["dog", "cat"])
    assert picked.class_names == ["dog", "cat"] and len(picked.images) == 10
    assert set(picked.labels.tolist()) == {0, 1}
    assert (picked.images[picked.labels == 0, 0, 0, 0] == 5).all()  # 'dog' is CIFAR class 5
    a = _load(registry, tmp_path, split="test", classes=["dog", "cat"], subset=4)
    b = _load(registry, tmp_path, split="test", classes=["dog", "cat"], subset=4)
    c = _load(registry, tmp_path, split="test", classes=["dog", "cat"], subset=4, subset_seed=1)
    assert len(a.images) == 4
    np.testing.assert_array_equal(a.images, b.images)
    assert not np.array_equal(a.images, c.images)
    resized = _load(registry, tmp_path, size=16, split="test", subset=8)
    assert resized.images.shape == (8, 16, 16, 3)


def test_bad_class_name_is_a_usage_error(tmp_path, cli):
    write_cifar(tmp_path)
    result = cli("train", "--arch", "dcgan", "--data", "cifar10", "--data-dir", str(tmp_path), "--set", "classes=dgo",
                 "--steps", "1", "--out", str(tmp_path / "r"))
    assert result.exit_code == 2 and "dog" in result.output


def test_missing_and_corrupted_batches(tmp_path, registry):
    with pytest.raises(UsageError, match="cifar-10-python.tar.gz.*--download"):
        _load(registry, tmp_path)
    folder = write_cifar(tmp_path)
    with pytest.raises(UsageError, match="data_batch_3 is missing"):
        _load(registry, tmp_path, split="train")  # train needs batches 1-5; the fixture wrote 1 and 2
    (folder / "data_batch_2").write_bytes((folder / "data_batch_2").read_bytes()[:500])  # a partial file
    with pytest.raises(GanzooError, match="data_batch_2.*(partial or corrupted|not a CIFAR-10)"):
        _load(registry, tmp_path)


def test_an_official_name_with_other_bytes_is_called_a_corrupted_download(tmp_path, registry):
    folder = write_cifar(tmp_path, batches=("test_batch",))
    (folder / "test_batch").write_bytes(b"\x80\x02}q\x00(truncated")
    with pytest.raises(GanzooError, match="partial or corrupted download"):
        _load(registry, tmp_path, split="test")


def test_a_pickle_that_would_run_code_is_refused(tmp_path, registry):
    import pickle

    folder = write_cifar(tmp_path, batches=("test_batch",))

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (folder / "test_batch").write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}))
    with pytest.raises(GanzooError, match="test_batch"):
        _load(registry, tmp_path, split="test")


def test_train_on_a_cifar_subset(tmp_path, cli):
    write_cifar(tmp_path, per_batch=20, batches=("test_batch",))
    result = cli("train", "--arch", "cifar", "--data", "cifar10", "--data-dir", str(tmp_path), "--set", "split=test",
                 "--set", "classes=dog,cat,ship", "--set", "subset=5", "--batch-size", "4", "--steps", "2",
                 "--set", "ngf=8", "--no-progress", "--out", str(tmp_path / "r"))
    assert result.exit_code == 0, result.output
