"""Finding Stanford Dogs on disk and turning its annotations into crops.

Two layouts are recognised, at ``--data-dir`` or up to two folders below it:

- the original archives: ``Images/n02085620-Chihuahua/n02085620_10074.jpg`` and
  ``Annotation/n02085620-Chihuahua/n02085620_10074`` (PASCAL VOC XML without an extension);
- the Kaggle "Generative Dog Images" copy: ``all-dogs/n02085620_10074.jpg`` and the same
  ``Annotation/`` tree (the breed then comes from the annotation's folder).

One annotation can hold several dogs: each becomes its own crop.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")


@dataclass
class DogsLayout:
    kind: str  # "original" or "kaggle"
    images: Path  # Images/ or all-dogs/
    annotations: Path | None  # Annotation/, when present
    looked_in: list[Path] = field(default_factory=list)


def breed_name(folder: str) -> str:
    """'n02085782-Japanese_spaniel' -> 'Japanese spaniel' (the readable breed)."""
    _, _, name = folder.partition("-")
    return (name or folder).replace("_", " ")


def _candidates(data_dir: Path) -> list[Path]:
    """data_dir and the folders up to two levels below it (sorted, hidden ones skipped)."""
    out, level = [data_dir], [data_dir]
    for _ in range(2):
        nxt = []
        for d in level:
            try:
                nxt += sorted(p for p in d.iterdir() if p.is_dir() and not p.name.startswith("."))
            except OSError:
                pass
        out += nxt
        level = nxt
    return out


def find_layout(data_dir: Path) -> DogsLayout | None:
    """The dataset under ``data_dir``, or None (``looked_in`` is then unknown to the caller)."""
    if data_dir.name in ("Images", "all-dogs", "Annotation"):
        data_dir = data_dir.parent  # pointed at a part of the dataset: look beside it too
    dirs = _candidates(data_dir)
    for d in dirs:
        for name, kind in (("Images", "original"), ("all-dogs", "kaggle")):
            images = d / name
            # Kaggle's zip is often unpacked to all-dogs/all-dogs/: take the folder that holds the photos
            if images.is_dir() and (kind == "original" or any(f.lower().endswith(IMAGE_EXTENSIONS)
                                                              for f in os.listdir(images))):
                annotations = d / "Annotation"
                if not annotations.is_dir():
                    annotations = next((c for c in dirs if c.name == "Annotation"), None)
                return DogsLayout(kind, images, annotations)
    return None


def annotation_index(annotations: Path | None) -> dict[str, tuple[Path, str]]:
    """Image stem -> (annotation file, breed folder) for every file in the Annotation tree."""
    index: dict[str, tuple[Path, str]] = {}
    if annotations is None:
        return index
    for breed in sorted(os.listdir(annotations)):
        folder = annotations / breed
        if breed.startswith(".") or not folder.is_dir():
            continue
        for name in os.listdir(folder):
            if not name.startswith("."):
                index[Path(name).stem if name.endswith(".xml") else name] = (folder / name, breed)
    return index


def read_boxes(path: Path) -> list[tuple[int, int, int, int]]:
    """Every object's (xmin, ymin, xmax, ymax) in a VOC file; ValueError when unreadable."""
    try:
        root = ET.parse(path).getroot()
        boxes = []
        for obj in root.iter("object"):
            bb = obj.find("bndbox")
            if bb is None:
                continue
            xmin, ymin, xmax, ymax = (int(float(bb.findtext(k))) for k in ("xmin", "ymin", "xmax", "ymax"))
            if xmax > xmin and ymax > ymin:
                boxes.append((xmin, ymin, xmax, ymax))
        return boxes
    except (ET.ParseError, OSError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}") from None


def with_margin(box: tuple[int, int, int, int], margin: float) -> tuple[int, int, int, int]:
    """Grow the box by ``margin`` of its size on every side (the decoder clips to the image)."""
    x0, y0, x1, y1 = box
    mx, my = (x1 - x0) * margin, (y1 - y0) * margin
    return int(x0 - mx), int(y0 - my), int(round(x1 + mx)), int(round(y1 + my))


def list_images(layout: DogsLayout) -> list[tuple[Path, str | None]]:
    """(image path, breed folder or None) for every image, in a stable order."""
    out: list[tuple[Path, str | None]] = []
    if layout.kind == "original":
        for breed in sorted(os.listdir(layout.images)):
            folder = layout.images / breed
            if breed.startswith(".") or not folder.is_dir():
                continue
            out += [(folder / f, breed) for f in sorted(os.listdir(folder))
                    if not f.startswith(".") and f.lower().endswith(IMAGE_EXTENSIONS)]
    else:
        out += [(layout.images / f, None) for f in sorted(os.listdir(layout.images))
                if not f.startswith(".") and f.lower().endswith(IMAGE_EXTENSIONS)]
    return out
