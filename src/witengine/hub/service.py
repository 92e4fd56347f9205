"""The hub's job service: the single writer of job state.

Submits jobs (checked, then stored before the caller hears back), runs each with the interpreter
and the hub executor, records its events and fans them out to listeners, and acts on cancel,
pause and resume. After a restart it runs unfinished jobs again from the start: their maps find
the results already committed, so only unfinished items go to nodes. A failed or cancelled job
is re-run the same way: a new job with its script, parameters and files starts with copies of
its maps holding their successful results, so only the items that failed or never finished run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from witengine.errors import ParameterError, RerunRefused, WitError
from witengine.hub.board import Board
from witengine.hub.board.jobs import JobBoard
from witengine.hub.dispatch import Dispatcher
from witengine.hub.exchange.signatures import SignedRequest
from witengine.hub.executor import EngineExecutor, HubExecutor
from witengine.hub.limits import Limits, check_submission
from witengine.hub.store.base import JobRecord, Json, MapRecord, Store
from witengine.lang.checker import CheckedJob, check_source
from witengine.protocol import BlobRef, SubmitJob
from witengine.protocol.events import (
    JobEvent,
    JobFinished,
    JobRerun,
    JobResumedAfterRestart,
    ProgressReported,
    event_json,
)
from witengine.protocol.states import JobStatus
from witengine.runtime.blobs import Blob, LocalBlobStore
from witengine.runtime.budget import Budget, size_of
from witengine.runtime.context import ActivityContext
from witengine.runtime.control import JobControl
from witengine.runtime.executor import Executor
from witengine.runtime.interpreter import Interpreter
from witengine.runtime.library import Library
from witengine.runtime.parameters import read_parameters

log = logging.getLogger(__name__)

PROGRESS_EVERY = 0.2  # seconds between stored progress events of one statement


@dataclass
class _Run:
    job_id: str
    control: JobControl
    budget: Budget  # what its script may spend of the hub
    task: asyncio.Task[None] | None = None
    listeners: set[asyncio.Queue[tuple[int, Any]]] = field(default_factory=set)
    progress: dict[int, tuple[int, int]] = field(default_factory=dict)  # line -> (done, total)
    last_progress: dict[int, float] = field(default_factory=dict)


class HubService:
    """Jobs: submit, run, follow, cancel, pause, resume."""

    def __init__(
        self,
        store: Store,
        blobs: LocalBlobStore,
        library: Library,
        dispatcher: Dispatcher,
        *,
        now: Callable[[], float],
        wall: Callable[[], float],
        limits: Limits | None = None,
        board: Board | None = None,
    ) -> None:
        self.limits = limits or Limits()
        self.board = board  # the farm's blackboard, which jobs read and write
        self.store = store
        self.blobs = blobs
        self.library = library
        self.dispatcher = dispatcher
        self.now = now
        self.wall = wall
        self.runs: dict[str, _Run] = {}
        # Another engine that runs every job's maps instead of the nodes (a Dask cluster), set
        # by the app once it is connected; None: the dispatcher and its nodes.
        self.engine: Executor | None = None

    # ----------------------------------------------------------------- submit

    def check(self, request: SubmitJob) -> CheckedJob:
        """A submitted job's limits and script, checked; LimitExceeded or ScriptError. It changes
        nothing, so a route may run it in a thread while the hub goes on."""
        check_submission(request, self.limits)  # before any work: nothing is stored
        return check_source(request.script, self.library, request.filename)

    def prepare(self, request: SubmitJob) -> CheckedJob:
        """`check`, and the job's parameters read (a scene's file among them): what submitting
        does before it stores anything. It changes nothing, so it may run in a thread."""
        checked = self.check(request)
        self._arguments(checked, request.parameters, _files_json(request.files))
        return checked

    async def submit(
        self, request: SubmitJob, owner: str | None = None, buyer: SignedRequest | None = None
    ) -> JobRecord:
        """Check, store and start a job; ScriptError or ParameterError when it cannot run.
        `owner` is the id of the token that submitted it; `buyer`, the signed request of the
        account that pays for a job with a bid (or, without one, under its buy mandates). A
        long script takes seconds to check and a scene's file a while to read: both in a
        thread, so that the hub goes on."""
        checked = await asyncio.to_thread(self.prepare, request)
        pools = self._pools(request.pools)
        job = JobRecord(
            id=f"job_{uuid.uuid4().hex[:16]}",
            name=checked.name,
            script=request.script,
            filename=request.filename,
            parameters=dict(request.parameters),
            files=_files_json(request.files),
            status=JobStatus.QUEUED,
            created_at=self.wall(),
            owner=owner,
            pools=pools,
        )
        market = self.dispatcher.market
        if request.bid is not None and buyer is not None and market is not None:
            # The bid before the job: a hub stopped in between resumes it paid, not free.
            bid = request.bid
            market.place_bid(
                job.id,
                buyer.account,
                bid.price,
                bid.deadline,
                buyer.nonce,
                priority=request.priority,
            )
        elif buyer is not None and market is not None and market.buys(buyer.account):
            market.place_mandated(job.id, buyer.account, buyer.nonce, request.priority)
        self.store.add_job(job)
        if request.node is not None:
            self.dispatcher.pin_job(job.id, request.node)
        self._start(job, checked)
        return job

    async def rerun(self, job_id: str, owner: str | None = None) -> JobRecord:
        """Run a failed or cancelled job again as a new job: items it committed keep their
        results, the others run. RerunRefused says why it cannot (its status, a file gone)."""
        source = self._rerunnable(job_id)
        try:  # in a thread, as when it was submitted
            checked = await asyncio.to_thread(self._prepare_again, source)
        except WitError as error:  # the hub's plugins changed, or a file is gone
            raise RerunRefused(f"cannot re-run job {job_id}: {error}") from None
        source = self._rerunnable(job_id)  # a second click may have re-run it meanwhile
        job = replace(
            source,
            id=f"job_{uuid.uuid4().hex[:16]}",
            status=JobStatus.QUEUED,
            created_at=self.wall(),
            error=None,
            started_at=None,
            finished_at=None,
            variables=None,
            owner=owner,
            rerun_of=source.id,
        )
        # Its maps before the job itself: a hub stopped in between has no job to resume yet.
        reused = self.store.reuse_results(job.id, source.id)
        self.store.add_job(job)
        self._start(job, checked)
        self._emit(self.runs[job.id], JobRerun(of=source.id, reused=reused))
        return job

    def _pools(self, names: list[str] | None) -> tuple[str, ...] | None:
        """The pools a submitted job may use; ParameterError naming a pool the hub lacks."""
        if names is None:
            return None
        unknown = [name for name in dict.fromkeys(names) if self.store.get_pool(name) is None]
        if unknown:
            known = ", ".join(pool.name for pool in self.store.list_pools())
            missing = ", ".join(repr(name) for name in unknown)
            raise ParameterError(
                f"pools: no pool named {missing} on this hub (pools: {known}; see wit pools)"
            )
        return tuple(dict.fromkeys(names))

    def _rerunnable(self, job_id: str) -> JobRecord:
        source = self.store.get_job(job_id)
        if source is None:
            raise RerunRefused(f"no job {job_id}")
        if not source.status.rerunnable:
            raise RerunRefused(_not_rerunnable(source))
        running = next((j for j in self.store.unfinished_jobs() if j.rerun_of == job_id), None)
        if running is not None:  # a second click, or a second user: one re-run at a time
            raise RerunRefused(
                f"cannot re-run job {job_id}: it is being re-run as job {running.id} "
                f"({running.status}); wait for that one to end, or cancel it"
            )
        return source

    def _prepare_again(self, job: JobRecord) -> CheckedJob:
        checked = check_source(job.script, self.library, job.filename)
        self._arguments(checked, job.parameters, job.files)
        return checked

    def _arguments(
        self, checked: CheckedJob, texts: dict[str, str], files: dict[str, Any]
    ) -> dict[str, Any]:
        given: dict[str, Any] = {}
        attached: dict[str, list[Blob]] = {}
        for name, refs in files.items():
            blobs = [self._blob(ref) for ref in (refs if isinstance(refs, list) else [refs])]
            if name in texts:  # the files a plugin's reader names in the parameter's text
                attached[name] = blobs
            else:
                given[name] = blobs if isinstance(refs, list) else blobs[0]
        return read_parameters(
            checked, self.library, texts, given=given, attached=attached, stored=self.blobs
        )

    def _blob(self, ref: dict[str, Any]) -> Blob:
        blob = Blob(ref["sha256"], int(ref["size"]), str(ref.get("name", "")))
        if not self.blobs.has(blob.sha256):
            raise ParameterError(f"file {blob.name or blob.sha256} was not uploaded to the hub")
        return blob

    # -------------------------------------------------------------------- run

    async def resume_unfinished(self) -> None:
        """Start again every job that was queued, running or paused when the hub stopped."""
        for job in self.store.unfinished_jobs():
            try:  # a long script takes seconds: the hub answers meanwhile
                checked = await asyncio.to_thread(
                    check_source, job.script, self.library, job.filename
                )
            except WitError as error:
                self.store.update_job(
                    job.id, status=JobStatus.FAILED, at=self.wall(), error=str(error)
                )
                continue
            log.info("resuming job %s (%s)", job.id, job.name)
            self._start(job, checked, resumed=True)

    def _start(self, job: JobRecord, checked: CheckedJob, *, resumed: bool = False) -> None:
        run = _Run(job.id, JobControl(), Budget(self.limits.for_jobs(), self.now))
        if job.status is JobStatus.PAUSED:
            run.control.pause()
            self.dispatcher.pause_job(job.id)
        self.runs[job.id] = run
        run.task = asyncio.get_running_loop().create_task(
            self._run(job, checked, run, resumed), name=f"job {job.id}"
        )

    async def _run(self, job: JobRecord, checked: CheckedJob, run: _Run, resumed: bool) -> None:
        try:  # reading a parameter may read a large file (a scene): not on the event loop
            arguments = await asyncio.to_thread(self._arguments, checked, job.parameters, job.files)
        except WitError as error:
            self._emit(run, JobFinished(status=JobStatus.FAILED, error=str(error)))
            self.store.update_job(job.id, status=JobStatus.FAILED, at=self.wall(), error=str(error))
            return
        if resumed:
            self._emit(run, JobResumedAfterRestart())
        if not run.control.paused:
            self.store.update_job(job.id, status=JobStatus.RUNNING, at=self.wall())
        with tempfile.TemporaryDirectory(prefix="wit-hub-job-") as scratch:
            interpreter = Interpreter(
                checked,
                self.library,
                self._executor(job),
                events=lambda event: self._event(run, event),
                control=run.control,
                context=ActivityContext(
                    self.blobs,
                    Path(scratch),
                    board=JobBoard(self.board, self.library, job.id) if self.board else None,
                ),
                budget=run.budget,
            )
            try:
                outcome = await interpreter.run(arguments)
            except Exception as error:  # a defect in the hub: the job fails, the hub goes on
                log.exception("job %s stopped by an internal error", job.id)
                message = f"internal error in the hub: {type(error).__name__}: {error}"
                self._emit(run, JobFinished(status=JobStatus.FAILED, error=message))
                self.store.update_job(
                    job.id,
                    status=JobStatus.FAILED,
                    at=self.wall(),
                    error=message,
                    progress=self.progress(job.id),
                )
                for queue in run.listeners:
                    queue.put_nowait((0, None))
                return
            finally:
                self.dispatcher.job_ended(job.id)
        variables = {
            "values": outcome.variables_json(self.library),
            "types": {name: str(t) for name, t in outcome.types.items()},
        }
        self.store.update_job(
            job.id,
            status=outcome.status,
            at=self.wall(),
            error=outcome.error,
            variables=variables,
            progress=self.progress(job.id),  # what a restarted hub shows of the ended job
        )
        for queue in run.listeners:
            queue.put_nowait((0, None))  # the end of the stream

    def _executor(self, job: JobRecord) -> Executor:
        if self.engine is not None:
            return EngineExecutor(self.engine, self.limits.map_items)
        return HubExecutor(self.dispatcher, job.id, self.limits.map_items, job.pools)

    def _event(self, run: _Run, event: JobEvent) -> None:
        if isinstance(event, ProgressReported):
            run.progress[event.line] = (event.done, event.total)
            moment = self.now()
            last = run.last_progress.get(event.line, 0.0)
            if 0 < event.done < event.total and moment - last < PROGRESS_EVERY:
                return
            run.last_progress[event.line] = moment
            work = self.dispatcher.work_by_node(run.job_id)  # who did how much so far
            event = event.model_copy(update={"nodes": {k: (v[0], v[1]) for k, v in work.items()}})
        self._emit(run, event)

    def _emit(self, run: _Run, event: JobEvent) -> None:
        data = event_json(event)
        seq = self.store.append_events(run.job_id, [data])
        run.budget.charge(size_of(data))
        for queue in run.listeners:
            queue.put_nowait((seq, data))

    async def stop(self) -> None:
        """Stop running jobs without ending them: they resume when the hub starts again."""
        tasks = [run.task for run in self.runs.values() if run.task and not run.task.done()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # ---------------------------------------------------------------- control

    def job(self, job_id: str) -> JobRecord | None:
        return self.store.get_job(job_id)

    def running(self) -> list[str]:
        """The jobs whose scripts run now (paused ones among them)."""
        return [i for i, run in self.runs.items() if run.task is not None and not run.task.done()]

    def progress(self, job_id: str, job: JobRecord | None = None) -> tuple[int, int]:
        """Items done and in all, over the job's maps: as they run, or as it ended (stored, so
        a restarted hub still shows it). `job`: its record, when the caller has read it."""
        run = self.runs.get(job_id)
        if run is None:
            job = job or self.store.get_job(job_id)
            return job.progress if job is not None and job.progress is not None else (0, 0)
        done = sum(d for d, _ in run.progress.values())
        return done, sum(t for _, t in run.progress.values())

    def items(
        self, job_id: str, seq: int, after: int, limit: int
    ) -> tuple[list[MapRecord], list[tuple[int, Json, str | None]]]:
        """The job's maps so far, and a page of map `seq`'s committed items with an index above
        `after` (none while the job has not reached that map). Results are read from the
        store, where they are durable once committed, a page at a time by their key."""
        maps = self.store.job_maps(job_id)
        chosen = next((m for m in maps if m.seq == seq), None)
        page = self.store.map_items(chosen.id, after, limit) if chosen is not None else []
        return maps, page

    def cancel(self, job_id: str) -> bool:
        run = self.runs.get(job_id)
        job = self.store.get_job(job_id)
        if run is None or job is None or job.status.ended:
            return False
        run.control.cancel()
        self.dispatcher.cancel_job(job_id)
        return True

    def pause(self, job_id: str) -> bool:
        run = self.runs.get(job_id)
        job = self.store.get_job(job_id)
        if run is None or job is None or job.status.ended:
            return False
        run.control.pause()
        self.dispatcher.pause_job(job_id)  # and no new batches for its maps meanwhile
        self.store.update_job(job_id, status=JobStatus.PAUSED, at=self.wall())
        return True

    def resume(self, job_id: str) -> bool:
        run = self.runs.get(job_id)
        job = self.store.get_job(job_id)
        if run is None or job is None or job.status is not JobStatus.PAUSED:
            return False
        run.control.resume()
        self.dispatcher.resume_job(job_id)
        self.store.update_job(job_id, status=JobStatus.RUNNING, at=self.wall())
        return True

    async def follow(self, job_id: str, after: int = 0) -> AsyncIterator[tuple[int, Any]]:
        """The job's events from after `after`, live until it ends."""
        queue: asyncio.Queue[tuple[int, Any]] = asyncio.Queue()
        run = self.runs.get(job_id)
        if run is not None:
            run.listeners.add(queue)
        try:
            seen = after
            while True:
                stored = self.store.events(job_id, after=seen, limit=1000)
                for seq, data in stored:
                    seen = seq
                    yield seq, data
                if len(stored) < 1000:
                    break
            job = self.store.get_job(job_id)
            if run is None or job is None or job.status.ended:
                return
            while True:
                seq, data = await queue.get()
                if data is None:
                    return
                if seq > seen:
                    seen = seq
                    yield seq, data
        finally:
            if run is not None:
                run.listeners.discard(queue)


def _not_rerunnable(job: JobRecord) -> str:
    why = {
        JobStatus.COMPLETED: "every item has its result, there is nothing to run again",
        JobStatus.PAUSED: "resume it instead",
    }.get(job.status, "wait until it ends, or cancel it")
    return (
        f"cannot re-run job {job.id}: it is {job.status}; only a failed or cancelled job can "
        f"be re-run ({why})"
    )


def _files_json(files: dict[str, BlobRef | list[BlobRef]]) -> dict[str, Any]:
    return {
        name: [r.model_dump() for r in refs] if isinstance(refs, list) else refs.model_dump()
        for name, refs in files.items()
    }
