"""Finding plugins: Python entry points in the `witengine.plugins` group, or explicit references.

Builds the `Library` a process uses from the built-ins and the plugins it finds. A plugin that
fails to load is reported by name; it never takes the others down silently.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable, Mapping, Sequence
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


def discover(environ: Mapping[str, str] | None = None) -> list[Plugin]:
    """Every plugin installed in this Python environment, plus those `WIT_PLUGINS` names.

    `WIT_PLUGINS` is a comma-separated list of `module:attribute` references, for plugins that
    are importable but not installed as packages (during development, and in tests).
    """
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
