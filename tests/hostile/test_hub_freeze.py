"""Hostile input (issue 15): no script stops a hub from doing the rest of its work.

On a real hub process on 127.0.0.1: while a script spins in a loop that never waits, the hub
answers its API quickly, cancels or pauses the job within a second and stops on SIGTERM; a job
that passes one of its limits fails naming it, and one resumed after a restart does so again
without taking the hub down.
"""

from __future__ import annotations

import os
import signal
import statistics
import time
from pathlib import Path

import httpx
import pytest

from witengine.testing.processes import ProcessFarm, free_port, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

SPIN = "Job:Spin() { Int:x = 0; Loop(9000000000) { x = 1; } }"
EMPTY_LOOP = "Job:Spin() { Loop(9000000000) { } }"
PARALLEL = "Job:Spin() { Int:x = 0; Parallel.ForEach(i in Int.Range(0, 1000000)) { x = 1; } }"
DOUBLING = 'Job:Grow() { String:s = "x"; Loop(40) { s = Concat(s, s); } }'


def farm(tmp_path: Path, *limits: str) -> ProcessFarm:
    args = [arg for limit in limits for arg in ("--limit", limit)]
    hub = ProcessFarm(tmp_path, free_port(), hub_args=("--lease", "3", "--grace", "1", *args))
    hub.start_hub()
    return hub


def running(hub: ProcessFarm, job_id: str) -> None:
    wait_until(lambda: hub.job(job_id).get("status") == "running", 30, "the job to run")


def p99(samples: list[float]) -> float:
    return (
        statistics.quantiles(samples, n=100, method="inclusive")[98]
        if len(samples) > 1
        else samples[0]
    )


@pytest.mark.parametrize("script", [SPIN, EMPTY_LOOP, PARALLEL])
def test_a_spinning_script_leaves_the_api_answering_and_is_cancelled_within_a_second(
    tmp_path: Path, script: str
) -> None:
    hub = farm(tmp_path)
    try:
        idle = hub.timed_gets("/health", 1)
        job_id = hub.submit(script, {})
        running(hub, job_id)
        health = hub.timed_gets("/health", 2)
        jobs = hub.timed_gets("/jobs", 1)
        print(
            f"health p99 {p99(health) * 1000:.0f} ms (idle hub: {p99(idle) * 1000:.0f} ms), "
            f"/jobs p99 {p99(jobs) * 1000:.0f} ms"
        )
        # Before the interpreter gave turns, health did not answer for 12 s and more. The goal,
        # p99 under 100 ms, is bench/script_latency.py's to measure on a quiet machine; a shared
        # test machine's load spikes now and then, so here only the median is held close to it.
        assert statistics.median(health) < 0.25 and statistics.median(jobs) < 0.25
        assert max(health) < 2 and max(jobs) < 2, (health, jobs)

        asked = time.time()  # the hub's clock: its record says when the job ended
        assert hub.api("POST", f"/jobs/{job_id}/cancel").status_code == 200
        job = hub.wait_done(job_id, 10)
        assert job["status"] == "cancelled", job
        assert job["finished_at"] - asked < 1.0, job
    finally:
        hub.stop()


def test_a_spinning_script_pauses_within_a_second_and_runs_on_when_resumed(
    tmp_path: Path,
) -> None:
    hub = farm(tmp_path)
    try:
        job_id = hub.submit(SPIN, {})
        running(hub, job_id)
        asked = time.monotonic()
        assert hub.api("POST", f"/jobs/{job_id}/pause").status_code == 200
        assert saw_event(hub, job_id, "job_paused", within=5)
        assert time.monotonic() - asked < 1.0
        assert hub.job(job_id)["status"] == "paused"
        assert hub.api("POST", f"/jobs/{job_id}/resume").status_code == 200
        running(hub, job_id)
        assert hub.api("POST", f"/jobs/{job_id}/cancel").status_code == 200
        assert hub.wait_done(job_id, 5)["status"] == "cancelled"
    finally:
        hub.stop()


