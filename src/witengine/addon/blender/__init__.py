"""witengine for Blender: render the scene on a witengine farm, follow it, bring the frames back.

Blender runs this on its own Python, so it imports nothing of witengine (the hub's HTTP API is
in `client`, standard library only; finding hubs in `lan`). Nothing here blocks Blender's main
thread on the network while a job is sent and followed: that runs on a worker thread, and a
timer hands its results to the scene and the interface (`following`). The followed job's id is
kept in the scene, so reopening the file finds the job again.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

import bpy  # type: ignore[import-not-found]  # Blender's own module, there only
from bpy.props import (  # type: ignore[import-not-found]
    BoolProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)

from . import client, lan, settings
from .following import (
    FOLLOWING,
    PICTURES,
    VIDEO_SUFFIXES,
    Following,
    duration,
    ensure_timer,
    on_load,
    status_line,
    tick,
)
from .settings import OFFLINE, frame_range, hub_of, preferences

bl_info = {
    "name": "witengine",
    "author": "witengine",
    "version": (0, 1, 0),
    "blender": (3, 4, 0),
    "location": "Properties > Render > Render on farm",
    "description": "Render the scene on a witengine farm and bring the frames back",
    "category": "Render",
}

PACK_SCRIPT = Path(__file__).with_name("blender_pack.py")
PACK_SECONDS = 600.0
FIND_SECONDS = 2.0  # how long "Find on the LAN" waits for hubs to answer
LAN_INTERFACE = ""  # the address mDNS asks from ("": the system's choice; tests: 127.0.0.1)


# ------------------------------------------------------------------ submitting


def pack_copy(copy: Path, packed: Path) -> Path:
    """The file to send for a saved copy of the scene: itself when it uses no external file,
    else a copy with them packed (HubError naming the files that are missing or unpackable)."""
    listing = copy.with_suffix(".json")
    subprocess.run(
        [
            bpy.app.binary_path,
            *("-b", "--factory-startup", "-noaudio", str(copy)),
            *("-P", str(PACK_SCRIPT), "--", str(listing), str(packed)),
        ],
        check=True,
        capture_output=True,
        timeout=PACK_SECONDS,
    )
    found = json.loads(listing.read_text())
    missing = [file for file in found["files"] if not file["exists"]]
    if missing:
        raise client.HubError(f"the scene uses files that are missing: {_named(missing)}")
    if not found["files"]:
        return copy
    if found["unpackable"] or not found["saved"]:
        raise client.HubError(
            f"the scene uses files that cannot be packed into it: {_named(found['unpackable'])};"
            " pack or bake them into the .blend"
        )
    return packed


def _named(files: list[dict[str, Any]]) -> str:
    """The files as the artist knows them: the copy's relative paths mean nothing to them."""
    return ", ".join(
        f"{os.path.normpath(f['absolute'])} ({f['kind']} '{f['name']}')" for f in files
    )


def submit(scene: Any, prefs: Any) -> None:
    """Save a copy of the scene, and on a worker thread pack, upload and submit it."""
    settings = scene.witengine
    hub = hub_of(prefs)
    start, end, step = frame_range(scene)
    name = Path(bpy.data.filepath).name if bpy.data.filepath else "untitled.blend"
    frames = client.frames_text(
        name.replace("@", "_"), start, end, step, settings.samples, settings.percent
    )
    label = settings.job_name.strip() or Path(name).stem
    scratch = Path(tempfile.mkdtemp(prefix="witengine-"))
    copy = scratch / "scene" / name
    copy.parent.mkdir()
    # A copy: the artist's file and session stay as they are; paths stay right from the copy.
    bpy.ops.wm.save_as_mainfile(filepath=str(copy), copy=True, compress=False)
    video = settings.make_video
    state = FOLLOWING
    with state.lock:
        state.__init__()  # type: ignore[misc]
        state.scene, state.stage = scene.name, "submitting"

    def work() -> None:
        sent = pack_copy(copy, scratch / name)
        blob = hub.upload(sent)
        summary = hub.submit_render(blob, frames, label, video)
        with state.lock:
            state.job_id, state.status = summary["id"], summary["status"]

    state.start(work)
    ensure_timer()


# ------------------------------------------------------------------ Blender's classes


