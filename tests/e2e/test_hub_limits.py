"""`wit hub`'s settings from its command line, on a real hub process on 127.0.0.1: limits
(`--limit NAME=VALUE`) and how long a job waits for a node (`--no-node-wait`); a bad one stops
the hub before it listens, naming what is wrong."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from witengine.testing.processes import ProcessFarm, free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

NEEDS_A_NODE = (
    "Job:Wait() { IntCollection:x = Grid.ForEach(i in Int.Range(0, 3)) => Compute.Sleep(i); }"
)


def test_a_hub_takes_its_limits_and_node_wait_from_the_command_line(tmp_path: Path) -> None:
    args = ("--limit", "script_chars=200", "--limit", "max_blob_bytes=1KiB", "--no-node-wait", "1")
    farm = ProcessFarm(tmp_path, free_port(), hub_args=(*args, "--lease", "3", "--grace", "1"))
    farm.start_hub()
    try:
        long = farm.api("POST", "/jobs", json={"script": "Job:A() { }" + " " * 300})
        assert long.status_code == 413
        assert long.json()["detail"] == (
            "the script is 311 characters, over the hub's limit limits.script_chars = 200 "
            "characters"
        )
        big = farm.api("PUT", "/blobs/" + "0" * 64, content=b"x" * 2048)
        assert big.status_code == 413, big.text
        job_id = farm.submit(NEEDS_A_NODE, {})
        job = farm.wait_done(job_id, 30)
        assert job["status"] == "failed" and "no node is connected" in job["error"], job
        assert "(waited 1 s)" in job["error"], job  # a second's wait, not the default 30 s
    finally:
        farm.stop()


@pytest.mark.parametrize(
    ("limit", "said"),
    [
        ("scripts=5", "there is no limit 'scripts'; the limits are request_bytes, script_chars,"),
        ("map_items=lots", "map_items must be a whole number, not 'lots'"),
        ("request_bytes=0", "request_bytes must be from 1 to 9,223,372,036,854,775,807, not 0"),
    ],
)
def test_a_bad_limit_stops_the_hub_before_it_listens(tmp_path: Path, limit: str, said: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "witengine", "hub", "--port", "0", "--limit", limit],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith(f"wit hub: --limit: {said}"), done.stderr
