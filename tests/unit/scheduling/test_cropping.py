"""Checking an untrusted node's frame by a trusted render of a random crop of it: the crop's
size and place, and what the verifier decides from what the crop showed."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from witengine.scheduling.cropping import LEAST_SIDE, Crop, choose_crop
from witengine.scheduling.verification import Answer, TrustState, VerificationSettings
from witengine.scheduling.verifier import Action, Verifier

ACTIVITY = "Renderer.RenderFrame"
MAP = "map_1"


@settings(deadline=None)
@given(
    width=st.integers(1, 4000),
    height=st.integers(1, 4000),
    share=st.floats(0.001, 1.0),
    seed=st.integers(0, 2**32),
)
def test_a_crop_lies_inside_its_frame_at_about_the_share_asked(
    width: int, height: int, share: float, seed: int
) -> None:
    crop = choose_crop(width, height, share, random.Random(seed))
    assert crop.inside(width, height)
    assert crop.width == min(width, max(LEAST_SIDE, round(width * share**0.5)))
    assert crop.height == min(height, max(LEAST_SIDE, round(height * share**0.5)))
    assert Crop.from_json(crop.to_json()) == crop


def test_crops_fall_anywhere_in_the_frame_and_repeat_with_the_seed() -> None:
    crops = [choose_crop(1920, 1080, 0.05, random.Random(seed)) for seed in range(200)]
    assert crops == [choose_crop(1920, 1080, 0.05, random.Random(seed)) for seed in range(200)]
    assert {(c.width, c.height) for c in crops} == {(429, 241)}  # 5 % of the frame's pixels
    xs, ys = [c.x for c in crops], [c.y for c in crops]
    assert min(xs) < 150 and max(xs) > 1920 - 429 - 150  # the left and right edges are checked
    assert min(ys) < 100 and max(ys) > 1080 - 241 - 100


@pytest.mark.parametrize(
    ("width", "height", "share", "problem"),
    [(0, 10, 0.1, "at least 1x1"), (10, 10, 0.0, "above 0"), (10, 10, 1.5, "at most 1")],
)
def test_a_crop_of_nothing_or_of_no_share_is_refused(
    width: int, height: int, share: float, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        choose_crop(width, height, share, random.Random(0))


def test_a_crop_read_from_bad_json_names_what_it_should_be() -> None:
    with pytest.raises(ValueError, match="x, y, width, height"):
        Crop.from_json({"x": 1})
    with pytest.raises(ValueError, match="rectangle inside a frame"):
        Crop.from_json({"x": 0, "y": 0, "width": 0, "height": 5})


def frame(verifier: Verifier, index: int, node: str, owner: str) -> tuple[Answer, object]:
    answer = Answer(node, owner, value=f"{node}:{index}")
    return answer, verifier.answered((MAP, index), ACTIVITY, answer, crop=True)


def test_a_frame_whose_crop_agrees_is_accepted_and_its_node_becomes_reliable() -> None:
    verifier = Verifier(VerificationSettings(reliable_after=3), random.Random(1))
    for index in range(3):
        answer, step = frame(verifier, index, "ada", "ada")
        assert step.action is Action.CROP and step.answer is answer
        assert verifier.busy(MAP)  # nothing held unchecked is released meanwhile
        accepted = verifier.cropped((MAP, index), agrees=True)
        assert accepted is not None and accepted.action is Action.ACCEPT
        assert accepted.answer is answer and not accepted.wrong
    assert verifier.book.record("ada", ACTIVITY).state is TrustState.RELIABLE
    assert verifier.costs.crops == 3 and verifier.costs.verified == 3
    assert verifier.costs.replicas == 0  # no whole frame was rendered twice
    changes = [note.change for note in verifier.notes() if note.change is not None]
    assert [(c.before, c.after) for c in changes] == [(TrustState.NEW, TrustState.RELIABLE)]


def test_a_frame_whose_crop_disagrees_is_rejected_and_reopened_for_another_owner() -> None:
    verifier = Verifier(VerificationSettings(), random.Random(1))
    answer, _ = frame(verifier, 4, "eve", "eve")
    step = verifier.cropped((MAP, 4), agrees=False)
    assert step is not None and step.action is Action.REJECT
    assert step.wrong == (answer,) and step.owners == frozenset({"eve"})
    assert not verifier.busy(MAP)
    verifier.caught("eve", "eve", ACTIVITY)  # what the driver does with `wrong`
    assert verifier.book.blocked("eve", ACTIVITY)
    assert verifier.costs.replicas == 1 and verifier.costs.verified == 0
    # The item answered again, by another owner, is checked by a crop again.
    _, again = frame(verifier, 4, "ada", "ada")
    assert again.action is Action.CROP


def test_a_crop_that_comes_back_after_its_node_was_caught_elsewhere_reopens_the_item() -> None:
    verifier = Verifier(VerificationSettings(), random.Random(1))
    frame(verifier, 0, "mal", "mal")
    verifier.caught("mal", "mal", ACTIVITY)
    step = verifier.cropped((MAP, 0), agrees=True)
    assert step is not None and step.action is Action.REPLICATE
    assert step.owners == frozenset({"mal"})


def test_a_crop_of_an_item_no_longer_verified_is_ignored() -> None:
    verifier = Verifier(VerificationSettings(), random.Random(1))
    frame(verifier, 0, "ada", "ada")
    verifier.forget(MAP)
    assert verifier.cropped((MAP, 0), agrees=True) is None
    assert verifier.cropped((MAP, 9), agrees=True) is None  # never asked


def test_a_reliable_nodes_frames_are_cropped_only_at_the_reliable_share() -> None:
    verifier = Verifier(VerificationSettings(reliable_after=2), random.Random(3))
    for index in range(2):
        frame(verifier, index, "ada", "ada")
        verifier.cropped((MAP, index), agrees=True)
    actions = [frame(verifier, index, "ada", "ada")[1].action for index in range(2, 402)]  # type: ignore[attr-defined]
    cropped = actions.count(Action.CROP)
    assert actions.count(Action.HOLD) + cropped == 400
    assert 0 < cropped < 100  # about 10 %, shrinking with the record


def test_a_crop_no_trusted_node_could_render_falls_back_on_another_owners_answer() -> None:
    verifier = Verifier(VerificationSettings(), random.Random(1))
    ada, _ = frame(verifier, 0, "ada", "ada")
    step = verifier.crop_failed((MAP, 0))
    assert step is not None and step.action is Action.REPLICATE
    assert step.owners == frozenset({"ada"})
    assert verifier.cropped((MAP, 0), agrees=True) is None  # too late: replicated instead
    assert verifier.representatives((MAP, 0)) == [ada]
    bob = Answer("bob", "bob", value="bob:0")
    assert verifier.answered((MAP, 0), ACTIVITY, bob, crop=True).action is Action.COMPARE
    accepted = verifier.compared((MAP, 0), bob, [ada], [True])
    assert accepted is not None and accepted.action is Action.ACCEPT
