"""Blob routes over real HTTP on 127.0.0.1: uploads verified against their name, presence by
HEAD, ranged and resumed downloads, large uploads streamed to disk, malformed digests refused."""

from __future__ import annotations

import hashlib
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from witengine.client import HubClient
from witengine.protocol import API_PREFIX

if TYPE_CHECKING:
    from tests.unit.hub.conftest import LiveHub

DATA = bytes(range(256)) * 40  # 10,240 bytes
SHA = hashlib.sha256(DATA).hexdigest()


def stored_files(live: LiveHub) -> list[Path]:
    """Every file under the hub's blob directory, temporary ones included."""
    return sorted(p for p in live.hub.blobs.root.rglob("*") if p.is_file())


async def test_an_uploaded_blob_is_stored_under_its_digest(live_hub: LiveHub) -> None:
    client = live_hub.client
    assert (await client.head(f"/blobs/{SHA}")).status_code == 404
    put = await client.put(f"/blobs/{SHA}", content=DATA)
    assert put.status_code == 201, put.text
    assert put.json() == {"sha256": SHA, "size": len(DATA), "stored": True}
    head = await client.head(f"/blobs/{SHA}")
    assert head.status_code == 200
    assert head.headers["content-length"] == str(len(DATA))
    got = await client.get(f"/blobs/{SHA}")
    assert got.status_code == 200 and got.content == DATA
    assert stored_files(live_hub) == [live_hub.hub.blobs.root / SHA[:2] / SHA]


async def test_uploading_a_blob_the_hub_has_stores_nothing_new(live_hub: LiveHub) -> None:
    client = live_hub.client
    assert (await client.put(f"/blobs/{SHA}", content=DATA)).status_code == 201
    again = await client.put(f"/blobs/{SHA}", content=DATA)
    assert again.status_code == 200
    assert again.json() == {"sha256": SHA, "stored": False}
    assert len(stored_files(live_hub)) == 1


async def test_bytes_that_do_not_hash_to_the_name_are_refused_and_not_kept(
    live_hub: LiveHub,
) -> None:
    client = live_hub.client
    tampered = DATA[:-1] + b"!"
    put = await client.put(f"/blobs/{SHA}", content=tampered)
    assert put.status_code == 400
    reason = put.json()["detail"]
    assert f"hash to {hashlib.sha256(tampered).hexdigest()}, not {SHA}" in reason
    assert (await client.head(f"/blobs/{SHA}")).status_code == 404
    assert (await client.get(f"/blobs/{SHA}")).status_code == 404
    assert stored_files(live_hub) == [], "no partial upload is left behind"


@pytest.mark.parametrize(
    "name",
    [
        "abc",
        SHA.upper(),
        SHA[:-1],
        SHA + "0",
        "g" * 64,
        "%2E%2E",
    ],
)
async def test_a_malformed_digest_is_a_client_error_on_every_method(
    live_hub: LiveHub, name: str
) -> None:
    client = live_hub.client
    put = await client.put(f"/blobs/{name}", content=DATA)
    assert put.status_code == 400, put.text
    assert "is not a sha256 digest" in put.json()["detail"]
    get = await client.get(f"/blobs/{name}")
    assert get.status_code == 400
    assert "is not a sha256 digest" in get.json()["detail"]
    assert (await client.head(f"/blobs/{name}")).status_code == 400
    assert stored_files(live_hub) == []


async def test_a_path_outside_the_blob_store_is_not_reachable(live_hub: LiveHub) -> None:
    client = live_hub.client
    for name in ("..%2Fhub.sqlite3", "..%2F..%2Fhub%2Fhub.sqlite3", "%2E%2E%2Fhub.sqlite3"):
        get = await client.get(f"/blobs/{name}")
        assert get.status_code in (400, 404), name
        assert b"SQLite" not in get.content
        assert (await client.put(f"/blobs/{name}", content=DATA)).status_code in (400, 404)
    assert stored_files(live_hub) == []


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-0", 0, 0),
        ("bytes=100-199", 100, 199),
        ("bytes=10000-", 10000, len(DATA) - 1),
        ("bytes=-40", len(DATA) - 40, len(DATA) - 1),
        ("bytes=10200-99999", 10200, len(DATA) - 1),
    ],
)
async def test_a_range_request_returns_exactly_those_bytes(
    live_hub: LiveHub, header: str, start: int, end: int
) -> None:
    client = live_hub.client
    await client.put(f"/blobs/{SHA}", content=DATA)
    part = await client.get(f"/blobs/{SHA}", headers={"Range": header})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes {start}-{end}/{len(DATA)}"
    assert part.content == DATA[start : end + 1]


async def test_a_range_past_the_end_is_unsatisfiable(live_hub: LiveHub) -> None:
    client = live_hub.client
    await client.put(f"/blobs/{SHA}", content=DATA)
    beyond = await client.get(f"/blobs/{SHA}", headers={"Range": f"bytes={len(DATA)}-"})
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{len(DATA)}"


