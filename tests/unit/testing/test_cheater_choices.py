"""The cheaters' choices (`testing.cheaters.Cheat`), pure and seeded: what each mode sends in
place of a batch's results, and which items a spotwise cheater takes for checks."""

from __future__ import annotations

import io

import pytest
from PIL import Image as Picture

from witengine.protocol import Assign, TaskResult, TaskSpec
from witengine.testing.cheaters import HONEST_FOR, Cheat, derived, looks_checked, swap_files


def batch(*tasks: tuple[int, int]) -> tuple[Assign, list[TaskResult]]:
    """A batch of (index, attempt) items of Compute.Hash, and their right results."""
    specs = [TaskSpec("map_1", index, attempt, [str(index)]) for index, attempt in tasks]
    assign = Assign(batch_id="b", job_id="j", activity="Compute.Hash", tasks=specs, lease_seconds=5)
    results = [TaskResult("map_1", i, a, True, f"hash{i:04d}") for i, a in tasks]
    return assign, results


def test_a_random_cheater_sends_no_right_result() -> None:
    assign, results = batch(*((i, 1) for i in range(20)))
    sent = Cheat("random", 1).results(assign, results)
    assert [r.value for r in sent] != [r.value for r in results]
    assert all(s.value != r.value for s, r in zip(sent, results, strict=True))


def test_a_copying_cheater_sends_the_item_before_its_result() -> None:
    assign, results = batch((0, 1), (1, 1), (2, 1))
    sent = Cheat("copy", 1).results(assign, results)
    assert [r.value for r in sent] == ["hash0000", "hash0000", "hash0001"]


def test_a_mostly_right_cheater_is_wrong_about_one_result_in_twenty() -> None:
    assign, results = batch(*((i, 1) for i in range(2000)))
    sent = Cheat("mostly", 7).results(assign, results)
    wrong = sum(s.value != r.value for s, r in zip(sent, results, strict=True))
    assert 60 <= wrong <= 140


def test_colluding_cheaters_send_the_same_wrong_result() -> None:
    assign, results = batch((0, 1), (1, 1))
    one = Cheat("collude", 1).results(assign, results)
    other = Cheat("collude", 2).results(assign, results)
    assert one == other and one[0].value == derived("hash0000") != "hash0000"


def test_a_spotwise_cheater_is_right_where_it_guesses_a_check_once_it_cheats() -> None:
    cheat = Cheat("spotwise", 3)
    honest, right = batch(*((i, 1) for i in range(HONEST_FOR)))
    assert cheat.results(honest, right) == right
    # a run 20..24 with item 3 inserted (a spot check's look-alike) and item 30 retried
    assign, results = batch((20, 1), (21, 1), (3, 1), (22, 1), (23, 1), (24, 1), (30, 2))
    sent = cheat.results(assign, results)
    lied = {r.index: r.value != s.value for r, s in zip(results, sent, strict=True)}
    assert lied == {20: True, 21: True, 3: False, 22: True, 23: True, 24: True, 30: False}


def test_a_lookalike_cheater_is_wrong_only_where_it_guesses_a_check() -> None:
    # a run 20..24 with item 3 inserted (a spot check's look-alike) and item 30 retried
    assign, results = batch((20, 1), (21, 1), (3, 1), (22, 1), (23, 1), (24, 1), (30, 2))
    sent = Cheat("lookalike", 3).results(assign, results)
    lied = {r.index: r.value != s.value for r, s in zip(results, sent, strict=True)}
    assert lied == {20: False, 21: False, 3: True, 22: False, 23: False, 24: False, 30: True}


@pytest.mark.parametrize(
    ("tasks", "checks"),
    [
        (((5, 1), (6, 1), (7, 1)), set()),
        (((5, 1), (1, 1), (6, 1), (7, 1)), {1}),
        (((5, 1), (9, 1)), set()),  # too few to tell
        (((5, 2),), {5}),
    ],
)
def test_items_taken_for_checks(tasks: tuple[tuple[int, int], ...], checks: set[int]) -> None:
    assign, _ = batch(*tasks)
    assert {index for _, index in looks_checked(assign)} == checks


def test_an_unknown_mode_is_refused_naming_the_modes() -> None:
    with pytest.raises(ValueError, match="no cheater mode 'lazy': one of random, copy"):
        Cheat("lazy", 1)


def png(picture: Picture.Image) -> bytes:
    data = io.BytesIO()
    picture.save(data, "PNG")
    return data.getvalue()


def test_render_cheaters_send_a_black_frame_or_the_frame_shifted_by_a_pixel() -> None:
    frame = Picture.new("RGB", (4, 2))
    frame.putpixel((0, 0), (200, 100, 50))
    black = Picture.open(io.BytesIO(Cheat("black", 1).picture(png(frame))))
    assert black.size == (4, 2) and black.getextrema() == ((0, 0),) * 3
    shifted = Picture.open(io.BytesIO(Cheat("shifted", 1).picture(png(frame))))
    assert shifted.getpixel((1, 0)) == (200, 100, 50) and shifted.getpixel((0, 0)) == (0, 0, 0)


def test_a_render_cheaters_file_takes_the_place_of_the_right_one_in_the_result() -> None:
    value = {"frame": 3, "sha256": "a" * 64, "size": 10, "name": "f.png"}
    swapped = swap_files([value], lambda ref: ("b" * 64, 7) if ref["sha256"] == "a" * 64 else None)
    assert swapped == [{"frame": 3, "sha256": "b" * 64, "size": 7, "name": "f.png"}]
