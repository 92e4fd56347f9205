"""Runs batches in a child process and streams each item's result back as it finishes.

One `Runner` per slot keeps one child (`witengine.node.batch_process`) alive across batches, so the
plugins load once. The agent starts it before work arrives (`warm`), so no batch waits for
Python and the plugins to load. Cancelling a batch kills the child's whole process group; the
next child starts at once. If the child dies mid-batch, the item it was running is reported as
failed (the hub decides whether to try it elsewhere) and the rest of the batch is given back.

Under an owner policy the child runs with the policy's worker limits (its niceness, the idle
scheduling class at the lowest priority, a data-size limit), and a running batch can be frozen
and thawed whole (`process_tree`); the seconds it spent frozen are not counted in the item that
was running, so the node's measured rate stays its own.

What the child writes on stderr (an activity's prints and warnings, a program's output) goes on
to the node's own stderr, as it always did, and each line also to `on_log` while a batch runs,
so that the node's page can show a batch's last lines (`journal`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from witengine.clock import Clock, SystemClock
from witengine.lifetime import HARD_DEATH, die_with_parent
from witengine.node import process_tree
from witengine.node.policy import WorkerLimits
from witengine.protocol import Assign, TaskResult

LINE_LIMIT = 256 * 1024 * 1024  # one result may be large (a long text, many values)
READ_BYTES = 1 << 20  # read at most this much of the child's lines at once
GATHER_SECONDS = 0.002  # the least time between two reads of them
ERROR_LINE_BYTES = 64 * 1024  # of a stderr line without an end, only the last bytes are kept
LOWEST_NICE = 19  # an owner policy's lowest priority: the idle scheduling class as well
_RESULTS: TypeAdapter[list[TaskResult]] = TypeAdapter(list[TaskResult])


@dataclass(frozen=True)
class RunnerDied:
    """The child ended before the batch did."""

    message: str


class Runner:
    def __init__(
        self,
        plugin_refs: Sequence[str],
        blob_root: Path,
        threads: int | None = None,
        speed: float = 1.0,
        limits: WorkerLimits | None = None,
        clock: Clock | None = None,
        scratch_root: Path | None = None,
    ) -> None:
        self.plugin_refs = list(plugin_refs)
        self.speed = speed  # the node's synthetic speed (Compute.Work only)
        self.plugin_paths: list[Path] = []  # folders of plugins installed from the hub
        self.blob_root = blob_root
        self.threads = threads  # cores one item may keep busy; None: as many as it likes
        self.process: asyncio.subprocess.Process | None = None
        self.lines: _Lines | None = None  # what the child writes on its stdout
        self.stale = False  # the child runs without plugins added since it started
        self.busy = False  # a batch is running in the child
        self._starting = asyncio.Lock()  # one child at a time, between `warm` and `run`
        self.limits = limits  # the owner policy's, for each child; None: as the agent runs
        self.scratch_root = scratch_root  # where children make their work folders; None: temp
        self.clock = clock or SystemClock()
        self.frozen = False  # its owner is back: a batch's tree is stopped, or will be at start
        self._stopped: int | None = None  # the process group stopped, if any
        self._frozen_since: float | None = None
        self._frozen_seconds = 0.0  # frozen since the last result: not the item's own time
        # Told each line the child writes on stderr while a batch runs (the agent's journal).
        self.on_log: Callable[[str], None] | None = None
        self.errors: _ErrorLines | None = None  # the child's stderr

    def add_plugins(self, refs: Sequence[str], paths: Sequence[Path]) -> None:
        """Load these plugins too, from the next batch on (a running batch is not disturbed)."""
        self.plugin_refs += refs
        self.plugin_paths += paths
        self.stale = self.stale or bool(refs)

    async def warm(self) -> None:
        """Start the child now, with every plugin added so far, unless a batch is running."""
        if not self.busy:
            await self._child()

    async def _child(self) -> asyncio.subprocess.Process:
        async with self._starting:
            return await self._start()

    async def _start(self) -> asyncio.subprocess.Process:
        if self.stale:
            self.stale = False
            await self.close()  # idle between batches: it ends when its stdin does
        if self.process is None or self.process.returncode is not None:
            paths = [arg for path in self.plugin_paths for arg in ("--path", str(path))]
            if self.lines is not None:
                self.lines.close()
            readable, writable = os.pipe()
            self.lines = _Lines(readable)
            errors, error_end = os.pipe()
            self.errors = _ErrorLines(errors, self._logged)
            try:
                self.process = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "witengine.node.batch_process",
                    "--plugins",
                    ",".join(self.plugin_refs),
                    "--blobs",
                    str(self.blob_root),
                    *(["--threads", str(self.threads)] if self.threads else []),
                    *(["--speed", repr(self.speed)] if self.speed != 1.0 else []),
                    *paths,
                    *(["--scratch", str(self.scratch_root)] if self.scratch_root else []),
                    stdin=asyncio.subprocess.PIPE,
                    stdout=writable,
                    stderr=error_end,
                    start_new_session=True,  # its own process group: a kill takes its children too
                    # It ends with the agent: one killed outright (SIGTERM, no clean-up) leaves no
                    # batch process still starting up in a folder that is being removed.
                    preexec_fn=_preexec(self.limits),
                    # Under an owner policy its batches may be frozen: it and what it starts die
                    # by SIGKILL with the agent (see `die_with_parent`).
                    env=None if self.limits is None else {**os.environ, HARD_DEATH: "1"},
                )
            finally:
                os.close(writable)  # the child's now: the pipe ends when the child does
                os.close(error_end)
        return self.process

    def _logged(self, line: str) -> None:
        on_log = self.on_log
        if on_log is not None:
            on_log(line)

    async def run(self, batch: Assign) -> AsyncIterator[list[TaskResult] | RunnerDied]:
        """The results of the items finished since the last ones, as they finish; a
        RunnerDied last if the child died."""
        self.busy = True
        try:
            async for item in self._run(batch):
                yield item
        finally:
            self.busy = False

    async def _run(self, batch: Assign) -> AsyncIterator[list[TaskResult] | RunnerDied]:
        process = await self._child()
        lines = self.lines
        assert process.stdin is not None and lines is not None
        self._frozen_seconds = 0.0
        if self.frozen:  # frozen while it started: the batch waits stopped from its start
            self._frozen_since = self.clock.now()
            self._stop(process)
        line = batch.model_dump_json(include={"batch_id", "activity", "tasks"})
        process.stdin.write(line.encode() + b"\n")
        await process.stdin.drain()
        pending = {(t.map_id, t.index): t for t in batch.tasks}
        while True:
            try:
                arrived = await lines.next()
            except _Unreadable as error:
                await self.kill()
                yield RunnerDied(f"the runner process sent {error}")
                return
            if not arrived:
                ended = f"the runner process {_exit_reason(await process.wait())}"
                if self.errors is not None:  # its last words, with the batch they ended
                    self.errors.drain()
                if pending:
                    task = next(iter(pending.values()))
                    why = f"{batch.activity}: {ended} while running it"
                    yield [TaskResult(task.map_id, task.index, task.attempt, False, error=why)]
                yield RunnerDied(ended)
                return
            rows = [line for line in arrived if line.startswith(b"[")]
            if rows:
                try:  # every line that arrived, checked in one pass
                    results = _RESULTS.validate_json(b"[" + b",".join(rows) + b"]")
                except ValidationError as error:  # a defect: the child's own lines are sound
                    reason = error.errors()[0]["msg"]
                    await self.kill()
                    yield RunnerDied(f"the runner process sent an unreadable result: {reason}")
                    return
                for result in results:
                    pending.pop((result.map_id, result.index), None)
                yield self._unfrozen(results)
            if len(rows) < len(arrived):  # the line that says the batch is done
                if self.errors is not None:  # the child wrote its stderr before that line
                    self.errors.drain()
                return
            # A moment for more lines to come, read in one go: a batch of tiny items is a line
            # every few microseconds, and waking for each cost more than the item.
            await asyncio.sleep(GATHER_SECONDS)

    async def kill(self) -> None:
        """Stop the child and everything it started."""
        process, self.process = self.process, None
        if process is None or process.returncode is not None:
            return
        if self._stopped == process.pid:  # frozen: its descendants outside the group too
            self._stopped = None
            process_tree.kill(process.pid)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        await process.wait()

    # ------------------------------------------------------------ freezing

    def freeze(self) -> None:
        """Stop the running batch's whole process tree, and any batch that starts meanwhile."""
        if self.frozen:
            return
        self.frozen = True
        self._frozen_since = self.clock.now()
        process = self.process
        if self.busy and process is not None and process.returncode is None:
            self._stop(process)

    def thaw(self) -> None:
        """Continue the frozen tree where it stopped."""
        if not self.frozen:
            return
        self.frozen = False
        if self._frozen_since is not None:
            self._frozen_seconds += self.clock.now() - self._frozen_since
            self._frozen_since = None
        stopped, self._stopped = self._stopped, None
        process = self.process
        if stopped is not None and process is not None and process.pid == stopped:
            process_tree.resume(stopped)

    def _stop(self, process: asyncio.subprocess.Process) -> None:
        self._stopped = process.pid
        process_tree.stop(process.pid)

    def _unfrozen(self, results: list[TaskResult]) -> list[TaskResult]:
        """The first result after a freeze took the frozen seconds too: they are taken off."""
        frozen, self._frozen_seconds = self._frozen_seconds, 0.0
        if not frozen or not results:
            return results
        first = results[0]
        return [first._replace(seconds=max(0.0, first.seconds - frozen)), *results[1:]]

    async def close(self) -> None:
        process, self.process = self.process, None
        if process is None or process.returncode is not None:
            return
        assert process.stdin is not None
        process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 5)
        except TimeoutError:
            self.process = process
            await self.kill()
        if not self.busy and self.lines is not None:
            self.lines.close()
            self.lines = None


