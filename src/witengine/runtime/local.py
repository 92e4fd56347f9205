"""The in-process executor: a pool of worker processes over this machine's cores.

Items go to the workers in chunks (several per worker, so fast and slow chunks even out), each
worker loads the plugins by reference once, and results come back in input order. Used by
`wit run --local` and by tests; the hub's executor replaces it without changes to the interpreter.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import multiprocessing.context
import os
import sys
import tempfile
import threading
import types
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from witengine.runtime.blobs import LocalBlobStore
from witengine.runtime.context import ActivityContext
from witengine.runtime.executor import ItemFailed, MapRequest, Progress
from witengine.runtime.invoke import invoke_batch_json
from witengine.runtime.library import Json, Library

CHUNKS_PER_WORKER = 4
MAX_CHUNK = 2_000


def usable_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


_launching = threading.Lock()  # `__main__` is this process's: one launch hides it at a time


@contextlib.contextmanager
def _main_out_of_sight() -> Iterator[None]:
    """While a pool process starts, this process's `__main__` out of multiprocessing's sight.

    Otherwise the new process, and the fork server that makes it, run the main script again
    (as `__mp_main__`): a script that calls the API at its top level, without an
    `if __name__ == "__main__":` guard, would start over in each of them and fail. Pool
    processes need nothing from `__main__`: they load the plugins by reference."""
    with _launching:
        main = sys.modules["__main__"]
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            yield
        finally:
            sys.modules["__main__"] = main


class _PoolProcess(multiprocessing.context.ForkServerProcess):
    """A pool process, started from the fork server without running the main script."""

    @staticmethod
    def _Popen(process_obj: Any) -> Any:
        with _main_out_of_sight():
            return multiprocessing.context.ForkServerProcess._Popen(process_obj)


class _PoolContext(multiprocessing.context.ForkServerContext):
    Process = _PoolProcess


class _Worker:
    """State of one pool process: its library and blob store, loaded once."""

    library: Library | None = None
    context: ActivityContext | None = None


def _start_worker(
    plugin_refs: Sequence[str], blob_root: str, scratch: str, threads: int | None = None
) -> None:
    from witengine.plugins.registry import library_from_refs

    os.dup2(2, 1)  # an activity that prints writes to stderr, never into the command's output
    _Worker.library = library_from_refs(plugin_refs)
    work_dir = Path(tempfile.mkdtemp(prefix="worker-", dir=scratch))
    _Worker.context = ActivityContext(LocalBlobStore(Path(blob_root)), work_dir, threads=threads)


def _run_chunk(activity: str, items: Sequence[Sequence[Json]]) -> list[tuple[bool, Json]]:
    """Run items in this worker, together if the activity has a batch form: (True, result) or
    (False, error message) for each, in order."""
    assert _Worker.library is not None
    results: list[tuple[bool, Json]] = [(False, None)] * len(items)
    for position, ok, value in invoke_batch_json(_Worker.library, activity, items, _Worker.context):
        results[position] = (ok, value)
    return results


class LocalExecutor:
    """Runs map items in a process pool on this machine."""

    def __init__(
        self, plugin_refs: Sequence[str], blob_root: Path, workers: int | None = None
    ) -> None:
        self.plugin_refs = list(plugin_refs)
        self.blob_root = blob_root
        self.workers = workers or usable_cores()
        self._pool: ProcessPoolExecutor | None = None
        self._scratch: tempfile.TemporaryDirectory[str] | None = None

    def _ensure_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            if self._scratch is None:
                self._scratch = tempfile.TemporaryDirectory(prefix="wit-pool-")
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=_PoolContext(),
                initializer=_start_worker,
                initargs=(
                    self.plugin_refs,
                    str(self.blob_root),
                    self._scratch.name,
                    max(1, usable_cores() // self.workers),  # cores one item may use
                ),
            )
        return self._pool

    def chunk_size(self, count: int) -> int:
        return max(1, min(MAX_CHUNK, math.ceil(count / (self.workers * CHUNKS_PER_WORKER))))

    async def map(self, request: MapRequest, progress: Progress) -> list[Json]:
        total = len(request.items)
        if total == 0:
            return []
        try:
            pending = self._submit(request)
        except BrokenProcessPool:
            # A worker died since the last map (killed while idle): start afresh, once.
            self._pool = None
            pending = self._submit(request)
        results: list[Json] = [None] * total
        done = 0
        try:
            while pending:
                finished, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for future in sorted(finished, key=lambda f: pending[f]):
                    start = pending.pop(future)
                    try:
                        chunk_results = future.result()
                    except BrokenProcessPool:
                        self._pool = None  # the next map starts a fresh pool
                        raise self._died(
                            request, min([start, *pending.values()]), total, done
                        ) from None
                    for offset, (ok, value) in enumerate(chunk_results):
                        if not ok:
                            raise ItemFailed(start + offset, str(value))
                        results[start + offset] = value
                    done += len(chunk_results)
                progress(done, total)
        finally:
            for future in pending:
                future.cancel()
        return results

    def _submit(self, request: MapRequest) -> dict[asyncio.Future[Any], int]:
        """Every chunk of the request handed to the pool, each future with its first item."""
        pool = self._ensure_pool()
        size = self.chunk_size(len(request.items))
        loop = asyncio.get_running_loop()
        pending: dict[asyncio.Future[Any], int] = {}
        try:
            for start in range(0, len(request.items), size):
                chunk = list(request.items[start : start + size])
                submitted: Future[Any] = pool.submit(_run_chunk, request.activity, chunk)
                pending[asyncio.wrap_future(submitted, loop=loop)] = start
        except BaseException:
            for future in pending:
                future.cancel()
            raise
        return pending

    @staticmethod
    def _died(request: MapRequest, first: int, total: int, done: int) -> ItemFailed:
        # The pool cannot tell which of the items in flight a dead process was running, so the
        # message names the earliest unfinished item without claiming that it was the culprit.
        others = total - done - 1
        suspects = f"this item or one of the {others} others not yet done" if others else "it"
        return ItemFailed(
            first,
            f"{request.activity}: a worker process died (killed, or crashed by the activity) "
            f"while running {suspects}; the pool will be restarted",
        )

    async def aclose(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await asyncio.to_thread(pool.shutdown, True, cancel_futures=True)
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None

    async def __aenter__(self) -> LocalExecutor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