class WitenginePreferences(bpy.types.AddonPreferences):  # type: ignore[misc]
    bl_idname = __package__

    hub_url: StringProperty(  # type: ignore[valid-type]
        name="Hub", description="The hub's address, as http://HOST:PORT or https://HOST:PORT"
    )
    token: StringProperty(  # type: ignore[valid-type]
        name="Token", description="Your token on the hub (wit token create)", subtype="PASSWORD"
    )
    fingerprint: StringProperty(  # type: ignore[valid-type]
        name="Certificate",
        description="For an https hub: its certificate's fingerprint (wit hub --show-fingerprint);"
        " any other certificate is refused",
    )
    insecure: BoolProperty(  # type: ignore[valid-type]
        name="Allow plain HTTP",
        description="Send the token over plain http:// to another machine (a network you trust)",
        default=False,
    )
    nodes: StringProperty(default="")  # type: ignore[valid-type]  # the last test's lines
    found: StringProperty(default="")  # type: ignore[valid-type]  # the hubs the LAN answered

    def draw(self, context: Any) -> None:
        layout = self.layout
        row = layout.row()
        row.prop(self, "hub_url")
        row.operator(WITENGINE_OT_find_hub.bl_idname, icon="VIEWZOOM")
        for line in self.found.splitlines():
            layout.label(text=line)
        layout.prop(self, "token")
        layout.prop(self, "fingerprint")
        layout.prop(self, "insecure")
        layout.operator(WITENGINE_OT_test_connection.bl_idname, icon="LINKED")
        for line in self.nodes.splitlines():
            layout.label(text=line)


class WITENGINE_OT_report(bpy.types.Operator):  # type: ignore[misc]
    """Show a message from witengine"""

    bl_idname = "witengine.report"
    bl_label = "witengine message"
    bl_options = {"INTERNAL"}  # noqa: RUF012 - Blender reads a set

    kind: StringProperty(default="INFO")  # type: ignore[valid-type]
    message: StringProperty()  # type: ignore[valid-type]

    def execute(self, context: Any) -> set[str]:
        self.report({self.kind}, self.message)
        return {"FINISHED"}


class WITENGINE_OT_test_connection(bpy.types.Operator):  # type: ignore[misc]
    """Ask the hub who you are and which nodes the farm has"""

    bl_idname = "witengine.test_connection"
    bl_label = "Test connection"

    def execute(self, context: Any) -> set[str]:
        prefs = preferences(context)
        try:
            if not settings.online_allowed():
                raise client.HubError(OFFLINE)
            hub = client.Hub(
                prefs.hub_url, prefs.token, prefs.fingerprint, timeout=5.0, insecure=prefs.insecure
            )
            hub.whoami()
            lines = client.node_lines(hub.nodes())
        except client.HubError as error:
            prefs.nodes = ""
            self.report({"ERROR"}, f"witengine: {error}")
            return {"CANCELLED"}
        prefs.nodes = "\n".join(lines) or "the farm has no nodes"
        self.report({"INFO"}, f"witengine: {len(lines)} nodes: " + "; ".join(lines))
        return {"FINISHED"}


class WITENGINE_OT_find_hub(bpy.types.Operator):  # type: ignore[misc]
    """Ask the local network (mDNS) for witengine hubs and take the first that answers"""

    bl_idname = "witengine.find_hub"
    bl_label = "Find on the LAN"

    def execute(self, context: Any) -> set[str]:
        prefs = preferences(context)
        try:
            if not settings.online_allowed():
                raise client.HubError(OFFLINE)
            pin = client.parse_fingerprint(prefs.fingerprint)
            found = lan.find(FIND_SECONDS, LAN_INTERFACE)
        except (client.HubError, OSError) as error:
            self.report({"ERROR"}, f"witengine: cannot look for hubs: {error}")
            return {"CANCELLED"}
        if pin:  # the advert only suggests: a pinned add-on takes only its own hub's
            found = [hub for hub in found if hub.fingerprint.lower() == pin]
        prefs.found = "\n".join(f"{hub.name}: {hub.url}" for hub in found)
        if not found:
            self.report(
                {"ERROR"},
                f"witengine: no hub{' with the pinned certificate' if pin else ''} answered on "
                f"the local network within {FIND_SECONDS:g} s (is the hub started with its "
                "advert on, on this network? else type its address)",
            )
            return {"CANCELLED"}
        prefs.hub_url = found[0].url
        hubs = "; ".join(prefs.found.splitlines())
        self.report({"INFO"}, f"witengine: found {len(found)}: {hubs}")
        return {"FINISHED"}


class WITENGINE_OT_render_on_farm(bpy.types.Operator):  # type: ignore[misc]
    """Save a packed copy of the scene, send it to the farm and follow the job"""

    bl_idname = "witengine.render_on_farm"
    bl_label = "Render on farm"

    def execute(self, context: Any) -> set[str]:
        if FOLLOWING.stage in ("submitting", "downloading") or (
            FOLLOWING.stage == "following" and FOLLOWING.scene == context.scene.name
        ):
            self.report({"ERROR"}, "witengine: this scene's job is still running; cancel it first")
            return {"CANCELLED"}
        try:
            submit(context.scene, preferences(context))
        except client.HubError as error:
            self.report({"ERROR"}, f"witengine: {error}")
            return {"CANCELLED"}
        self.report({"INFO"}, "witengine: sending the scene to the farm")
        return {"FINISHED"}


