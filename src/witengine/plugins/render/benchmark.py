"""The render benchmark: how many pixel-samples per second this machine renders.

One Blender process builds a tiny scene (`blender_benchmark.py`) and renders a few frames of it
with Cycles on the CPU, as a node renders a batch: the scene's start-up is in the measure, shared
by the frames, like a batch's. The work is pixels times samples per pixel times frames, the unit
in which `Renderer.RenderFrame` estimates each frame (`Frame.pixel_samples`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from witengine.plugins.render.command import isolated_environment
from witengine.plugins.render.errors import RenderError, RenderFailure
from witengine.plugins.render.images import ImageDefect, png_facts
from witengine.runtime.context import ActivityContext

PIXEL_SAMPLES = "pixel-samples@1"
SCRIPT = Path(__file__).with_name("blender_benchmark.py")
WIDTH, HEIGHT, SAMPLES, FRAMES = 96, 54, 32, 4
TIMEOUT = 300.0


def benchmark_render(context: ActivityContext) -> float:
    """Render the benchmark's frames; the pixel-samples rendered (RenderError if Blender fails
    or writes a wrong image)."""
    blender = shutil.which("blender")
    if blender is None:
        raise RenderError(RenderFailure.NO_BLENDER, "Blender is not installed on this machine")
    folder = Path(tempfile.mkdtemp(prefix="render-benchmark-", dir=context.work_dir))
    try:
        for sub in ("config", "scripts", "tmp", "out"):
            (folder / sub).mkdir()
        command = [
            blender,
            "--factory-startup",
            "-noaudio",
            "-b",
            "--python-exit-code",
            "1",
            "-P",
            str(SCRIPT),
            "-o",
            str(folder / "out" / "frame_#####"),
            "-F",
            "PNG",
            "-x",
            "1",
            "-t",
            str(context.threads or 0),
            "-f",
            f"1..{FRAMES}",
            "--",
            str(WIDTH),
            str(HEIGHT),
            str(SAMPLES),
        ]
        done = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            env=isolated_environment(os.environ, folder),
            cwd=folder,
            timeout=TIMEOUT,
            check=False,
        )
        _check_frames(folder / "out", done)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return float(WIDTH * HEIGHT * SAMPLES * FRAMES)


def _check_frames(out: Path, done: subprocess.CompletedProcess[str]) -> None:
    for number in range(1, FRAMES + 1):
        image = out / f"frame_{number:05d}.png"
        try:
            facts = png_facts(image.read_bytes())
        except (OSError, ImageDefect) as error:
            said = " | ".join(done.stdout.strip().splitlines()[-3:])
            raise RenderError(
                RenderFailure.FAILED,
                f"the render benchmark's frame {number} is missing or damaged ({error}); "
                f"Blender exited with code {done.returncode}: {said}",
            ) from None
        if (facts.width, facts.height) != (WIDTH, HEIGHT):
            raise RenderError(
                RenderFailure.BAD_IMAGE,
                f"the render benchmark's frame {number} is {facts.width}x{facts.height}, "
                f"not {WIDTH}x{HEIGHT}",
            )
