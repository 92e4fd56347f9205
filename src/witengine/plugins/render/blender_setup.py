"""Runs inside Blender before the frames render: `blender … scene.blend … -P blender_setup.py
-f … -- config.json`, or without `-f` to serve: then it renders the frames that each line of its
standard input asks for, until that ends, so one process renders batch after batch.

It refuses a scene saved by a newer Blender, checks that every external file the scene uses is
there, applies the job's overrides (engine, samples, resolution percentage), chooses the Cycles
device (the CPU unless the job allows a GPU and this machine has one; never both in one frame),
and reports what the node should expect. It speaks to the node on lines that start with `WIT `
and exits with code 3 on a failure it has explained. It runs on Blender's own Python, so it
imports nothing of witengine.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import bpy  # type: ignore[import-not-found]  # Blender's own module, there only

GPU_BACKENDS = ("OPTIX", "CUDA", "HIP", "METAL", "ONEAPI")
EXPLAINED = 3


def say(kind: str, **data: Any) -> None:
    print("WIT " + json.dumps({"kind": kind, **data}), flush=True)


def fail(failure: str, message: str, **data: Any) -> NoReturn:
    say("error", failure=failure, message=message, **data)
    sys.stdout.flush()
    raise SystemExit(EXPLAINED)


def config() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(Path(sys.argv[sys.argv.index("--") + 1]).read_text())
    return loaded


def check_version() -> None:
    saved, running = tuple(bpy.data.version[:2]), tuple(bpy.app.version[:2])
    if saved > running:
        fail(
            "newer-blender",
            f"the scene was saved by Blender {saved[0]}.{saved[1]}, and this node has "
            f"{bpy.app.version_string}; it needs Blender {saved[0]}.{saved[1]} or newer",
            needs=f"{saved[0]}.{saved[1]}",
        )


def _used(block: Any) -> bool:
    return bool(block.users) and not (block.users == 1 and getattr(block, "use_fake_user", False))


def missing_files() -> list[dict[str, str]]:
    """The external files the scene uses that are not on this machine."""
    missing: list[dict[str, str]] = []

    def check(kind: str, block: Any, whole_folder: bool = False) -> None:
        path = getattr(block, "filepath", "")
        if not path or path.startswith("<") or getattr(block, "packed_file", None) is not None:
            return
        full = Path(bpy.path.abspath(path, library=getattr(block, "library", None)))
        there = full.parent.is_dir() if whole_folder else full.exists()
        if not there:
            missing.append({"kind": kind, "name": block.name, "path": path})

    for image in bpy.data.images:
        if _used(image) and image.source in {"FILE", "MOVIE", "SEQUENCE", "TILED"}:
            check("image", image, whole_folder=image.source in {"SEQUENCE", "TILED"})
    for library in bpy.data.libraries:
        check("library", library)
    for kind, blocks in (
        ("font", bpy.data.fonts),
        ("movie clip", bpy.data.movieclips),
        ("volume", bpy.data.volumes),
        ("cache file", bpy.data.cache_files),
    ):
        for block in blocks:
            if _used(block):
                check(kind, block)
    return missing


def apply_overrides(scene: Any, settings: dict[str, Any]) -> None:
    if settings.get("engine"):
        scene.render.engine = settings["engine"]
    samples = settings.get("samples")
    if samples:
        if scene.render.engine == "CYCLES":
            scene.cycles.samples = samples
        elif scene.render.engine == "BLENDER_EEVEE":
            scene.eevee.taa_render_samples = samples
    if settings.get("percent"):
        scene.render.resolution_percentage = settings["percent"]


def choose_device(scene: Any, wanted: str) -> str:
    """The device Cycles renders on: CPU, or one GPU backend with every CPU device left out."""
    if scene.render.engine != "CYCLES":
        return "GPU" if scene.render.engine == "BLENDER_EEVEE" else "CPU"
    if wanted == "CPU":
        scene.cycles.device = "CPU"
        return "CPU"
    preferences = bpy.context.preferences.addons["cycles"].preferences
    for backend in [wanted] if wanted in GPU_BACKENDS else list(GPU_BACKENDS):
        try:
            found = [d for d in preferences.get_devices_for_type(backend) if d.type == backend]
        except (TypeError, ValueError):  # a backend this build of Blender does not know
            continue
        if found:
            preferences.compute_device_type = backend
            for device in preferences.devices:
                device.use = device.type == backend
            scene.cycles.device = "GPU"
            return backend
    if wanted == "AUTO":
        scene.cycles.device = "CPU"
        return "CPU"
    fail(
        "no-device",
        f"the job asks for device={wanted}, and this node has no "
        f"{'GPU' if wanted == 'GPU' else wanted} device that Cycles can use",
    )


def output_size(scene: Any) -> tuple[int, int]:
    """The size of the images Blender writes, as Blender computes it."""
    render = scene.render
    width = render.resolution_x * render.resolution_percentage // 100
    height = render.resolution_y * render.resolution_percentage // 100
    if render.use_border and render.use_crop_to_border:
        width = int(render.border_max_x * width) - int(render.border_min_x * width)
        height = int(render.border_max_y * height) - int(render.border_min_y * height)
    return width, height


def apply_tile(scene: Any, tile: dict[str, int]) -> dict[str, Any]:
    """Render only the tile, with its padding, cropped to it; where it sits in the frame."""
    render = scene.render
    width = render.resolution_x * render.resolution_percentage // 100
    height = render.resolution_y * render.resolution_percentage // 100
    columns, rows, padding = tile["columns"], tile["rows"], tile["padding"]
    x0, x1 = width * tile["column"] // columns, width * (tile["column"] + 1) // columns
    y0, y1 = height * tile["row"] // rows, height * (tile["row"] + 1) // rows  # from the top
    left, right = max(0, x0 - padding), min(width, x1 + padding)
    top, bottom = max(0, y0 - padding), min(height, y1 + padding)
    # Blender counts the border in fractions from the bottom left and truncates fraction x size
    # to whole pixels: a quarter pixel in, every edge lands on the pixel meant.
    render.use_border = True
    render.use_crop_to_border = True
    render.border_min_x = min(1.0, (left + 0.25) / width)
    render.border_max_x = min(1.0, (right + 0.25) / width)
    render.border_min_y = min(1.0, (height - bottom + 0.25) / height)
    render.border_max_y = min(1.0, (height - top + 0.25) / height)
    return {
        "x": left,
        "y": top,
        "width": right - left,
        "height": bottom - top,
        "inner": [x0, y0, x1 - x0, y1 - y0],
        "full_width": width,
        "full_height": height,
    }


def serve(scene: Any) -> None:
    """Render the frames each line of standard input asks for (`{"frames": [1, 2]}`), batch
    after batch, until it ends: the scene stays loaded. Blender writes each frame where `-f`
    would, and says so on its `Saved:` line."""
    pattern = scene.render.filepath
    for line in sys.stdin:
        frames = json.loads(line)["frames"]
        say("paths", paths={str(n): scene.render.frame_path(frame=n) for n in frames})
        for number in frames:
            scene.frame_set(number)
            scene.render.filepath = scene.render.frame_path(frame=number)
            try:
                bpy.ops.render.render(write_still=True)
            finally:
                scene.render.filepath = pattern
        say("done")


def main() -> None:
    settings = config()
    check_version()
    missing = missing_files()
    if missing:
        named = ", ".join(f"{m['path']} ({m['kind']} '{m['name']}')" for m in missing)
        fail("missing-files", f"the scene uses files that are missing: {named}", files=missing)
    scene = bpy.context.scene
    apply_overrides(scene, settings)
    device = choose_device(scene, settings.get("device", "CPU"))
    region = apply_tile(scene, settings["tile"]) if settings.get("tile") else None
    width, height = (region["width"], region["height"]) if region else output_size(scene)
    say(
        "scene",
        blender=bpy.app.version_string,
        engine=scene.render.engine,
        device=device,
        width=width,
        height=height,
        fps=scene.render.fps / scene.render.fps_base,
        paths={str(n): scene.render.frame_path(frame=n) for n in settings["frames"]},
        region=region,
    )
    if settings.get("serve"):
        serve(scene)


main()
