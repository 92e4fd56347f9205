"""`DaskExecutor`: the `Executor` seam over an existing Dask cluster, without witengine nodes.

Each map becomes Dask tasks of batches of items: about `BATCHES_PER_THREAD` batches for each
worker thread able to run them, of about equal work by the plugin's estimates (equal numbers
of items when it has none), at most `MAX_BATCH` items each. Each batch runs on a worker from
the installed plugins (`dask_tasks.run_batch`). Results come back in input order.

- Placement: what an activity (or one item) requires of a machine maps to Dask worker resources:
  each program it needs by name (`blender`) and `gpu` for a GPU; such a batch asks for one unit
  of each (`resources={"blender": 1}`), so it runs only on workers started with
  `--resources blender=N`. A map none of whose workers declares them fails at once, saying so.
  Other needs (operating system, RAM, versions) are the cluster's to meet.
- Files: the blobs an item names travel as Dask data (scattered once per map, kept on the
  workers that need them), and the files of results come back with them; or, with `shared`, a
  folder every worker sees at the same path is the blob store that both sides read and write.
- A worker that dies mid-map loses no item: Dask runs its batches again elsewhere, and each
  batch's outcome is kept once, when its future completes. Cancelling the map cancels its tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import math
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from witengine.engines.dask_tasks import BatchOutcome, BatchSpec, run_batch
from witengine.errors import WitError
from witengine.plugins.api import Plugin
from witengine.runtime.blobs import Blob, LocalBlobStore, blobs_in
from witengine.runtime.executor import Executor, ItemFailed, MapRequest, Progress
from witengine.runtime.invoke import requirements_json, work_json
from witengine.runtime.library import ActivityDef, Json, Library

if TYPE_CHECKING:
    from distributed import Client, Future

    from witengine.plugins.requirements import Requirements

BATCHES_PER_THREAD = 4
MAX_BATCH = 2_000


class DaskError(WitError):
    """The Dask cluster cannot run a map: unreachable, no fitting worker, or a worker's failure."""


def scheduler_address(text: str) -> str:
    """A Dask scheduler's address from `tcp://host:port`, `dask://host:port` or `host:port`."""
    address = text.strip()
    if address.startswith("dask://"):
        address = "tcp://" + address.removeprefix("dask://")
    elif "://" not in address:
        address = "tcp://" + address
    host_port = address.split("://", 1)[1]
    host, _, port = host_port.rpartition(":")
    if not host or not port.isdigit():
        raise DaskError(
            f"'{text}' is not a Dask scheduler's address: write it as tcp://HOST:PORT "
            "(such as tcp://scheduler:8786)"
        )
    return address


def resources_for(requirements: Requirements | None) -> frozenset[str]:
    """The Dask worker resources that stand for what an item requires: its programs, by name,
    and `gpu` when it needs a GPU."""
    if requirements is None:
        return frozenset()
    names = {software.name for software in requirements.software}
    return frozenset(names | ({"gpu"} if requirements.gpu else set()))


def batches(positions: Sequence[int], work: Sequence[float], count: int) -> list[list[int]]:
    """The positions cut, in order, into about `count` batches of about equal estimated work
    (so unequal items, such as frames, still end together), at most MAX_BATCH items each."""
    total = sum(work[position] for position in positions)
    if not positions:
        return []
    if total <= 0:  # no estimate tells them apart: equal numbers of items
        size = max(1, min(MAX_BATCH, math.ceil(len(positions) / count)))
        return [list(positions[i : i + size]) for i in range(0, len(positions), size)]
    share = total / count
    cut: list[list[int]] = [[]]
    held = 0.0
    for position in positions:
        if cut[-1] and (held + work[position] / 2 > share or len(cut[-1]) >= MAX_BATCH):
            cut.append([])
            held = 0.0
        cut[-1].append(position)
        held += work[position]
    return cut


