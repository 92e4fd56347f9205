"""The benchmarks under bench/ at small size, so a change to the hub cannot leave one broken
until someone next runs it (the dashboard bench stopped at its first step for a day when the hub
began asking for tokens, and the throughput bench for longer). Figures are not checked here: only
that each runs to its report. Every script in bench/ is run by a test: here, or in a module of
its own (the soak's)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

BENCH = Path(__file__).parents[2] / "bench"


def run(script: str, *options: str, timeout: float = 240) -> str:
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *options],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_every_bench_script_is_run_by_a_test() -> None:
    tests = Path(__file__).parents[1]
    texts = "\n".join(path.read_text() for path in tests.rglob("test_*.py"))
    untested = [path.name for path in sorted(BENCH.glob("*.py")) if f'"{path.name}"' not in texts]
    assert untested == [], f"bench scripts that no test runs: {untested}"


def test_the_throughput_bench_runs_the_farm_the_pool_and_dask_side_by_side() -> None:
    report = run("farm_throughput.py", "--items", "300", "--repeat", "1")
    for runner in ("embedded farm (hub + 2 nodes):", "in-process pool (2 workers):", "Dask"):
        assert runner in report and "items/s" in report, report
    assert "300 Compute.Hash items, median of 1 runs (all results checked)" in report, report
    assert "farm / Dask = " in report, report


def test_the_dask_backend_bench_runs_wit_on_dask_beside_the_farm_and_plain_dask() -> None:
    report = run("dask_backend.py", "--items", "300", "--frames", "12", "--repeat", "1")
    assert "300 Compute.Hash items, median of 1 runs (results checked)" in report, report
    assert "12 render-like Compute.Work items" in report, report
    for runner in ("embedded farm", "witengine on Dask", "plain Dask client.map", "batched alike"):
        assert report.count(runner) >= 2, report
    assert report.count("witengine on Dask's overhead: ") == 2, report


def test_the_syntax_error_bench_times_the_report_in_process_and_as_a_command() -> None:
    report = run("syntax_error.py", "--repeat", "1")
    assert ":26:" in report, report  # the report it times names the line of the error
    assert "parse + report, in process (median of 1):" in report, report
    assert "`wit check bad.wit`, whole command (median):" in report, report
    assert "goal 200 ms:" in report, report


def test_the_dashboard_bench_times_every_page_and_follows_the_stream() -> None:
    report = run("dashboard.py", "--nodes", "3", "--items", "300", "--seconds", "3")
    for page in ("overview", "nodes", "job", "job timeline", "job items"):
        assert f"\n{page} " in report, report
    assert "job page stream: updates" in report
    assert "goal: every page under 300 ms at p95:" in report


def test_the_heterogeneous_farm_bench_runs_every_strategy_and_checks_the_results() -> None:
    report = run(
        "heterogeneous_farm.py",
        *("--items", "120", "--seconds", "2", "--calibrate", "1", "--no-dask"),
    )
    for strategy in ("Adaptive", "Balanced", "Queued"):
        row = next(line for line in report.splitlines() if line.startswith(strategy + " "))
        assert row.endswith("right"), report
    assert "goal: Adaptive E >= 0.90:" in report


def test_the_scheduler_scale_bench_prints_the_scaling_and_every_strategy() -> None:
    report = run("scheduler_scale.py", *("--sizes", "10,40", "--nodes", "10", "--items", "2000"))
    for nodes in ("10", "40"):
        assert any(line.split()[:1] == [nodes] for line in report.splitlines()), report
    assert "goal (issue 14): decision p99 < 1 ms at 40 nodes:" in report, report
    for run_name in ("Adaptive exact", "Adaptive ±30%", "Balanced ±30%", "Queued exact"):
        assert f"\n{run_name} " in report, report
    assert "Adaptive E >= 0.95 with median decision < 1 ms:" in report, report


@pytest.mark.blender
@pytest.mark.skipif(
    shutil.which("blender") is None or shutil.which("ffmpeg") is None,
    reason="Blender and FFmpeg not installed (scripts/bootstrap.sh blender ffmpeg)",
)
def test_the_render_bench_times_the_farm_and_blender_and_compares_their_frames() -> None:
    report = run(
        "render_farm.py", *("--frames", "4", "--width", "64", "--height", "36", "--samples", "4")
    )
    assert "frames identical to Blender's: 4/4" in report, report
    assert "blender -t 2 -a:" in report and "embedded farm:" in report, report
    assert "render " in report and "stop " in report, report  # the farm's phases
    assert "the farm's render (the goal): best " in report, report
    assert "whole command (for reference): best " in report, report


@pytest.mark.blender
@pytest.mark.skipif(
    shutil.which("blender") is None, reason="Blender not installed (scripts/bootstrap.sh blender)"
)
def test_the_render_tolerance_bench_compares_honest_and_wrong_renders_with_the_tolerance() -> None:
    report = run("render_tolerance.py", *("--width", "64", "--height", "36", "--samples", "4"))
    verdicts = {line[:20].strip(): line.split()[-1] for line in report.splitlines()}
    for render in ("2 threads", "8-pixel tiles", "AVX kernels", "SSE2 kernels"):
        assert verdicts.get(render) == "accepted", report
    for render in ("black frame", "shifted one pixel", "the next frame", "another seed"):
        assert verdicts.get(render) == "rejected", report
    assert "tolerance: ImagesWithin(level=2, share=0.001)" in report, report
    assert "every honest render accepted and every wrong one rejected: " in report, report


def test_the_parse_limits_bench_times_every_deep_and_long_form() -> None:
    report = run("parse_limits.py", "--size", "20000", "--repeat", "1")
    assert "goal 100 ms: worst" in report, report
    for form in ("parentheses", "members", "blocks", "statements", "string"):
        assert f"  {form} " in report, report


def test_the_script_latency_bench_times_the_api_beside_each_spinning_script() -> None:
    report = run("script_latency.py", "--seconds", "0.3")
    assert "idle hub" in report and "health p50" in report, report
    for script in ("a loop of statements", "an empty loop", "Parallel.ForEach of 1,000,000"):
        assert f"\n{script} " in report, report
    assert report.count("cancelled, ended in") == 4, report


def test_the_untrusted_bench_reports_e_replicas_wrong_results_and_the_cheater() -> None:
    report = run("untrusted.py", *("--items", "120", "--seconds", "3", "--cheat", "random"))
    assert "E " in report and "replicated share of the work: over the job" in report, report
    assert "cheater: blocked" in report and ": caught" in report, report
    assert "wrong results committed: 0 (must be 0: met)" in report, report
    assert "goal: replicated share over the second half under 15 %:" in report, report
