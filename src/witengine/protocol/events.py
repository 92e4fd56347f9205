"""What a job tells the world as it runs: one discriminated union of every kind of event.

The interpreter emits most of them (statements, traces, returned values, progress, pause, the
end); the hub adds its own (a job resumed after a restart, a re-run, and on progress events what
each node has done). They are stored as JSON, streamed to clients as server-sent events (the
event's name is its `kind`), and read back with `parse_event` by the client, `wit run`, `wit job`
and the dashboard. Names are in the past tense; the `kind` is the name in snake case.

Events are answers (`Answer`): a field a reader does not know is ignored, and `parse_event`
gives None for a kind it does not know, so an older client keeps following a newer hub's jobs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, get_args

from pydantic import Field, TypeAdapter, ValidationError

from witengine.protocol.base import Answer
from witengine.protocol.states import JobStatus

Json = Any


class StatementStarted(Answer):
    kind: Literal["statement_started"] = "statement_started"
    line: int
    text: str


class StatementFinished(Answer):
    kind: Literal["statement_finished"] = "statement_finished"
    line: int


class TraceLogged(Answer):
    kind: Literal["trace_logged"] = "trace_logged"
    line: int
    message: str


class ValuesReturned(Answer):
    kind: Literal["values_returned"] = "values_returned"
    line: int
    values: list[Json]


class ProgressReported(Answer):
    """Items of a `Grid.ForEach` done so far; from a hub, with what each node has done."""

    kind: Literal["progress_reported"] = "progress_reported"
    line: int
    activity: str
    done: int
    total: int
    # node name -> (items it committed, seconds they took), over the job so far
    nodes: dict[str, tuple[float, float]] | None = None


class JobPaused(Answer):
    kind: Literal["job_paused"] = "job_paused"


class JobResumed(Answer):
    kind: Literal["job_resumed"] = "job_resumed"


class JobFinished(Answer):
    kind: Literal["job_finished"] = "job_finished"
    status: JobStatus
    error: str | None = None


class JobResumedAfterRestart(Answer):
    """The hub stopped while the job ran and runs it again from its first statement."""

    kind: Literal["job_resumed_after_restart"] = "job_resumed_after_restart"


class JobRerun(Answer):
    """The job runs a failed or cancelled one again, keeping `reused` of its results."""

    kind: Literal["job_rerun"] = "job_rerun"
    of: str
    reused: int


JobEvent = Annotated[
    StatementStarted
    | StatementFinished
    | TraceLogged
    | ValuesReturned
    | ProgressReported
    | JobPaused
    | JobResumed
    | JobFinished
    | JobResumedAfterRestart
    | JobRerun,
    Field(discriminator="kind"),
]
EventSink = Callable[[JobEvent], None]

_EVENT: TypeAdapter[JobEvent] = TypeAdapter(JobEvent)
KINDS = frozenset(kind.model_fields["kind"].default for kind in get_args(get_args(JobEvent)[0]))


def parse_event(data: Json) -> JobEvent | None:
    """The event a JSON object stands for; None for a kind this version does not know."""
    if not isinstance(data, dict) or data.get("kind") not in KINDS:
        return None
    try:
        return _EVENT.validate_python(data)
    except ValidationError:  # a kind we know with fields we cannot read: a newer hub's
        return None


def event_json(event: JobEvent) -> dict[str, Json]:
    """The event as the store keeps it and the API sends it; unset hub extras left out."""
    return event.model_dump(mode="json", exclude_none=isinstance(event, ProgressReported))