async def test_a_cut_download_resumes_where_it_stopped(live_hub: LiveHub) -> None:
    client = live_hub.client
    blob = DATA * 100  # about 1 MB, so the first response arrives in several chunks
    sha = hashlib.sha256(blob).hexdigest()
    await client.put(f"/blobs/{sha}", content=blob)
    received = bytearray()
    async with client.stream("GET", f"/blobs/{sha}") as first:
        assert first.status_code == 200
        async for chunk in first.aiter_raw():
            received += chunk
            if len(received) >= 100_000:
                break  # the connection is cut here
    assert 100_000 <= len(received) < len(blob)
    rest = await client.get(f"/blobs/{sha}", headers={"Range": f"bytes={len(received)}-"})
    assert rest.status_code == 206
    assert rest.headers["content-range"] == f"bytes {len(received)}-{len(blob) - 1}/{len(blob)}"
    received += rest.content
    assert hashlib.sha256(received).hexdigest() == sha


LARGE = 20 * 1024 * 1024
CHUNK = 64 * 1024


def large_chunks() -> Iterator[bytes]:
    """20 MB of distinct chunks, made as they are needed."""
    for n in range(LARGE // CHUNK):
        yield n.to_bytes(4, "big") * (CHUNK // 4)


async def test_a_large_upload_streams_to_disk_without_being_held_in_memory(
    live_hub: LiveHub,
) -> None:
    digest = hashlib.sha256()
    for chunk in large_chunks():
        digest.update(chunk)
    sha = digest.hexdigest()

    async def body() -> AsyncIterator[bytes]:
        for chunk in large_chunks():
            yield chunk

    tracemalloc.start()
    try:
        put = await live_hub.client.put(f"/blobs/{sha}", content=body())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert put.status_code == 201, put.text
    assert put.json() == {"sha256": sha, "size": LARGE, "stored": True}
    # Client and hub share this process: neither may have held the 20 MB at once.
    assert peak < LARGE // 4, f"peak {peak} bytes of Python memory during a {LARGE} byte upload"
    path = live_hub.hub.blobs.root / sha[:2] / sha
    assert path.stat().st_size == LARGE
    check = hashlib.sha256()
    with path.open("rb") as stored:
        while block := stored.read(1 << 20):
            check.update(block)
    assert check.hexdigest() == sha


async def test_an_upload_larger_than_the_hub_allows_is_refused(live_hub: LiveHub) -> None:
    limit = live_hub.hub.settings.max_blob_bytes
    too_big = b"\0" * CHUNK

    async def body() -> AsyncIterator[bytes]:
        for _ in range(limit // CHUNK + 1):
            yield too_big

    put = await live_hub.client.put(f"/blobs/{'0' * 64}", content=body())
    assert put.status_code == 413
    assert put.json()["detail"] == (
        f"the blob is at least {limit + CHUNK:,} bytes, over the hub's limit "
        f"max_blob_bytes = {limit:,}"
    )
    assert stored_files(live_hub) == []


class _NoNetwork(httpx.AsyncBaseTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"no request was to be sent: {request.method} {request.url}")


async def test_a_client_on_the_hubs_machine_copies_blobs_from_its_folder(
    live_hub: LiveHub, tmp_path: Path
) -> None:
    assert (await live_hub.client.put(f"/blobs/{SHA}", content=DATA)).status_code == 201
    hub_url = live_hub.url.removesuffix(API_PREFIX)
    local = HubClient(hub_url, transport=_NoNetwork(), blob_dir=live_hub.hub.blobs.root)
    async with local:
        await local.download(SHA, tmp_path / "out" / "copied.bin")
    assert (tmp_path / "out" / "copied.bin").read_bytes() == DATA
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["copied.bin"]


async def test_a_damaged_or_missing_local_copy_is_downloaded_instead(
    live_hub: LiveHub, tmp_path: Path
) -> None:
    assert (await live_hub.client.put(f"/blobs/{SHA}", content=DATA)).status_code == 201
    hub_url = live_hub.url.removesuffix(API_PREFIX)
    damaged = tmp_path / "blobs"
    (damaged / SHA[:2]).mkdir(parents=True)
    (damaged / SHA[:2] / SHA).write_bytes(DATA[:-1] + b"!")
    async with HubClient(hub_url, token=live_hub.token, blob_dir=damaged) as client:
        await client.download(SHA, tmp_path / "out" / "one.bin")
        await client.download(SHA, tmp_path / "out" / "two.bin")
        (damaged / SHA[:2] / SHA).unlink()
        await client.download(SHA, tmp_path / "out" / "three.bin")
    for name in ("one.bin", "two.bin", "three.bin"):
        assert (tmp_path / "out" / name).read_bytes() == DATA
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "one.bin",
        "three.bin",
        "two.bin",
    ]
