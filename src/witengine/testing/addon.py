"""The Blender add-on's modules that need no Blender (its client, its LAN search), for tests
that run them outside Blender: each loaded from its file alone, since the package's `__init__`
needs Blender's `bpy`."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from witengine.addon import SOURCE


def load_module(stem: str) -> ModuleType:
    """The add-on's `<stem>.py` as a module of its own (loaded once)."""
    name = f"witengine_blender_{stem}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, SOURCE / f"{stem}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_client() -> ModuleType:
    """The add-on's `client.py`."""
    return load_module("client")


def load_lan() -> ModuleType:
    """The add-on's `lan.py`: finding hubs over mDNS."""
    return load_module("lan")
