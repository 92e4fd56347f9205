"""`wit bench` as a user runs it: a real process measuring real benchmarks (tiny durations)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def wit_bench(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WIT_PLUGINS": "witengine.testing.benchmarks:impossible"}
    return subprocess.run(
        [sys.executable, "-m", "witengine", "bench", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_bench_json_gives_rates_and_says_what_this_machine_cannot_run(tmp_path: Path) -> None:
    done = wit_bench(
        "--activity", "Compute.Work", "--activity", "Bench.Impossible",
        "--min-seconds", "0.05", "--json",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    (work,) = result["benchmarks"]
    assert (work["activity"], work["unit"], work["plugin"]) == (
        "Compute.Work",
        "compute-units@1",
        "compute",
    )
    assert work["rate"] > 0 and work["iterations"] >= 1 and work["elapsed"] >= 0.05
    (reason,) = result["unmet"]["Bench.Impossible"]
    assert reason.startswith("needs blender>=99; this node has ")
    assert result["failed"] == {}
    assert f"Bench.Impossible: skipped: {reason}" in done.stderr


def test_bench_refuses_an_unknown_activity(tmp_path: Path) -> None:
    unknown = wit_bench("--activity", "Compute.Nope", cwd=tmp_path)
    assert unknown.returncode == 2
    assert "wit bench: no activity named Compute.Nope" in unknown.stderr


def test_the_bench_table_shows_each_rate_in_its_unit_within_80_columns() -> None:
    from rich.console import Console

    from witengine.cli.bench import bench_table

    result = {"activity": "Compute.Work", "unit": "compute-units@1", "elapsed": 1.5}
    rows = [
        {**result, "rate": 412.7, "iterations": 310},
        {**result, "rate": 2.4e7, "iterations": 9},
    ]
    console = Console(width=80, record=True)
    console.print(bench_table(rows, speed=0.5))
    text = console.export_text()
    assert "Benchmarks (speed 0.5)" in text
    assert "│ Compute.Work │ compute-units@1 │    413 │  310 │    1.50 │" in text
    assert "24 M" in text


@pytest.mark.parametrize(
    ("rate", "text"),
    [(0.1234, "0.123"), (12.34, "12.3"), (412.7, "413"), (1234.5, "1230"), (9999.0, "10 k"),
     (43_300.0, "43.3 k"), (999_999.0, "1 M"), (2.4e7, "24 M"), (1.5e9, "1.5 G")],
)  # fmt: skip
def test_rates_read_in_three_significant_digits(rate: float, text: str) -> None:
    from witengine.cli.bench import rate_text

    assert rate_text(rate) == text
