"""What runs on a Dask worker for `DaskExecutor`: one batch of a map's items.

A batch loads its activity's plugin on the worker (once per worker process, by reference, as the
local pool does), puts the input files it was sent into the worker's own blob store (or reads
them from a folder every worker shares), runs the items through `invoke_batch_json`, and sends
back each item's outcome in order, with the files of its results when there is no shared folder.
A plugin that the worker cannot load is an error naming the plugin and the worker.

Only what a worker needs is here, and it imports nothing of the hub, the node or the CLI.
"""

from __future__ import annotations

import io
import os
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from witengine.errors import PluginError, WitError
from witengine.runtime.blobs import LocalBlobStore, blobs_in
from witengine.runtime.context import ActivityContext
from witengine.runtime.invoke import invoke_batch_json
from witengine.runtime.library import Json, Library


class WorkerLacksPlugin(WitError):
    """A Dask worker cannot load the plugin that a map's activity comes from."""


@dataclass(frozen=True)
class BatchSpec:
    """What every batch of one map shares: the activity, the plugins to load, where files are."""

    activity: str
    plugin: str  # the activity's plugin, by name ("" for a built-in activity)
    plugin_ref: str  # its `module:attribute` ("" for a built-in activity)
    other_refs: tuple[str, ...]  # the other plugins, loaded when the worker has them (types)
    shared: str | None = None  # a folder every worker sees: the blob store, instead of sending
    returns_files: bool = False  # whether results may hold files to send back


@dataclass(frozen=True)
class BatchOutcome:
    """Each item's (succeeded, JSON result or error) in the batch's order, and the bytes of the
    files its results name (by sha256) when they travel as Dask data."""

    results: list[tuple[bool, Json]]
    files: dict[str, bytes]


class _Loaded:
    """Per worker process: libraries by the plugins they were built from, loaded once."""

    lock = threading.Lock()
    libraries: dict[tuple[str, tuple[str, ...]], Library] = {}  # noqa: RUF012


def _worker_words() -> str:
    from distributed import get_worker

    worker = get_worker()
    return f"Dask worker '{worker.name}' ({worker.address})"


def _library(spec: BatchSpec) -> Library:
    from witengine.plugins.registry import build_library, load_ref

    key = (spec.plugin_ref, spec.other_refs)
    with _Loaded.lock:
        known = _Loaded.libraries.get(key)
        if known is not None:
            return known
        plugins = []
        if spec.plugin_ref:
            try:
                plugins.append(load_ref(spec.plugin_ref))
            except PluginError as error:
                raise WorkerLacksPlugin(
                    f"{spec.activity}: {_worker_words()} cannot load plugin '{spec.plugin}' "
                    f"({spec.plugin_ref}): {error}; install the plugin on every worker that "
                    "may run it"
                ) from None
        for ref in spec.other_refs:
            try:  # another plugin's types may be the activity's; a missing one is no error
                plugins.append(load_ref(ref))
            except PluginError:
                continue
        try:
            library = build_library(plugins)
        except PluginError as error:
            raise WorkerLacksPlugin(
                f"{spec.activity}: {_worker_words()} cannot use plugin '{spec.plugin}': {error}"
            ) from None
        _Loaded.libraries[key] = library
        return library


def _store(spec: BatchSpec, files: Mapping[str, bytes]) -> LocalBlobStore:
    from distributed import get_worker

    if spec.shared is not None:
        return LocalBlobStore(Path(spec.shared))
    store = LocalBlobStore(Path(get_worker().local_directory) / "witengine-blobs")
    for sha256, data in files.items():
        if not store.has(sha256):
            store.put_stream(io.BytesIO(data), expected=sha256)
    return store


def _threads() -> int:
    from distributed import get_worker

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, cores // max(1, get_worker().state.nthreads))


def run_batch(
    spec: BatchSpec, items: Sequence[Sequence[Json]], files: Mapping[str, bytes]
) -> BatchOutcome:
    """Run one batch on this Dask worker; the outcome of every item, in order."""
    from distributed import get_worker

    library = _library(spec)
    store = _store(spec, files)
    results: list[tuple[bool, Json]] = [(False, None)] * len(items)
    with tempfile.TemporaryDirectory(prefix="wit-batch-", dir=get_worker().local_directory) as work:
        context = ActivityContext(store, Path(work), threads=_threads())
        for position, ok, value in invoke_batch_json(library, spec.activity, items, context):
            results[position] = (ok, value)
    made: dict[str, bytes] = {}
    if spec.returns_files and spec.shared is None:
        returns = library.activities[spec.activity].spec.returns
        for ok, value in results:
            if ok and returns is not None:
                for blob in blobs_in(library.decode(value, returns)):
                    if blob.sha256 not in made:
                        made[blob.sha256] = store.path(blob).read_bytes()
    return BatchOutcome(results, made)
