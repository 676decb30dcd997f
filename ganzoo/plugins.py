"""The plugin manager and the registry of what plugins provide.

Plugins are found through the ``ganzoo`` entry-point group (the built-ins are listed there by
ganzoo's own pyproject.toml, exactly as a third party's would be). Loading happens on first
use, never at import time. Tests may ``register``/``unregister`` plugin objects directly on
``plugin_manager()``; the registry is rebuilt from the hooks on every ``load_registry()`` call.

A broken plugin never takes ganzoo down. Each entry point is imported on its own (pluggy's
``load_setuptools_entrypoints`` stops at the first import error, hiding every plugin after it),
and each plugin's hooks run into a staging area that is committed only when the whole plugin
succeeded. A plugin that fails to import, implements a hook ganzoo does not define (a typo),
raises inside a hook, hands in a bad spec, or registers a name another plugin already has is
left out *as a whole* and recorded as an ``UnloadedPlugin`` with a one-line reason naming it
and its distribution; ``ganzoo plugins`` lists it as failed and every other command logs the
line once and carries on.

``GANZOO_PLUGINS`` (see ``allowed_plugins``) disables third-party plugins for debugging.
"""

from __future__ import annotations

import difflib
import logging
import os
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Iterable

import pluggy

from ganzoo import hookspecs
from ganzoo.errors import PluginError, UsageError, unknown_name
from ganzoo.specs import ArchitectureSpec, DatasetSpec, ExtractorSpec, LossSpec, PresetSpec

log = logging.getLogger("ganzoo")

ENTRY_POINT_GROUP = "ganzoo"
#: The distribution whose plugins are built in: they always load, whatever GANZOO_PLUGINS says.
BUILTIN_DISTRIBUTION = "ganzoo"
#: Unset: load every plugin. Empty (``GANZOO_PLUGINS=``): built-ins only. Otherwise a
#: comma-separated list of the third-party plugins to load, each named by its distribution
#: (``ganzoo-plugin-example``), its entry-point name or its module.
ENV_VAR = "GANZOO_PLUGINS"

# hook name -> (kind shown to users, spec type it registers)
_HOOKS = {
    "ganzoo_register_architectures": ("architecture", ArchitectureSpec),
    "ganzoo_register_datasets": ("dataset", DatasetSpec),
    "ganzoo_register_losses": ("loss", LossSpec),
    "ganzoo_register_presets": ("preset", PresetSpec),
    "ganzoo_register_extractors": ("extractor", ExtractorSpec),
}


# ------------------------------------------------------------------------------ where from
@dataclass(frozen=True)
class Origin:
    """Where a plugin came from: its module, distribution and version (None when registered
    directly on the plugin manager, as tests do)."""

    plugin: str
    distribution: str | None = None
    version: str | None = None

    def describe(self) -> str:
        if not self.distribution:
            return f"plugin {self.plugin}"
        version = f" {self.version}" if self.version else ""
        return f"plugin {self.plugin} (distribution {self.distribution}{version})"


@dataclass(frozen=True)
class UnloadedPlugin:
    """A plugin that is not in the registry: ``status`` is ``failed`` or ``disabled``."""

    origin: Origin
    status: str
    reason: str
    cause: BaseException | None = field(default=None, compare=False, repr=False)  # for -v

    @property
    def message(self) -> str:
        """One line for the user: which plugin, which distribution, what went wrong."""
        return f"{self.origin.describe()} {self.status}: {self.reason}"


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if isinstance(exc, PluginError):  # our own messages are already written for the user
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _normalize(name: str) -> str:
    """PEP 503 normalisation, so ``Ganzoo_Plugin.Example`` matches ``ganzoo-plugin-example``."""
    return "-".join(name.replace("_", "-").replace(".", "-").lower().split("-"))


def allowed_plugins(environ: dict | None = None) -> set[str] | None:
    """The third-party plugins GANZOO_PLUGINS allows (normalised names), None when unset (all)."""
    value = (os.environ if environ is None else environ).get(ENV_VAR)
    if value is None:
        return None
    return {_normalize(v.strip()) for v in value.split(",") if v.strip()}