class WITENGINE_OT_cancel(bpy.types.Operator):  # type: ignore[misc]
    """Cancel the job on the farm"""

    bl_idname = "witengine.cancel"
    bl_label = "Cancel"

    def execute(self, context: Any) -> set[str]:
        job_id = FOLLOWING.job_id or context.scene.witengine.job_id
        try:
            hub = hub_of(preferences(context))
        except client.HubError as error:
            self.report({"ERROR"}, f"witengine: {error}")
            return {"CANCELLED"}

        def cancel() -> None:
            try:
                hub.cancel(job_id)
            except client.HubError as error:
                with FOLLOWING.lock:
                    FOLLOWING.error = str(error)

        threading.Thread(target=cancel, name="witengine-cancel", daemon=True).start()
        ensure_timer()
        self.report({"INFO"}, f"witengine: cancelling {job_id}")
        return {"FINISHED"}


def dashboard_url(prefs: Any, job_id: str) -> str:
    """The job's page on the hub's dashboard, as a sign-in link (the dashboard asks before it
    signs a link opened from elsewhere in)."""
    hub = hub_of(prefs)
    page = f"{hub.url}/jobs/{job_id}"
    return f"{page}?token={prefs.token.strip()}" if prefs.token.strip() else page


def brought_back(scene: Any) -> tuple[list[Path], Path | None]:
    """The frames and the video of the scene's job that are in its output folder."""
    state = FOLLOWING
    files = [Path(p) for p in state.downloaded if state.scene == scene.name and Path(p).is_file()]
    video = next((f for f in files if f.suffix in VIDEO_SUFFIXES), None)
    return [f for f in files if f != video], video


class WITENGINE_OT_open_dashboard(bpy.types.Operator):  # type: ignore[misc]
    """Open the job's page on the hub's dashboard in the browser"""

    bl_idname = "witengine.open_dashboard"
    bl_label = "Open dashboard"

    def execute(self, context: Any) -> set[str]:
        try:
            url = dashboard_url(preferences(context), context.scene.witengine.job_id)
        except client.HubError as error:
            self.report({"ERROR"}, f"witengine: {error}")
            return {"CANCELLED"}
        bpy.ops.wm.url_open(url=url)
        return {"FINISHED"}


class WITENGINE_OT_open_image(bpy.types.Operator):  # type: ignore[misc]
    """Show the last frame brought back in an Image Editor"""

    bl_idname = "witengine.open_image"
    bl_label = "Open in Image Editor"

    def execute(self, context: Any) -> set[str]:
        frames, _ = brought_back(context.scene)
        if not frames:
            self.report({"ERROR"}, "witengine: no frame has come back yet")
            return {"CANCELLED"}
        image = bpy.data.images.load(str(frames[-1]), check_existing=True)
        screen = getattr(context, "screen", None)
        for area in screen.areas if screen is not None else ():
            if area.type == "IMAGE_EDITOR":
                area.spaces.active.image = image
                break
        self.report({"INFO"}, f"witengine: {image.name} loaded")
        return {"FINISHED"}


class WITENGINE_OT_add_to_sequencer(bpy.types.Operator):  # type: ignore[misc]
    """Add the video (or else the frames) to the scene's Video Sequencer"""

    bl_idname = "witengine.add_to_sequencer"
    bl_label = "Add to Sequencer"

    def execute(self, context: Any) -> set[str]:
        scene = context.scene
        frames, video = brought_back(scene)
        if not frames and video is None:
            self.report({"ERROR"}, "witengine: nothing has come back yet")
            return {"CANCELLED"}
        editor = scene.sequence_editor or scene.sequence_editor_create()
        strips = getattr(editor, "strips", None) or editor.sequences  # 4.4 renamed them
        channel = 1 + max((strip.channel for strip in strips), default=0)
        start = scene.frame_start
        if video is not None:
            strips.new_movie(video.stem, str(video), channel, start)
        else:
            strip = strips.new_image(frames[0].stem, str(frames[0]), channel, start)
            for frame in frames[1:]:
                strip.elements.append(frame.name)
        self.report({"INFO"}, f"witengine: added to the sequencer, channel {channel}")
        return {"FINISHED"}


