"""Blender's command line over the `bpy` module (Blender 4.5 from PyPI), for the add-on's tests:
`.venv-bpy/bin/python bpy_blender.py ARGS` does what `blender ARGS` would with the arguments the
tests, the add-on and a node give Blender, in their order:

    --version | -b | --factory-startup | -noaudio | -Y | --python-exit-code N | FILE.blend
    | -o PATH | -F FORMAT | -x 0/1 | -t N | -P/--python SCRIPT | --python-expr CODE
    | -f LIST | -a | -- ARGS (for the scripts, in sys.argv after "--")

A script runs with `sys.argv` as Blender gives it (its arguments after `--`).
`bpy.app.binary_path` is set to `BLENDER_SHIM` when given (in the module it is empty and
writable), so the add-on's own Blender subprocesses (packing the scene) run this same Blender.
Without `--factory-startup` the user's preferences are read first, as Blender does on starting
(the module starts with the factory's). The module has no event loop (timers never fire: the
test driver calls the add-on's timer as the loop would) and no window manager UI. The process
ends with os._exit, as the module can hang in its exit handlers.
"""

from __future__ import annotations

import os
import runpy
import sys
import traceback
from collections.abc import Callable
from typing import Any


def frame_list(text: str) -> list[int]:
    frames: list[int] = []
    for part in text.split(","):
        start, _, end = part.partition("..")
        frames.extend(range(int(start), int(end or start) + 1))
    return frames


def set_threads(bpy: Any, value: str) -> None:
    render = bpy.context.scene.render
    render.threads_mode = "AUTO" if value == "0" else "FIXED"
    if value != "0":
        render.threads = int(value)


def render_frames(bpy: Any, value: str) -> None:
    scene = bpy.context.scene
    pattern = scene.render.filepath
    for number in frame_list(value):
        scene.frame_set(number)
        scene.render.filepath = scene.render.frame_path(frame=number)
        bpy.ops.render.render(write_still=True)
        scene.render.filepath = pattern


def run_python(arg: str, value: str) -> int | None:
    """Run a script (or an expression): the code it exits with, None when it ends well."""
    try:
        if arg == "--python-expr":
            exec(compile(value, "<string>", "exec"), {"__name__": "__main__"})
        else:
            runpy.run_path(value, run_name="__main__")
    except SystemExit as stop:
        if stop.code not in (None, 0):
            return stop.code if isinstance(stop.code, int) else 1
    except Exception:
        traceback.print_exc()
        return -1
    return None


def run(args: list[str]) -> int:
    import bpy  # type: ignore[import-not-found]

    if "--version" in args:
        print(f"Blender {bpy.app.version_string}")
        return 0
    if os.environ.get("BLENDER_SHIM"):
        bpy.app.binary_path = os.environ["BLENDER_SHIM"]
    if "--factory-startup" not in args:  # Blender starts with the user's preferences; the
        bpy.ops.wm.read_userpref()  # module with the factory's
    rest = args[args.index("--") + 1 :] if "--" in args else []
    args = args[: args.index("--")] if "--" in args else args
    taking_value: dict[str, Callable[[str], None]] = {  # options followed by a value
        "-o": lambda value: setattr(bpy.context.scene.render, "filepath", value),
        "-F": lambda value: setattr(bpy.context.scene.render.image_settings, "file_format", value),
        "-x": lambda value: setattr(bpy.context.scene.render, "use_file_extension", value == "1"),
        "-t": lambda value: set_threads(bpy, value),
        "-f": lambda value: render_frames(bpy, value),
    }
    exit_code, index = 0, 0
    while index < len(args):
        arg, value = args[index], args[index + 1] if index + 1 < len(args) else ""
        index += 1
        if arg in ("-b", "--background", "-noaudio", "-Y"):
            continue
        if arg == "--factory-startup":
            bpy.ops.wm.read_factory_settings(use_empty=False)
        elif arg == "--python-exit-code":
            exit_code, index = int(value), index + 1
        elif arg.endswith(".blend"):
            bpy.ops.wm.open_mainfile(filepath=arg, load_ui=False)
        elif arg == "-a":
            bpy.ops.render.render(animation=True)
        elif arg in taking_value:
            taking_value[arg](value)
            index += 1
        elif arg in ("-P", "--python", "--python-expr"):
            index += 1
            sys.argv = [sys.executable, *args[:index], "--", *rest]
            failed = run_python(arg, value)
            if failed is not None and (failed != -1 or exit_code):
                return exit_code if failed == -1 else failed
        else:
            print(f"bpy_blender: unknown argument {arg!r}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    code = run(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
