"""A batch's files: the input blobs its items name, fetched into the node's cache before it
runs, and the output files of its results, uploaded to the hub before the results go back.

It moves files only; which values hold blobs is the library's to say.
"""

from __future__ import annotations

from typing import Any

from witengine.node.cache import BlobCache
from witengine.node.hub_client import HubFiles, HubStorageFull
from witengine.protocol import Assign, TaskResult
from witengine.runtime.blobs import Blob, blobs_in
from witengine.runtime.library import Library


async def fetch_inputs(library: Library, cache: BlobCache, files: HubFiles, assign: Assign) -> None:
    """Every blob the batch's items name, in the cache (fetched from the hub if need be)."""
    definition = library.activities.get(assign.activity)
    if definition is None:
        return
    params = definition.spec.params
    holds = library.holds_blobs
    if not any(holds(p.type) for p in params) and definition.spec.variadic is None:
        return  # numbers and text only: no file to fetch
    wanted: dict[str, Blob] = {}
    for task in assign.tasks:
        for value, param in zip(task.args, params, strict=False):
            decoded = library.decode(value, param.type)
            for blob in blobs_in(decoded):
                wanted[blob.sha256] = blob
    for blob in wanted.values():
        if not cache.has(blob.sha256):
            await cache.fetch(blob, files.download)


def output_files(library: Library, activity: str) -> bool:
    """Whether the activity's results may hold files to upload."""
    definition = library.activities.get(activity)
    returns = definition.spec.returns if definition is not None else None
    return returns is not None and library.holds_blobs(returns)


async def upload_outputs(
    library: Library, cache: BlobCache, files: HubFiles, activity: str, result: TaskResult
) -> TaskResult:
    """The result once its files are on the hub; a failed result when they cannot be."""
    definition = library.activities.get(activity)
    if definition is None or definition.spec.returns is None:
        return result
    try:
        value: Any = library.decode(result.value, definition.spec.returns)
        for blob in blobs_in(value):
            await files.upload(blob, cache.store.path(blob))
    except Exception as error:
        return result._replace(
            ok=False,
            value=None,
            error=f"{activity}: cannot upload its output file: {error}",
            final=isinstance(error, HubStorageFull),
        )
    return result
