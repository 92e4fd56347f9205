"""Hostile input (issue 15): blobs. A node learns nothing of a blob it may not read, not even
that it exists; an upload to a digest the hub has is read no further than the size limit and
must still be the bytes it names."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import httpx
import pytest

from witengine.protocol import API_PREFIX
from witengine.security.tokens import Role

if TYPE_CHECKING:
    from tests.hostile.conftest import HostileHub

pytestmark = pytest.mark.timeout(60)
DATA = b"a file a submitter uploaded for a job no node holds yet"
SHA = hashlib.sha256(DATA).hexdigest()
LIMIT = 1 << 20  # the hub's max_blob_bytes in these tests
CHUNK = 64 * 1024


async def stored(hub: HostileHub) -> None:
    async with hub.client(hub.admin) as admin:
        assert (await admin.put(f"{API_PREFIX}/blobs/{SHA}", content=DATA)).status_code == 201


async def test_a_node_cannot_tell_a_blob_it_may_not_read_exists(hostile_hub: HostileHub) -> None:
    await stored(hostile_hub)
    async with hostile_hub.client(hostile_hub.issue(Role.JOIN)) as joining:
        node = (await joining.post(f"{API_PREFIX}/nodes/enrol", json={"name": "n"})).json()
    async with hostile_hub.client(node["token"]) as prying:
        there = await prying.head(f"{API_PREFIX}/blobs/{SHA}")
        absent = await prying.head(f"{API_PREFIX}/blobs/{'0' * 64}")
        read = await prying.get(f"{API_PREFIX}/blobs/{SHA}")
    assert (there.status_code, absent.status_code, read.status_code) == (403, 403, 403)
    assert "content-length" not in there.headers or there.headers["content-length"] != str(
        len(DATA)
    )
    async with hostile_hub.client(hostile_hub.issue(Role.VIEWER)) as viewer:
        head = await viewer.head(f"{API_PREFIX}/blobs/{SHA}")  # readers may know, as they may read
    assert head.status_code == 200 and head.headers["content-length"] == str(len(DATA))


@pytest.mark.parametrize("hostile_hub", [{"max_blob_bytes": LIMIT}], indirect=True)
async def test_an_upload_to_a_digest_the_hub_has_is_read_no_further_than_the_limit(
    hostile_hub: HostileHub,
) -> None:
    await stored(hostile_hub)
    sent = 0

    async def endless() -> AsyncIterator[bytes]:  # no Content-Length: the hub must count
        nonlocal sent
        for _ in range(4096):  # 256 MiB at most: bounded, and 256 times the limit
            sent += CHUNK
            yield b"\0" * CHUNK

    async with hostile_hub.client(hostile_hub.admin) as admin:
        try:
            answer = await admin.put(f"{API_PREFIX}/blobs/{SHA}", content=endless())
            status = answer.status_code
        except httpx.TransportError:  # the hub answered and closed while the body still came
            status = 413
    assert status == 413
    # The limit, 4 MiB read past it before answering, and what the sockets' buffers hold.
    assert sent < 32 * LIMIT, f"the hub read {sent:,} bytes for a digest it had"


async def test_an_upload_to_a_digest_the_hub_has_must_be_those_bytes(
    hostile_hub: HostileHub,
) -> None:
    await stored(hostile_hub)
    async with hostile_hub.client(hostile_hub.admin) as admin:
        wrong = await admin.put(f"{API_PREFIX}/blobs/{SHA}", content=b"other bytes")
        right = await admin.put(f"{API_PREFIX}/blobs/{SHA}", content=DATA)
    assert wrong.status_code == 400 and "hash to" in wrong.json()["detail"]
    assert right.status_code == 200 and right.json() == {"sha256": SHA, "stored": False}
