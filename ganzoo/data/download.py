"""Downloading dataset archives safely: resumable, size- and checksum-checked, never half-done.

Public for dataset plugins (``from ganzoo.data.download import fetch, extract``).

``fetch`` streams into ``NAME.part`` beside the destination and renames it to ``NAME`` only
after the size (from ``Content-Length`` or the caller) and the checksum (when known) match;
so a file under its final name is always complete. An interrupted transfer leaves the
``.part`` file, and the next ``fetch`` resumes it with an HTTP ``Range`` request (or starts
over when the server ignores ranges). ``extract`` unpacks a tar or zip with the ``data``
filter (no absolute paths, no escaping ``..``, no device files) and writes a marker file
when done, so an interrupted extraction is redone, a finished one is not.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import tarfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from tqdm.auto import tqdm

from ganzoo.errors import GanzooError

log = logging.getLogger("ganzoo")

CHUNK = 1 << 20


def _digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _check(path: Path, size: int | None, sha256: str | None, md5: str | None) -> str | None:
    """Why ``path`` is not the expected file, or None when it is."""
    actual = path.stat().st_size
    if size is not None and actual != size:
        return f"{actual} bytes, expected {size}"
    for algorithm, want in (("sha256", sha256), ("md5", md5)):
        if want and _digest(path, algorithm) != want.lower():
            return f"{algorithm} does not match (expected {want})"
    return None


def fetch(url: str, dest: str | os.PathLike, size: int | None = None, sha256: str | None = None,
          md5: str | None = None, progress: bool = True, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` (resuming ``dest.part``); return ``dest``.

    An existing ``dest`` that passes the size/checksum checks is kept as it is. Raises
    GanzooError naming the URL on a network error, a short transfer or a checksum mismatch.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        problem = _check(dest, size, sha256, md5)
        if problem is None:
            log.info("%s is already downloaded", dest)
            return dest
        raise GanzooError(f"{dest} exists but is not the expected file ({problem}): delete it and download again")
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "ganzoo"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            resumed = have > 0 and response.status == 206
            if have and not resumed:
                have = 0  # the server sent the whole file: start over
            length = response.headers.get("Content-Length")
            total = have + int(length) if length is not None else size
            if size is not None and total is not None and total != size:
                raise GanzooError(f"{url}: the server offers {total} bytes, expected {size}")
            if resumed:
                log.info("resuming %s at %d bytes", dest.name, have)
            with open(part, "ab" if resumed else "wb") as out, tqdm(
                total=total, initial=have, unit="B", unit_scale=True, unit_divisor=1024,
                desc=dest.name, disable=None if progress else True, leave=False,
            ) as bar:
                for block in iter(lambda: response.read(CHUNK), b""):
                    out.write(block)
                    bar.update(len(block))
    except urllib.error.HTTPError as exc:
        if not (exc.code == 416 and have):  # 416 on a resume: the .part already holds the whole file
            raise GanzooError(f"downloading {url} failed ({exc})") from exc
        total = size
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        if isinstance(exc, GanzooError):
            raise
        got = part.stat().st_size if part.exists() else 0
        raise GanzooError(f"downloading {url} failed after {got} bytes ({exc}); run again to resume") from exc
    got = part.stat().st_size
    if total is not None and got != total:
        raise GanzooError(f"downloading {url} stopped at {got} of {total} bytes; run again to resume")
    problem = _check(part, size, sha256, md5)
    if problem is not None:
        part.unlink()
        raise GanzooError(f"{url}: the download is corrupt ({problem}); it was deleted, run again")
    os.replace(part, dest)
    return dest


def extract(archive: str | os.PathLike, into: str | os.PathLike) -> Path:
    """Unpack a .tar(.gz/.bz2/.xz) or .zip into ``into`` once (a marker file records it)."""
    archive, into = Path(archive), Path(into)
    marker = into / f".{archive.name}.extracted"
    if marker.exists():
        return into
    into.mkdir(parents=True, exist_ok=True)
    log.info("extracting %s into %s", archive.name, into)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                for name in z.namelist():
                    target = (into / name).resolve()
                    if not target.is_relative_to(into.resolve()):
                        raise GanzooError(f"{archive}: member {name!r} would be written outside {into}")
                z.extractall(into)
        else:
            with tarfile.open(archive) as t:
                if not hasattr(tarfile, "data_filter"):  # Python before 3.10.12 / 3.11.4
                    raise GanzooError("extracting archives safely needs Python >= 3.10.12 or >= 3.11.4")
                t.extractall(into, filter="data")
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as exc:
        raise GanzooError(f"cannot extract {archive} ({exc}); delete it and download again") from exc
    marker.touch()
    return into
