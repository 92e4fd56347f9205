"""Hostile input (issue 15): a job's error names its files by name and digest, never by where
the hub keeps them (a path under its data folder tells a submitter about the hub's disk)."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from witengine.protocol import API_PREFIX
from witengine.runtime.blobs import Blob, BlobError, LocalBlobStore
from witengine.runtime.context import ActivityContext

if TYPE_CHECKING:
    from tests.hostile.conftest import HostileHub

pytestmark = pytest.mark.timeout(60)
DATA = b"notes for the job"
SHA = hashlib.sha256(DATA).hexdigest()
READS = "Job:Read(Blob:input) { String:t = Compute.ReadText(input); }"


async def ended(hub: HostileHub, script: str, files: dict[str, Any]) -> dict[str, Any]:
    async with hub.client(hub.admin) as admin:
        answer = await admin.post(f"{API_PREFIX}/jobs", json={"script": script, "files": files})
        assert answer.status_code == 201, answer.text
        for _ in range(500):  # bounded: the job runs on the hub in well under a second
            job: dict[str, Any] = (
                await admin.get(f"{API_PREFIX}/jobs/{answer.json()['id']}")
            ).json()
            if job["status"] not in ("queued", "running"):
                return job
            await asyncio.sleep(0.02)
    raise AssertionError(f"the job did not end: {job}")


async def test_a_file_the_hub_cannot_read_is_named_not_located(hostile_hub: HostileHub) -> None:
    async with hostile_hub.client(hostile_hub.admin) as admin:
        assert (await admin.put(f"{API_PREFIX}/blobs/{SHA}", content=DATA)).status_code == 201
    kept = hostile_hub.hub.blobs.path(Blob(SHA, len(DATA)))
    kept.unlink()
    kept.mkdir()  # the file is there but cannot be read as one (a damaged store, say)
    job = await ended(
        hostile_hub, READS, {"input": {"sha256": SHA, "size": len(DATA), "name": "notes.txt"}}
    )
    assert job["status"] == "failed"
    error = job["error"]
    data_dir = str(hostile_hub.hub.settings.data_dir)
    assert data_dir not in error and "/blobs/" not in error, error
    assert f"notes.txt (sha256:{SHA[:12]}" in error, error


def test_a_blob_missing_from_the_store_is_named_not_located(tmp_path: Path) -> None:
    context = ActivityContext(LocalBlobStore(tmp_path / "blobs"), tmp_path / "work")
    with pytest.raises(BlobError) as missing:
        context.file(Blob(SHA, len(DATA), "notes.txt"))
    said = str(missing.value)
    assert str(tmp_path) not in said, said
    assert said == f"notes.txt (sha256:{SHA}) is missing from the blob store"
