"""Where the Inception weights come from: a path given, ``$GANZOO_INCEPTION_WEIGHTS``, or a
file already in one of the usual places. No machine this runs on may be able to download, so
a missing file is one line saying what to fetch and where to put it."""

from __future__ import annotations

import os
from pathlib import Path

from ganzoo.errors import UsageError

ENV_VAR = "GANZOO_INCEPTION_WEIGHTS"

#: The FID Inception (TensorFlow's 2015-12-05 graph, converted), as pytorch-fid publishes it.
FID_FILE = "pt_inception-2015-12-05-6726825d.pth"
FID_URL = f"https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/{FID_FILE}"
#: The same weights under torch-fidelity's name.
FIDELITY_FILE = "weights-inception-2015-12-05-6726825d.pth"
#: torchvision's ImageNet Inception v3.
TORCHVISION_FILE = "inception_v3_google-0cc3c7bd.pth"
TORCHVISION_URL = f"https://download.pytorch.org/models/{TORCHVISION_FILE}"

KNOWN_FILES = (FID_FILE, FIDELITY_FILE, TORCHVISION_FILE)  # in order of preference


def weights_dir() -> Path:
    """ganzoo's own place for weights: ``<cache dir>/weights`` (see ``ganzoo.data.cache``)."""
    from ganzoo.data.cache import cache_root

    return cache_root() / "weights"


def torch_hub_checkpoints() -> Path:
    """torch.hub's download folder (where pytorch-fid, torch-fidelity and torchvision put these
    files on a machine that can download), without importing torch."""
    if os.environ.get("TORCH_HOME"):
        return Path(os.environ["TORCH_HOME"]).expanduser() / "hub" / "checkpoints"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "torch" / "hub" / "checkpoints"


def _existing(path: str | os.PathLike, where: str) -> Path:
    path = Path(path).expanduser()
    if not path.is_file():
        raise UsageError(f"{where} {path} is not a file (expected {FID_FILE} from {FID_URL})")
    return path


def find_weights(given: str | os.PathLike | None = None) -> Path:
    """The weights file to load; UsageError (one line, exit 2) when there is none."""
    if given:
        return _existing(given, "--inception-weights")
    if os.environ.get(ENV_VAR):
        return _existing(os.environ[ENV_VAR], ENV_VAR)
    for folder in (weights_dir(), torch_hub_checkpoints()):
        for name in KNOWN_FILES:
            if (folder / name).is_file():
                return folder / name
    raise UsageError(
        f"no Inception v3 weights on this machine: fetch {FID_URL} and put it in {weights_dir()}/ "
        f"(or pass --inception-weights PATH, or set {ENV_VAR}=PATH)"
    )