class _Unreadable(Exception):
    """What the child wrote cannot be a result line."""


class _Lines:
    """The lines a child writes, as many as have arrived whole at each call (the child writes
    one per finished item: a batch of tiny items sends thousands a second).

    The pipe is read here, not by an asyncio transport: a transport watches it all the time, so
    every line woke the agent and cost the child a wake-up in its write, ten times the cost of
    the write itself. Watched only while the agent waits for the first line, the lines written
    in between wait in the pipe, and the child's writes stay cheap."""

    def __init__(self, fd: int) -> None:
        os.set_blocking(fd, False)
        self.fd: int | None = fd
        self.partial: list[bytes] = []  # the start of a line not yet ended
        self.size = 0

    async def next(self) -> list[bytes]:
        """Lines that arrived (without their ends); none at the end of the stream."""
        while True:
            chunk = await self._read()
            if not chunk:
                self.close()
                return []  # a line left unfinished by a child that died is no result
            *ended, rest = chunk.split(b"\n")
            if ended:
                ended[0] = b"".join([*self.partial, ended[0]])
                self.partial, self.size = [rest] if rest else [], len(rest)
                return ended
            self.partial.append(rest)
            self.size += len(rest)
            if self.size > LINE_LIMIT:
                raise _Unreadable(f"a line over {LINE_LIMIT:,} bytes")

    async def _read(self) -> bytes:
        if self.fd is None:
            return b""
        while True:
            try:
                return os.read(self.fd, READ_BYTES)
            except BlockingIOError:
                await self._readable(self.fd)

    @staticmethod
    async def _readable(fd: int) -> None:
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()

        def readable() -> None:
            if not ready.done():
                ready.set_result(None)

        loop.add_reader(fd, readable)
        try:
            await ready
        finally:
            loop.remove_reader(fd)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class _ErrorLines:
    """The child's stderr, read whenever something arrives (a callback of the event loop, no
    task): each chunk goes on to the node's stderr at once, and each whole line to `line`. It
    stops at the end of the stream (the child and what it started are gone)."""

    def __init__(self, fd: int, line: Callable[[str], None]) -> None:
        os.set_blocking(fd, False)
        self.fd: int | None = fd
        self.line = line
        self.partial = b""
        self.loop = asyncio.get_running_loop()
        self.loop.add_reader(fd, self._read)

    def drain(self) -> None:
        """Take now whatever the pipe holds (the loop may not have called back for it yet)."""
        while self.fd is not None and self._read():
            pass

    def _read(self) -> bool:
        """Read one chunk; whether there may be more."""
        if self.fd is None:
            return False
        try:
            chunk = os.read(self.fd, READ_BYTES)
        except BlockingIOError:
            return False
        except OSError:
            chunk = b""
        if not chunk:
            self.loop.remove_reader(self.fd)
            os.close(self.fd)
            self.fd = None
            if self.partial:
                self.line(self.partial.decode(errors="replace"))
            return False
        with contextlib.suppress(OSError):
            _write_all(2, chunk)
        *ended, rest = (self.partial + chunk).split(b"\n")
        self.partial = rest[-ERROR_LINE_BYTES:]
        for line in ended:
            self.line(line.decode(errors="replace").rstrip("\r"))
        return True


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _preexec(limits: WorkerLimits | None) -> Callable[[], None]:
    """What a child runs before it starts: it dies with the agent, and keeps to the limits."""
    if limits is None:
        return die_with_parent

    def limited() -> None:
        die_with_parent(hard=True)  # it may be frozen: a SIGTERM would wait for ever
        apply_limits(limits)

    return limited


def apply_limits(limits: WorkerLimits) -> None:
    """Lower this process's priority (at the lowest, the idle scheduling class too, where the
    OS has one: it runs only on CPU time nobody else wants) and cap its data size."""
    if limits.nice > 0:
        os.nice(limits.nice)
    if limits.nice >= LOWEST_NICE and hasattr(os, "SCHED_IDLE"):
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    if limits.memory_bytes is not None:
        import resource

        resource.setrlimit(resource.RLIMIT_DATA, (limits.memory_bytes, limits.memory_bytes))


def _exit_reason(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"
