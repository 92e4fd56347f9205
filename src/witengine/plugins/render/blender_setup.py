"""Runs inside Blender before the frames render: `blender … scene.blend … -P blender_setup.py
-f … -- config.json`, or without `-f` to serve: then it renders the frames that each line of its
standard input asks for, until that ends, so one process renders batch after batch.

It refuses a scene saved by a newer Blender; refuses one that refers to a file outside the
folder it renders in (an absolute path, a relative one that climbs out or leads out through a
link: the node checked the file without Blender before, and this checks again with Blender's
own paths, linked data's included), and checks that the files it uses inside that folder are
there; refuses one whose compositor File Output nodes write outside that folder (any
scene's, any node group's); applies the job's overrides (engine, samples, resolution
percentage), chooses the Cycles device (the CPU unless the job allows a GPU and this machine
has one; never both in one frame), and reports what the node should expect. It speaks to the
node on lines that start with `WIT ` and exits with code 3 on a failure it has explained. It
runs on Blender's own Python, so it imports nothing of witengine.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import bpy  # type: ignore[import-not-found]  # Blender's own module, there only

GPU_BACKENDS = ("OPTIX", "CUDA", "HIP", "METAL", "ONEAPI")
EXPLAINED = 3
FILE_OUTPUT = "CompositorNodeOutputFile"
PACK_ADVICE = (
    "pack them into the .blend in Blender (File > External Data > Pack Resources; bake caches "
    "into it) or submit it with wit run, which packs what it can"
)
WRITE_ADVICE = (
    "give each File Output node a relative path inside the scene's folder (such as //passes/, "
    "without template variables) or remove it: a node sends back only the rendered frames"
)


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


def _inside(path: str, folder: str) -> bool:
    """Whether a path leads into the folder, once every link on the way is followed."""
    return Path(path).resolve().is_relative_to(Path(folder).resolve())


def _absolute(written: str) -> bool:
    """An absolute path as written (of this system or of Windows): refused wherever it leads."""
    return not written.startswith("//") and (
        Path(written).is_absolute() or written.startswith(("/", "\\")) or written[1:2] == ":"
    )


def _there(reference: dict[str, Any]) -> bool:
    full = Path(reference["full"])
    return full.parent.is_dir() if reference["folder"] else full.exists()


def _point_caches() -> list[tuple[str, Any]]:
    """Every point cache (particles, cloth, soft bodies, dynamic paint, rigid bodies) with its
    owner's name: Blender's own list of a file's paths leaves them out."""
    found: list[tuple[str, Any]] = []
    for ob in bpy.data.objects:
        for modifier in ob.modifiers:
            if getattr(modifier, "point_cache", None) is not None:
                found.append((modifier.name, modifier.point_cache))
            canvas = getattr(modifier, "canvas_settings", None)
            for surface in getattr(canvas, "canvas_surfaces", None) or ():
                found.append((surface.name, surface.point_cache))
        for system in ob.particle_systems:
            found.append((system.name, system.point_cache))
    for scene in bpy.data.scenes:
        world = scene.rigidbody_world
        if world is not None and world.point_cache is not None:
            found.append((scene.name, world.point_cache))
    return found


def references() -> list[dict[str, Any]]:
    """Every path Blender would read a file at for this scene, packed files left out: each
    with its kind, its owner's name, the path as written, where it leads, and whether it is a
    folder of files (a sequence, UDIM tiles) or a cache folder Blender writes itself."""
    found: list[dict[str, Any]] = []

    def note(kind: str, block: Any, folder: bool = False) -> None:
        path = getattr(block, "filepath", "")
        if not path or path.startswith("<") or getattr(block, "packed_file", None) is not None:
            return
        full = bpy.path.abspath(path, library=getattr(block, "library", None))
        found.append(
            {
                "kind": kind,
                "name": block.name,
                "path": path,
                "full": full,
                "folder": folder,
                "cache": False,
            }
        )

    for image in bpy.data.images:
        if image.source in {"FILE", "MOVIE", "SEQUENCE", "TILED"}:
            note("image", image, folder=image.source in {"SEQUENCE", "TILED"})
    for library in bpy.data.libraries:
        note("library", library)
    for kind, blocks in (
        ("font", bpy.data.fonts),
        ("sound", bpy.data.sounds),
        ("movie clip", bpy.data.movieclips),
        ("volume", bpy.data.volumes),
        ("cache file", bpy.data.cache_files),
    ):
        for block in blocks:
            note(kind, block)
    for owner, cache in _point_caches():
        if cache.use_external:
            found.append(
                {
                    "kind": "point cache",
                    "name": owner,
                    "path": cache.filepath,
                    "full": bpy.path.abspath(cache.filepath),
                    "folder": True,
                    "cache": True,
                }
            )
    # Blender's own list of the file's paths (modifiers' caches, shader nodes' files, the
    # sequencer's strips, linked data's own files): whatever the lists above do not name.
    written = bpy.utils.blend_paths(absolute=False, packed=False, local=False)
    full = bpy.utils.blend_paths(absolute=True, packed=False, local=False)
    texts = {bpy.path.abspath(text.filepath) for text in bpy.data.texts if text.filepath}
    named = {item["full"] for item in found}
    for index, path in enumerate(full):
        if path in named or path in texts:  # a text is read from the scene, never its file
            continue
        as_written = written[index] if len(written) == len(full) else path
        found.append(
            {
                "kind": "file",
                "name": "",
                "path": as_written,
                "full": path,
                "folder": True,
                "cache": True,
            }
        )
    return found


