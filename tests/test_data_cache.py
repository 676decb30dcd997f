"""The uint8 cache: built once, reused, rebuilt when the source or the parameters change."""

from __future__ import annotations

import os

import numpy as np

from datafixtures import photo
from ganzoo.data import load_images
from ganzoo.data.cache import cache_root
from ganzoo.specs import DatasetRequest


def _folder(root, n=6):
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        photo(40, 30, i).save(root / f"{i}.jpg")


def _load(registry, root, cache_dir=None, size=16):
    spec = registry.dataset("folder")
    request = DatasetRequest(data_dir=root, image_size=size, params={"labels": False})
    return load_images(spec, request, cache_dir=cache_dir, progress=False)


def test_second_load_comes_from_the_cache(tmp_path, registry):
    _folder(tmp_path / "imgs")
    first = _load(registry, tmp_path / "imgs", tmp_path / "c")
    second = _load(registry, tmp_path / "imgs", tmp_path / "c")
    assert not first.from_cache and second.from_cache
    assert second.cache_path == first.cache_path and first.cache_path.parent == tmp_path / "c"
    np.testing.assert_array_equal(first.images, second.images)


def test_a_changed_file_or_size_rebuilds(tmp_path, registry):
    _folder(tmp_path / "imgs")
    first = _load(registry, tmp_path / "imgs", tmp_path / "c")
    photo(40, 30, 99).save(tmp_path / "imgs" / "0.jpg")
    st = os.stat(tmp_path / "imgs" / "0.jpg")
    os.utime(tmp_path / "imgs" / "0.jpg", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # a later mtime for sure
    changed = _load(registry, tmp_path / "imgs", tmp_path / "c")
    assert not changed.from_cache and changed.cache_path != first.cache_path
    assert not np.array_equal(changed.images[0], first.images[0])
    bigger = _load(registry, tmp_path / "imgs", tmp_path / "c", size=32)
    assert not bigger.from_cache and bigger.images.shape[1:] == (32, 32, 3)
    (tmp_path / "imgs" / "5.jpg").unlink()
    fewer = _load(registry, tmp_path / "imgs", tmp_path / "c")
    assert not fewer.from_cache and len(fewer.images) == 5


def test_a_damaged_entry_is_rebuilt(tmp_path, registry):
    _folder(tmp_path / "imgs")
    first = _load(registry, tmp_path / "imgs", tmp_path / "c")
    (first.cache_path / "images.npy").write_bytes(b"garbage")
    again = _load(registry, tmp_path / "imgs", tmp_path / "c")
    assert not again.from_cache
    np.testing.assert_array_equal(again.images, first.images)
    assert _load(registry, tmp_path / "imgs", tmp_path / "c").from_cache


def test_cache_location_flag_then_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("GANZOO_CACHE_DIR", str(tmp_path / "env"))
    assert cache_root() == tmp_path / "env"
    assert cache_root(tmp_path / "flag") == tmp_path / "flag"
    monkeypatch.delenv("GANZOO_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "ganzoo"


def test_environment_variable_moves_the_cache_of_a_run(tmp_path, cli, monkeypatch):
    _folder(tmp_path / "imgs", n=8)
    monkeypatch.setenv("GANZOO_CACHE_DIR", str(tmp_path / "moved"))
    args = ["train", "--arch", "dcgan", "--image-size", "16", "--set", "ngf=8", "--set", "ndf=8", "--batch-size", "4",
            "--steps", "1", "--no-progress", "--data", "folder", "--data-dir", str(tmp_path / "imgs")]
    assert cli(*args, "--out", str(tmp_path / "r1")).exit_code == 0
    entries = list((tmp_path / "moved").glob("folder-16px-*"))
    assert len(entries) == 1 and (entries[0] / "images.npy").exists()
    assert cli(*args, "--out", str(tmp_path / "r2")).exit_code == 0
    assert list((tmp_path / "moved").glob("folder-16px-*")) == entries  # reused, not rebuilt
