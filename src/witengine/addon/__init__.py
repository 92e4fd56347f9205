"""The Blender add-on `witengine_blender`: its files (blender/, run by Blender's own Python and
never imported here), and the two packages built from them, a legacy add-on zip and a Blender
4.2+ extension zip with its `blender_manifest.toml`; and its installation into a user's Blender.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

from witengine import __version__
from witengine.errors import WitError

PACKAGE = "witengine_blender"
SOURCE = Path(__file__).with_name("blender")
# Packing runs the same Blender script `wit run` packs a scene with.
PACK_SCRIPT = Path(__file__).parents[1] / "plugins" / "render" / "blender_pack.py"
EXTENSION_MIN = "4.2.0"
FIND_SECONDS = 120.0


class AddonError(WitError):
    """The add-on could not be built or installed; the message says why."""


def manifest(version: str = __version__) -> str:
    """The extension's `blender_manifest.toml` (schema 1.0.0)."""
    return f"""\
schema_version = "1.0.0"

id = "{PACKAGE}"
version = "{version}"
name = "witengine"
tagline = "Render the scene on a witengine farm and bring the frames back"
maintainer = "witengine"
type = "add-on"
website = "https://github.com/witengine/witengine"
tags = ["Render"]
blender_version_min = "{EXTENSION_MIN}"
license = ["SPDX:Apache-2.0"]

[permissions]
network = "Sends the scene to your witengine hub and follows the job"
files = "Saves a packed copy of the scene and writes the frames back"
"""


def files() -> dict[str, Path]:
    """The add-on's files, by their name inside the package."""
    found = {p.name: p for p in sorted(SOURCE.glob("*.py"))}
    found["blender_pack.py"] = PACK_SCRIPT
    return found


def build(out: Path) -> tuple[Path, Path]:
    """Build the legacy add-on zip (a folder `witengine_blender/`) and the extension zip (the
    files at its top, with the manifest) in `out`; their paths."""
    out.mkdir(parents=True, exist_ok=True)
    legacy = out / f"{PACKAGE}-{__version__}.zip"
    extension = out / f"{PACKAGE}-{__version__}-extension.zip"
    with zipfile.ZipFile(legacy, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, path in files().items():
            archive.write(path, f"{PACKAGE}/{name}")
    with zipfile.ZipFile(extension, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("blender_manifest.toml", manifest())
        for name, path in files().items():
            archive.write(path, name)
    return legacy, extension


def addons_folder(blender: str) -> Path:
    """The user's add-on folder of that Blender (BLENDER_USER_SCRIPTS is honoured by it)."""
    expression = (
        "import bpy; print('WITADDONS=' + bpy.utils.user_resource('SCRIPTS', path='addons'))"
    )
    try:
        done = subprocess.run(
            [blender, "-b", "--factory-startup", "-noaudio", "--python-expr", expression],
            capture_output=True,
            text=True,
            timeout=FIND_SECONDS,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise AddonError(f"cannot run Blender at {blender}: {error}") from None
    for line in done.stdout.splitlines():
        if line.startswith("WITADDONS="):
            return Path(line.removeprefix("WITADDONS="))
    raise AddonError(f"Blender at {blender} did not say where its add-ons go: {done.stderr[-500:]}")


def install(blender: str | None = None, enable: bool = True) -> Path:
    """Install the add-on into the user's add-on folder of `blender` (the one on PATH), and
    enable it in the user's preferences; the folder it went to."""
    program = blender or shutil.which("blender")
    if program is None:
        raise AddonError("Blender is not on PATH; name it with --blender PATH")
    target = addons_folder(program) / PACKAGE
    with tempfile.TemporaryDirectory(prefix="wit-addon-") as scratch:
        legacy, _ = build(Path(scratch))
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(legacy) as archive:
            archive.extractall(target.parent)
    if enable:
        expression = (
            f"import bpy; bpy.ops.preferences.addon_enable(module='{PACKAGE}'); "
            "bpy.ops.wm.save_userpref()"
        )
        done = subprocess.run(
            [program, "-b", "-noaudio", "--python-exit-code", "1", "--python-expr", expression],
            capture_output=True,
            text=True,
            timeout=FIND_SECONDS,
        )
        if done.returncode != 0:
            raise AddonError(f"Blender could not enable the add-on: {done.stderr[-500:]}")
    return target
