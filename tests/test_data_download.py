"""Downloads from a local HTTP server: complete, interrupted and resumed, checked, extracted."""

from __future__ import annotations

import hashlib
import io
import tarfile

import pytest

import ganzoo_cifar10
import ganzoo_dogs
from datafixtures import http_server, make_dogs, write_cifar
from ganzoo.data.download import extract, fetch
from ganzoo.errors import GanzooError

PAYLOAD = bytes(range(256)) * 4000  # ~1 MB


def test_fetch_checks_size_and_checksum(tmp_path):
    with http_server({"/f.bin": PAYLOAD}) as (url, _):
        dest = fetch(url + "f.bin", tmp_path / "f.bin", size=len(PAYLOAD),
                     sha256=hashlib.sha256(PAYLOAD).hexdigest(), progress=False)
        assert dest.read_bytes() == PAYLOAD and not (tmp_path / "f.bin.part").exists()
        assert fetch(url + "f.bin", dest, size=len(PAYLOAD), progress=False) == dest  # complete: kept
        with pytest.raises(GanzooError, match="corrupt"):
            fetch(url + "f.bin", tmp_path / "g.bin", md5="0" * 32, progress=False)
        assert not (tmp_path / "g.bin").exists() and not (tmp_path / "g.bin.part").exists()
        with pytest.raises(GanzooError, match="expected 5"):
            fetch(url + "f.bin", tmp_path / "h.bin", size=5, progress=False)
        with pytest.raises(GanzooError, match="404"):
            fetch(url + "nothing", tmp_path / "n.bin", progress=False)


def test_an_interrupted_transfer_leaves_only_a_part_file_and_resumes(tmp_path):
    with http_server({"/f.bin": PAYLOAD}, cut_after={"/f.bin": 300_000}) as (url, requests):
        with pytest.raises(GanzooError, match="run again to resume"):
            fetch(url + "f.bin", tmp_path / "f.bin", progress=False)
        assert not (tmp_path / "f.bin").exists()  # never a half file under the final name
        assert 0 < (tmp_path / "f.bin.part").stat().st_size < len(PAYLOAD)
        dest = fetch(url + "f.bin", tmp_path / "f.bin", sha256=hashlib.sha256(PAYLOAD).hexdigest(), progress=False)
        assert dest.read_bytes() == PAYLOAD
        assert requests[-1][1] is not None and requests[-1][1].startswith("bytes=")  # asked for the rest only


def test_a_complete_part_file_is_finished_without_downloading_again(tmp_path):
    (tmp_path / "f.bin.part").write_bytes(PAYLOAD)  # e.g. a crash between the last byte and the rename
    with http_server({"/f.bin": PAYLOAD}) as (url, requests):
        dest = fetch(url + "f.bin", tmp_path / "f.bin", size=len(PAYLOAD), progress=False)
        assert dest.read_bytes() == PAYLOAD and len(requests) == 1


def test_a_server_without_ranges_restarts_the_file(tmp_path):
    (tmp_path / "f.bin.part").write_bytes(b"stale bytes from another attempt")
    with http_server({"/f.bin": PAYLOAD}, ranges=False) as (url, _):
        assert fetch(url + "f.bin", tmp_path / "f.bin", progress=False).read_bytes() == PAYLOAD


def _tar(members: dict[str, bytes], gz: bool = False) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w") as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _tree(root) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_extract_refuses_escaping_members(tmp_path):
    archive = tmp_path / "evil.tar"
    archive.write_bytes(_tar({"../outside.txt": b"x"}))
    with pytest.raises(GanzooError, match="cannot extract"):
        extract(archive, tmp_path / "into")
    assert not (tmp_path / "outside.txt").exists()


