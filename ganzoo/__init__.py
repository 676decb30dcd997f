"""ganzoo: a plugin-based GAN zoo with ONNX export.

The core engine defines the training protocol, the run directory, export and generation;
architectures, datasets, losses and evaluation feature extractors come from plugins (see ``ganzoo.hookspecs``).

Importing ``ganzoo`` is cheap: torch is imported only by the modules that need it.
"""

__version__ = "0.1.0"

#: Version of the plugin API (hooks + spec dataclasses), "MAJOR.MINOR". The minor number grows
#: when something is added (a hook, an optional spec field); the major number changes only when
#: an existing plugin could break. Plugins check it with ``ganzoo.require_api("1.0")``.
API_VERSION = "1.7"
# 1.1: Param(min=, max=)
# 1.2: ganzoo_register_extractors, ExtractorSpec (evaluation)
# 1.3 (class-conditional): ArchitectureSpec(conditional="never"|"optional"|"always"), builders get
#      params["num_classes"], G(z, y) / D(x, y); training parameters conditional and ema_start
# 1.4: ArchitectureSpec(capturable=) and LossSpec(capturable=): may the training step be a CUDA graph;
#      ganzoo.find_images and ganzoo.IMAGE_EXTENSIONS (the one image-folder walker)
# 1.5: training parameter ema_bn ("standing" | "copy": the EMA generator's BatchNorm statistics)
# 1.6: ganzoo.layers (ClassAffine, run_with_classes: conditional BatchNorm that folds at export)
# 1.7: training parameter r1 (R1 gradient penalty on real images, any loss)


def require_api(version: str) -> None:
    """Declare the plugin API a plugin is written against; call it at the top of the plugin module.

    Passes when this ganzoo's ``API_VERSION`` has the same major number and at least the
    minor one. Otherwise it raises ``ganzoo.errors.PluginError``, which ganzoo reports as one
    line naming the plugin (it is then listed as failed by ``ganzoo plugins``) while every
    other plugin keeps working.
    """
    from ganzoo.errors import PluginError

    def parse(text: str) -> tuple[int, int]:
        major, _, minor = str(text).partition(".")
        return int(major), int(minor or 0)

    try:
        want = parse(version)
    except ValueError:
        raise PluginError(f"require_api({version!r}): expected a version like '1.0'") from None
    have = parse(API_VERSION)
    if want[0] != have[0] or want[1] > have[1]:
        hint = "upgrade ganzoo" if want > have else "this plugin needs updating for the new API"
        raise PluginError(f"written for ganzoo plugin API {version}, but this ganzoo ({__version__}) has API {API_VERSION}: {hint}")

from ganzoo.hookspecs import hookimpl  # noqa: E402  (re-exported for plugin authors)
from ganzoo.imagefiles import IMAGE_EXTENSIONS, find_images  # noqa: E402
from ganzoo.specs import (  # noqa: E402
    ArchitectureSpec,
    DatasetRequest,
    DatasetSpec,
    ExtractorRequest,
    ExtractorSpec,
    ImageFile,
    ImageSet,
    LossSpec,
    Param,
    PresetSpec,
)

__all__ = [
    "API_VERSION",
    "ArchitectureSpec",
    "DatasetRequest",
    "DatasetSpec",
    "ExtractorRequest",
    "ExtractorSpec",
    "IMAGE_EXTENSIONS",
    "ImageFile",
    "ImageSet",
    "LossSpec",
    "Param",
    "PresetSpec",
    "__version__",
    "find_images",
    "hookimpl",
    "require_api",
]
