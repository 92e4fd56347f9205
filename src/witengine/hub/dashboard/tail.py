"""The recent events of jobs, read from the store a little at a time.

A job page shows the last events, the statements running now and each `Grid.ForEach`'s progress.
`EventTails` reads a job's events once from the start, then only the new ones at each look, and
keeps the last few hundred with what they imply: the stack of running statements and the
progress per line. It holds a bounded number of jobs; nothing here writes.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from witengine.hub.store.base import Store

PAGE = 1000


@dataclass
class Tail:
    """What a job's events say so far."""

    seen: int = 0  # sequence number of the last event read
    events: deque[tuple[int, dict[str, Any]]] = field(default_factory=lambda: deque(maxlen=300))
    running: list[int] = field(default_factory=list)  # lines of statements under way, outer first
    progress: dict[int, tuple[str, int, int]] = field(default_factory=dict)  # line -> (activity,
    # done, total)

    def add(self, seq: int, data: dict[str, Any]) -> None:
        self.seen = seq
        self.events.append((seq, data))
        kind = data.get("kind")
        line = data.get("line")
        if kind == "statement_started" and isinstance(line, int):
            self.running.append(line)
        elif kind == "statement_finished" and line in self.running:
            while self.running and self.running.pop() != line:
                pass  # statements inside it that ended without saying so (a failure)
        elif kind == "progress_reported" and isinstance(line, int):
            done, total = data.get("done", 0), data.get("total", 0)
            self.progress[line] = (str(data.get("activity", "")), int(done), int(total))
        elif kind in ("job_finished", "job_resumed_after_restart"):
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
                tail.add(seq, data if isinstance(data, dict) else {"kind": "event"})
            if len(page) < PAGE:
                return tail