# ------------------------------------------------------------------------------ loading
@dataclass
class _State:
    pm: pluggy.PluginManager
    origins: dict[int, Origin] = field(default_factory=dict)  # id(plugin object) -> origin
    unloaded: list[UnloadedPlugin] = field(default_factory=list)  # import / register failures
    reported: set[str] = field(default_factory=set)  # messages already logged


_state: _State | None = None


def _entry_points() -> list[metadata.EntryPoint]:
    eps = list(metadata.entry_points(group=ENTRY_POINT_GROUP))

    # Built-ins first, so that a third party that reuses a built-in name is the one that fails.
    def key(ep):
        dist = _normalize(ep.dist.name) if ep.dist is not None else ""
        return (dist != BUILTIN_DISTRIBUTION, dist, ep.name)

    return sorted(eps, key=key)


def load_entry_points(
    pm: pluggy.PluginManager, entry_points: Iterable[metadata.EntryPoint], allow: set[str] | None
) -> tuple[dict[int, Origin], list[UnloadedPlugin]]:
    """Import and register each entry point on its own; a failure is recorded, never raised."""
    origins: dict[int, Origin] = {}
    unloaded: list[UnloadedPlugin] = []
    seen: set[tuple[str | None, str]] = set()
    matched: set[str] = set()  # GANZOO_PLUGINS names that named something
    for ep in entry_points:
        dist = ep.dist.name if ep.dist is not None else None
        version = ep.dist.version if ep.dist is not None else None
        if (dist, ep.value) in seen:  # the same distribution found twice on sys.path
            continue
        seen.add((dist, ep.value))
        origin = Origin(ep.value.split(":")[0], dist, version)
        builtin = dist is not None and _normalize(dist) == BUILTIN_DISTRIBUTION
        names = {_normalize(n) for n in (dist or "", ep.name, ep.value)}
        matched |= (allow or set()) & names
        if not builtin and allow is not None and not allow & names:
            unloaded.append(UnloadedPlugin(origin, "disabled", f"not listed in {ENV_VAR}"))
            continue
        try:
            plugin = ep.load()
        except BaseException as exc:  # noqa: BLE001 - SystemExit from a plugin must not stop ganzoo
            if isinstance(exc, KeyboardInterrupt):
                raise
            unloaded.append(UnloadedPlugin(origin, "failed", f"import failed: {_one_line(exc)}", exc))
            continue
        origin = Origin(getattr(plugin, "__name__", None) or origin.plugin, dist, version)
        if pm.is_registered(plugin):  # two entry points naming one module: load it once
            continue
        try:
            # Entry-point names are unique within one distribution only, so qualify them.
            pm.register(plugin, name=f"{dist}:{ep.name}" if dist else ep.name)
        except Exception as exc:  # pluggy rejects e.g. a hook implementation with wrong arguments
            unloaded.append(UnloadedPlugin(origin, "failed", _one_line(exc), exc))
            continue
        origins[id(plugin)] = origin
    for name in sorted((allow or set()) - matched):  # a typo would otherwise just disable everything
        log.warning("%s names %r, which no installed plugin matches", ENV_VAR, name)
    return origins, unloaded


def _load() -> _State:
    global _state
    if _state is None:
        pm = pluggy.PluginManager("ganzoo")
        pm.add_hookspecs(hookspecs)
        origins, unloaded = load_entry_points(pm, _entry_points(), allowed_plugins())
        _state = _State(pm, origins, unloaded)
    return _state


def plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, with entry-point plugins loaded on first call."""
    return _load().pm


def origin_of(plugin: object, pm: pluggy.PluginManager | None = None) -> Origin:
    """Module, distribution and version of a registered plugin object."""
    state = _load()
    pm = pm or state.pm
    if id(plugin) in state.origins:
        return state.origins[id(plugin)]
    for p, dist in pm.list_plugin_distinfo():  # plugins loaded through pluggy's own loader
        if p is plugin:
            return Origin(getattr(plugin, "__name__", None) or pm.get_name(plugin), dist.metadata["name"], dist.version)
    return Origin(getattr(plugin, "__name__", None) or pm.get_name(plugin) or repr(plugin))


# ------------------------------------------------------------------------------ the registry
@dataclass(frozen=True)
class Registered:
    """A spec together with where it came from."""

    kind: str
    name: str
    spec: Any
    plugin: str
    distribution: str | None
    version: str | None

    @property
    def origin(self) -> Origin:
        return Origin(self.plugin, self.distribution, self.version)

    def as_json(self) -> dict:
        return {
            "kind": self.kind,
            "name": self.name,
            "description": self.spec.description,
            "plugin": self.plugin,
            "distribution": self.distribution,
            "version": self.version,
            "status": "ok",
        }


@dataclass
class Registry:
    """Everything registered, by kind then name, and the plugins that did not load."""

    by_kind: dict[str, dict[str, Registered]] = field(
        default_factory=lambda: {kind: {} for kind, _ in _HOOKS.values()}
    )
    unloaded: list[UnloadedPlugin] = field(default_factory=list)

    def get(self, kind: str, name: str) -> Registered:
        """The entry called ``name``; an unknown name lists what exists and the closest one."""
        entries = self.by_kind[kind]
        if name not in entries:
            error = unknown_name(kind, name, entries)
            failed = [u.origin.plugin for u in self.unloaded if u.status == "failed"]
            if failed:  # the name may belong to a plugin that did not load
                error = UsageError(f"{error}; these plugins failed to load: {', '.join(failed)} (see `ganzoo plugins`)")
            disabled = [u for u in self.unloaded if u.status == "disabled"]
            if disabled:  # ... or to one that GANZOO_PLUGINS leaves out
                error = UsageError(f"{error}; {len(disabled)} third-party plugin(s) disabled by {ENV_VAR}")
            raise error
        return entries[name]

    def names(self, kind: str) -> list[str]:
        return sorted(self.by_kind[kind])

    def all(self) -> list[Registered]:
        return [r for kind in self.by_kind.values() for r in sorted(kind.values(), key=lambda r: r.name)]

    def origin(self, kind: str, name: str) -> Origin | None:
        entry = self.by_kind[kind].get(name)
        return entry.origin if entry else None

    def architecture(self, name: str) -> ArchitectureSpec:
        return self.get("architecture", name).spec

    def dataset(self, name: str) -> DatasetSpec:
        return self.get("dataset", name).spec

    def loss(self, name: str) -> LossSpec:
        return self.get("loss", name).spec

    def preset(self, name: str) -> PresetSpec:
        return self.get("preset", name).spec

    def extractor(self, name: str) -> ExtractorSpec:
        return self.get("extractor", name).spec


# The latest registry's specs -> where they came from, so that errors raised far from the
# registry (a generator of the wrong shape, at build time) can name the plugin.
_spec_origins: dict[int, tuple[Any, Origin]] = {}


def describe_spec(kind: str, spec: Any) -> str:
    """``architecture 'name' from plugin M (distribution D V)``; just ``architecture 'name'``
    when the spec did not come from the latest ``load_registry()``."""
    found = _spec_origins.get(id(spec))
    if found is None or found[0] is not spec:
        return f"{kind} {spec.name!r}"
    return f"{kind} {spec.name!r} from {found[1].describe()}"


def _unknown_hooks(pm: pluggy.PluginManager, plugin: object) -> list[str]:
    """Hook implementations of ``plugin`` that match no hook spec, each with a suggestion."""
    problems = []
    for name, caller in vars(pm.hook).items():
        if not isinstance(caller, pluggy.HookCaller) or caller.has_spec():
            continue
        if any(impl.plugin is plugin and not impl.optionalhook for impl in caller.get_hookimpls()):
            hint = difflib.get_close_matches(name, list(_HOOKS), n=1, cutoff=0.6)
            problems.append(f"{name}" + (f" (did you mean {hint[0]}?)" if hint else ""))
    return problems


def _unmarked_hooks(plugin: object) -> list[str]:
    """Functions named like a hook but missing ``@ganzoo.hookimpl``: pluggy would skip them."""
    names = []
    for name in _HOOKS:
        fn = getattr(plugin, name, None)
        if callable(fn) and getattr(fn, "ganzoo_impl", None) is None:
            names.append(name)
    return names


def _collect(pm: pluggy.PluginManager, plugin: object) -> list[tuple[str, Any]]:
    """Run one plugin's hooks; return the (kind, spec) pairs it registered or raise PluginError."""
    unknown = _unknown_hooks(pm, plugin)
    if unknown:
        raise PluginError(f"implements hooks ganzoo does not define: {', '.join(unknown)}")
    unmarked = _unmarked_hooks(plugin)
    if unmarked:
        raise PluginError(f"{', '.join(unmarked)} lacks the @ganzoo.hookimpl decorator, so ganzoo would never call it")
    staged: list[tuple[str, Any]] = []
    for hook_name, (kind, spec_type) in _HOOKS.items():
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            if impl.plugin is not plugin:
                continue

            def register(spec, _kind=kind, _type=spec_type):
                if not isinstance(spec, _type):
                    raise PluginError(f"register() for {_kind}s takes a ganzoo.{_type.__name__}, got {type(spec).__name__}")
                staged.append((_kind, spec))

            try:
                impl.function(**{arg: register for arg in impl.argnames})
            except PluginError:
                raise
            except (Exception, SystemExit) as exc:  # a plugin bug: one line naming it, not a traceback
                raise PluginError(f"raised in {hook_name}: {_one_line(exc)}") from exc
    return staged


