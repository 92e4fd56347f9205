"""`wit job JOB-ID --out DIR`: an ended job's files downloaded from a real hub on 127.0.0.1,
laid out as `wit run` lays them out; a job still running says so and downloads nothing."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from witengine.testing.processes import ProcessFarm, free_port, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

FILES = """\
Job:Files(Int:n = 3)
{
    BlobCollection:files = Grid.ForEach(i in Int.Range(0, n)) => Testing.Bytes(i, 1000);
    Int:count = n;
}
"""
WAITS = "Job:Wait() { BlobCollection:x = Grid.ForEach(i in [1]) => Testing.Bytes(i, 1000); }"


@pytest.fixture
def farm(tmp_path: Path) -> Iterator[ProcessFarm]:
    farm = ProcessFarm(tmp_path, free_port())
    try:
        farm.start_hub()
        farm.start_node("n")
        wait_until(lambda: farm.online() == ["n"], 60, "the node to connect")
        yield farm
    finally:
        farm.stop()


def wit(
    farm: ProcessFarm, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "witengine", *args, "--hub", farm.url],
        env=env or farm.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_an_ended_jobs_files_download_as_wit_run_writes_them(
    farm: ProcessFarm, tmp_path: Path
) -> None:
    job_id = farm.submit(FILES, {})
    assert farm.wait_done(job_id, 60)["status"] == "completed"
    out = tmp_path / "out"
    done = wit(farm, "job", job_id, "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"completed; results in {out}\n"
    results = json.loads((out / "results.json").read_text())
    assert results["status"] == "completed" and results["variables"]["count"] == 3
    files = results["variables"]["files"]
    assert len(files) == 3
    served = {f["sha256"] for f in farm.job(job_id)["variables"]["files"]}
    assert {f["blob"] for f in files} == served
    for file in files:
        path = Path(file["path"])
        assert path.parent.parent == out  # files/<name>, inside the folder asked for
        data = path.read_bytes()
        assert len(data) == 1000 and hashlib.sha256(data).hexdigest() == file["blob"]


def test_a_job_still_running_downloads_nothing_and_says_why(
    farm: ProcessFarm, tmp_path: Path
) -> None:
    farm.kill_node("n")  # no node: the job waits for one, running
    waiting = farm.submit(WAITS, {})
    wait_until(lambda: farm.job(waiting).get("status") == "running", 30, "the job to run")
    done = wit(farm, "job", waiting, "--out", str(tmp_path / "early"))
    assert done.returncode == 1
    assert done.stderr == f"wit job: job {waiting} is running; its results come when it ends\n"
    assert not (tmp_path / "early").exists()
