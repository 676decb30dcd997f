"""Finding image files on disk: one walker and one list of extensions for every folder ganzoo
reads (the ``folder`` dataset, ``ganzoo eval``'s folder SOURCE and ``--real FOLDER``).

Pure ``os``: importing it costs nothing, so plugins may use it at import time.
"""

from __future__ import annotations

import os

#: What Pillow decodes and ganzoo reads from a folder (lower case; matched case-insensitively).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm")


def find_images(root: str | os.PathLike) -> list[str]:
    """Sorted image paths under ``root``: recursive, hidden files and folders skipped, links to
    folders not followed, so the same folder always gives the same list in the same order."""
    found: list[str] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(os.path.join(folder, f) for f in sorted(files)
                     if not f.startswith(".") and f.lower().endswith(IMAGE_EXTENSIONS))
    return found
