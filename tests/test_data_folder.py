"""The folder dataset: recursive, odd modes converted, bad files counted, labels from subfolders."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from datafixtures import photo
from ganzoo.data import load_images
from ganzoo.specs import DatasetRequest

SMALL = ["--arch", "dcgan", "--image-size", "16", "--set", "ngf=8", "--set", "ndf=8",
         "--batch-size", "4", "--steps", "2", "--no-progress"]


def odd_folder(root):
    """Nine decodable images in odd modes across two subfolders, three bad files, two ignored ones."""
    (root / "cats").mkdir(parents=True)
    (root / "dogs" / "deeper").mkdir(parents=True)
    photo(50, 40, 0).save(root / "cats" / "a.JPG")
    photo(50, 40, 1).convert("RGBA").save(root / "cats" / "b.png")
    photo(50, 40, 2).convert("L").save(root / "cats" / "c.png")
    photo(50, 40, 3).convert("CMYK").save(root / "cats" / "d.jpg")
    photo(50, 40, 4).convert("P").save(root / "cats" / "e.gif")
    Image.fromarray(np.asarray(photo(30, 30, 5).convert("L"), dtype=np.uint16) * 257).save(root / "dogs" / "f.png")
    photo(60, 20, 6).save(root / "dogs" / "g.bmp")
    photo(20, 60, 7).save(root / "dogs" / "deeper" / "h.webp")
    photo(40, 40, 8).convert("1").save(root / "dogs" / "i.tiff")
    (root / "dogs" / "empty.jpg").write_bytes(b"")
    (root / "dogs" / "notes.png").write_text("not an image")
    good = root / "cats" / "a.JPG"
    (root / "cats" / "truncated.jpg").write_bytes(good.read_bytes()[:200])
    (root / "readme.txt").write_text("ignored: not an image extension")
    (root / "cats" / ".hidden.jpg").write_bytes(good.read_bytes())
    return {"good": 9, "bad": 3}


def _load(registry, root, **params):
    spec = registry.dataset("folder")
    values = {k: p.default for k, p in spec.params.items()} | params
    return load_images(spec, DatasetRequest(data_dir=root, image_size=16, params=values), progress=False)


def test_odd_modes_are_converted_and_bad_files_counted(tmp_path, registry):
    expected = odd_folder(tmp_path)
    loaded = _load(registry, tmp_path)
    assert loaded.images.shape == (expected["good"], 16, 16, 3)
    assert loaded.skipped == expected["bad"]
    assert loaded.labels is None
    assert all(img.std() > 0 for img in loaded.images)  # nothing came out as a flat colour


def test_labels_from_first_level_subfolders(tmp_path, registry):
    odd_folder(tmp_path)
    photo(30, 30, 9).save(tmp_path / "loose.jpg")  # beside the class folders: no class
    loaded = _load(registry, tmp_path, labels=True)
    assert loaded.class_names == ["cats", "dogs"]
    assert np.bincount(loaded.labels).tolist() == [5, 4]


def test_an_empty_folder_is_a_usage_error(tmp_path, cli):
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "broken.jpg").write_bytes(b"\x00" * 10)
    result = cli("train", *SMALL, "--data", "folder", "--data-dir", str(tmp_path / "imgs"), "--out", str(tmp_path / "r"))
    assert result.exit_code == 2 and "no usable images (1 skipped)" in result.output
    result = cli("train", *SMALL, "--data", "folder", "--data-dir", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r"))
    assert result.exit_code == 2 and "nowhere" in result.output
    assert not (tmp_path / "r").exists()


def test_train_on_a_folder_with_augmentation(tmp_path, cli):
    odd_folder(tmp_path / "imgs")
    result = cli("train", *SMALL, "--data", "folder", "--data-dir", str(tmp_path / "imgs"), "--out", str(tmp_path / "r"),
                 "--set", "flip=true", "--set", "zoom=0.1", "--set", "shear=5", "--set", "translate=0.1",
                 "--set", "diffaugment=color,translation,cutout", "--cache-dir", str(tmp_path / "cache"))
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "cache").glob("folder-16px-*/manifest.json"))) == 1


@pytest.mark.parametrize("bad", ["zoom=1.5", "diffaugment=colour"])
def test_bad_augmentation_settings_are_usage_errors(tmp_path, cli, bad):
    result = cli("train", *SMALL, "--set", bad, "--out", str(tmp_path / "r"))
    assert result.exit_code == 2 and bad.split("=")[0] in result.output
