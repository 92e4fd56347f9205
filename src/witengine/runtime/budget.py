"""What one job may spend of the process that runs its script, and the turns it gives back.

A script runs on the hub's event loop beside every other job, the nodes' links and the API. The
interpreter counts each statement it runs as a step against a `Budget`, which

- gives the loop a turn once the script has run for `SLICE` seconds since its last wait, so no
  script, however long its loops, holds up the hub's other work for longer than that;
- fails the job when it passes one of its `JobLimits`: the steps it runs, the seconds of the
  hub's time its statements take (waiting on nodes, timers or a pause is not counted), the size
  of any one value, and what the hub stores for it (events, values, a map's arguments).

Sizes are estimates of a value's JSON form, the form the hub stores and sends: a text its
characters, a number its digits, a collection its items and their separators. `size_of` stops
walking a value once it is past what was allowed, so measuring costs at most the allowance.
Operations that would make a large value ask `allow()` before they make it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from witengine.errors import LimitExceeded

SLICE = 0.002  # seconds a script runs before the event loop turns
CHECK_EVERY = 32  # steps between two looks at the clock (a look costs about a step)


@dataclass(frozen=True)
class JobLimits:
    """What one job may use; None is no limit. `limit` names are those of `wit hub --limit`."""

    steps: int | None = None
    seconds: float | None = None
    value_bytes: int | None = None
    stored_bytes: int | None = None


def limit_exceeded(limit: str, what: str, value: float, allowed: float, unit: str = "") -> str:
    """The message for `what` being `value` where the hub's `limits.<limit>` allows `allowed`."""
    unit = f" {unit}" if unit else ""
    return (
        f"{what} is {value:,}{unit}, over the hub's limit limits.{limit} = {allowed:,}{unit} "
        f"(wit hub --limit {limit}=… raises it)"
    )


class Budget:
    """One job's count of steps, time and stored bytes against its limits."""

    def __init__(self, limits: JobLimits, now: Callable[[], float]) -> None:
        self.limits = limits
        self.now = now
        self.steps = 0
        self.seconds = 0.0  # of the hub's time, running the script's statements
        self.stored = 0
        self._stored_limit = limits.stored_bytes if limits.stored_bytes is not None else 2**63
        self.branches = 1  # parts of the script that may run at once (Parallel.ForEach)
        self._mark = now()  # the script has run since then without waiting
        self._turned = self._mark  # when it last let the loop turn

    def step(self) -> bool:
        """Count a step; True when the script should let the event loop turn now."""
        self.steps += 1
        limit = self.limits.steps
        if limit is not None and self.steps > limit:
            raise LimitExceeded(
                f"the job has run {limit:,} steps (statements and rounds of loops), the hub's "
                "limit limits.job_steps (wit hub --limit job_steps=… raises it)"
            )
        if self.stored > self._stored_limit:
            self._check_stored()
        if self.branches == 1 and self.steps % CHECK_EVERY:
            return False
        now = self.now()
        self._spent(now)
        return now - self._turned >= SLICE / self.branches

    def turned(self) -> None:
        """The script waited for the loop's turn: what ran meanwhile is not its time."""
        self._mark = self._turned = self.now()

    @contextmanager
    def parallel(self, branches: int) -> Iterator[None]:
        """While `branches` parts of the script run at once: each resumes after the others had
        their turn in the same turn of the loop, so each gets a share of the slice (and looks at
        the clock every step), lest a thousand branches take a slice each."""
        self.branches += max(0, branches - 1)
        try:
            yield
        finally:
            self.branches -= max(0, branches - 1)

    @contextmanager
    def waiting(self) -> Iterator[None]:
        """Around a wait (on nodes, a timer, a pause): the time it takes is not the script's."""
        self._spent(self.now())
        try:
            yield
        finally:
            self._mark = self._turned = self.now()

    def _spent(self, now: float) -> None:
        self.seconds += now - self._mark
        self._mark = now
        limit = self.limits.seconds
        if limit is not None and self.seconds > limit:
            raise LimitExceeded(
                f"the job's statements have taken {limit:,} s of the hub's time, the hub's limit "
                "limits.job_seconds (wit hub --limit job_seconds=… raises it)"
            )

    def check_value(self, value: Any, what: str = "a value") -> None:
        """Fail when `value` is larger than one value may be."""
        limit = self.limits.value_bytes
        if limit is not None:
            self.allow(size_of(value, limit), what)

    def allow(self, size: int, what: str = "a value") -> None:
        """Fail when a value of `size` bytes may not be made."""
        limit = self.limits.value_bytes
        if limit is not None and size > limit:
            shown = f"over {limit:,}" if size == limit + 1 else f"{size:,}"
            raise LimitExceeded(
                f"{what} would take {shown} bytes, over the hub's limit limits.value_bytes = "
                f"{limit:,} bytes (wit hub --limit value_bytes=… raises it)"
            )

    def charge(self, size: int) -> None:
        """Count `size` more bytes stored for the job (its events): the next step fails when
        they are past the limit (whoever stores an event cannot fail the job there)."""
        self.stored += size

    def store(self, size: int, what: str = "what the hub stores for the job") -> None:
        """Count `size` more bytes stored for the job; fail past its limit."""
        self.stored += size
        self._check_stored(what)

    def _check_stored(self, what: str = "what the hub stores for the job") -> None:
        limit = self.limits.stored_bytes
        if limit is not None and self.stored > limit:
            raise LimitExceeded(
                limit_exceeded("job_stored_bytes", what, self.stored, limit, "bytes")
            )


# The budget of the job whose script is running in this context, for the library's operations
# that make large values (they have no interpreter to ask). None: no job, no limits.
CURRENT: ContextVar[Budget | None] = ContextVar("witengine_budget", default=None)


def allow(size: int, what: str = "a value") -> None:
    """Fail when the running job may not make a value of `size` bytes."""
    budget = CURRENT.get()
    if budget is not None:
        budget.allow(size, what)


def join_texts(first: str, second: str, what: str = "the text '+' makes") -> str:
    """`first + second`, when the running job may make a text that long."""
    allow(len(first) + len(second), what)
    return first + second


_SCALAR = 24  # a number, date, time span or Guid, in JSON


def size_of(value: Any, allowed: int | None = None) -> int:
    """About how many bytes `value` takes in JSON; once past `allowed`, `allowed + 1`."""
    stop = allowed if allowed is not None else float("inf")
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item) + 2
        elif isinstance(item, list | tuple):
            total += len(item) + 2
            stack.extend(item)
        elif isinstance(item, dict):
            total += 2 * len(item) + 2
            for key, inner in item.items():
                stack.append(key)
                stack.append(inner)
        elif isinstance(item, int | float | dt.date | dt.timedelta) or item is None:
            total += _SCALAR if not isinstance(item, int) else _int_size(item)
        else:
            total += _other_size(item)
        if total > stop:
            return int(stop) + 1
    return total


def _int_size(number: int) -> int:
    return number.bit_length() // 3 + 2  # a digit is about 3.3 bits; a sign or separator


def _other_size(item: Any) -> int:
    """A Blob, a colour, options: a small record; its fields if it has them."""
    fields = getattr(item, "__dataclass_fields__", None)
    if fields is None:
        return _SCALAR
    return sum(size_of(getattr(item, name)) for name in fields) + 2 * len(fields) + 2
