"""The node's blob cache: input files kept by digest, bounded in size, least recently used
first out. Downloads are verified against their digest before they count.

Recency is kept in memory for blobs used since the cache was opened, and read from file times
for the others: file times alone can tie (coarse timestamps) or jump (the wall clock is reset),
which would evict a blob just used.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from witengine.runtime.blobs import Blob, LocalBlobStore

Download = Callable[[str, Path], Awaitable[None]]


class BlobCache:
    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.store = LocalBlobStore(root)
        self.max_bytes = max_bytes
        self._fetching: dict[str, asyncio.Future[None]] = {}
        self._uses = itertools.count(1)
        self._used: dict[str, int] = {}  # sha256 -> its last use since the cache was opened

    def has(self, sha256: str) -> bool:
        return self.store.has(sha256)

    def path(self, blob: Blob) -> Path:
        found = self.store.path(blob)
        self._used[blob.sha256] = next(self._uses)
        os.utime(found)  # its last use, for eviction after a restart
        return found

    async def fetch(self, blob: Blob, download: Download) -> Path:
        """The blob's local file, downloading it once however many ask at the same time."""
        if self.has(blob.sha256):
            return self.path(blob)
        running = self._fetching.get(blob.sha256)
        if running is not None:
            await running
            return self.path(blob)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._fetching[blob.sha256] = future
        try:
            await self._download(blob, download)
            future.set_result(None)
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # retrieved here, so an unawaited future does not warn
            raise
        finally:
            del self._fetching[blob.sha256]
        self.evict(keep={blob.sha256})
        return self.path(blob)

    async def _download(self, blob: Blob, download: Download) -> None:
        partial = self.root / f".download-{blob.sha256}"
        try:
            await download(blob.sha256, partial)
            with partial.open("rb") as handle:
                await asyncio.to_thread(self.store.put_stream, handle, "", blob.sha256)
        finally:
            partial.unlink(missing_ok=True)

    def evict(self, keep: frozenset[str] | set[str] = frozenset()) -> None:
        """Remove least recently used blobs until the cache fits its bound."""
        files = [p for p in self.root.glob("??/*") if p.is_file()]
        total = sum(p.stat().st_size for p in files)
        for path in sorted(files, key=lambda p: (self._used.get(p.name, 0), p.stat().st_mtime_ns)):
            if total <= self.max_bytes:
                return
            if path.name in keep:
                continue
            total -= path.stat().st_size
            path.unlink(missing_ok=True)
            self._used.pop(path.name, None)
