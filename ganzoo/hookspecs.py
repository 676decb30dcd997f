"""The plugin contract: five hooks, each given a ``register`` callback that takes one spec.

A plugin module implements any of them with ``@ganzoo.hookimpl`` and is listed in its
package's ``[project.entry-points.ganzoo]``. See ``plugins/ganzoo_dcgan`` for a complete one.
"""

import pluggy

hookspec = pluggy.HookspecMarker("ganzoo")
hookimpl = pluggy.HookimplMarker("ganzoo")


@hookspec
def ganzoo_register_architectures(register):
    """Call ``register(ArchitectureSpec(...))`` once per architecture."""


@hookspec
def ganzoo_register_datasets(register):
    """Call ``register(DatasetSpec(...))`` once per dataset."""


@hookspec
def ganzoo_register_losses(register):
    """Call ``register(LossSpec(...))`` once per loss."""


@hookspec
def ganzoo_register_presets(register):
    """Call ``register(PresetSpec(...))`` once per preset."""


@hookspec
def ganzoo_register_extractors(register):
    """Call ``register(ExtractorSpec(...))`` once per feature extractor (plugin API 1.2)."""
