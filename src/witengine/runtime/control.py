"""Pause, resume and cancel for a running job, honoured between statements."""

from __future__ import annotations

import asyncio

from witengine.errors import WitError


class JobCancelled(WitError):
    """The job was cancelled."""


class JobControl:
    """Switches a caller flips; the interpreter checks them before every statement."""

    def __init__(self) -> None:
        self._running = asyncio.Event()
        self._running.set()
        self._task: asyncio.Task[object] | None = None
        self.cancelled = False

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def cancel(self) -> None:
        """Stop the job: at once when it waits (on work or time), else at the next statement."""
        self.cancelled = True
        self._running.set()
        task = self._task
        if task is None or task.done():
            return
        if task is _current_task():
            # The job's own task asks (an event handler, say): cancelling it now would hit
            # whatever it awaits next, even after the job has ended; interrupt its next wait
            # instead, if the job is still running then.
            asyncio.get_running_loop().call_soon(self._interrupt)
        else:
            task.cancel()

    def _interrupt(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()

    def attach(self, task: asyncio.Task[object]) -> None:
        self._task = task

    def detach(self) -> None:
        """The job has ended: cancelling now must not touch the task that ran it."""
        self._task = None

    async def checkpoint(self) -> bool:
        """Raise JobCancelled when cancelled; wait while paused. True when it did wait."""
        if self.cancelled:
            raise JobCancelled("the job was cancelled")
        waited = not self._running.is_set()
        await self._running.wait()
        if self.cancelled:
            raise JobCancelled("the job was cancelled")
        return waited


def _current_task() -> asyncio.Task[object] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:  # called outside the event loop
        return None