def saw_event(hub: ProcessFarm, job_id: str, kind: str, within: float) -> bool:
    """Whether the job's event stream says `kind` within `within` seconds (the interpreter
    itself reports it stopped between statements, not only that it was asked to)."""
    headers = {"Authorization": f"Bearer {hub.token}"}
    url = f"{hub.url}/api/v1/jobs/{job_id}/events"
    ends = time.monotonic() + within
    try:
        with httpx.stream("GET", url, headers=headers, timeout=within) as stream:
            for line in stream.iter_lines():
                if line == f"event: {kind}":
                    return True
                if time.monotonic() > ends:
                    return False
    except httpx.ReadTimeout:
        return False
    return False


def stored_events(hub: ProcessFarm, job_id: str) -> int:
    """How many events the hub keeps for an ended job (its stream ends with the job)."""
    headers = {"Authorization": f"Bearer {hub.token}"}
    url = f"{hub.url}/api/v1/jobs/{job_id}/events"
    with httpx.stream("GET", url, headers=headers, timeout=30) as stream:
        return sum(1 for line in stream.iter_lines() if line.startswith("event: "))


def test_sigterm_stops_a_hub_whose_script_spins_and_the_resumed_job_fails_its_limit(
    tmp_path: Path,
) -> None:
    hub = farm(tmp_path, "job_seconds=3")
    try:
        job_id = hub.submit(SPIN, {})
        running(hub, job_id)
        assert hub.hub is not None
        with httpx.stream(  # a stream the hub must not wait for
            "GET",
            f"{hub.url}/api/v1/jobs/{job_id}/events",
            headers={"Authorization": f"Bearer {hub.token}"},
            timeout=30,
        ):
            asked = time.monotonic()
            os.killpg(hub.hub.pid, signal.SIGTERM)
            hub.hub.wait(15)
            assert time.monotonic() - asked < 10  # what docs/cli.md says of `wit hub`
        # uvicorn stops serving, the hub leaves the job to resume, and the signal ends it
        assert hub.hub.returncode in (0, -signal.SIGTERM), hub.log()

        hub.start_hub()  # the job resumes, spins again, and fails its limit
        health = hub.timed_gets("/health", 1)
        assert statistics.median(health) < 0.25 and max(health) < 2, health
        job = hub.wait_done(job_id, 30)
        assert job["status"] == "failed", job
        assert "limits.job_seconds" in job["error"] and "test.wit:1" in job["error"], job
        assert hub.api("GET", "/health").status_code == 200
    finally:
        hub.stop()


def test_a_value_doubling_in_a_loop_fails_naming_the_limit_and_leaves_little_stored(
    tmp_path: Path,
) -> None:
    hub = farm(tmp_path, "value_bytes=1MiB")
    try:
        job_id = hub.submit(DOUBLING, {})
        job = hub.wait_done(job_id, 30)
        assert job["status"] == "failed", job
        assert "limits.value_bytes = 1,048,576 bytes" in job["error"], job
        assert job["error"].endswith("(in: s = Concat(s, s);)"), job
        answer = hub.api("GET", f"/jobs/{job_id}")
        assert len(answer.content) < 1024**2  # the job's variables were never that large
    finally:
        hub.stop()


def test_a_job_past_its_steps_fails_naming_the_limit(tmp_path: Path) -> None:
    hub = farm(tmp_path, "job_steps=100000")
    try:
        job = hub.wait_done(hub.submit(SPIN, {}), 30)
        assert job["status"] == "failed", job
        assert job["error"].startswith("test.wit:1: the job has run 100,000 steps"), job
        assert "limits.job_steps" in job["error"]
    finally:
        hub.stop()


def test_a_job_tracing_in_a_loop_fails_at_its_stored_limit(tmp_path: Path) -> None:
    script = 'Job:Chatty() { Loop(1000000) { Trace("a line the hub keeps, each time"); } }'
    hub = farm(tmp_path, "job_stored_bytes=100KiB")
    try:
        job_id = hub.submit(script, {})
        job = hub.wait_done(job_id, 60)
        assert job["status"] == "failed", job
        assert "limits.job_stored_bytes = 102,400 bytes" in job["error"], job
        assert stored_events(hub, job_id) < 5000
    finally:
        hub.stop()
