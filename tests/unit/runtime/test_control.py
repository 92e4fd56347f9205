"""JobControl: pause, resume and cancel, as the interpreter sees them between statements."""

from __future__ import annotations

import asyncio

import pytest

from witengine.runtime.control import JobCancelled, JobControl


async def settle() -> None:
    """Let every ready task run until it waits (no time passes)."""
    for _ in range(10):
        await asyncio.sleep(0)


async def test_a_new_control_lets_the_job_run() -> None:
    control = JobControl()

    assert not control.paused
    assert not control.cancelled
    assert await control.checkpoint() is False


async def test_a_paused_job_waits_at_its_checkpoint_until_resumed() -> None:
    control = JobControl()
    control.pause()
    waiting = asyncio.create_task(control.checkpoint())
    await settle()

    assert control.paused
    assert not waiting.done()

    control.resume()

    assert await waiting is True
    assert not control.paused


def test_resume_without_pause_and_pause_twice_are_harmless() -> None:
    control = JobControl()

    control.resume()
    assert not control.paused
    control.pause()
    control.pause()
    assert control.paused
    control.resume()
    assert not control.paused


async def test_a_cancelled_job_stops_at_its_next_checkpoint() -> None:
    control = JobControl()
    control.cancel()

    assert control.cancelled
    with pytest.raises(JobCancelled, match=r"^the job was cancelled$"):
        await control.checkpoint()


async def test_cancel_wakes_a_paused_job_and_stops_it() -> None:
    control = JobControl()
    control.pause()
    waiting = asyncio.create_task(control.checkpoint())
    await settle()

    control.cancel()

    with pytest.raises(JobCancelled):
        await waiting
    assert not control.paused


async def test_pausing_a_cancelled_job_does_not_hold_it() -> None:
    control = JobControl()
    control.cancel()
    control.pause()

    with pytest.raises(JobCancelled):
        await control.checkpoint()


async def test_cancel_interrupts_what_the_attached_task_waits_for() -> None:
    control = JobControl()
    never = asyncio.Event()

    async def job() -> str:
        try:
            await never.wait()
        except asyncio.CancelledError:
            return "interrupted"
        return "finished"

    task = asyncio.create_task(job())
    control.attach(task)
    await settle()

    control.cancel()

    assert await task == "interrupted"


async def test_a_cancel_from_the_job_itself_interrupts_its_next_wait() -> None:
    control = JobControl()
    never = asyncio.Event()
    steps: list[str] = []

    async def job() -> None:
        control.cancel()
        steps.append("still running after cancel")
        try:
            await never.wait()
        except asyncio.CancelledError:
            steps.append("wait interrupted")

    task = asyncio.create_task(job())
    control.attach(task)
    await task

    assert steps == ["still running after cancel", "wait interrupted"]


async def test_a_cancel_from_the_job_itself_spares_it_once_it_has_ended() -> None:
    control = JobControl()
    steps: list[str] = []

    async def job() -> None:
        control.attach(asyncio.current_task())
        control.cancel()
        control.detach()  # the job ends here, as the interpreter does
        await settle()
        steps.append("the caller goes on")

    await asyncio.create_task(job())

    assert steps == ["the caller goes on"]


async def test_cancel_after_detach_leaves_the_task_alone() -> None:
    control = JobControl()
    release = asyncio.Event()

    async def job() -> str:
        await release.wait()
        return "finished"

    task = asyncio.create_task(job())
    control.attach(task)
    control.detach()
    await settle()

    control.cancel()
    release.set()

    assert await task == "finished"


async def test_cancel_of_a_finished_task_only_marks_the_control() -> None:
    control = JobControl()

    async def job() -> str:
        return "done"

    task = asyncio.create_task(job())
    control.attach(task)
    await task

    control.cancel()

    assert control.cancelled
    assert await task == "done"


def test_cancel_works_outside_an_event_loop() -> None:
    control = JobControl()

    control.cancel()

    assert control.cancelled
    assert not control.paused
