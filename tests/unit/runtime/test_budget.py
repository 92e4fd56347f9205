"""What a job's script may spend (`runtime.budget`): turns given back to the event loop, and the
limits on steps, time, value size and stored size, each failing the job naming the limit."""

from __future__ import annotations

import asyncio
import gc
import textwrap
import time

import pytest

from witengine.errors import LimitExceeded
from witengine.protocol.events import JobEvent, JobPaused
from witengine.protocol.states import JobStatus
from witengine.runtime.budget import SLICE, Budget, JobLimits, size_of
from witengine.runtime.control import JobControl
from witengine.testing.clock import FakeClock
from witengine.testing.turns import turns_counted

from .conftest import Runner

COMPLETED, FAILED = JobStatus.COMPLETED, JobStatus.FAILED


def job(body: str) -> str:
    """A job around `body`; the body's first line is line 3 of the script."""
    return f"Job:Test()\n{{\n{textwrap.dedent(body).strip()}\n}}"


class Ticking:
    """A clock that moves on by `step` seconds each time it is read: a script that runs."""

    def __init__(self, step: float = 0.001) -> None:
        self.time = 0.0
        self.step = step

    def __call__(self) -> float:
        self.time += self.step
        return self.time


SPIN = job("Int:x = 0;\nLoop(100000) { x = x + 1; }")


async def test_a_loop_that_never_waits_gives_the_event_loop_turns(run: Runner) -> None:
    async with turns_counted() as looped:
        done = await run(SPIN, budget=Budget(JobLimits(), Ticking()))
    assert done.status is COMPLETED, done.error
    # 32 steps read the clock once, a millisecond a read: a turn every 2 ms (SLICE) is every
    # 2 or 3 reads (the sums of milliseconds in floating point), 64 to 96 steps
    assert SLICE == 0.002 and looped.counted >= 100_000 // 96


async def test_a_job_past_its_steps_fails_naming_the_limit_and_the_statement(
    run: Runner,
) -> None:
    done = await run(SPIN, budget=Budget(JobLimits(steps=1000), Ticking()))
    assert done.status is FAILED
    assert done.error == (
        "test.wit:4: the job has run 1,000 steps (statements and rounds of loops), the hub's "
        "limit limits.job_steps (wit hub --limit job_steps=… raises it) (in: Loop(100000))"
    )


async def test_a_job_past_its_time_fails_naming_the_limit(run: Runner) -> None:
    done = await run(SPIN, budget=Budget(JobLimits(seconds=1), Ticking()))
    assert done.status is FAILED
    assert "the job's statements have taken 1 s of the hub's time" in (done.error or "")
    assert "limits.job_seconds" in (done.error or "")


async def test_time_spent_waiting_on_nodes_or_timers_is_not_the_scripts(run: Runner) -> None:
    clock = FakeClock(autojump=True)
    source = job(
        """
        Delay(60000) { Trace("a minute later"); }
        StringCollection:h = Grid.ForEach(i in Int.Range(0, 3)) => Compute.Hash("x");
        Pause(60000);
        """
    )
    budget = Budget(JobLimits(seconds=10), clock.now)
    done = await run(source, clock=clock, budget=budget)
    assert done.status is COMPLETED, done.error
    assert clock.now() >= 120 and budget.seconds < 1


async def test_a_text_doubling_in_a_loop_fails_at_the_value_limit(run: Runner) -> None:
    source = job('String:s = "x";\nLoop(40) { s = Concat(s, s); }')
    done = await run(source, budget=Budget(JobLimits(value_bytes=4096), Ticking()))
    assert done.status is FAILED
    assert done.error is not None and done.error.startswith("test.wit:4: ")
    assert "over the hub's limit limits.value_bytes = 4,096 bytes" in done.error
    assert len(done.variables.get("s", "")) <= 4096


@pytest.mark.parametrize(
    ("body", "what"),
    [
        ("IntCollection:r = Int.Range(0, 100000000);", "a range of 100,000,000 numbers"),
        ('String:t = Format("{0}{0}{0}{0}{0}{0}{0}{0}", "0123456789");', "the text Format"),
        ('String:a = "0123456789";\nString:b = a + a + a + a + a + a + a + a;', "'+' makes"),
        ("Object:x = 3037000500;\nx = x * x;", "past the range of Long"),
        ('String:t = Format("{0:D1000000000}", 7);', "the text Format makes"),
        ('String:t = Format("{0,-900}|{0:>900}", 7);', "the text Format makes"),
    ],
)
async def test_an_operation_refuses_a_value_too_large_before_making_it(
    run: Runner, body: str, what: str
) -> None:
    done = await run(job(body), budget=Budget(JobLimits(value_bytes=64), Ticking()))
    assert done.status is FAILED
    assert what in (done.error or ""), done.error


