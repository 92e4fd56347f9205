"""Runs inside Blender on the machine that submits a job: `blender --factory-startup -Y -b
scene.blend -P blender_pack.py -- report.json [packed.blend]`.

It lists every external file the scene uses (images, linked libraries, fonts, sounds, volumes,
movie clips, cache files) with whether it is there. When all are there and a second path is
given, it packs them into the scene (linked libraries first, then everything else), and saves a
copy there; whatever still points outside the copy afterwards (an image sequence, an Alembic
cache, a library's own textures) is reported as unpackable, and nothing is saved. It runs on
Blender's own Python, so it imports nothing of witengine. The report is JSON:

    {"files": [{"kind", "name", "path", "absolute", "exists"}], "unpackable": [...], "saved": bool}
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import bpy  # type: ignore[import-not-found]  # Blender's own module, there only

# Image sources that name files; SEQUENCE and TILED name a folder of them, which cannot be packed
# in Blender 3.x (sequences) or are checked by their folder (UDIM tiles).
_FILE_SOURCES = {"FILE", "MOVIE", "SEQUENCE", "TILED"}


def _used(block: Any) -> bool:
    return bool(block.users) and not (block.users == 1 and getattr(block, "use_fake_user", False))


def external_files() -> list[dict[str, Any]]:
    """Every used data-block that reads a file outside the .blend."""
    found: list[dict[str, Any]] = []

    def note(kind: str, block: Any, whole_folder: bool = False) -> None:
        path = getattr(block, "filepath", "")
        if not path or path.startswith("<") or getattr(block, "packed_file", None) is not None:
            return
        full = Path(bpy.path.abspath(path, library=getattr(block, "library", None)))
        there = full.parent.is_dir() if whole_folder else full.is_file()
        found.append(
            {
                "kind": kind,
                "name": block.name,
                "path": path,
                "absolute": str(full),
                "exists": there,
            }
        )

    for image in bpy.data.images:
        if _used(image) and image.source in _FILE_SOURCES:
            note("image", image, whole_folder=image.source in {"SEQUENCE", "TILED"})
    for library in bpy.data.libraries:
        note("library", library)
    for kind, blocks in (
        ("font", bpy.data.fonts),
        ("sound", bpy.data.sounds),
        ("volume", bpy.data.volumes),
        ("movie clip", bpy.data.movieclips),
        ("cache file", bpy.data.cache_files),
    ):
        for block in blocks:
            if _used(block):
                note(kind, block)
    return found


def pack_into(target: str) -> list[dict[str, Any]]:
    """Pack everything packable, save a copy at `target`; what could not be packed, if any."""
    if bpy.data.libraries:
        bpy.ops.file.pack_libraries()
    bpy.ops.file.pack_all()
    left = external_files()
    if not left:
        bpy.ops.wm.save_as_mainfile(filepath=target, copy=True, compress=False)
    return left


def main() -> None:
    arguments = sys.argv[sys.argv.index("--") + 1 :]
    report, target = Path(arguments[0]), (arguments[1] if len(arguments) > 1 else None)
    files = external_files()
    unpackable: list[dict[str, Any]] = []
    saved = False
    if target is not None and files and all(file["exists"] for file in files):
        unpackable = pack_into(target)
        saved = not unpackable
    report.write_text(json.dumps({"files": files, "unpackable": unpackable, "saved": saved}))


main()
