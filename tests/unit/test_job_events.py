"""Job events as JSON for the store, the API, the CLI and the dashboard, and back; job
statuses and their properties."""

from __future__ import annotations

import json

import pytest

from witengine.protocol.events import (
    JobEvent,
    JobFinished,
    JobPaused,
    JobRerun,
    JobResumed,
    JobResumedAfterRestart,
    ProgressReported,
    StatementFinished,
    StatementStarted,
    TraceLogged,
    ValuesReturned,
    event_json,
    parse_event,
)
from witengine.protocol.states import JobStatus

EVERY_KIND: list[tuple[JobEvent, dict[str, object]]] = [
    (
        StatementStarted(line=3, text="Int:x = 1;"),
        {"kind": "statement_started", "line": 3, "text": "Int:x = 1;"},
    ),
    (StatementFinished(line=3), {"kind": "statement_finished", "line": 3}),
    (TraceLogged(line=4, message="hello"), {"kind": "trace_logged", "line": 4, "message": "hello"}),
    (
        ValuesReturned(line=5, values=[1, "a", {"$type": "Color", "value": "#FF0000"}]),
        {
            "kind": "values_returned",
            "line": 5,
            "values": [1, "a", {"$type": "Color", "value": "#FF0000"}],
        },
    ),
    (
        ProgressReported(line=6, activity="Compute.Hash", done=2, total=10),
        {
            "kind": "progress_reported",
            "line": 6,
            "activity": "Compute.Hash",
            "done": 2,
            "total": 10,
        },
    ),
    (JobPaused(), {"kind": "job_paused"}),
    (JobResumed(), {"kind": "job_resumed"}),
    (
        JobFinished(status=JobStatus.FAILED, error="test.wit:4: boom"),
        {"kind": "job_finished", "status": "failed", "error": "test.wit:4: boom"},
    ),
    (
        JobFinished(status=JobStatus.COMPLETED, error=None),
        {"kind": "job_finished", "status": "completed", "error": None},
    ),
    (JobResumedAfterRestart(), {"kind": "job_resumed_after_restart"}),
    (JobRerun(of="job_1", reused=7), {"kind": "job_rerun", "of": "job_1", "reused": 7}),
    (
        ProgressReported(line=6, activity="Compute.Hash", done=3, total=10, nodes={"n1": (3, 0.5)}),
        {
            "kind": "progress_reported",
            "line": 6,
            "activity": "Compute.Hash",
            "done": 3,
            "total": 10,
            "nodes": {"n1": [3, 0.5]},
        },
    ),
]


@pytest.mark.parametrize(("event", "data"), EVERY_KIND)
def test_every_event_becomes_json_with_its_kind_and_comes_back(
    event: JobEvent, data: dict[str, object]
) -> None:
    encoded = event_json(event)

    assert encoded == data
    assert json.loads(json.dumps(encoded)) == data
    assert event.kind == data["kind"]
    back = parse_event(json.loads(json.dumps(encoded)))
    assert back == event
    assert type(back) is type(event)


def test_a_finished_event_read_back_carries_a_status_enum() -> None:
    back = parse_event({"kind": "job_finished", "status": "cancelled", "error": "stop"})

    assert isinstance(back, JobFinished)
    assert back.status is JobStatus.CANCELLED


def test_fields_this_version_does_not_know_are_ignored() -> None:
    back = parse_event({"kind": "trace_logged", "line": 1, "message": "m", "node": "n1"})

    assert back == TraceLogged(line=1, message="m")


@pytest.mark.parametrize(
    "data",
    [
        {"kind": "node_exploded"},
        {},
        {"kind": None},
        [],
        {"kind": "progress_reported", "line": "not a line"},
    ],
)
def test_unknown_kinds_and_unreadable_events_read_as_none(data: object) -> None:
    assert parse_event(data) is None


def test_statuses_appear_lowercase_on_the_wire() -> None:
    assert [s.value for s in JobStatus] == [
        "queued",
        "running",
        "paused",
        "completed",
        "failed",
        "cancelled",
    ]


@pytest.mark.parametrize(
    ("status", "ended", "rerunnable"),
    [
        (JobStatus.QUEUED, False, False),
        (JobStatus.RUNNING, False, False),
        (JobStatus.PAUSED, False, False),
        (JobStatus.COMPLETED, True, False),
        (JobStatus.FAILED, True, True),
        (JobStatus.CANCELLED, True, True),
    ],
)
def test_a_status_says_whether_the_job_ended_and_can_run_again(
    status: JobStatus, ended: bool, rerunnable: bool
) -> None:
    assert (status.ended, status.rerunnable) == (ended, rerunnable)