def load_registry(pm: pluggy.PluginManager | None = None, report: bool = True) -> Registry:
    """Call every plugin's registration hooks and collect the specs.

    Plugins are processed one at a time in registration order (built-ins first); a plugin
    that fails is left out whole and recorded in ``Registry.unloaded``. With ``report``, each
    failure is logged as one warning line, once per process.
    """
    state = _load()
    pm = pm or state.pm
    registry = Registry(unloaded=list(state.unloaded) if pm is state.pm else [])
    _spec_origins.clear()  # only the latest registry's specs are looked up
    for _name, plugin in pm.list_name_plugin():
        if plugin is None:  # blocked
            continue
        origin = origin_of(plugin, pm)
        try:
            staged = _collect(pm, plugin)
            mine: set[tuple[str, str]] = set()
            for kind, spec in staged:
                existing = registry.by_kind[kind].get(spec.name)
                if existing is not None:
                    raise PluginError(
                        f"{kind} {spec.name!r} is registered twice: by {existing.origin.describe()} and by {origin.describe()}"
                    )
                if (kind, spec.name) in mine:
                    raise PluginError(f"registers {kind} {spec.name!r} twice")
                mine.add((kind, spec.name))
        except PluginError as exc:
            registry.unloaded.append(UnloadedPlugin(origin, "failed", str(exc), exc.__cause__))
            continue
        for kind, spec in staged:
            registry.by_kind[kind][spec.name] = Registered(kind, spec.name, spec, origin.plugin, origin.distribution, origin.version)
            _spec_origins[id(spec)] = (spec, origin)
    if report:
        for item in registry.unloaded:
            if item.status == "failed" and item.message not in state.reported:
                state.reported.add(item.message)
                log.warning("Warning: %s", item.message)
                if item.cause is not None:  # the plugin's own traceback, shown with -v
                    log.debug("traceback of the failure above:", exc_info=item.cause)
    return registry


def require_loaded(registry: Registry, plugin: object) -> None:
    """Raise the plugin's own failure as a PluginError (used by ``ganzoo.testing``)."""
    name = getattr(plugin, "__name__", None)
    for item in registry.unloaded:
        if item.origin.plugin == name:
            raise PluginError(item.message)