def _named(items: list[dict[str, Any]]) -> str:
    def one(r: dict[str, Any]) -> str:
        if not r["name"]:
            return str(r["path"])
        owner = f" in {r['owner']}" if r.get("owner") else ""
        return f"{r['path']} ({r['kind']} '{r['name']}'{owner})"

    return ", ".join(one(r) for r in items[:20]) + (
        f" and {len(items) - 20} more" if len(items) > 20 else ""
    )


def check_files(name: str, folder: str) -> None:
    """Fail unless every file the scene refers to is in its run folder: one outside it is
    refused whether or not it is there (so that the answer tells nothing of this machine's
    files); one inside it must be there, unless it is a cache folder Blender makes."""
    found = references()
    outside = [r for r in found if _absolute(r["path"]) or not _inside(r["full"], folder)]
    missing = [r for r in found if r not in outside and not r["cache"] and not _there(r)]
    if outside:
        fail(
            "outside-files",
            f"the scene {name} refers to files outside itself, which a node never reads: "
            f"{_named(outside)}; {PACK_ADVICE}",
            files=[{k: r[k] for k in ("kind", "name", "path")} for r in outside],
        )
    if missing:
        fail(
            "missing-files",
            f"the scene {name} uses files that are missing: {_named(missing)}",
            files=[{k: r[k] for k in ("kind", "name", "path")} for r in missing],
        )


def _joined(base: str, tail: str) -> str:
    """A path under a base path, as Blender joins them (a separator between, never dropped)."""
    if not base or not tail:
        return base or tail
    return base + ("" if base.endswith(("/", "\\")) else "/") + tail


def _written_paths(node: Any) -> list[str]:
    """Every path a File Output node may write to, as the scene writes it: its base path joined
    with each slot's path (before Blender 5.0), or its directory and file name with each item's
    name (since). A node of a layout this does not know writes where nothing can tell."""
    if hasattr(node, "base_path"):
        slots = [_joined(node.base_path, slot.path) for slot in node.file_slots]
        return slots or [node.base_path]
    if not hasattr(node, "directory"):
        return ["{unknown}"]
    base = _joined(node.directory, getattr(node, "file_name", "") or "")
    items = [item.name for item in getattr(node, "file_output_items", ())]
    return [path for name in items for path in (base + name, _joined(base, name))] or [base]


def file_outputs() -> list[dict[str, Any]]:
    """Every compositor File Output node's paths, in every scene's compositing tree and every
    node group, used or not: each with the node's name, what holds it, the path as written and
    where it leads."""
    trees = [(f"scene '{s.name}'", s.node_tree) for s in bpy.data.scenes if s.node_tree]
    trees += [(f"node group '{group.name}'", group) for group in bpy.data.node_groups]
    found: list[dict[str, Any]] = []
    for owner, tree in trees:
        for node in tree.nodes:
            if node.bl_idname != FILE_OUTPUT:
                continue
            for path in dict.fromkeys(_written_paths(node)):
                full = bpy.path.abspath(path, library=getattr(tree, "library", None))
                found.append(
                    {
                        "kind": "file output",
                        "name": node.name,
                        "owner": owner,
                        "path": path,
                        "full": full,
                    }
                )
    return found


def check_writes(name: str, folder: str) -> None:
    """Fail unless every File Output node writes inside the run folder, once every link on the
    way is followed: an absolute path, or one with a template variable (whose value the scene
    chooses), is refused wherever it leads."""
    outside = [
        r
        for r in file_outputs()
        if _absolute(r["path"]) or "{" in r["path"] or not _inside(r["full"], folder)
    ]
    if outside:
        fail(
            "outside-files",
            f"the scene {name} writes files outside itself, which a node never allows: "
            f"{_named(outside)}; {WRITE_ADVICE}",
            files=[{k: r[k] for k in ("kind", "name", "owner", "path")} for r in outside],
        )


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
    """Render only the tile, with its padding, cropped to it (or only a crop of the frame,
    given as x, y, width, height: a trusted node's check of another's render); where it sits
    in the frame."""
    render = scene.render
    width = render.resolution_x * render.resolution_percentage // 100
    height = render.resolution_y * render.resolution_percentage // 100
    if "x" in tile:
        left, top = tile["x"], tile["y"]
        right, bottom = left + tile["width"], top + tile["height"]
        if not (0 <= left < right <= width and 0 <= top < bottom <= height):
            fail(
                "failed",
                f"the crop {tile['width']}x{tile['height']} at ({left}, {top}) is not inside "
                f"the {width}x{height} frame",
            )
        x0, y0, x1, y1 = left, top, right, bottom
    else:
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
    check_files(settings.get("name") or "scene.blend", settings["folder"])
    check_writes(settings.get("name") or "scene.blend", settings["folder"])
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
