"""The sample animated scene (the repository's scripts/make_sample_scene.py) made by Blender, for
the render tests and benchmarks, which run from a checkout of the repository.

It only makes the file; whether Blender is installed is for the caller to check (and skip).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "make_sample_scene.py"


def make_sample_scene(
    path: Path,
    *,
    frames: int,
    width: int,
    height: int,
    samples: int,
    extra: tuple[str, ...] = (),
    blender: str = "blender",
) -> Path:
    """Make the scene at `path` with Blender (`blender`: the program, the one on PATH unless
    named); `extra` are more of the script's options, such as
    `("--missing-texture", "/nowhere/wood.png")`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            *(blender, "-b", "--factory-startup", "-noaudio", "--python-exit-code", "1"),
            *("-P", str(SCRIPT), "--", str(path)),
            *("--frames", str(frames), "--width", str(width), "--height", str(height)),
            *("--samples", str(samples), *extra),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return path
