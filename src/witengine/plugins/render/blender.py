"""Rendering frames with Blender on this machine: one process per run of frames of one scene
with the same options, so the scene loads once; each image is checked and handed back the
moment Blender has written it.

If Blender dies in the middle of a run (a crash, the memory), the frame it was rendering fails
and the frames after it get a fresh process; a failure that would repeat (a missing file, a
scene it cannot read, no such device) fails every frame of the run at once.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from witengine.plugins.render.command import (
    BlenderRun,
    TileCell,
    blender_command,
    blender_environment,
    run_folders,
    setup_settings,
)
from witengine.plugins.render.errors import RenderError, RenderFailure
from witengine.plugins.render.images import ImageDefect, image_facts
from witengine.plugins.render.progress import (
    ImageSaved,
    OutputReader,
    SceneReported,
    SetupFailed,
    classify,
)
from witengine.plugins.render.types import Frame, Image, RenderOptions, Scene, Tile, TileImage
from witengine.runtime.invoke import ActivityContext

SETUP_SCRIPT = Path(__file__).with_name("blender_setup.py")
Outcome = tuple[int, Image | RenderError]  # a frame's position in the batch, and its result
# Failures that cost only the frame in progress (the rest go to a fresh process); any other
# failure would happen again, so it fails every frame left in the run.
_FRAME_FAILURES = (RenderFailure.CRASHED, RenderFailure.OUT_OF_MEMORY)


def render_frames(context: ActivityContext, frames: Sequence[Frame | Tile]) -> Iterator[Outcome]:
    """Render frames (or tiles of frames); yield each one's image, or why it failed, as soon as
    it is known."""
    blender = shutil.which("blender")
    if blender is None:
        error = RenderError(
            RenderFailure.NO_BLENDER,
            "Blender is not installed on this machine (scripts/bootstrap.sh blender installs it)",
        )
        yield from ((position, error) for position in range(len(frames)))
        return
    runs: dict[tuple[Scene, RenderOptions, TileCell | None], dict[int, list[int]]] = {}
    for position, item in enumerate(frames):
        frame, cell = (item.frame, _cell(item)) if isinstance(item, Tile) else (item, None)
        run = runs.setdefault((frame.scene, frame.options, cell), {})
        run.setdefault(frame.number, []).append(position)
    for (scene, options, cell), positions in runs.items():
        yield from _render_run(context, blender, scene, options, positions, cell)


def _cell(tile: Tile) -> TileCell:
    return TileCell(tile.column, tile.row, tile.columns, tile.rows, tile.padding)


def _render_run(
    context: ActivityContext,
    blender: str,
    scene: Scene,
    options: RenderOptions,
    positions: dict[int, list[int]],  # frame number -> its positions in the batch
    cell: TileCell | None = None,
) -> Iterator[Outcome]:
    folder = Path(tempfile.mkdtemp(prefix="render-", dir=context.work_dir))
    try:
        scene_file = folder / "scene.blend"  # relative paths in the scene start here
        scene_file.symlink_to(context.file(scene))
        waiting = list(positions)
        while waiting:
            run = BlenderRun(
                scene_file, tuple(waiting), options, folder, SETUP_SCRIPT, context.threads, cell
            )
            process = _BlenderProcess(context, blender, run, scene.name or "the scene")
            for number, result in process.images():
                waiting.remove(number)
                yield from ((position, result) for position in positions[number])
            if process.failure is None:
                break
            error, frame = process.failure
            alone = error.failure in _FRAME_FAILURES and frame in waiting
            for number in [frame] if alone and frame is not None else list(waiting):
                waiting.remove(number)
                yield from ((position, error) for position in positions[number])
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class _BlenderProcess:
    """One Blender process for one run; after `images()`, `failure` says why it wrote fewer
    frames than asked for (with the frame in progress), or is None."""

    def __init__(self, context: ActivityContext, blender: str, run: BlenderRun, name: str) -> None:
        self.context = context
        self.blender = blender
        self.run = run
        self.name = name
        self.failure: tuple[RenderError, int | None] | None = None

    def images(self) -> Iterator[tuple[int, Image | RenderError]]:
        """Each frame Blender writes, checked, as it writes it."""
        run = self.run
        for made in run_folders(run):
            made.mkdir(parents=True, exist_ok=True)
        run.config.write_text(json.dumps(setup_settings(run)))
        reader = OutputReader()
        scene: SceneReported | None = None
        explained: RenderError | None = None
        left = set(run.frames)
        process = subprocess.Popen(
            blender_command(self.blender, run),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=blender_environment(os.environ, run),
            cwd=run.folder,
            text=True,
            errors="replace",
        )
        try:
            assert process.stdout is not None
            for line in process.stdout:
                event = reader.read(line)
                if isinstance(event, SceneReported):
                    scene = event
                elif isinstance(event, SetupFailed):
                    explained = event.error
                elif isinstance(event, ImageSaved) and scene is not None:
                    number = _frame_of(event.path, scene)
                    if number is not None and number in left:
                        left.discard(number)
                        yield number, _checked_image(self.context, event.path, number, scene, run)
            code = process.wait()
        finally:
            if process.poll() is None:  # the batch was abandoned: Blender stops with it
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()
        if left:
            error = explained or classify(code, reader.last, reader.frame, self.name, list(left))
            self.failure = (error, reader.frame)


def _frame_of(path: str, scene: SceneReported) -> int | None:
    saved = Path(path).resolve()
    return next((n for n, p in scene.paths.items() if Path(p).resolve() == saved), None)


def _checked_image(
    context: ActivityContext, written: str, number: int, scene: SceneReported, run: BlenderRun
) -> Image | RenderError:
    """The written image as a blob, if it is whole and of the size the scene gives."""
    where = f"frame {number}"
    path = Path(written)
    try:
        facts = image_facts(path.read_bytes(), run.options.format)
    except OSError as error:
        return RenderError(RenderFailure.BAD_IMAGE, f"{where}: cannot read {path.name}: {error}")
    except ImageDefect as defect:
        return RenderError(RenderFailure.BAD_IMAGE, f"{where}: {path.name} is damaged: {defect}")
    if (facts.width, facts.height) != (scene.width, scene.height):
        return RenderError(
            RenderFailure.BAD_IMAGE,
            f"{where}: {path.name} is {facts.width}x{facts.height} pixels, not the "
            f"{scene.width}x{scene.height} the scene gives",
        )
    cell, region = run.tile, scene.region
    suffix = "" if cell is None else f"_tile_{cell.row}_{cell.column}"
    blob = context.save_file(path, f"frame_{number:05d}{suffix}.{run.options.extension}")
    with contextlib.suppress(OSError):
        path.unlink()  # stored: the run's folder need not keep a second copy
    if cell is not None and region is not None:
        x, y, width, height = (int(value) for value in region["inner"])
        return TileImage(
            blob.sha256,
            blob.size,
            blob.name,
            frame=number,
            width=facts.width,
            height=facts.height,
            fps=scene.fps,
            column=cell.column,
            row=cell.row,
            x=int(region["x"]),
            y=int(region["y"]),
            inner=(x, y, width, height),
            full_width=int(region["full_width"]),
            full_height=int(region["full_height"]),
        )
    return Image(
        blob.sha256,
        blob.size,
        blob.name,
        frame=number,
        width=facts.width,
        height=facts.height,
        fps=scene.fps,
    )
