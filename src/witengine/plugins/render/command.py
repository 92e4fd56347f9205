"""How a node starts Blender for a run of frames: the command line, the environment and the
settings the setup script reads. Pure: nothing here starts a process or touches a file.

One process renders every frame of a run, so the scene loads once:

    blender --factory-startup -noaudio -Y -b --python-exit-code 1 scene.blend
        -o out/frame_##### -F PNG -x 1 -t 2 -P blender_setup.py -f 1..24,30 -- config.json

The order matters to Blender, which acts on its arguments one by one: the exit-code option
before the script it governs, the output options after the scene they change and before the
script (which reports the paths they give) and `-f`, which renders.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from witengine.plugins.render.frames import blender_frame_list
from witengine.plugins.render.types import RenderOptions

OUTPUT_PATTERN = "frame_#####"
SETUP_FAILED = 3  # the exit code of blender_setup.py after a failure it explained
# Variables that could make Blender load someone's add-ons, startup file or Python packages.
_DROPPED = ("BLENDER_", "PYTHON", "VIRTUAL_ENV")


class TileCell(NamedTuple):
    """Which tile of a frame a run renders (see types.Tile)."""

    column: int
    row: int
    columns: int
    rows: int
    padding: int


class CropBox(NamedTuple):
    """A rectangle of a frame that a run renders alone, in pixels from the frame's top left:
    a trusted node's check of an untrusted node's render of the frame."""

    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True)
class BlenderRun:
    """One Blender process: a scene, frames, options and where things go."""

    scene: Path
    frames: Sequence[int]
    options: RenderOptions
    folder: Path  # private to this run: user config, temporary files, output
    setup: Path
    threads: int | None = None  # None or 0: every core
    tile: TileCell | CropBox | None = None  # render this tile or crop of each frame alone
    serve: bool = False  # no -f: render the frames each line of standard input asks for
    name: str = ""  # the scene's name in messages (its file's, as the job was given it)

    @property
    def output(self) -> Path:
        return self.folder / "out"

    @property
    def config(self) -> Path:
        return self.folder / "config.json"


def blender_command(blender: str, run: BlenderRun) -> list[str]:
    return [
        blender,
        "--factory-startup",
        "-noaudio",
        "-Y",  # never run Python that a .blend carries
        "-b",
        "--python-exit-code",
        "1",
        str(run.scene),
        "-o",
        str(run.output / OUTPUT_PATTERN),
        "-F",
        run.options.format,
        "-x",
        "1",
        "-t",
        str(run.threads or 0),
        "-P",
        str(run.setup),
        *(() if run.serve else ("-f", blender_frame_list(run.frames))),
        "--",
        str(run.config),
    ]


def blender_environment(base: Mapping[str, str], run: BlenderRun) -> dict[str, str]:
    """This process's environment without what could change Blender's behaviour, and with a
    user configuration and temporary folder of the run's own."""
    return isolated_environment(base, run.folder)


def isolated_environment(base: Mapping[str, str], folder: Path) -> dict[str, str]:
    """`base` without what could change Blender's behaviour, with a user configuration and
    temporary folder under `folder` (the caller's, for this one process)."""
    environment = {k: v for k, v in base.items() if not k.startswith(_DROPPED)}
    for name, sub in (
        ("BLENDER_USER_CONFIG", "config"),
        ("BLENDER_USER_SCRIPTS", "scripts"),
        ("BLENDER_USER_DATAFILES", "datafiles"),
        ("TMPDIR", "tmp"),
        ("TEMP", "tmp"),
        ("TMP", "tmp"),
    ):
        environment[name] = str(folder / sub)
    environment["PYTHONNOUSERSITE"] = "1"
    return environment


def run_folders(run: BlenderRun) -> list[Path]:
    """The folders a run needs before Blender starts."""
    return [run.output, run.folder / "config", run.folder / "scripts", run.folder / "tmp"]


def setup_settings(run: BlenderRun) -> dict[str, Any]:
    """What blender_setup.py reads from config.json."""
    return {
        "frames": list(run.frames),
        "engine": run.options.engine,
        "samples": run.options.samples,
        "percent": run.options.percent,
        "device": run.options.device,
        "tile": None if run.tile is None else run.tile._asdict(),
        "serve": run.serve,
        "name": run.name or run.scene.name,
        # What Blender may read besides the scene's packed files: its own run folder.
        "folder": str(run.folder),
    }
