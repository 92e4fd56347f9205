"""Finding plugins: Python entry points in the `witengine.plugins` group, or explicit references.

Builds the `Library` a process uses from the built-ins and the plugins it finds. A plugin that
fails to load is reported by name; it never takes the others down silently.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Sequence
from importlib.metadata import entry_points

from witengine.errors import PluginError
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


def discover() -> list[Plugin]:
    """Every plugin installed in this Python environment."""
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
    return plugins


def load_ref(ref: str) -> Plugin:
    """The plugin at `module:attribute`."""
    module_name, _, attribute = ref.partition(":")
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
    """The built-ins plus these plugins' types and activities."""
    chosen = list(plugins)
    types = builtin_types()
    activities = builtin_activities()
    for plugin in chosen:
        types += plugin.type_defs()
        activities += plugin.activity_defs()
    return Library(types, activities, [(p.name, p.version) for p in chosen])


def library_from_refs(refs: Sequence[str]) -> Library:
    return build_library(load_ref(ref) for ref in refs)


def default_library() -> Library:
    """The built-ins and every installed plugin."""
    return build_library(discover())
