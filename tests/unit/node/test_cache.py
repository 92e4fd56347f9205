"""The node's blob cache on a real directory: downloads verified against their digest, fetched
once however many ask, and the cache kept within its bound by evicting the least recently used."""

from __future__ import annotations

import asyncio
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from witengine.node.cache import BlobCache
from witengine.runtime.blobs import Blob, BlobError


def blob_of(data: bytes) -> Blob:
    return Blob(hashlib.sha256(data).hexdigest(), len(data))


@dataclass
class Source:
    """Where a cache downloads from: bytes by digest, with a count of every download."""

    files: dict[str, bytes] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    gate: asyncio.Event | None = None  # when set, downloads wait for it

    def add(self, data: bytes) -> Blob:
        blob = blob_of(data)
        self.files[blob.sha256] = data
        return blob

    async def download(self, sha256: str, target: Path) -> None:
        self.calls.append(sha256)
        if self.gate is not None:
            await self.gate.wait()
        target.write_bytes(self.files[sha256])


def cached(cache: BlobCache) -> list[str]:
    """Digests of the blobs in the cache, sorted; and no stray file anywhere."""
    files = [p for p in cache.root.rglob("*") if p.is_file()]
    assert all(p.parent.parent == cache.root for p in files), files
    return sorted(p.name for p in files)


def size_of(cache: BlobCache) -> int:
    return sum(p.stat().st_size for p in cache.root.rglob("*") if p.is_file())


async def test_a_fetched_blob_is_downloaded_once_and_read_from_the_cache(tmp_path: Path) -> None:
    cache, source = BlobCache(tmp_path / "cache", 10_000), Source()
    blob = source.add(b"scene data")
    path = await cache.fetch(blob, source.download)
    assert path.read_bytes() == b"scene data"
    assert cache.has(blob.sha256)
    assert await cache.fetch(blob, source.download) == path
    assert source.calls == [blob.sha256]
    assert cached(cache) == [blob.sha256]


async def test_bytes_that_do_not_match_the_digest_are_refused_and_not_kept(
    tmp_path: Path,
) -> None:
    cache, source = BlobCache(tmp_path / "cache", 10_000), Source()
    blob = source.add(b"the real bytes")
    source.files[blob.sha256] = b"tampered bytes"
    with pytest.raises(BlobError, match=f"hashes to .*, not {blob.sha256}"):
        await cache.fetch(blob, source.download)
    assert not cache.has(blob.sha256)
    assert cached(cache) == [], "no partial or unverified file is left"
    source.files[blob.sha256] = b"the real bytes"
    assert (await cache.fetch(blob, source.download)).read_bytes() == b"the real bytes"


async def test_a_failed_download_leaves_nothing_and_can_be_tried_again(tmp_path: Path) -> None:
    cache, source = BlobCache(tmp_path / "cache", 10_000), Source()
    blob = blob_of(b"not on the hub yet")
    with pytest.raises(KeyError):
        await cache.fetch(blob, source.download)
    assert cached(cache) == []
    source.add(b"not on the hub yet")
    assert (await cache.fetch(blob, source.download)).read_bytes() == b"not on the hub yet"


async def test_blobs_asked_for_at_the_same_time_are_downloaded_once(tmp_path: Path) -> None:
    cache, source = BlobCache(tmp_path / "cache", 10_000), Source(gate=asyncio.Event())
    blob = source.add(b"wanted by three batches")
    fetches = [asyncio.create_task(cache.fetch(blob, source.download)) for _ in range(3)]
    for _ in range(10):  # bounded: let every fetch start and wait
        await asyncio.sleep(0)
    assert source.gate is not None
    source.gate.set()
    paths = await asyncio.gather(*fetches)
    assert source.calls == [blob.sha256]
    assert len(set(paths)) == 1 and paths[0].read_bytes() == b"wanted by three batches"


async def test_waiters_on_a_download_that_fails_see_its_error(tmp_path: Path) -> None:
    cache, source = BlobCache(tmp_path / "cache", 10_000), Source(gate=asyncio.Event())
    blob = blob_of(b"missing")
    fetches = [asyncio.create_task(cache.fetch(blob, source.download)) for _ in range(2)]
    for _ in range(10):
        await asyncio.sleep(0)
    assert source.gate is not None
    source.gate.set()
    outcomes = await asyncio.gather(*fetches, return_exceptions=True)
    assert [type(o) for o in outcomes] == [KeyError, KeyError]
    assert source.calls == [blob.sha256]


async def test_the_least_recently_used_blob_is_evicted_to_stay_within_the_bound(
    tmp_path: Path,
) -> None:
    cache, source = BlobCache(tmp_path / "cache", 3000), Source()
    a, b, c, d = (source.add(bytes([n]) * 1000) for n in range(4))
    for blob in (a, b, c):
        await cache.fetch(blob, source.download)
    assert cached(cache) == sorted([a.sha256, b.sha256, c.sha256])
    cache.path(a)  # a is used again: b is now the least recently used
    await cache.fetch(d, source.download)
    assert cached(cache) == sorted([a.sha256, c.sha256, d.sha256])
    assert size_of(cache) <= 3000
    await cache.fetch(a, source.download)  # a hit is a use too
    await cache.fetch(b, source.download)
    assert cached(cache) == sorted([a.sha256, d.sha256, b.sha256])
    assert source.calls.count(b.sha256) == 2 and source.calls.count(a.sha256) == 1


async def test_after_a_restart_file_times_decide_what_is_evicted(tmp_path: Path) -> None:
    source = Source()
    blobs = [source.add(bytes([n]) * 1000) for n in range(3)]
    first = BlobCache(tmp_path / "cache", 3000)
    for blob in blobs:
        await first.fetch(blob, source.download)
    used_at = {blobs[0]: 300, blobs[1]: 100, blobs[2]: 200}  # blobs[1] is the oldest
    for blob, seconds in used_at.items():
        os.utime(first.store.path(blob), ns=(seconds * 10**9, seconds * 10**9))
    again = BlobCache(tmp_path / "cache", 3000)
    newcomer = source.add(b"n" * 1000)
    await again.fetch(newcomer, source.download)
    assert cached(again) == sorted([blobs[0].sha256, blobs[2].sha256, newcomer.sha256])


async def test_a_blob_larger_than_the_cache_is_still_kept_while_it_is_needed(
    tmp_path: Path,
) -> None:
    cache, source = BlobCache(tmp_path / "cache", 1000), Source()
    small = source.add(b"s" * 500)
    huge = source.add(b"h" * 5000)
    await cache.fetch(small, source.download)
    path = await cache.fetch(huge, source.download)
    assert path.stat().st_size == 5000
    assert cached(cache) == [huge.sha256]