class WitengineSceneSettings(bpy.types.PropertyGroup):  # type: ignore[misc]
    use_scene_range: BoolProperty(name="Scene's frame range", default=True)  # type: ignore[valid-type]
    frame_start: IntProperty(name="Start", default=1, min=0)  # type: ignore[valid-type]
    frame_end: IntProperty(name="End", default=250, min=0)  # type: ignore[valid-type]
    frame_step: IntProperty(name="Step", default=1, min=1)  # type: ignore[valid-type]
    samples: IntProperty(  # type: ignore[valid-type]
        name="Samples", description="Samples per pixel (0: the scene's own)", default=0, min=0
    )
    percent: IntProperty(  # type: ignore[valid-type]
        name="Resolution %",
        description="Resolution scale (0: the scene's own)",
        default=0,
        min=0,
        max=1000,
    )
    job_name: StringProperty(  # type: ignore[valid-type]
        name="Job name", description="Shown for the job (default: the file's name)"
    )
    output_folder: StringProperty(  # type: ignore[valid-type]
        name="Output",
        description="Where the frames come back (default: the scene's output path)",
        subtype="DIR_PATH",
    )
    make_video: BoolProperty(name="Make video", default=True)  # type: ignore[valid-type]
    job_id: StringProperty(name="Job")  # type: ignore[valid-type]  # the followed job, kept in the file
    hub_url: StringProperty(name="Hub")  # type: ignore[valid-type]  # the hub it runs on


class WITENGINE_PT_render(bpy.types.Panel):  # type: ignore[misc]
    bl_label = "Render on farm"
    bl_space_type = "PROPERTIES"
    bl_region_type = "WINDOW"
    bl_context = "render"

    def draw(self, context: Any) -> None:
        layout = self.layout
        scene = context.scene
        settings = scene.witengine
        layout.use_property_split = True
        layout.prop(settings, "use_scene_range")
        column = layout.column(align=True)
        if settings.use_scene_range:
            column.enabled = False
            column.prop(scene, "frame_start")
            column.prop(scene, "frame_end")
            column.prop(scene, "frame_step")
        else:
            column.prop(settings, "frame_start")
            column.prop(settings, "frame_end")
            column.prop(settings, "frame_step")
        layout.prop(settings, "samples")
        layout.prop(settings, "percent")
        layout.prop(settings, "job_name")
        layout.prop(settings, "output_folder")
        layout.prop(settings, "make_video")
        state = FOLLOWING
        if state.stage and state.scene == scene.name:
            line = status_line(state)
            if hasattr(layout, "progress") and state.total:  # Blender 4.0 and later
                layout.progress(factor=state.done / state.total, type="BAR", text=line)
            else:
                layout.label(text=line, icon="TIME")
            if state.eta is not None and state.status == "running":
                layout.label(text=f"Time left: about {duration(state.eta)}")
            draw_preview(layout, state)
            layout.operator(WITENGINE_OT_cancel.bl_idname, icon="CANCEL")
        else:
            if state.finished and state.scene == scene.name:
                layout.label(text=status_line(state), icon="CHECKMARK")
                draw_preview(layout, state)
                if state.downloaded:
                    row = layout.row()
                    row.operator(WITENGINE_OT_open_image.bl_idname, icon="IMAGE_DATA")
                    row.operator(WITENGINE_OT_add_to_sequencer.bl_idname, icon="SEQUENCE")
            layout.operator(WITENGINE_OT_render_on_farm.bl_idname, icon="RENDER_ANIMATION")
        if settings.job_id:
            layout.operator(WITENGINE_OT_open_dashboard.bl_idname, icon="URL")


def draw_preview(layout: Any, state: Following) -> None:
    """The last frame brought back, as a picture, and its file's name."""
    picture = PICTURES.shown()
    if not state.preview or picture is None:
        return
    layout.template_icon(icon_value=picture.icon_id, scale=8.0)
    layout.label(text=f"Latest: {Path(state.preview).name}", icon="IMAGE_DATA")


CLASSES = (
    WitenginePreferences,
    WITENGINE_OT_report,
    WITENGINE_OT_test_connection,
    WITENGINE_OT_find_hub,
    WITENGINE_OT_render_on_farm,
    WITENGINE_OT_cancel,
    WITENGINE_OT_open_dashboard,
    WITENGINE_OT_open_image,
    WITENGINE_OT_add_to_sequencer,
    WitengineSceneSettings,
    WITENGINE_PT_render,
)


def register() -> None:
    PICTURES.open()
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.witengine = PointerProperty(type=WitengineSceneSettings)
    bpy.app.handlers.load_post.append(on_load)


def unregister() -> None:
    if on_load in bpy.app.handlers.load_post:
        bpy.app.handlers.load_post.remove(on_load)
    if bpy.app.timers.is_registered(tick):
        bpy.app.timers.unregister(tick)
    del bpy.types.Scene.witengine
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
    PICTURES.close()