def test_dogs_download_through_the_cli(tmp_path, cli, monkeypatch):
    make_dogs(tmp_path / "src")
    tree = _tree(tmp_path / "src")
    images = _tar({k: v for k, v in tree.items() if k.startswith("Images/")})
    annotation = _tar({k: v for k, v in tree.items() if k.startswith("Annotation/")})
    args = ["train", "--arch", "dcgan", "--image-size", "16", "--set", "ngf=8", "--set", "ndf=8", "--batch-size", "4",
            "--steps", "1", "--no-progress", "--data", "dogs", "--data-dir", str(tmp_path / "data"), "--download"]
    with http_server({"/d/images.tar": images, "/d/annotation.tar": annotation},
                     cut_after={"/d/images.tar": len(images) // 2}) as (url, _):
        monkeypatch.setattr(ganzoo_dogs, "BASE_URL", url + "d/")
        first = cli(*args, "--out", str(tmp_path / "r1"))
        assert first.exit_code == 1 and "run again to resume" in first.output
        assert not (tmp_path / "data" / "images.tar").exists() and (tmp_path / "data" / "images.tar.part").exists()
        second = cli(*args, "--out", str(tmp_path / "r2"))
        assert second.exit_code == 0, second.output
    assert (tmp_path / "data" / "Images").is_dir() and (tmp_path / "data" / "Annotation").is_dir()
    assert not [p for p in (tmp_path / "data").iterdir() if p.suffix in (".tar", ".part")]  # archives removed
    # data present: --download again fetches nothing (the server is gone)
    assert cli(*args, "--out", str(tmp_path / "r3")).exit_code == 0


def test_cifar_download_checks_the_archive(tmp_path, cli, monkeypatch):
    write_cifar(tmp_path / "src", per_batch=10, batches=("test_batch",))
    archive = _tar(_tree(tmp_path / "src"), gz=True)
    with http_server({"/cifar.tar.gz": archive}) as (url, _):
        monkeypatch.setattr(ganzoo_cifar10, "URL", url + "cifar.tar.gz")
        monkeypatch.setattr(ganzoo_cifar10, "SIZE", len(archive))
        monkeypatch.setattr(ganzoo_cifar10, "MD5", "0" * 32)
        args = ["train", "--arch", "cifar", "--set", "ngf=8", "--batch-size", "4", "--steps", "1", "--no-progress",
                "--data", "cifar10", "--set", "split=test", "--data-dir", str(tmp_path / "data"), "--download"]
        bad = cli(*args, "--out", str(tmp_path / "r1"))
        assert bad.exit_code == 1 and "md5 does not match" in bad.output
        assert not list((tmp_path / "data").glob("cifar-10-python.tar.gz*"))
        monkeypatch.setattr(ganzoo_cifar10, "MD5", hashlib.md5(archive).hexdigest())
        good = cli(*args, "--out", str(tmp_path / "r2"))
        assert good.exit_code == 0, good.output
    assert (tmp_path / "data" / "cifar-10-batches-py" / "test_batch").exists()


@pytest.mark.parametrize("kaggle", [False, True])
def test_dogs_unpacked_by_hand_are_not_downloaded_again(tmp_path, monkeypatch, kaggle):
    make_dogs(tmp_path / "data", kaggle=kaggle)

    def no_network(url, *args, **kwargs):
        raise AssertionError(f"fetched {url} although the data is there")

    monkeypatch.setattr("ganzoo.data.download.fetch", no_network)
    ganzoo_dogs.download(tmp_path / "data")  # nothing to fetch: both parts are there


def test_cifar_batches_unpacked_by_hand_are_not_downloaded_again(tmp_path, monkeypatch):
    monkeypatch.setattr("ganzoo.data.download.fetch", lambda url, *a, **k: pytest.fail(f"fetched {url}"))
    all_batches = ("batches.meta", "test_batch", *(f"data_batch_{i}" for i in range(1, 6)))
    write_cifar(tmp_path / "flat", per_batch=2, batches=all_batches[1:])  # batches straight in --data-dir
    folder = next(p for p in (tmp_path / "flat").rglob("test_batch")).parent
    ganzoo_cifar10.download(folder)
    # one batch missing (an interrupted untar): that is a reason to download, so fetch is reached
    (folder / "data_batch_3").unlink()
    with pytest.raises(pytest.fail.Exception, match="fetched"):
        ganzoo_cifar10.download(folder)
