"""Rendering frames with Blender on this machine: one serving Blender process per scene and
options, which loads the scene once and renders batch after batch of its frames as the node is
given them (kept between batches, closed after a minute without one or when another scene comes);
each image is checked and handed back the moment Blender has written it.

If Blender dies in the middle of a batch (a crash, the memory), the frame it was rendering fails
and the frames after it get a fresh process; a failure that would repeat (a missing file, a
scene it cannot read, no such device) fails every frame of the batch at once.

A scene is checked before Blender opens it (references.py): one that refers to a file outside
the run's own folder fails every frame of it, and Blender never sees it.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from witengine.lifetime import die_with_parent
from witengine.plugins.render.command import (
    BlenderRun,
    CropBox,
    TileCell,
    blender_command,
    blender_environment,
    run_folders,
    setup_settings,
)
from witengine.plugins.render.errors import RenderError, RenderFailure
from witengine.plugins.render.images import ImageDefect, image_facts
from witengine.plugins.render.progress import (
    BatchDone,
    ImageSaved,
    OutputReader,
    PathsReported,
    SceneReported,
    SetupFailed,
    classify,
)
from witengine.plugins.render.references import check_scene
from witengine.plugins.render.types import Frame, Image, RenderOptions, Scene, Tile, TileImage
from witengine.runtime.context import ActivityContext

SETUP_SCRIPT = Path(__file__).with_name("blender_setup.py")
Outcome = tuple[int, Image | RenderError]  # a frame's position in the batch, and its result
# Failures that cost only the frame in progress (the rest go to a fresh process); any other
# failure would happen again, so it fails every frame left in the run.
_FRAME_FAILURES = (RenderFailure.CRASHED, RenderFailure.OUT_OF_MEMORY)


@dataclass(frozen=True)
class FrameCrop:
    """A crop of a frame to render alone (a trusted node's check of another's render)."""

    frame: Frame
    box: CropBox


Region = TileCell | CropBox  # what part of the frame a run renders, when not all of it


def render_frames(
    context: ActivityContext, frames: Sequence[Frame | Tile | FrameCrop]
) -> Iterator[Outcome]:
    """Render frames (or tiles or crops of frames); yield each one's image, or why it failed,
    as soon as it is known."""
    blender = shutil.which("blender")
    if blender is None:
        error = RenderError(
            RenderFailure.NO_BLENDER,
            "Blender is not installed on this machine (scripts/bootstrap.sh blender installs it)",
        )
        yield from ((position, error) for position in range(len(frames)))
        return
    runs: dict[tuple[Scene, RenderOptions, Region | None], dict[int, list[int]]] = {}
    for position, item in enumerate(frames):
        frame, cell = _region(item)
        run = runs.setdefault((frame.scene, frame.options, cell), {})
        run.setdefault(frame.number, []).append(position)
    for (scene, options, cell), positions in runs.items():
        yield from _render_run(context, blender, scene, options, positions, cell)


def _region(item: Frame | Tile | FrameCrop) -> tuple[Frame, Region | None]:
    if isinstance(item, Tile):
        return item.frame, TileCell(item.column, item.row, item.columns, item.rows, item.padding)
    if isinstance(item, FrameCrop):
        return item.frame, item.box
    return item, None


def _render_run(
    context: ActivityContext,
    blender: str,
    scene: Scene,
    options: RenderOptions,
    positions: dict[int, list[int]],  # frame number -> its positions in the batch
    cell: Region | None = None,
) -> Iterator[Outcome]:
    name = scene.name or "scene.blend"
    failed: RenderError | None = None
    try:
        # Before Blender opens it: Blender reads a linked library as it opens a scene.
        check_scene(context.file(scene), name, absent=False)  # read once, then remembered
    except RenderError as refused:
        failed = refused
    if failed is not None:
        for number in positions:
            yield from ((position, failed) for position in positions[number])
        return
    waiting = list(positions)
    while waiting:
        process = _WARM.take(context, blender, scene, options, cell)
        try:
            for number, result in process.render(waiting):
                waiting.remove(number)
                yield from ((position, result) for position in positions[number])
        finally:
            # Kept for the next batch once it has said it is done with this one; a batch
            # abandoned half-way leaves Blender mid-frame, and it stops with the batch.
            if process.ready and process.failure is None:
                _WARM.give_back(process)
            else:
                process.close()
        if process.failure is None:
            break
        error, frame = process.failure
        alone = error.failure in _FRAME_FAILURES and frame in waiting
        for number in [frame] if alone and frame is not None else list(waiting):
            waiting.remove(number)
            yield from ((position, error) for position in positions[number])


_Key = tuple[str, Scene, RenderOptions, Region | None, int | None, Path]


class _ServingBlender:
    """A Blender process that has loaded one scene with one set of options and renders the
    frames it is asked for, batch after batch (blender_setup.py's serve mode), so a node loads
    a scene once however many batches of it come. After `render()`, `failure` says why it wrote
    fewer frames than asked for (with the frame in progress), or is None; a process that failed
    is closed, never asked again."""

    def __init__(
        self,
        context: ActivityContext,
        blender: str,
        scene: Scene,
        options: RenderOptions,
        cell: Region | None,
    ) -> None:
        self.context = context
        self.key: _Key = (blender, scene, options, cell, context.threads, context.work_dir)
        self.name = scene.name or "scene.blend"
        self.folder = Path(tempfile.mkdtemp(prefix="render-", dir=context.work_dir))
        scene_file = self.folder / "scene.blend"  # relative paths in the scene start here
        scene_file.symlink_to(context.file(scene))
        self.run = BlenderRun(
            scene_file,
            (),
            options,
            self.folder,
            SETUP_SCRIPT,
            context.threads,
            cell,
            serve=True,
            name=self.name,
        )
        for made in run_folders(self.run):
            made.mkdir(parents=True, exist_ok=True)
        self.run.config.write_text(json.dumps(setup_settings(self.run)))
        self.reader = OutputReader()
        self.scene: SceneReported | None = None
        self.failure: tuple[RenderError, int | None] | None = None
        self.ready = True  # between batches: it has said it is done with the last one
        self.process = subprocess.Popen(
            blender_command(blender, self.run),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=blender_environment(os.environ, self.run),
            cwd=self.folder,
            text=True,
            errors="replace",
            # It ends with the batch process (or the thread) that started it, however that ends.
            preexec_fn=die_with_parent,
        )

    def render(self, frames: Sequence[int]) -> Iterator[tuple[int, Image | RenderError]]:
        """Each frame of the batch Blender writes, checked, as it writes it. The last is handed
        back once Blender has said it is done with the batch, so that whoever stops reading
        then leaves it ready for the next one."""
        self.failure = None
        self.ready = False
        left = set(frames)
        paths: dict[int, str] = {}
        explained: RenderError | None = None
        last: tuple[int, Image | RenderError] | None = None
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None and stdout is not None
        try:
            stdin.write(json.dumps({"frames": list(frames)}) + "\n")
            stdin.flush()
        except OSError:
            pass  # Blender is gone already: its output says why
        done = False
        for line in stdout:
            event = self.reader.read(line)
            if isinstance(event, SceneReported):
                self.scene = event
            elif isinstance(event, PathsReported):
                paths = event.paths
            elif isinstance(event, SetupFailed):
                explained = event.error
            elif isinstance(event, ImageSaved) and self.scene is not None:
                number = _frame_of(event.path, paths)
                if number is not None and number in left:
                    left.discard(number)
                    image = _checked_image(self.context, event.path, number, self.scene, self.run)
                    if left:
                        yield number, image
                    else:
                        last = (number, image)
            elif isinstance(event, BatchDone):
                done = True
                break
        self.ready = done and not left
        if last is not None:
            yield last
        if left:
            # Said it was done without every frame (as -f would have ended, code 0), or its
            # output ended: it has exited, or is about to.
            code = 0 if done else self._exit_code()
            error = explained or classify(
                code, self.reader.last, self.reader.frame, self.name, sorted(left)
            )
            self.failure = (error, self.reader.frame)
            self.close()

    def _exit_code(self) -> int:
        try:
            return self.process.wait(EXIT_SECONDS)
        except subprocess.TimeoutExpired:
            self.close()
            return self.process.returncode

    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        """Stop Blender (at once: it has nothing left to do) and remove its folder."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        shutil.rmtree(self.folder, ignore_errors=True)


class _WarmBlender:
    """The serving Blender of this batch process that is between batches, kept for the next
    batch of the same scene and options, and closed after `IDLE_SECONDS` without one (a loaded
    scene holds memory the machine's owner may want back). One at most: a batch of another scene
    closes it. It lives in the batch process, which runs one batch at a time."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.idle: _ServingBlender | None = None
        self.timer: threading.Timer | None = None

    def take(
        self,
        context: ActivityContext,
        blender: str,
        scene: Scene,
        options: RenderOptions,
        cell: Region | None,
    ) -> _ServingBlender:
        key: _Key = (blender, scene, options, cell, context.threads, context.work_dir)
        with self.lock:
            idle, self.idle = self.idle, None
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None
        if idle is not None and idle.key == key and idle.alive():
            return idle
        if idle is not None:
            idle.close()
        return _ServingBlender(context, blender, scene, options, cell)

    def give_back(self, process: _ServingBlender | None) -> None:
        if process is None or not process.alive():
            return
        with self.lock:
            self.idle = process
            self.timer = threading.Timer(IDLE_SECONDS, self._expire, (process,))
            self.timer.daemon = True
            self.timer.start()

    def _expire(self, process: _ServingBlender) -> None:
        with self.lock:
            if self.idle is not process:
                return
            self.idle = None
        process.close()

    def close(self) -> None:
        with self.lock:
            idle, self.idle = self.idle, None
        if idle is not None:
            idle.close()


IDLE_SECONDS = 60.0  # a serving Blender with no batch for this long is closed
EXIT_SECONDS = 30.0  # for Blender to exit once its output has ended
_WARM = _WarmBlender()
atexit.register(_WARM.close)


def _frame_of(path: str, paths: dict[int, str]) -> int | None:
    saved = Path(path).resolve()
    return next((n for n, p in paths.items() if Path(p).resolve() == saved), None)


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
    if isinstance(cell, CropBox):
        suffix = f"_crop_{cell.x}_{cell.y}_{cell.width}x{cell.height}"
    else:
        suffix = "" if cell is None else f"_tile_{cell.row}_{cell.column}"
    blob = context.save_file(path, f"frame_{number:05d}{suffix}.{run.options.extension}")
    with contextlib.suppress(OSError):
        path.unlink()  # stored: the run's folder need not keep a second copy
    if isinstance(cell, TileCell) and region is not None:
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
