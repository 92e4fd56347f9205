"""The recent events of jobs, read from the store a little at a time.

A job page shows the last events, the statements running now and each `Grid.ForEach`'s progress.
`EventTails` reads a job's events once from the start, then only the new ones at each look, and
keeps the last few hundred with what they imply: the stack of running statements and the
progress per line. It holds a bounded number of jobs; nothing here writes.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field

from witengine.hub.store.base import Store
from witengine.protocol.events import (
    JobEvent,
    JobFinished,
    JobResumedAfterRestart,
    ProgressReported,
    StatementFinished,
    StatementStarted,
    parse_event,
)

PAGE = 1000


@dataclass
class Tail:
    """What a job's events say so far."""

    seen: int = 0  # sequence number of the last event read
    events: deque[tuple[int, JobEvent]] = field(default_factory=lambda: deque(maxlen=300))
    running: list[int] = field(default_factory=list)  # lines of statements under way, outer first
    progress: dict[int, tuple[str, int, int]] = field(default_factory=dict)  # line -> (activity,
    # done, total)

    def add(self, seq: int, event: JobEvent) -> None:
        self.seen = seq
        self.events.append((seq, event))
        match event:
            case StatementStarted(line=line):
                self.running.append(line)
            case StatementFinished(line=line) if line in self.running:
                while self.running and self.running.pop() != line:
                    pass  # statements inside it that ended without saying so (a failure)
            case ProgressReported(line=line, activity=activity, done=done, total=total):
                self.progress[line] = (activity, done, total)
            case JobFinished() | JobResumedAfterRestart():
                self.running.clear()  # a resumed job runs again from its first statement

    @property
    def done_total(self) -> tuple[int, int]:
        return (
            sum(done for _, done, _ in self.progress.values()),
            sum(total for _, _, total in self.progress.values()),
        )


class EventTails:
    """Tails of the jobs looked at lately."""

    def __init__(self, store: Store, jobs_kept: int = 50) -> None:
        self.store = store
        self.jobs_kept = jobs_kept
        self.tails: OrderedDict[str, Tail] = OrderedDict()

    def read(self, job_id: str) -> Tail:
        """The job's tail, brought up to date with the store."""
        tail = self.tails.get(job_id)
        if tail is None:
            tail = self.tails[job_id] = Tail()
            while len(self.tails) > self.jobs_kept:
                self.tails.popitem(last=False)
        else:
            self.tails.move_to_end(job_id)
        while True:
            page = self.store.events(job_id, after=tail.seen, limit=PAGE)
            for seq, data in page:
                event = parse_event(data)
                if event is not None:
                    tail.add(seq, event)
                else:
                    tail.seen = seq  # a kind this hub does not show
            if len(page) < PAGE:
                return tail
