"""The add-on's settings as the rest of it reads them: its preferences, the hub they name (or
refused, with Blender's Allow Online Access off), where the scene's frames come back, its frame
range; and Blender reports."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import bpy  # type: ignore[import-not-found]  # Blender's own module, there only

from . import client


def preferences(context: Any = None) -> Any:
    context = context or bpy.context
    return context.preferences.addons[__package__].preferences


def online_allowed() -> bool:
    """Blender's "Allow Online Access" (4.2 and later; older Blenders have no such setting)."""
    return bool(getattr(bpy.app, "online_access", True))


OFFLINE = (
    "Blender's Allow Online Access is off (Preferences > System > Network): witengine talks to "
    "its hub over the network; allow it to use the farm"
)


def hub_of(prefs: Any) -> client.Hub:
    if not online_allowed():
        raise client.HubError(OFFLINE)
    if not prefs.hub_url.strip():
        raise client.HubError("set the hub's address in the witengine add-on's preferences")
    return client.Hub(prefs.hub_url, prefs.token, prefs.fingerprint, insecure=prefs.insecure)


def report(kind: str, message: str) -> None:
    """A Blender report (shown in the status bar, printed in the background)."""
    try:
        bpy.ops.witengine.report(kind=kind, message=message)
    except RuntimeError:
        print(f"{kind.title()}: {message}", file=sys.stderr)


def output_folder(scene: Any) -> Path:
    """Where the frames go: the panel's folder, else the folder of the scene's output path."""
    chosen = scene.witengine.output_folder.strip()
    if chosen:
        return Path(bpy.path.abspath(chosen))
    output = scene.render.filepath
    if not output:
        return Path(tempfile.gettempdir())
    path = Path(bpy.path.abspath(output))
    return path if output.endswith(("/", "\\")) else path.parent


def frame_range(scene: Any) -> tuple[int, int, int]:
    settings = scene.witengine
    if settings.use_scene_range:
        return scene.frame_start, scene.frame_end, scene.frame_step
    return settings.frame_start, settings.frame_end, settings.frame_step
