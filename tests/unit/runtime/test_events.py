"""Events as JSON for the API, the CLI and the dashboard, and back."""

from __future__ import annotations

import json

import pytest

from witengine.runtime.events import (
    Event,
    JobFinished,
    JobPaused,
    JobResumed,
    JobStatus,
    ProgressReported,
    StatementFinished,
    StatementStarted,
    TraceLogged,
    ValuesReturned,
    event_from_json,
    event_kind,
    event_to_json,
)

EVERY_KIND: list[tuple[Event, dict[str, object]]] = [
    (
        StatementStarted(3, "Int:x = 1;"),
        {"kind": "statement_started", "line": 3, "text": "Int:x = 1;"},
    ),
    (StatementFinished(3), {"kind": "statement_finished", "line": 3}),
    (TraceLogged(4, "hello"), {"kind": "trace_logged", "line": 4, "message": "hello"}),
    (
        ValuesReturned(5, [1, "a", {"$type": "Color", "value": "#FF0000"}]),
        {
            "kind": "values_returned",
            "line": 5,
            "values": [1, "a", {"$type": "Color", "value": "#FF0000"}],
        },
    ),
    (
        ProgressReported(6, "Compute.Hash", 2, 10),
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
        JobFinished(JobStatus.FAILED, "test.wit:4: boom"),
        {"kind": "job_finished", "status": "failed", "error": "test.wit:4: boom"},
    ),
    (
        JobFinished(JobStatus.COMPLETED, None),
        {"kind": "job_finished", "status": "completed", "error": None},
    ),
]


@pytest.mark.parametrize(("event", "data"), EVERY_KIND)
def test_every_event_becomes_json_with_its_kind_and_comes_back(
    event: Event, data: dict[str, object]
) -> None:
    encoded = event_to_json(event)

    assert encoded == data
    assert json.loads(json.dumps(encoded)) == data
    assert event_kind(event) == data["kind"]
    back = event_from_json(json.loads(json.dumps(encoded)))
    assert back == event
    assert type(back) is type(event)


def test_a_finished_event_read_back_carries_a_status_enum() -> None:
    back = event_from_json({"kind": "job_finished", "status": "cancelled", "error": "stop"})

    assert isinstance(back, JobFinished)
    assert back.status is JobStatus.CANCELLED


def test_fields_this_version_does_not_know_are_ignored() -> None:
    back = event_from_json({"kind": "trace_logged", "line": 1, "message": "m", "node": "n1"})

    assert back == TraceLogged(1, "m")


@pytest.mark.parametrize("data", [{"kind": "node_exploded"}, {}, {"kind": None}])
def test_unknown_kinds_read_as_none(data: dict[str, object]) -> None:
    assert event_from_json(data) is None


def test_statuses_appear_lowercase_on_the_wire() -> None:
    assert [s.value for s in JobStatus] == [
        "queued",
        "running",
        "paused",
        "completed",
        "failed",
        "cancelled",
    ]
