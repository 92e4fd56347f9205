"""A node's own record of its batches, for its status page: those it holds now and the last few
it ended, each with its progress and the last lines its batch process wrote on stderr.

Bounded: at most `RECENT` ended batches, and of each batch the last `LOG_LINES` lines of at most
`LINE_CHARS` characters (what was left out is counted). The agent tells it what happens; it
reads no clock (wall times are passed in) and does no I/O.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from witengine.protocol import Assign, TaskResult

RECENT = 20  # ended batches kept
LOG_LINES = 200  # stderr lines kept of each batch
LINE_CHARS = 2000  # characters kept of one line


class Outcome(StrEnum):
    """Where a batch stands, as its node's page shows it."""

    WAITING = "waiting"  # for a slot or its inputs
    RUNNING = "running"
    DONE = "done"  # every item has a result (some may have failed)
    FAILED = "failed"  # its batch process died, or it could not run at all
    CANCELLED = "cancelled"  # the hub called it back
    HANDED_BACK = "handed back"  # the owner needed the machine: its unfinished items went back


@dataclass
class BatchEntry:
    """One batch, as the node saw it."""

    batch_id: str
    job_id: str
    activity: str
    size: int
    received: float  # wall seconds
    started: float | None = None
    ended: float | None = None
    outcome: Outcome = Outcome.WAITING
    done: int = 0
    failed: int = 0
    seconds: float = 0.0  # the items' own seconds, added up
    error: str | None = None
    log: deque[str] = field(default_factory=lambda: deque(maxlen=LOG_LINES))
    lines: int = 0  # lines written, kept or not

    @property
    def left_out(self) -> int:
        """Lines the log no longer holds (only the last LOG_LINES are kept)."""
        return self.lines - len(self.log)


class Journal:
    """The batches a node holds and the last RECENT it ended."""

    def __init__(self, recent: int = RECENT) -> None:
        self.current: dict[str, BatchEntry] = {}
        self.recent: deque[BatchEntry] = deque(maxlen=recent)

    def received(self, assign: Assign, wall: float) -> None:
        self.current[assign.batch_id] = BatchEntry(
            assign.batch_id, assign.job_id, assign.activity, len(assign.tasks), wall
        )

    def started(self, batch_id: str, wall: float) -> None:
        entry = self.current.get(batch_id)
        if entry is not None:
            entry.started, entry.outcome = wall, Outcome.RUNNING

    def delivered(self, batch_id: str, results: Iterable[TaskResult]) -> None:
        entry = self.current.get(batch_id)
        if entry is None:
            return
        for result in results:
            if result.ok:
                entry.done += 1
            else:
                entry.failed += 1
            entry.seconds += result.seconds

    def wrote(self, batch_id: str, line: str) -> None:
        """A line the batch's process wrote on stderr."""
        entry = self.current.get(batch_id)
        if entry is not None:
            entry.lines += 1
            entry.log.append(line[:LINE_CHARS])

    def ended(self, batch_id: str, outcome: Outcome, wall: float, error: str | None = None) -> None:
        entry = self.current.pop(batch_id, None)
        if entry is None:
            return
        entry.ended, entry.outcome, entry.error = wall, outcome, error
        self.recent.append(entry)

    def rates(self) -> dict[str, float]:
        """Items per second per slot of each activity, over the batches it remembers."""
        items: dict[str, int] = {}
        seconds: dict[str, float] = {}
        for entry in [*self.recent, *self.current.values()]:
            counted = entry.done + entry.failed
            if counted and entry.seconds > 0:
                items[entry.activity] = items.get(entry.activity, 0) + counted
                seconds[entry.activity] = seconds.get(entry.activity, 0.0) + entry.seconds
        return {activity: items[activity] / seconds[activity] for activity in sorted(items)}
