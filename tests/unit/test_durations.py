"""An ETA in words: rounded to what a person can use, a dash when unknown."""

from __future__ import annotations

import pytest

from witengine.durations import time_left


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (None, "—"),
        (float("inf"), "—"),
        (float("nan"), "—"),
        (-1.0, "—"),
        (0.0, "a few seconds left"),
        (9.9, "a few seconds left"),
        (12.0, "about 10 s left"),
        (57.6, "about 1 min left"),  # 60 s is a minute, not "about 60 s"
        (130.0, "about 2 min left"),
        (3599.0, "about 1 h left"),
        (5400.0, "about 1 h 30 min left"),
        (86400.0, "about 1 d left"),
        (2 * 86400.0 + 3600.0, "about 2 d 1 h left"),
    ],
)
def test_time_left_reads_as_a_person_would_say_it(seconds: float | None, words: str) -> None:
    assert time_left(seconds) == words
