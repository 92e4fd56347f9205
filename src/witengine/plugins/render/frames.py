"""Frame specs: the text `1-10,15,20-30x2` and the frame numbers it stands for, both ways.

Pure functions; they know nothing of Blender, files or the plugin SDK.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from witengine.errors import WitError

MAX_FRAMES = 1_000_000
_PART = re.compile(r"(?P<first>\d+)(?:-(?P<last>\d+)(?:x(?P<step>\d+))?)?")


class FrameSpecError(WitError):
    """A frame spec that does not parse, or names a frame twice."""


def parse_frame_spec(text: str) -> list[int]:
    """The frame numbers of a spec, in the order written: `1-3,7` -> `[1, 2, 3, 7]`.

    Parts are separated by commas; a part is a frame (`15`), an inclusive range (`1-10`) or a
    range with a step (`20-30x2`: 20, 22 … 30). Frames are whole numbers from 0 up; a frame
    given twice is an error, so is an empty spec.
    """
    frames: list[int] = []
    seen: set[int] = set()
    parts = [part.strip() for part in text.split(",")]
    if not any(parts):
        raise FrameSpecError("the frame spec is empty; write frames like 1-48 or 1-10,15,20-30x2")
    for part in parts:
        for number in _part_frames(part, text):
            if number in seen:
                raise FrameSpecError(f"frame {number} is given twice in '{text}'")
            seen.add(number)
            frames.append(number)
            if len(frames) > MAX_FRAMES:
                raise FrameSpecError(f"'{text}' names more than {MAX_FRAMES:,} frames")
    return frames


def _part_frames(part: str, text: str) -> range:
    match = _PART.fullmatch(part)
    if match is None:
        raise FrameSpecError(
            f"'{part}' in the frame spec '{text}' is not a frame (15), a range (1-10) or a "
            "range with a step (20-30x2)"
        )
    first = int(match["first"])
    last = int(match["last"]) if match["last"] is not None else first
    step = int(match["step"]) if match["step"] is not None else 1
    if last < first:
        raise FrameSpecError(f"the range '{part}' runs backwards; write {last}-{first}")
    if step < 1:
        raise FrameSpecError(f"the step of '{part}' must be at least 1")
    if (last - first) // step + 1 > MAX_FRAMES:
        raise FrameSpecError(f"'{text}' names more than {MAX_FRAMES:,} frames")
    return range(first, last + 1, step)


def format_frame_spec(frames: Iterable[int]) -> str:
    """A short spec for these frames, in their order: `[1, 2, 3, 7]` -> `1-3,7`.

    Runs of three or more frames with one step become `a-b` or `a-bxs`; parsing the result gives
    the same frames back.
    """
    return ",".join(_format_run(run) for run in _runs(list(frames)))


def _runs(frames: Sequence[int]) -> list[list[int]]:
    """Frames split into runs with one positive step each; a run of two is left as two runs."""
    runs: list[list[int]] = []
    index = 0
    while index < len(frames):
        run = [frames[index]]
        if index + 1 < len(frames) and frames[index + 1] > frames[index]:
            step = frames[index + 1] - frames[index]
            end = index + 1
            while end < len(frames) and frames[end] - frames[end - 1] == step:
                end += 1
            if end - index >= 3:
                run = list(frames[index:end])
        runs.append(run)
        index += len(run)
    return runs


def _format_run(run: list[int]) -> str:
    if len(run) == 1:
        return str(run[0])
    step = run[1] - run[0]
    return f"{run[0]}-{run[-1]}" + (f"x{step}" if step != 1 else "")


def blender_frame_list(frames: Iterable[int]) -> str:
    """Frames as Blender's `-f` option takes them: `1..3,7` (ranges with `..`, no steps)."""
    parts = []
    for run in _runs(list(frames)):
        if len(run) > 1 and run[1] - run[0] == 1:
            parts.append(f"{run[0]}..{run[-1]}")
        else:
            parts.extend(str(number) for number in run)
    return ",".join(parts)
