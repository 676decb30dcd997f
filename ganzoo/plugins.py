"""The plugin manager and the registry of what plugins provide.

Plugins are found through the ``ganzoo`` entry-point group (the built-ins are listed there by
ganzoo's own pyproject.toml, exactly as a third party's would be). Loading happens on first
use, never at import time. Tests may ``register``/``unregister`` plugin objects directly on
``plugin_manager()``; the registry is rebuilt from the hooks on every ``load_registry()`` call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pluggy

from ganzoo import hookspecs
from ganzoo.errors import PluginError, unknown_name
from ganzoo.specs import ArchitectureSpec, DatasetSpec, LossSpec, PresetSpec

ENTRY_POINT_GROUP = "ganzoo"

# hook name -> (kind shown to users, spec type it registers)
_HOOKS = {
    "ganzoo_register_architectures": ("architecture", ArchitectureSpec),
    "ganzoo_register_datasets": ("dataset", DatasetSpec),
    "ganzoo_register_losses": ("loss", LossSpec),
    "ganzoo_register_presets": ("preset", PresetSpec),
}

_pm: pluggy.PluginManager | None = None


def plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, with entry-point plugins loaded on first call."""
    global _pm
    if _pm is None:
        pm = pluggy.PluginManager("ganzoo")
        pm.add_hookspecs(hookspecs)
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        _pm = pm
    return _pm


@dataclass(frozen=True)
class Registered:
    """A spec together with where it came from."""

    kind: str
    name: str
    spec: Any
    plugin: str
    distribution: str | None
    version: str | None

    def as_json(self) -> dict:
        return {
            "kind": self.kind,
            "name": self.name,
            "description": self.spec.description,
            "plugin": self.plugin,
            "distribution": self.distribution,
            "version": self.version,
        }


@dataclass
class Registry:
    """Everything registered, by kind then name."""

    by_kind: dict[str, dict[str, Registered]] = field(
        default_factory=lambda: {kind: {} for kind, _ in _HOOKS.values()}
    )

    def get(self, kind: str, name: str) -> Registered:
        """The entry called ``name``; an unknown name lists what exists and the closest one."""
        entries = self.by_kind[kind]
        if name not in entries:
            raise unknown_name(kind, name, entries)
        return entries[name]

    def names(self, kind: str) -> list[str]:
        return sorted(self.by_kind[kind])

    def all(self) -> list[Registered]:
        return [r for kind in self.by_kind.values() for r in sorted(kind.values(), key=lambda r: r.name)]

    def architecture(self, name: str) -> ArchitectureSpec:
        return self.get("architecture", name).spec

    def dataset(self, name: str) -> DatasetSpec:
        return self.get("dataset", name).spec

    def loss(self, name: str) -> LossSpec:
        return self.get("loss", name).spec

    def preset(self, name: str) -> PresetSpec:
        return self.get("preset", name).spec


def _plugin_label(pm: pluggy.PluginManager, plugin: object) -> tuple[str, str | None, str | None]:
    """(module name, distribution, version) of a registered plugin object."""
    module = getattr(plugin, "__name__", None) or pm.get_name(plugin) or repr(plugin)
    for p, dist in pm.list_plugin_distinfo():
        if p is plugin:
            return module, dist.metadata["name"], dist.version
    return module, None, None


def _describe(module: str, dist: str | None) -> str:
    return f"plugin {module}" + (f" (distribution {dist})" if dist else "")


def load_registry(pm: pluggy.PluginManager | None = None) -> Registry:
    """Call every registration hook and collect the specs.

    Errors name the plugin (and its distribution): a hook implementation that matches no hook
    spec (a misspelled hook), a spec of the wrong type, and two plugins registering one name.
    """
    pm = pm or plugin_manager()
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        module, dist, _ = _plugin_label(pm, exc.plugin)
        raise PluginError(f"{_describe(module, dist)}: {exc}") from None

    registry = Registry()
    for hook_name, (kind, spec_type) in _HOOKS.items():
        caller = getattr(pm.hook, hook_name)
        for impl in caller.get_hookimpls():
            module, dist, version = _plugin_label(pm, impl.plugin)
            where = _describe(module, dist)

            def register(spec, _kind=kind, _type=spec_type, _where=where, _m=module, _d=dist, _v=version):
                if not isinstance(spec, _type):
                    raise PluginError(f"{_where}: register() for {_kind}s takes a {_type.__name__}, got {type(spec).__name__}")
                existing = registry.by_kind[_kind].get(spec.name)
                if existing is not None:
                    raise PluginError(
                        f"{_kind} {spec.name!r} is registered twice: by "
                        f"{_describe(existing.plugin, existing.distribution)} and by {_where}"
                    )
                registry.by_kind[_kind][spec.name] = Registered(_kind, spec.name, spec, _m, _d, _v)

            try:
                impl.function(*[register for _ in impl.argnames])
            except PluginError:
                raise
            except Exception as exc:  # a plugin bug: name the plugin, not a traceback
                raise PluginError(f"{where} failed in {hook_name}: {type(exc).__name__}: {exc}") from exc
    return registry
