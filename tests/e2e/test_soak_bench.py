"""The soak benchmark's machinery at small size: a real hub process, 10 simulated nodes on the
real protocol in a child process and a 2,000-item job; nothing lost, duplicated or wrong, no
API error, and no process left behind. Smaller still with the hub's store in PostgreSQL (a
database of the session's throw-away server), audited there."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

BENCH = Path(__file__).parents[2] / "bench" / "soak.py"


def test_the_soak_bench_at_small_size_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    command = [sys.executable, str(BENCH), "--nodes", "10", "--items", "2000"]
    options = ["--processes", "2", "--item-ms", "5", "50", "--deadline", "180", "--json"]
    keep = ["--keep", str(tmp_path / "soak")]
    done = subprocess.run(
        [*command, *options, *keep], capture_output=True, text=True, timeout=220, check=False
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert (figures["lost"], figures["duplicated"], figures["wrong"]) == (0, 0, 0)
    assert figures["hub commits"] == 2000
    assert figures["tasks sent"] >= 2000
    assert not figures["nodes crashed"] and not figures["nodes disconnected"]
    assert figures["api error count"] == 0
    assert figures["latency ms"]["all"]["n"] > 0
    assert figures["hub peak rss bytes"] > 0
    assert 0 < figures["enrol wait p50 seconds"] <= figures["enrol seconds"]
    assert "enrolment: " in done.stdout and "ms per node" in done.stdout
    assert figures["map reached the hub seconds"] is not None
    assert figures["slowest at submit"]["ms"] > 0 and "worst at submit: " in done.stdout
    left = {p.pid for p in psutil.Process().children(recursive=True)} - before
    assert not left, f"the bench left processes behind: {left}"


def test_the_soak_bench_on_postgresql_audits_the_database(
    tmp_path: Path, postgres_url: str
) -> None:
    command = [sys.executable, str(BENCH), "--nodes", "4", "--items", "500", "--processes", "1"]
    options = ["--item-ms", "5", "20", "--deadline", "180", "--json", "--store", postgres_url]
    done = subprocess.run(
        [*command, *options, "--keep", str(tmp_path / "soak")],
        capture_output=True,
        text=True,
        timeout=220,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["store"] == "postgresql"
    assert (figures["lost"], figures["duplicated"], figures["wrong"]) == (0, 0, 0)
    assert figures["hub commits"] == 500
    assert "the hub's store in PostgreSQL" in done.stdout
    assert not (tmp_path / "soak" / "hub" / "hub.sqlite3").exists()