class DaskExecutor:
    """Runs map items as batched tasks on a Dask cluster; results in input order."""

    def __init__(
        self,
        client: Client,
        library: Library,
        blobs: LocalBlobStore,
        plugins: Sequence[Plugin],
        *,
        shared: Path | None = None,
        owns_client: bool = False,
        worker_wait: float = 60.0,
    ) -> None:
        self.client: Any = client  # asynchronous: its methods give awaitables
        self.library = library
        self.blobs = blobs
        self.refs = {plugin.name: plugin.ref for plugin in plugins if plugin.ref}
        self.shared = LocalBlobStore(shared) if shared is not None else None
        self._owns_client = owns_client
        self.worker_wait = worker_wait  # seconds a map waits for a first worker to join

    @classmethod
    async def connect(
        cls,
        address: str,
        library: Library,
        blobs: LocalBlobStore,
        plugins: Sequence[Plugin],
        *,
        shared: Path | None = None,
        timeout: float = 30.0,
    ) -> DaskExecutor:
        """An executor with its own asynchronous client of the scheduler at `address`."""
        from distributed import Client

        where = scheduler_address(address)
        try:
            client = await Client(where, asynchronous=True, timeout=timeout)
        except OSError as error:
            raise DaskError(f"cannot reach the Dask scheduler at {where}: {error}") from None
        return cls(client, library, blobs, plugins, shared=shared, owns_client=True)

    # ------------------------------------------------------------------ map

    async def map(self, request: MapRequest, progress: Progress) -> list[Json]:
        total = len(request.items)
        if total == 0:
            return []
        definition = self.library.activities.get(request.activity)
        if definition is None:
            raise DaskError(f"{request.activity}: no such activity in this process's plugins")
        items = request.items
        spec = self._spec(definition)
        groups = self._groups(definition, items)
        threads = await self._threads(request.activity, groups)
        files = await self._send_files(definition, items)
        futures: dict[Future[BatchOutcome], list[int]] = {}
        try:
            self._submit(spec, items, groups, threads, files, futures)
            return await self._gather(request, futures, progress, total)
        finally:
            unfinished = [future for future in futures if not future.done()]
            if unfinished:
                with contextlib.suppress(Exception):
                    await self.client.cancel(unfinished)
            futures.clear()

    def _spec(self, definition: ActivityDef) -> BatchSpec:
        plugin_ref = self.refs.get(definition.plugin, "")
        others = tuple(ref for name, ref in sorted(self.refs.items()) if ref != plugin_ref)
        returns = definition.spec.returns
        return BatchSpec(
            activity=definition.name,
            plugin=definition.plugin if plugin_ref else "",
            plugin_ref=plugin_ref,
            other_refs=others,
            shared=str(self.shared.root) if self.shared is not None else None,
            returns_files=returns is not None and self.library.holds_blobs(returns),
        )

    def _groups(
        self, definition: ActivityDef, items: Sequence[Sequence[Json]]
    ) -> dict[frozenset[str], list[int]]:
        """The items' positions by the worker resources they need, in input order."""
        common = resources_for(definition.requirements)
        if definition.item_requirements is None:
            return {common: list(range(len(items)))}
        groups: dict[frozenset[str], list[int]] = {}
        for position, args in enumerate(items):
            needs = common | resources_for(requirements_json(self.library, definition.name, args))
            groups.setdefault(needs, []).append(position)
        return groups

    async def _threads(
        self, activity: str, groups: dict[frozenset[str], list[int]]
    ) -> dict[frozenset[str], int]:
        """For each group, the threads of the workers that may run it; DaskError when none."""
        identity = await self.client.scheduler.identity(n_workers=-1)
        if not identity.get("workers"):
            # None yet: an adaptive cluster (Kubernetes, dask-jobqueue) starts them on demand.
            with contextlib.suppress(TimeoutError):
                await self.client.wait_for_workers(1, timeout=self.worker_wait)
            identity = await self.client.scheduler.identity(n_workers=-1)
        workers = identity.get("workers", {}).values()
        threads: dict[frozenset[str], int] = {}
        for needs in groups:
            able = [
                worker
                for worker in workers
                if all(worker.get("resources", {}).get(name, 0) >= 1 for name in needs)
            ]
            if not able:
                raise DaskError(self._no_worker(activity, needs, len(workers)))
            threads[needs] = sum(int(worker.get("nthreads", 1)) for worker in able)
        return threads

    @staticmethod
    def _no_worker(activity: str, needs: frozenset[str], count: int) -> str:
        if not count:
            return (
                f"{activity}: the Dask cluster has no worker, and none came in the seconds it "
                "was waited for: start one (dask worker ADDRESS)"
            )
        wanted = ", ".join(sorted(needs))
        flags = " ".join(f"{name}=1" for name in sorted(needs))
        return (
            f"{activity}: none of the Dask cluster's {count} worker(s) declares the resource(s) "
            f"{wanted} that it needs: start a worker that has them with "
            f'`dask worker ADDRESS --resources "{flags}"`'
        )

    def _submit(
        self,
        spec: BatchSpec,
        items: Sequence[Sequence[Json]],
        groups: dict[frozenset[str], list[int]],
        threads: dict[frozenset[str], int],
        files: dict[str, tuple[Any, set[int]]],
        futures: dict[Future[BatchOutcome], list[int]],
    ) -> None:
        work = work_json(self.library, spec.activity, items)  # by the plugin's estimates
        token = uuid.uuid4().hex[:12]
        prefix = "wit-" + spec.activity.lower().replace(".", "-")
        number = 0
        for needs, positions in groups.items():
            for batch in batches(positions, work, threads[needs] * BATCHES_PER_THREAD):
                wanted = set(batch)
                sent = {sha: data for sha, (data, users) in files.items() if users & wanted}
                future = self.client.submit(
                    run_batch,
                    spec,
                    [list(items[position]) for position in batch],
                    sent,
                    key=f"{prefix}-{token}-{number}",
                    pure=False,
                    resources={name: 1 for name in needs} or None,
                )
                futures[future] = batch
                number += 1

    async def _gather(
        self,
        request: MapRequest,
        futures: dict[Future[BatchOutcome], list[int]],
        progress: Progress,
        total: int,
    ) -> list[Json]:
        from distributed import as_completed

        results: list[Json] = [None] * total
        done = 0
        async for future in as_completed(list(futures)):
            batch = futures[future]
            try:
                outcome: BatchOutcome = await future
            except WitError:
                raise
            except asyncio.CancelledError:
                raise
            except Exception as error:
                raise ItemFailed(batch[0], self._failure(request.activity, error, batch)) from None
            self._keep_files(outcome.files)
            for position, (ok, value) in zip(batch, outcome.results, strict=True):
                if not ok:
                    raise ItemFailed(position, str(value))
                results[position] = value
            self._fetch_shared(request.activity, outcome.results)
            done += len(batch)
            progress(done, total)
        return results

    @staticmethod
    def _failure(activity: str, error: Exception, batch: list[int]) -> str:
        from distributed import KilledWorker

        others = f"this item or one of the {len(batch) - 1} after it" if len(batch) > 1 else "it"
        if isinstance(error, KilledWorker):
            return (
                f"{activity}: the Dask workers running {others} died each time (killed, or "
                f"crashed by the activity): {error}"
            )
        return f"{activity}: a Dask worker failed running {others}: {type(error).__name__}: {error}"

    # ---------------------------------------------------------------- files

    def _input_blobs(
        self, definition: ActivityDef, items: Sequence[Sequence[Json]]
    ) -> dict[str, tuple[Blob, set[int]]]:
        """Every blob the items name, with the positions of the items that name it."""
        spec = definition.spec
        found: dict[str, tuple[Blob, set[int]]] = {}
        if not any(self.library.holds_blobs(p.type) for p in spec.params) and spec.variadic is None:
            return found
        for position, args in enumerate(items):
            for value, type_ in zip(args, spec.argument_types(len(args)), strict=False):
                if not self.library.holds_blobs(type_):
                    continue
                for blob in blobs_in(self.library.decode(value, type_)):
                    found.setdefault(blob.sha256, (blob, set()))[1].add(position)
        return found

    async def _send_files(
        self, definition: ActivityDef, items: Sequence[Sequence[Json]]
    ) -> dict[str, tuple[Any, set[int]]]:
        """The items' input files where the workers find them: scattered (their Dask futures,
        with the items that use each) or copied into the shared folder (nothing to send)."""
        wanted = self._input_blobs(definition, items)
        if self.shared is not None:
            for blob, _ in wanted.values():
                if not self.shared.has(blob.sha256):
                    await asyncio.to_thread(self.shared.put_file, self.blobs.path(blob))
            return {}
        sent: dict[str, tuple[Any, set[int]]] = {}
        for sha256, (blob, users) in wanted.items():
            data = await asyncio.to_thread(self.blobs.path(blob).read_bytes)
            scattered = await self.client.scatter({f"wit-file-{sha256}": data}, hash=False)
            sent[sha256] = (scattered[f"wit-file-{sha256}"], users)
        return sent

    def _keep_files(self, files: dict[str, bytes]) -> None:
        for sha256, data in files.items():
            if not self.blobs.has(sha256):
                self.blobs.put_stream(io.BytesIO(data), expected=sha256)

    def _fetch_shared(self, activity: str, results: list[tuple[bool, Json]]) -> None:
        """Results' files, from the shared folder into this side's blob store."""
        if self.shared is None or self.shared.root == self.blobs.root:
            return
        definition = self.library.activities[activity]
        returns = definition.spec.returns
        if returns is None or not self.library.holds_blobs(returns):
            return
        for ok, value in results:
            if ok:
                for blob in blobs_in(self.library.decode(value, returns)):
                    if not self.blobs.has(blob.sha256):
                        self.blobs.put_file(self.shared.path(blob))

    # ------------------------------------------------------------ lifetime

    async def aclose(self) -> None:
        if self._owns_client:
            await self.client.close()

    async def __aenter__(self) -> DaskExecutor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


if TYPE_CHECKING:
    _seam: type[Executor] = DaskExecutor  # mypy checks here that it is an Executor
