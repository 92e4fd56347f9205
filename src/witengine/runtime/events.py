"""What a running job tells the world: statements, traces, returned values, progress, the end.

Events are frozen dataclasses named in the past tense; each turns into a JSON object with a
`kind` for the API, the CLI and the dashboard.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class StatementStarted:
    line: int
    text: str


@dataclass(frozen=True)
class StatementFinished:
    line: int


@dataclass(frozen=True)
class TraceLogged:
    line: int
    message: str


@dataclass(frozen=True)
class ValuesReturned:
    line: int
    values: list[Any]  # JSON


@dataclass(frozen=True)
class ProgressReported:
    line: int
    activity: str
    done: int
    total: int


@dataclass(frozen=True)
class JobPaused:
    pass


@dataclass(frozen=True)
class JobResumed:
    pass


@dataclass(frozen=True)
class JobFinished:
    status: JobStatus
    error: str | None


Event = (
    StatementStarted
    | StatementFinished
    | TraceLogged
    | ValuesReturned
    | ProgressReported
    | JobPaused
    | JobResumed
    | JobFinished
)
EventSink = Callable[[Event], None]


def event_kind(event: Event) -> str:
    """`StatementStarted` -> `statement_started`."""
    name = type(event).__name__
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


def event_to_json(event: Event) -> dict[str, Any]:
    return {"kind": event_kind(event), **dataclasses.asdict(event)}
