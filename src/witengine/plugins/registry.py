"""Finding plugins: Python entry points in the `witengine.plugins` group, or explicit references.

Builds the `Library` a process uses from the built-ins and the plugins it finds. A plugin that
fails to load is reported by name; it never takes the others down silently.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable, Mapping, Sequence

from witengine.errors import PluginError
from witengine.lang.types import WitType, resolve_type
from witengine.plugins.api import Plugin
from witengine.runtime.builtins import builtin_activities, builtin_types
from witengine.runtime.library import Library

ENTRY_POINT_GROUP = "witengine.plugins"


def _as_plugin(obj: object, where: str) -> Plugin:
    if callable(obj) and not isinstance(obj, Plugin):
        obj = obj()
    if not isinstance(obj, Plugin):
        raise PluginError(f"{where} is not a witengine Plugin")
    return obj


def discover(environ: Mapping[str, str] | None = None) -> list[Plugin]:
    """Every plugin installed in this Python environment, plus those `WIT_PLUGINS` names.

    `WIT_PLUGINS` is a comma-separated list of `module:attribute` references, for plugins that
    are importable but not installed as packages (during development, and in tests).
    """
    # Here, not at the top: a batch process loads plugins by reference and never looks for them.
    from importlib.metadata import entry_points

    env = os.environ if environ is None else environ
    plugins = []
    for point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda p: p.name):
        try:
            plugin = _as_plugin(point.load(), f"entry point '{point.name}' ({point.value})")
        except PluginError:
            raise
        except Exception as error:
            raise PluginError(
                f"plugin '{point.name}' ({point.value}) failed to load: {error}"
            ) from error
        plugin.ref = plugin.ref or point.value
        plugins.append(plugin)
    names = {p.name for p in plugins}
    for ref in filter(None, (r.strip() for r in env.get("WIT_PLUGINS", "").split(","))):
        plugin = load_ref(ref)
        if plugin.name not in names:
            plugins.append(plugin)
            names.add(plugin.name)
    return plugins


def load_ref(ref: str) -> Plugin:
    """The plugin at `module:attribute`."""
    module_name, _, attribute = ref.partition(":")
    if not module_name or not attribute:
        raise PluginError(f"plugin reference '{ref}' must be module:attribute")
    try:
        module = importlib.import_module(module_name)
        plugin = _as_plugin(getattr(module, attribute), ref)
    except PluginError:
        raise
    except Exception as error:
        raise PluginError(f"plugin '{ref}' failed to load: {error}") from error
    plugin.ref = plugin.ref or ref
    return plugin


def build_library(plugins: Iterable[Plugin]) -> Library:
    """The built-ins plus these plugins' types and activities; PluginError names what is wrong."""
    return extend_library(Library(builtin_types(), builtin_activities()), plugins)


def extend_library(library: Library, plugins: Iterable[Plugin]) -> Library:
    """A new library: `library` plus these plugins (a node adds those it got from its hub)."""
    chosen = list(plugins)
    types = list(library.types.values())
    activities = list(library.activities.values())
    built_in = {typedef.name for typedef in builtin_types()}
    owners = {
        typedef.name: "the built-ins" if typedef.name in built_in else "a plugin loaded before"
        for typedef in types
    }
    for plugin in chosen:
        for typedef in plugin.type_defs():
            if typedef.name in owners:
                raise PluginError(
                    f"plugin '{plugin.name}': type '{typedef.name}' is already defined by "
                    f"{owners[typedef.name]}"
                )
            owners[typedef.name] = f"plugin '{plugin.name}'"
            types.append(typedef)
        activities += plugin.activity_defs()
    versions = [*library.plugins, *((p.name, p.version) for p in chosen)]
    library = Library(types, activities, versions)
    for plugin in chosen:
        _check_type_names(plugin, library)
    return library


def _check_type_names(plugin: Plugin, library: Library) -> None:
    """Every type a plugin's signatures and members name must exist once all plugins are in."""
    named: list[tuple[str, WitType]] = []
    for activity in library.activities.values():
        if activity.plugin == plugin.name:
            where = f"activity '{activity.name}'"
            named += [(where, param.type) for param in activity.spec.params]
            if activity.spec.returns is not None:
                named.append((where, activity.spec.returns))
    for typedef in plugin.type_defs():
        where = f"type '{typedef.name}'"
        named += [(where, t) for t in typedef.spec.members.values()]
        named += [(where, WitType(name)) for name in typedef.spec.accepts]
    for where, type_ in named:
        if resolve_type(type_.name, library) is None:
            raise PluginError(
                f"plugin '{plugin.name}': {where} uses the unknown Wit type '{type_}'"
            )


def library_from_refs(refs: Sequence[str]) -> Library:
    return build_library(load_ref(ref) for ref in refs)


def default_library() -> Library:
    """The built-ins and every installed plugin."""
    return build_library(discover())
