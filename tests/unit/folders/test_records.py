"""Whether a watcher takes a complete job file, from its record on the hub's blackboard: one
watcher of a hub wins a file (the others find it running), a synced copy of a file that ran is
left alone, a changed file runs again; a file no node can run waits, saying why."""

from __future__ import annotations

from dataclasses import replace

import pytest

from witengine.folders.records import (
    Claim,
    FileRecord,
    FileState,
    decide,
    file_key,
    reason_to_wait,
    take_key,
    waiting,
)
from witengine.hub.board.rules import key_problem

RECORD = FileRecord("renders", "shot.rib", "d1", FileState.WAITING, ("prman",))


@pytest.mark.parametrize(
    ("record", "digest", "runnable", "claim"),
    [
        (None, "d1", True, Claim.TAKE),
        (None, "d1", False, Claim.WAIT),
        (RECORD, "d1", True, Claim.TAKE),
        (RECORD, "d1", False, Claim.WAIT),
        (replace(RECORD, state=FileState.RUNNING), "d1", True, Claim.LEAVE),
        (replace(RECORD, state=FileState.DONE), "d1", True, Claim.LEAVE),
        (replace(RECORD, state=FileState.FAILED), "d1", True, Claim.LEAVE),
        (replace(RECORD, state=FileState.DONE), "d2", True, Claim.TAKE),
        (replace(RECORD, state=FileState.FAILED), "d2", False, Claim.WAIT),
        (replace(RECORD, state=FileState.RUNNING), "d2", True, Claim.LEAVE),
    ],
)
def test_a_watcher_takes_a_file_only_when_its_record_lets_it(
    record: FileRecord | None, digest: str, runnable: bool, claim: Claim
) -> None:
    assert decide(record, digest, runnable) is claim


def test_a_record_reads_back_as_written_and_a_foreign_value_is_not_one() -> None:
    record = replace(RECORD, job="job_1", owner="box:12", path="/srv/renders", reason="r")
    assert FileRecord.from_json(record.to_json()) == record
    assert FileRecord.from_json({"hello": 1}) is None
    assert FileRecord.from_json("text") is None


def test_a_waiting_record_is_written_only_when_it_changes() -> None:
    assert waiting(None, RECORD) == RECORD
    assert waiting(RECORD, RECORD) is None
    assert waiting(RECORD, replace(RECORD, reason="no node has prman")) is not None


@pytest.mark.parametrize("name", ["shot.rib", "my shot (v2).blend", "été.py", "..", "a/b.wit"])
def test_every_file_name_makes_a_valid_key_of_its_own(name: str) -> None:
    for key in (file_key("My Renders", name), take_key("My Renders", name)):
        assert key_problem(key) is None, key
    assert file_key("r", "a b.wit") != file_key("r", "a_b.wit")


def test_why_a_file_waits_is_said_in_words() -> None:
    assert reason_to_wait(["prman"], nodes=2, running=0) == "no node has prman"
    assert reason_to_wait([], nodes=0, running=0) == "no node is connected"
    assert reason_to_wait([], nodes=2, running=4) == "after the 4 job file(s) running"
