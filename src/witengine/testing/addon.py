"""The Blender add-on's client module for tests that run it outside Blender: loaded from its
file alone, since its package's `__init__` needs Blender's `bpy`."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from witengine.addon import SOURCE

NAME = "witengine_blender_client"


def load_client() -> ModuleType:
    """The add-on's `client.py` as a module of its own (loaded once)."""
    if NAME in sys.modules:
        return sys.modules[NAME]
    spec = importlib.util.spec_from_file_location(NAME, SOURCE / "client.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[NAME] = module
    spec.loader.exec_module(module)
    return module
