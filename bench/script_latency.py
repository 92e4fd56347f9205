"""How a hub answers while a job's script spins: the goal is health and API p99 under 100 ms
whatever a script does (issue 15), and cancel taking effect within a second.

A real hub process on 127.0.0.1, no nodes. First the idle hub, then one script at a time, each
a loop that never waits: while it runs, GET /api/v1/health and GET /api/v1/jobs are sent one
after another for `--seconds` each; then the job is cancelled and the time until it has ended is
taken. Printed per script: p50, p99 and the worst of each route, and the cancel's time.

    .venv/bin/python bench/script_latency.py [--seconds 5]

The machine's load counts: on a shared machine compare a script's figures with the idle hub's,
measured in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from witengine.protocol.states import JobStatus
from witengine.testing.processes import ProcessFarm, free_port, wait_until

SCRIPTS = {
    "a loop of statements": "Job:Spin() { Int:x = 0; Loop(9000000000) { x = x + 1; } }",
    "an empty loop": "Job:Spin() { Loop(9000000000) { } }",
    "Parallel.ForEach of 1,000,000": (
        "Job:Spin() { Int:x = 0; Parallel.ForEach(i in Int.Range(0, 1000000)) { x = 1; } }"
    ),
    "texts growing in a loop": (
        'Job:Grow() { String:s = "0123456789"; Loop(9000000000) { s = Concat(s, "x"); } }'
    ),
}


def status(farm: ProcessFarm, job_id: str) -> JobStatus:
    return JobStatus(farm.job(job_id).get("status", "queued"))


def figures(samples: list[float]) -> str:
    p99 = (
        statistics.quantiles(samples, n=100, method="inclusive")[98]
        if len(samples) > 1
        else samples[0]
    )
    return (
        f"p50 {statistics.median(samples) * 1000:6.1f}  p99 {p99 * 1000:6.1f}  "
        f"worst {max(samples) * 1000:6.1f} ms ({len(samples)} requests)"
    )


def measure(farm: ProcessFarm, name: str, script: str, seconds: float) -> None:
    """Run `script`, time both routes while it spins, cancel it, and print the figures."""
    job_id = farm.submit(script, {})
    wait_until(lambda: status(farm, job_id) is JobStatus.RUNNING, 30, "the job to run")
    health = farm.timed_gets("/health", seconds)
    jobs = farm.timed_gets("/jobs", seconds)
    asked = time.perf_counter()
    farm.api("POST", f"/jobs/{job_id}/cancel")
    wait_until(lambda: status(farm, job_id).ended, 30, "the job to end")
    cancel = time.perf_counter() - asked
    print(f"{name:<32} health {figures(health)}")
    print(f"{'':<32} /jobs  {figures(jobs)}")
    print(f"{'':<32} cancelled, ended in {cancel * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per route and script")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wit-bench-latency-") as root:
        farm = ProcessFarm(Path(root), free_port(), hub_args=("--lease", "3", "--grace", "1"))
        farm.start_hub()
        try:
            print(f"hub on {farm.url}; {options.seconds:g} s per route and script")
            print(f"{'idle hub':<32} health {figures(farm.timed_gets('/health', options.seconds))}")
            for name, script in SCRIPTS.items():
                measure(farm, name, script, options.seconds)
        finally:
            farm.stop()


if __name__ == "__main__":
    main()
