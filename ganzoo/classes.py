"""Class ids for conditional generators: which classes a grid shows, and ``--class`` parsing.

No torch here: the onnx backend of ``ganzoo generate`` uses it too.

Which class image ``i`` gets is a pure function of ``i`` (round-robin over the chosen
classes: ``classes[i % len(classes)]``), like its latent vector, so the same ``--seed``
gives the same images whatever the backend and the batch size, and 10,000 images of 120
breeds cover every breed (83 or 84 each).
"""

from __future__ import annotations

import difflib
from typing import Sequence

import numpy as np

from ganzoo.errors import UsageError

#: A grid of a conditional model shows at most this many classes, one per row (8 images each).
#: Past that a grid stops being readable (120 dog breeds would be 120 rows); a training grid
#: then shows classes spread evenly over the ids, ``generate --grid`` the first ones chosen.
GRID_MAX_CLASSES = 16
GRID_COLUMNS = 8


def grid_classes(num_classes: int, cap: int = GRID_MAX_CLASSES) -> list[int]:
    """The class ids a training sample grid shows: all of them, or ``cap`` spread evenly."""
    if num_classes <= cap:
        return list(range(num_classes))
    return sorted({int(round(v)) for v in np.linspace(0, num_classes - 1, cap)})


def class_ids(indices: np.ndarray, classes: Sequence[int]) -> np.ndarray:
    """(n,) int64 class ids for image indices ``indices``: round-robin over ``classes``."""
    table = np.asarray(classes, dtype=np.int64)
    return table[np.asarray(indices) % len(table)]


def _norm(name: str) -> str:
    return name.strip().lower().replace("_", " ").replace("-", " ")


def parse_classes(text: str, class_names: Sequence[str]) -> list[int]:
    """``--class Pug,3,golden_retriever`` -> class ids; names match case-, ``_``- and ``-``-blind.

    An unknown name or an id out of range is a one-line UsageError naming the closest names.
    """
    names = list(class_names)
    lookup = {_norm(n): i for i, n in enumerate(names)}
    chosen: list[int] = []
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        if _norm(item) in lookup:
            chosen.append(lookup[_norm(item)])
        elif item.lstrip("-").isdigit():
            k = int(item)
            if not 0 <= k < len(names):
                raise UsageError(f"--class {item}: class ids go from 0 to {len(names) - 1}")
            chosen.append(k)
        else:
            close = difflib.get_close_matches(_norm(item), list(lookup), n=5, cutoff=0.4)
            hint = ", ".join(names[lookup[c]] for c in close) if close else ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
            raise UsageError(f"--class {item}: no such class (closest: {hint}; {len(names)} classes in all)")
    if not chosen:
        raise UsageError("--class needs at least one class name or id")
    return chosen
