"""Reading a Blender run's output: which frame it renders, which image it wrote, what the setup
script reported, and, when it ends early, what kind of failure that was. Pure: lines in, facts
out.
"""

from __future__ import annotations

import json
import re
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from witengine.plugins.render.errors import RenderError, RenderFailure

_FRAME = re.compile(r"Fra:(-?\d+) ")
_SAVED = re.compile(r"Saved: '(.*)'")
_SAMPLE = re.compile(r"\| (?:Sample|Path Tracing Sample) (\d+)/(\d+)")
_OUT_OF_MEMORY = re.compile(
    r"out of (?:gpu |device |host )?memory|memory allocation failed|malloc returns? null|"
    r"std::bad_alloc|cannot allocate memory|insufficient memory|CUDA_ERROR_OUT_OF_MEMORY|"
    r"OUT_OF_MEMORY|hipErrorOutOfMemory",
    re.IGNORECASE,
)
_BAD_SCENE = re.compile(
    r"cannot read file|failed to read blend file|file format is not supported|"
    r"not a blend file|unable to open",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class FrameStarted:
    number: int


@dataclass(frozen=True)
class SampleDone:
    number: int  # the frame
    sample: int
    samples: int


@dataclass(frozen=True)
class ImageSaved:
    path: str


@dataclass(frozen=True)
class SceneReported:
    """What blender_setup.py found: sizes, frame rate, device, and each frame's output path."""

    width: int
    height: int
    fps: float
    device: str
    engine: str
    blender: str
    paths: dict[int, str]
    region: dict[str, Any] | None = None  # a tile's place in the frame (blender_setup.apply_tile)


@dataclass(frozen=True)
class SetupFailed:
    error: RenderError


@dataclass(frozen=True)
class PathsReported:
    """A serving Blender's answer to a batch: where each frame of it will be written."""

    paths: dict[int, str]


@dataclass(frozen=True)
class BatchDone:
    """A serving Blender has rendered every frame of the batch it was given."""


Event = (
    FrameStarted | SampleDone | ImageSaved | SceneReported | SetupFailed | PathsReported | BatchDone
)


class OutputReader:
    """Turns Blender's output, line by line, into events; remembers what a failure report needs:
    the frame in progress and the last lines."""

    def __init__(self, keep: int = 30) -> None:
        self.frame: int | None = None  # started and not yet saved
        self.last: list[str] = []
        self.keep = keep

    def read(self, line: str) -> Event | None:
        line = line.rstrip("\n")
        if line.startswith("WIT "):
            return _report(json.loads(line[4:]))
        if line.startswith("Fra:"):
            match = _FRAME.match(line)
            sample = _SAMPLE.search(line)
            if match is None:
                return None
            number = int(match.group(1))
            if number != self.frame:
                self.frame = number
                return FrameStarted(number)
            if sample is not None:
                return SampleDone(number, int(sample.group(1)), int(sample.group(2)))
            return None
        self._remember(line)
        saved = _SAVED.match(line)
        if saved is not None:
            self.frame = None
            return ImageSaved(saved.group(1))
        return None

    def _remember(self, line: str) -> None:
        if line.strip():
            self.last = [*self.last[-(self.keep - 1) :], line]


def _report(data: dict[str, Any]) -> Event:
    if data.get("kind") == "paths":
        return PathsReported({int(number): str(path) for number, path in data["paths"].items()})
    if data.get("kind") == "done":
        return BatchDone()
    if data.get("kind") == "error":
        failure = RenderFailure(data.get("failure", RenderFailure.FAILED))
        return SetupFailed(RenderError(failure, str(data.get("message", "setup failed"))))
    return SceneReported(
        width=int(data["width"]),
        height=int(data["height"]),
        fps=float(data["fps"]),
        device=str(data["device"]),
        engine=str(data["engine"]),
        blender=str(data["blender"]),
        paths={int(number): str(path) for number, path in data["paths"].items()},
        region=data.get("region"),
    )


def classify(
    code: int, last: Sequence[str], frame: int | None, scene: str, unwritten: Sequence[int] = ()
) -> RenderError:
    """Why a Blender run that did not write all its frames ended, from its exit code and last
    lines; `frame` is the frame it was rendering, if any, `unwritten` the frames it owes."""
    where = f"{scene}, frame {frame}" if frame is not None else scene
    said = _last_words(last)
    memory = next((line for line in reversed(last) if _OUT_OF_MEMORY.search(line)), None)
    if memory is not None:
        return RenderError(
            RenderFailure.OUT_OF_MEMORY, f"{where}: Blender ran out of memory: {memory.strip()}"
        )
    if code < 0:
        name = _signal_name(-code)
        if -code == signal.SIGKILL:
            return RenderError(
                RenderFailure.OUT_OF_MEMORY,
                f"{where}: Blender was killed (SIGKILL), most likely by the system for using too "
                f"much memory{said}",
            )
        return RenderError(RenderFailure.CRASHED, f"{where}: Blender crashed ({name}){said}")
    bad_scene = next((line for line in reversed(last) if _BAD_SCENE.search(line)), None)
    if bad_scene is not None:
        return RenderError(
            RenderFailure.BAD_SCENE, f"{where}: Blender cannot read the scene: {bad_scene.strip()}"
        )
    if code == 0:
        owed = ", ".join(map(str, sorted(unwritten))) or "every frame"
        plural = "s" if len(unwritten) > 1 else ""
        return RenderError(
            RenderFailure.FAILED,
            f"{scene}: Blender ended without writing frame{plural} {owed}{said}",
        )
    return RenderError(RenderFailure.FAILED, f"{where}: Blender exited with code {code}{said}")


def _last_words(last: Sequence[str], count: int = 3) -> str:
    """The last few lines worth showing: not Blender's sign-off or its memory bookkeeping."""
    noise = ("Blender quit", "Error: Not freed memory blocks", "total memory len")
    kept = [line.strip() for line in last if not line.strip().startswith(noise)]
    return ("; last output: " + " | ".join(kept[-count:])) if kept else ""


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
