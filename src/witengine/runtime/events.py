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
    return event_kind_of(type(event))


def event_to_json(event: Event) -> dict[str, Any]:
    return {"kind": event_kind(event), **dataclasses.asdict(event)}


def event_from_json(data: dict[str, Any]) -> Event | None:
    """The event a JSON object stands for, or None for kinds this version does not know."""
    kinds: dict[str, type[Any]] = {
        event_kind_of(cls): cls
        for cls in (
            StatementStarted,
            StatementFinished,
            TraceLogged,
            ValuesReturned,
            ProgressReported,
            JobPaused,
            JobResumed,
            JobFinished,
        )
    }
    found = kinds.get(str(data.get("kind")))
    if found is None:
        return None
    fields = {f.name for f in dataclasses.fields(found)}
    values = {k: v for k, v in data.items() if k in fields}
    if found is JobFinished:
        values["status"] = JobStatus(values["status"])
    event: Event = found(**values)
    return event


def event_kind_of(cls: type[Any]) -> str:
    """`StatementStarted` -> `statement_started`."""
    return "".join("_" + c.lower() if c.isupper() else c for c in cls.__name__).lstrip("_")
