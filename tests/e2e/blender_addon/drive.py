"""Runs inside Blender for the add-on's tests: `blender -b scene.blend -P drive.py -- JSON`.

It enables the installed add-on (`module`: its name, `bl_ext.user_default.witengine_blender`
when installed as an extension; Allow Online Access ticked in 4.2 and later, but for
`offline`), sets its preferences, and does what JSON's `do` says:
`submit` (send the scene, then save it with its job), `reopen` (open a saved file and follow
its job until its frames are back), `cancel` (send the scene, cancel its job, its frames
coming meanwhile), `connect` (Test connection, then a submission), `find` (Find on the LAN).
The panel's draw runs idle, at every turn of the timer and at the end. The timer does not fire
in a background Blender, which has no event loop, so this script calls it as the loop would,
waiting the interval it asks for. It prints one line, `WITRESULT=` and what it found, as JSON.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import addon_utils  # type: ignore[import-not-found]
import bpy  # type: ignore[import-not-found]

config: dict[str, Any] = json.loads(sys.argv[sys.argv.index("--") + 1])
if hasattr(bpy.app, "online_access"):  # 4.2 and later: Allow Online Access, as an artist ticks it
    bpy.context.preferences.system.use_online_access = config["do"] != "offline"
ADDON = config.get("module", "witengine_blender")
addon_utils.enable(ADDON, default_set=True, handle_error=None)
addon = sys.modules[ADDON]
addon.following.TICK_SECONDS = 0.2  # the timer's pace: an artist's Blender looks once a second
prefs = bpy.context.preferences.addons[ADDON].preferences
prefs.hub_url, prefs.token, prefs.fingerprint = config["hub"], config["token"], config["pin"]
scene = bpy.context.scene
for key, value in config.get("settings", {}).items():
    setattr(scene.witengine, key, value)
found: dict[str, Any] = {}


class Layout:
    """A stand-in for Blender's UILayout, which a background Blender has none of: it checks
    that every property the panel shows exists, and keeps what it would show."""

    def __init__(self, shown: list[str]) -> None:
        self.shown = shown
        self.enabled = True
        self.use_property_split = False

    def prop(self, data: Any, name: str, **_: Any) -> None:
        assert name in data.bl_rna.properties, f"{data} has no property {name}"
        self.shown.append(f"prop {name}")

    def label(self, text: str = "", **_: Any) -> None:
        self.shown.append(f"label {text}")

    def progress(self, text: str = "", **_: Any) -> None:
        self.shown.append(f"progress {text}")

    def operator(self, name: str, **_: Any) -> None:
        module, _, operator = name.partition(".")
        assert hasattr(getattr(bpy.ops, module), operator), f"no operator {name}"
        self.shown.append(f"operator {name}")

    def column(self, **_: Any) -> Layout:
        return self

    def row(self, **_: Any) -> Layout:
        return self

    def template_icon(self, icon_value: int = 0, **_: Any) -> None:
        self.shown.append("picture")


def draw() -> list[str]:
    shown: list[str] = []
    panel = type("Panel", (), {"layout": Layout(shown)})()
    addon.WITENGINE_PT_render.draw(panel, bpy.context)
    return shown


def drive(seconds: float, until: str = "", frames: int = 0) -> None:
    """Call the timer as Blender's loop would until it ends (or the job reaches `until`, or
    `frames` frames are in the output folder). Each turn logs the job's status as the add-on
    last heard it and the frames in the output folder then."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        interval = addon.tick()
        state = addon.FOLLOWING
        there = sorted(p.name for p in addon.settings.output_folder(scene).glob("*.png"))
        found.setdefault("turns", []).append([state.status, there])
        if interval is None or (until and state.stage == until):
            return
        found.setdefault("draws", []).append(draw())
        if frames and len(there) >= frames and state.preview:  # back, and shown
            return
        time.sleep(interval)
    raise AssertionError("the add-on's timer did not end in time")


def preview() -> list[Any]:
    """The frame the panel shows, and the size of the picture loaded from it."""
    loaded = addon.PICTURES.shown()
    return [addon.FOLLOWING.preview, list(loaded.image_size) if loaded else None]


def reports(call: Any) -> str:
    try:
        call()
    except RuntimeError as error:
        return str(error)
    return ""


if config["do"] == "submit":  # send the scene, save it with its job, as an artist closing Blender
    found["idle"] = draw()
    found["submit"] = reports(bpy.ops.witengine.render_on_farm)
    drive(config.get("seconds", 60), until="following")
    found["job_id"] = scene.witengine.job_id
    bpy.ops.wm.save_as_mainfile(filepath=config["save"])
elif config["do"] == "reopen":  # open that file again: the add-on finds its job and follows it
    bpy.ops.wm.open_mainfile(filepath=config["file"])
    scene = bpy.context.scene
    found["stage"] = addon.FOLLOWING.stage
    drive(config.get("seconds", 60))
    found["job_id"] = scene.witengine.job_id
    state = addon.FOLLOWING
    found["status"], found["done"], found["total"] = state.status, state.done, state.total
    found["downloaded"] = state.downloaded
    found["preview"] = preview()
    found["finished"] = draw()
    found["open_image"] = reports(bpy.ops.witengine.open_image)
    found["images"] = sorted(image.filepath for image in bpy.data.images if image.filepath)
    found["sequencer"] = reports(bpy.ops.witengine.add_to_sequencer)
    editor = scene.sequence_editor
    strips = (getattr(editor, "strips", None) or editor.sequences) if editor else []
    found["strips"] = [(strip.type, strip.filepath) for strip in strips]
    found["dashboard"] = addon.dashboard_url(prefs, scene.witengine.job_id)
elif config["do"] == "cancel":  # send the scene, then cancel its job from the panel's button
    found["submit"] = reports(bpy.ops.witengine.render_on_farm)
    drive(config.get("seconds", 60), until="following")
    found["job_id"] = scene.witengine.job_id
    drive(config.get("seconds", 60), frames=config.get("frames", 0))  # frames come as it runs
    found["arrived"] = {"preview": preview(), "draw": draw(), "eta": addon.FOLLOWING.eta}
    found["cancel"] = reports(bpy.ops.witengine.cancel)
    drive(config.get("seconds", 60))
    found["status"] = addon.FOLLOWING.status
    found["finished"] = draw()
elif config["do"] == "find":  # Find on the LAN, asking from the loopback interface
    addon.LAN_INTERFACE = config["interface"]
    prefs.hub_url = ""
    found["find"] = reports(bpy.ops.witengine.find_hub)
    found["hub_url"], found["found"] = prefs.hub_url, prefs.found.splitlines()
elif config["do"] == "offline":  # Allow Online Access off (set above in 4.2 and later); 3.4
    if not hasattr(bpy.app, "online_access"):  # has no such setting: its reading is replaced
        addon.settings.online_allowed = lambda: False
    found["online_access"] = getattr(bpy.app, "online_access", None)
    found["connect"] = reports(bpy.ops.witengine.test_connection)
    found["find"] = reports(bpy.ops.witengine.find_hub)
    found["submit"] = reports(bpy.ops.witengine.render_on_farm)
elif config["do"] == "connect":
    found["connect"] = reports(bpy.ops.witengine.test_connection)
    found["nodes"] = prefs.nodes
    if config.get("submit", True):
        found["submit"] = reports(bpy.ops.witengine.render_on_farm)
    if config.get("submit", True) and not found["submit"]:
        drive(config.get("seconds", 30))
    found["job_id"] = scene.witengine.job_id
print("WITRESULT=" + json.dumps(found))
