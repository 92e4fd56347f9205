"""A batch the parent hands a site, run over the site's own nodes by the site's own scheduler.

Each batch becomes a job of the site's own (named after the parent's job, shown on the site's
dashboard) with one map of the batch's items, which the site's dispatcher plans over its nodes
as it plans any map. Its results go up as the site commits them, each with the parent's attempt,
so the parent commits each once whatever happens at either level. The files the items name are
fetched from the parent once per site (the site's nodes then fetch them from the site); the
files its results name go up to the parent before the results do.

This module must not speak to the parent's socket: it hands results to `deliver`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from witengine.clock import wall_time
from witengine.errors import WitError
from witengine.hub.app import Hub
from witengine.hub.dispatch.records import Json
from witengine.hub.store.base import JobRecord
from witengine.node.hub_client import HubFiles
from witengine.protocol import Assign, TaskResult, TaskSpec
from witengine.protocol.states import JobStatus
from witengine.runtime.blobs import Blob, blobs_in
from witengine.runtime.executor import ItemFailed, MapRequest

log = logging.getLogger(__name__)
Deliver = Callable[[str, list[TaskResult]], None]  # batch id, results


class SiteWork:
    """Runs the parent's batches on the site hub `hub`; `files` reach the parent's blobs."""

    def __init__(self, hub: Hub, files: Callable[[], HubFiles]) -> None:
        self.hub = hub
        self.files = files
        self.item_seconds = 0.0  # node-seconds per item of the site's latest commit
        # Files being fetched from the parent, by digest: a batch that needs one of them waits
        # for that fetch rather than fetch it again.
        self._fetching: dict[str, asyncio.Task[None]] = {}
        hub.dispatcher.on_delivered(self._delivered)

    def _delivered(self, node_id: str, items: int, seconds: float) -> None:
        if items:
            self.item_seconds = seconds / items

    async def run(self, assign: Assign, deliver: Deliver) -> bool:
        """Run the batch until every item has a result delivered; False when it stopped early
        (an item failed it: the others are handed back unrun)."""
        job_id = f"job_site_{assign.batch_id}"
        tasks = list(assign.tasks)
        sent: set[int] = set()

        def committed(results: Mapping[int, Json]) -> None:
            fresh = [i for i in results if i not in sent]
            if not fresh:
                return
            sent.update(fresh)
            seconds = self.item_seconds
            deliver(
                assign.batch_id,
                [
                    TaskResult(
                        tasks[i].map_id,
                        tasks[i].index,
                        tasks[i].attempt,
                        True,
                        results[i],
                        None,
                        seconds,
                    )
                    for i in sorted(fresh)
                ],
            )

        try:
            await self._fetch_inputs(assign.activity, tasks)
        except (WitError, OSError) as error:  # a missing file fails the items
            deliver(
                assign.batch_id,
                [TaskResult(t.map_id, t.index, t.attempt, False, None, f"{error}") for t in tasks],
            )
            return True
        self._open_job(job_id, assign)
        request = MapRequest(
            assign.activity, [task.args for task in tasks], label=f"batch {assign.batch_id}"
        )
        status, why = JobStatus.COMPLETED, None
        try:
            values = await self.hub.dispatcher.run_map(
                job_id, 1, request, lambda done, total: None, committed
            )
            committed(dict(enumerate(values)))
        except ItemFailed as failed:
            status, why = JobStatus.FAILED, str(failed)
            task = tasks[failed.index]
            if failed.index not in sent:
                sent.add(failed.index)
                deliver(
                    assign.batch_id,
                    [
                        TaskResult(
                            task.map_id, task.index, task.attempt, False, None, failed.message
                        )
                    ],
                )
        except WitError as failed:  # no node of the site can run it, say
            status, why = JobStatus.FAILED, str(failed)
        except asyncio.CancelledError:
            self.hub.dispatcher.cancel_job(job_id)
            called_back = "the parent hub called the batch back"
            self._close_job(job_id, JobStatus.CANCELLED, called_back, (len(sent), len(tasks)))
            raise
        finally:
            self.hub.dispatcher.job_ended(job_id)
        self._close_job(job_id, status, why, (len(sent), len(tasks)))
        return len(sent) == len(tasks)

    def _open_job(self, job_id: str, assign: Assign) -> None:
        store = self.hub.store
        if store.get_job(job_id) is not None:
            return
        now = wall_time()
        store.add_job(
            JobRecord(
                id=job_id,
                name=f"parent {assign.job_id}",
                script=f"// {len(assign.tasks)} items of {assign.activity} for the parent hub",
                filename="parent.wit",
                parameters={},
                files={},
                status=JobStatus.QUEUED,
                created_at=now,
            )
        )
        store.update_job(job_id, status=JobStatus.RUNNING, at=now)

    def _close_job(
        self, job_id: str, status: JobStatus, error: str | None, progress: tuple[int, int]
    ) -> None:
        """End the batch's job: its status, and its items passed up out of all."""
        with contextlib.suppress(Exception):  # the record is for people; the work is done
            self.hub.store.update_job(
                job_id, status=status, at=wall_time(), error=error, progress=progress
            )

    async def _fetch_inputs(self, activity: str, tasks: Sequence[TaskSpec]) -> None:
        """Fetch from the parent the files the items name that the site lacks, each once for
        the site however many of its batches name it."""
        library, blobs = self.hub.library, self.hub.blobs
        definition = library.activities.get(activity)
        if definition is None:
            return
        params = definition.spec.params
        wanted: dict[str, Blob] = {}
        for task in tasks:
            for value, param in zip(task.args, params, strict=False):
                for blob in blobs_in(library.decode(value, param.type)):
                    if not blobs.has(blob.sha256):
                        wanted.setdefault(blob.sha256, blob)
        for blob in wanted.values():
            fetch = self._fetching.get(blob.sha256)
            if fetch is None:
                fetch = asyncio.ensure_future(self._fetch(blob))
                self._fetching[blob.sha256] = fetch
                fetch.add_done_callback(functools.partial(self._fetched, blob.sha256))
            await asyncio.shield(fetch)  # a batch called back leaves the fetch to the others

    def _fetched(self, sha256: str, _: object) -> None:
        self._fetching.pop(sha256, None)

    async def _fetch(self, blob: Blob) -> None:
        with tempfile.TemporaryDirectory(prefix="wit-site-") as folder:
            target = Path(folder) / "blob"
            await self.files().download(blob.sha256, target)
            with target.open("rb") as handle:
                self.hub.blobs.put_stream(handle, blob.name, expected=blob.sha256)
        log.info("fetched %s from the parent hub", blob)

    async def upload_outputs(self, activity: str, results: Sequence[TaskResult]) -> None:
        """Send the parent the files the results name (a render's images), before them."""
        library, blobs = self.hub.library, self.hub.blobs
        definition = library.activities.get(activity)
        if definition is None or definition.spec.returns is None:
            return
        if not library.holds_blobs(definition.spec.returns):
            return
        for result in results:
            if result.ok:
                value: Any = library.decode(result.value, definition.spec.returns)
                for blob in blobs_in(value):
                    await self.files().upload(blob, blobs.path(blob))
