"""Frame specs (`1-10,15,20-30x2`): what each form means, every mistake named, and the short
form written back parses to the same frames."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from witengine.plugins.render.frames import (
    FrameSpecError,
    blender_frame_list,
    format_frame_spec,
    parse_frame_spec,
)


@pytest.mark.parametrize(
    ("spec", "frames"),
    [
        ("1", [1]),
        ("0", [0]),
        ("1-5", [1, 2, 3, 4, 5]),
        ("1-10,15,20-30x2", [*range(1, 11), 15, 20, 22, 24, 26, 28, 30]),
        ("1-10x4", [1, 5, 9]),
        ("7-7", [7]),
        ("10,3,5-6", [10, 3, 5, 6]),
        (" 1-3 , 9 ", [1, 2, 3, 9]),
    ],
)
def test_a_spec_names_its_frames_in_the_order_written(spec: str, frames: list[int]) -> None:
    assert parse_frame_spec(spec) == frames


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "the frame spec is empty; write frames like 1-48 or 1-10,15,20-30x2"),
        (" , ", "the frame spec is empty; write frames like 1-48 or 1-10,15,20-30x2"),
        (
            "1-",
            "'1-' in the frame spec '1-' is not a frame (15), a range (1-10) or a range with "
            "a step (20-30x2)",
        ),
        (
            "1,,3",
            "'' in the frame spec '1,,3' is not a frame (15), a range (1-10) or a range with "
            "a step (20-30x2)",
        ),
        (
            "-3",
            "'-3' in the frame spec '-3' is not a frame (15), a range (1-10) or a range with "
            "a step (20-30x2)",
        ),
        ("10-1", "the range '10-1' runs backwards; write 1-10"),
        ("1-10x0", "the step of '1-10x0' must be at least 1"),
        ("1-5,3", "frame 3 is given twice in '1-5,3'"),
        ("0-99999999", "'0-99999999' names more than 1,000,000 frames"),
    ],
)
def test_a_wrong_spec_says_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(FrameSpecError) as caught:
        parse_frame_spec(spec)

    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("frames", "spec", "blender"),
    [
        ([1, 2, 3, 4], "1-4", "1..4"),
        ([1, 2], "1,2", "1,2"),
        ([1, 3, 5, 9, 10, 11], "1-5x2,9-11", "1,3,5,9..11"),
        ([5, 4, 3], "5,4,3", "5,4,3"),
        ([], "", ""),
    ],
)
def test_frames_are_written_back_short(frames: list[int], spec: str, blender: str) -> None:
    assert format_frame_spec(frames) == spec
    assert blender_frame_list(frames) == blender


@settings(deadline=None)
@given(st.lists(st.integers(0, 500), min_size=1, max_size=60, unique=True))
def test_the_short_form_parses_to_the_same_frames(frames: list[int]) -> None:
    assert parse_frame_spec(format_frame_spec(frames)) == frames


@settings(deadline=None)
@given(st.lists(st.integers(0, 500), min_size=1, max_size=60, unique=True))
def test_blenders_frame_list_names_the_same_frames(frames: list[int]) -> None:
    named: list[int] = []
    for part in blender_frame_list(frames).split(","):
        first, _, last = part.partition("..")
        named += range(int(first), int(last or first) + 1)
    assert named == frames
