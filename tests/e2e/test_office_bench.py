"""The office bench at small size: a real hub process, 20 simulated nodes whose owners come and
go within a few seconds (suspending, resuming, vacating), a 3,000-item job, and `wit simulate
--office` on 60 machines: nothing lost, duplicated or wrong, E printed against its bound, and no
process left behind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

BENCH = Path(__file__).parents[2] / "bench" / "office_night.py"


def test_the_office_bench_at_small_size_loses_nothing_while_owners_come_and_go(
    tmp_path: Path,
) -> None:
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    command = [sys.executable, str(BENCH), "--nodes", "20", "--items", "3000", "--json"]
    options = ["--processes", "2", "--item-ms", "5", "50", "--deadline", "180"]
    office = ["--office-nodes", "60", "--owner-span", "3", "--keep", str(tmp_path / "office")]
    done = subprocess.run(
        [*command, *options, *office], capture_output=True, text=True, timeout=220, check=False
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert (figures["lost"], figures["duplicated"], figures["wrong"]) == (0, 0, 0)
    assert figures["hub commits"] == 3000
    assert figures["suspensions"] > 0 and figures["items handed back"] > 0
    assert not figures["nodes crashed"] and not figures["nodes disconnected"]
    assert figures["api error count"] == 0
    assert figures["office"]["items_lost"] == 0 and figures["office"]["machines"] == 60
    assert "of the availability bound (goal at least 0.95: met)" in done.stdout
    assert "owners: " in done.stdout and "API p99 " in done.stdout
    assert figures["office unaware"]["items_lost"] == 0 and "not told windows" in done.stdout
    left = {p.pid for p in psutil.Process().children(recursive=True)} - before
    assert not left, f"the bench left processes behind: {left}"
