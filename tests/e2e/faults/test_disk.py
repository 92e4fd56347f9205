"""A full disk under the hub's blob store: a 1 MiB tmpfs mounted on `<data-dir>/blobs`. Uploads
and result files that do not fit fail with a clear reason, nothing half-written is served, and
the hub keeps running and serves other jobs. Real processes on 127.0.0.1."""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from faultcheck import (
    LEDGER,
    CommitWatch,
    assert_committed_once,
    assert_no_acknowledged_job_lost,
    start_nodes,
)

from witengine.testing.processes import ProcessFarm, free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

FILES = """\
Job:Files(Int:n, Int:size)
{
    BlobCollection:files = Grid.ForEach(i in Int.Range(0, n)) => Testing.Bytes(i, size);
}
"""
HUB_FILE = """\
Job:HubFile(Int:size)
{
    Blob:file = Testing.Bytes(0, size);
}
"""
SIZE = "1m"


@contextmanager
def tiny_filesystem(folder: Path, size: str) -> Iterator[None]:
    """A tmpfs of `size` on `folder` for the length of the block; always unmounted."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("a full disk needs a tiny filesystem: mounting a tmpfs needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if mounted.returncode != 0:
        pytest.skip(
            f"a full disk needs a tiny filesystem: `mount -t tmpfs` on {folder} failed "
            f"({mounted.stderr.strip()}); it needs CAP_SYS_ADMIN"
        )
    try:
        yield
    finally:
        if subprocess.run(["umount", str(folder)], timeout=30).returncode != 0:
            subprocess.run(["umount", "--lazy", str(folder)], timeout=30, check=True)


def stray_files(blobs: Path) -> list[str]:
    """Files in the blob store that are not a blob under its digest: partial uploads."""
    return sorted(
        str(path.relative_to(blobs))
        for path in blobs.rglob("*")
        if path.is_file() and (path.parent == blobs or path.name[:2] != path.parent.name)
    )


def test_a_full_blob_store_refuses_files_cleanly_and_the_hub_serves_on(
    tmp_path: Path, reference: Callable[[int], list[int]]
) -> None:
    blobs = tmp_path / "hub" / "blobs"
    rng = random.Random(1024)
    with tiny_filesystem(blobs, SIZE):
        farm = ProcessFarm(tmp_path, free_port())
        try:
            farm.start_hub()
            start_nodes(farm, "a", "b")

            # An upload larger than the disk: refused with a reason, and nothing of it kept.
            big = rng.randbytes(1_500_000)
            digest = hashlib.sha256(big).hexdigest()
            refused = farm.api("PUT", f"/blobs/{digest}", content=big, timeout=30)
            assert refused.status_code == 507, refused.text
            assert "full" in refused.json()["detail"], refused.text
            assert farm.api("HEAD", f"/blobs/{digest}").status_code == 404
            assert stray_files(blobs) == []
            # The same through the dashboard's submit form.
            refused = httpx.post(
                f"{farm.url}/submit/upload?name=big.bin",
                content=big,
                headers={"Authorization": f"Bearer {farm.token}", "X-Wit-Dashboard": "1"},
                timeout=30,
            )
            assert refused.status_code == 507, refused.text
            assert "full" in refused.json()["detail"], refused.text
            assert stray_files(blobs) == []
            # ... so its space is free again: a smaller file fits, and reads back whole.
            small = rng.randbytes(300_000)
            digest = hashlib.sha256(small).hexdigest()
            assert farm.api("PUT", f"/blobs/{digest}", content=small).status_code == 201
            assert farm.api("GET", f"/blobs/{digest}").content == small

            # Result files that fill the disk: the job fails at once, saying why. No node is
            # to blame (none is blocked from the job) and no other could do better.
            started = time.monotonic()
            filling = farm.submit(FILES, {"n": "40", "size": "100000"})
            job = farm.wait_done(filling, 120)
            assert job["status"] == "failed"
            assert "the hub's blob store is full" in job["error"], job["error"]
            assert "blocked" not in job["error"], job["error"]
            assert time.monotonic() - started < 20, "it waited for a node as if one could help"
            # A file the hub makes itself (a call outside Grid.*) fails the same way.
            on_hub = farm.submit(HUB_FILE, {"size": "2000000"})
            job = farm.wait_done(on_hub, 60)
            assert job["status"] == "failed"
            assert "full" in job["error"], job["error"]

            # Nothing half-written: every stored blob reads back as the bytes of its digest.
            assert stray_files(blobs) == []
            stored = [path for path in blobs.rglob("*") if path.is_file()]
            assert len(stored) > 2, "the job stored some files before the disk was full"
            for path in stored:
                served = farm.api("GET", f"/blobs/{path.name}").content
                assert hashlib.sha256(served).hexdigest() == path.name

            # The hub serves on: a job without files runs to the end, right.
            ledger = tmp_path / "ledger.txt"
            job_id = farm.submit(LEDGER, {"n": "200", "ledger": str(ledger), "ms": "0"})
            with CommitWatch(farm.root / "hub" / "hub.sqlite3", job_id) as watch:
                job = farm.wait_done(job_id, 120)
            assert job["status"] == "completed", job["error"]
            assert_committed_once(farm, job_id, reference(200), watch)
            assert farm.hub is not None and farm.hub.poll() is None, "the hub died"
            finals = assert_no_acknowledged_job_lost(farm)
            assert [finals[j]["status"] for j in farm.acknowledged] == [
                "failed",
                "failed",
                "completed",
            ]
        finally:
            farm.stop()