async def test_a_job_whose_variables_are_past_the_stored_limit_fails(run: Runner) -> None:
    source = job('String:a = Format("{0}{0}{0}{0}", "0123456789abcdef");\nString:b = a;')
    done = await run(source, budget=Budget(JobLimits(stored_bytes=100), Ticking()))
    assert done.status is FAILED
    assert done.error is not None and done.error.startswith("test.wit: ")
    assert "with its variables" in done.error and "limits.job_stored_bytes = 100" in done.error


async def test_a_maps_arguments_count_toward_what_is_stored(run: Runner) -> None:
    source = job(
        """
        String:big = Format("{0}{0}{0}{0}{0}{0}{0}{0}{0}{0}", "0123456789");
        StringCollection:h = Grid.ForEach(i in Int.Range(0, 100)) => Compute.Hash(big);
        """
    )
    done = await run(source, budget=Budget(JobLimits(stored_bytes=5000), Ticking()))
    assert done.status is FAILED
    assert "test.wit:4: " in (done.error or "") and "with a map's items" in (done.error or "")
    assert done.executor.requests == []  # refused before a node was given anything


def test_events_charged_past_the_stored_limit_fail_the_next_step() -> None:
    budget = Budget(JobLimits(stored_bytes=10), Ticking())
    budget.charge(11)  # whoever stores an event does not fail the job there
    with pytest.raises(LimitExceeded, match=r"limits\.job_stored_bytes = 10 bytes"):
        budget.step()


def test_size_of_stops_walking_once_past_what_was_allowed() -> None:
    text = "x" * 1_000_000
    shared = [text] * 1_000_000  # a million references to one text: a terabyte as JSON
    assert size_of(shared, 10_000_000) == 10_000_001
    exact = len('["ab",12,[1.5,null]]')
    assert exact <= size_of(["ab", 12, [1.5, None]]) <= 4 * exact  # an estimate, never below


async def test_a_parallel_loop_of_many_items_never_holds_the_event_loop_for_long(
    run: Runner,
) -> None:
    # Before: a task per item, all made at once, and each branch ran a whole slice in the same
    # turn of the loop as the others: 100,000 items held the loop for about two seconds.
    worst = 0.0

    async def watch() -> None:
        nonlocal worst
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            worst, last = max(worst, now - last), now

    source = job("Int:n = 0;\nParallel.ForEach(i in Int.Range(0, 100000)) { n = n + 1; }")
    # The collector off while the loop is watched: in a whole test run's process, one of its
    # full passes over everything the earlier tests left took 2.3 s (a hub freezes what it
    # loaded at start and collects rarely: lifetime.collect_garbage_rarely).
    gc.collect()
    gc.disable()
    watcher = asyncio.create_task(watch())
    try:
        done = await run(source, budget=Budget(JobLimits(), time.perf_counter))
    finally:
        watcher.cancel()
        gc.enable()
    assert done.status is COMPLETED, done.error
    assert done.variables["n"] == 100_000
    assert worst < 0.5, f"the loop waited {worst:.3f} s"


@pytest.mark.parametrize(
    "body",
    ["Loop(9000000000) { }", "ForEach(i in Int.Range(0, 1000000)) { }", "Timer(0) { }"],
)
async def test_a_loop_with_an_empty_body_counts_its_rounds_as_steps(run: Runner, body: str) -> None:
    done = await run(job(body), budget=Budget(JobLimits(steps=5000), Ticking()))
    assert done.status is FAILED
    assert "the job has run 5,000 steps" in (done.error or ""), done.error


async def test_a_loop_with_an_empty_body_pauses_at_its_next_turn(run: Runner) -> None:
    control = JobControl()
    events: list[JobEvent] = []

    def on_event(event: JobEvent) -> None:
        events.append(event)

    async def pause_then_cancel() -> None:
        await asyncio.sleep(0.05)
        control.pause()
        for _ in range(200):  # bounded: the loop pauses at its next turn, within milliseconds
            if any(isinstance(e, JobPaused) for e in events):
                break
            await asyncio.sleep(0.01)
        control.cancel()

    asker = asyncio.create_task(pause_then_cancel())
    done = await run(
        job("Loop(9000000000) { }"),
        control=control,
        on_event=on_event,
        budget=Budget(JobLimits(), time.perf_counter),
    )
    await asker
    assert any(isinstance(e, JobPaused) for e in events), "the empty loop never paused"
    assert done.status is JobStatus.CANCELLED
