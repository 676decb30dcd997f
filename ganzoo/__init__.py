"""ganzoo: a plugin-based GAN zoo with ONNX export.

The core engine defines the training protocol, the run directory, export and generation;
architectures, datasets and losses come from plugins (see ``ganzoo.hookspecs``).

Importing ``ganzoo`` is cheap: torch is imported only by the modules that need it.
"""

__version__ = "0.1.0"

#: Version of the plugin API (hooks + spec dataclasses). Plugins may check it:
#: the major number changes only when an existing plugin could break.
API_VERSION = "1.0"

from ganzoo.hookspecs import hookimpl  # noqa: E402  (re-exported for plugin authors)
from ganzoo.specs import (  # noqa: E402
    ArchitectureSpec,
    DatasetRequest,
    DatasetSpec,
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
    "ImageFile",
    "ImageSet",
    "LossSpec",
    "Param",
    "PresetSpec",
    "__version__",
    "hookimpl",
]
