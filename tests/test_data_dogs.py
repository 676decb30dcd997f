"""Stanford Dogs in both layouts: one crop per annotated dog, breeds as labels, clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

import ganzoo_dogs
from datafixtures import make_dogs
from ganzoo.data import load_images
from ganzoo.errors import UsageError
from ganzoo.specs import DatasetRequest

SMALL = ["--arch", "dcgan", "--image-size", "16", "--set", "ngf=8", "--set", "ndf=8",
         "--batch-size", "4", "--steps", "2", "--no-progress"]


def _load(registry, data_dir, **params):
    spec = registry.dataset("dogs")
    values = {k: p.default for k, p in spec.params.items()} | params
    return load_images(spec, DatasetRequest(data_dir=data_dir, image_size=16, params=values), progress=False)


@pytest.mark.parametrize("kaggle", [False, True], ids=["original", "kaggle"])
def test_one_crop_per_annotated_dog(tmp_path, registry, kaggle):
    expected = make_dogs(tmp_path / "dogs", kaggle=kaggle)
    loaded = _load(registry, tmp_path / "dogs")
    assert loaded.images.shape == (expected["crops"], 16, 16, 3)
    assert loaded.skipped == expected["tiny"] + expected["corrupt"]
    assert loaded.class_names == ["Chihuahua", "Japanese spaniel"]
    assert np.bincount(loaded.labels).tolist() == expected["per_breed"]


def test_layouts_found_below_or_beside_data_dir(tmp_path, registry):
    make_dogs(tmp_path / "kaggle", kaggle=True)
    (tmp_path / "kaggle" / "all-dogs").rename(tmp_path / "kaggle" / "inner")
    (tmp_path / "kaggle" / "all-dogs").mkdir()
    (tmp_path / "kaggle" / "inner").rename(tmp_path / "kaggle" / "all-dogs" / "all-dogs")  # the zip unpacked twice
    assert len(_load(registry, tmp_path / "kaggle").images) == 6
    make_dogs(tmp_path / "stanford")
    assert len(_load(registry, tmp_path / "stanford" / "Images").images) == 6  # pointed at Images/ itself
    assert len(_load(registry, tmp_path).images) == 6  # two datasets below: the first found (sorted) is used


def test_the_two_dogs_of_one_photo_are_different_crops(tmp_path, registry):
    make_dogs(tmp_path)
    crops = _load(registry, tmp_path).images
    assert not np.array_equal(crops[0], crops[1])  # Chihuahua_1: left dog, right dog


def test_centre_crop_and_breed_filter(tmp_path, registry):
    make_dogs(tmp_path)
    centre = _load(registry, tmp_path, crop="center")
    assert len(centre.images) == 5  # one per decodable photo
    pug = _load(registry, tmp_path, breeds=["japanese_spaniel"])
    assert pug.class_names == ["Japanese spaniel"] and pug.labels.tolist() == [0, 0]
    with pytest.raises(Exception, match="unknown breed"):
        _load(registry, tmp_path, breeds=["Poodle"])


def test_missing_data_says_where_it_looked_and_how_to_get_it(tmp_path, cli):
    result = cli("train", *SMALL, "--data", "dogs", "--data-dir", str(tmp_path), "--out", str(tmp_path / "run"))
    assert result.exit_code == 2
    assert str(tmp_path) in result.output and "images.tar" in result.output and "--download" in result.output
    assert "Traceback" not in result.output


def test_missing_data_dir_is_a_usage_error(registry):
    with pytest.raises(UsageError, match="--data-dir"):
        load_images(registry.dataset("dogs"), DatasetRequest(data_dir=None, image_size=16, params={}))


def test_train_on_dogs_flips_by_default(tmp_path, cli):
    make_dogs(tmp_path / "dogs")
    result = cli("train", *SMALL, "--data", "dogs", "--data-dir", str(tmp_path / "dogs"), "--out", str(tmp_path / "run"))
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["flip"] is True and config["data_params"]["crop"] == "box"
    assert (tmp_path / "run" / "samples" / "step_000002.png").exists()


def test_download_url_and_how_to_get_name_the_official_archives():
    assert ganzoo_dogs.BASE_URL.startswith("http://vision.stanford.edu/")
    assert "images.tar" in ganzoo_dogs.HOW_TO_GET and "annotation.tar" in ganzoo_dogs.HOW_TO_GET
