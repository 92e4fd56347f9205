"""`wit run --dask` against a Dask cluster of separate processes on loopback: a `dask scheduler`
and `dask worker`s started as an operator would, `wit run` as a user would. The workers see only
the installed plugins (no PYTHONPATH), so a plugin that only the command has is one that the
workers lack."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from witengine.lifetime import die_with_parent
from witengine.testing.processes import TEST_PLUGINS, ProcessFarm, free_port, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

BIN = Path(sys.executable).parent
DEADLINE = 90.0


@dataclass
class DaskProcesses:
    """A scheduler and its workers, each a process of its own; all killed at the end."""

    root: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def scheduler_file(self) -> Path:
        return self.root / "scheduler.json"

    @property
    def address(self) -> str:
        address: str = json.loads(self.scheduler_file.read_text())["address"]
        return address

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "WIT_PLUGINS")}
        with (self.root / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                [str(BIN / "dask"), *args],
                stdout=log,
                stderr=log,
                cwd=self.root,
                env=env,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        self.processes[name] = process
        return process

    def worker(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        return self.start(
            name,
            *("worker", "--scheduler-file", str(self.scheduler_file), "--name", name),
            *("--nthreads", "1", "--no-nanny", "--no-dashboard", *args),
        )

    def connected(self, count: int) -> None:
        """Wait until `count` workers are connected to the scheduler."""
        from distributed import Client

        with Client(scheduler_file=str(self.scheduler_file), timeout=DEADLINE) as client:
            client.wait_for_workers(count, timeout=DEADLINE)

    def log(self, name: str) -> str:
        return (self.root / f"{name}.log").read_text(errors="replace")

    def stop(self) -> None:
        for process in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[DaskProcesses]:
    root = tmp_path / "dask"
    root.mkdir()
    processes = DaskProcesses(root)
    try:
        processes.start(
            "scheduler",
            *("scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"),
            *("--scheduler-file", str(processes.scheduler_file)),
        )
        wait_until(processes.scheduler_file.exists, DEADLINE, "the scheduler's file")
        yield processes
    finally:
        processes.stop()


def wit_run(
    script: Path, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> dict[str, Any]:
    done = subprocess.run(
        [str(BIN / "wit"), "run", str(script), *args, "--json"],
        capture_output=True,
        text=True,
        timeout=DEADLINE * 2,
        env=env,
        cwd=cwd,
        check=False,
    )
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


HASHES_AND_FILES = """\
Job:OnDask(Int:n = 10)
{
    StringCollection:hashes = Grid.ForEach(i in Int.Range(0, n))
        => Compute.Hash(Format("item-{0}", i));
    BlobCollection:files = Grid.ForEach(i in Int.Range(0, 3))
        => Compute.WriteText(Format("text {0}", i), Format("t{0}.txt", i));
    StringCollection:texts = Grid.ForEach(f in files) => Compute.ReadText(f);
}
"""


def test_wit_run_dask_runs_a_job_on_separate_scheduler_and_worker_processes(
    cluster: DaskProcesses, tmp_path: Path
) -> None:
    import hashlib

    cluster.worker("w1")
    cluster.worker("w2")
    cluster.connected(2)
    script = tmp_path / "job.wit"
    script.write_text(HASHES_AND_FILES)
    out = tmp_path / "out"
    answer = wit_run(script, "n=500", "--dask", cluster.address, "--out", str(out), cwd=tmp_path)
    assert answer["status"] == "completed", answer
    variables = answer["variables"]
    assert variables["hashes"] == [
        hashlib.sha256(f"item-{i}".encode()).hexdigest() for i in range(500)
    ]
    assert variables["texts"] == ["text 0", "text 1", "text 2"]
    assert [(out / "files" / f"t{i}.txt").read_text() for i in range(3)] == [
        "text 0",
        "text 1",
        "text 2",
    ]


def test_a_worker_without_the_plugin_fails_the_job_naming_plugin_and_worker(
    cluster: DaskProcesses, tmp_path: Path
) -> None:
    folder = tmp_path / "only-here"
    folder.mkdir()
    (folder / "lonely_plugin.py").write_text(
        textwrap.dedent(
            """\
            from witengine.plugins.api import Int, Plugin

            plugin = Plugin("lonely", version="1")

            @plugin.activity("Lonely.Twice")
            def twice(n: Int) -> Int:
                return n * 2
            """
        )
    )
    cluster.worker("bare")
    cluster.connected(1)
    script = tmp_path / "job.wit"
    script.write_text(
        "Job:Lonely()\n{\n    IntCollection:twice = Grid.ForEach(i in Int.Range(0, 4))"
        " => Lonely.Twice(i);\n}\n"
    )
    env = os.environ | {"PYTHONPATH": str(folder), "WIT_PLUGINS": "lonely_plugin:plugin"}
    answer = wit_run(script, "--dask", cluster.address, env=env, cwd=tmp_path)
    assert answer["status"] == "failed", answer
    assert "Dask worker 'bare' (tcp://127.0.0.1:" in answer["error"], answer
    assert "cannot load plugin 'lonely' (lonely_plugin:plugin)" in answer["error"], answer


def test_a_worker_process_killed_mid_job_loses_no_item(
    cluster: DaskProcesses, tmp_path: Path
) -> None:
    cluster.worker("w1")
    cluster.worker("w2")
    cluster.connected(2)
    ledger = tmp_path / "ledger"
    script = tmp_path / "job.wit"
    script.write_text(
        "Job:Recorded(String:ledger)\n{\n    IntCollection:doubled = Grid.ForEach(i in "
        "Int.Range(0, 40)) => Testing.Record(i, ledger, 100);\n}\n"
    )
    env = os.environ | {"WIT_PLUGINS": TEST_PLUGINS}
    log = tmp_path / "wit-run.log"
    with (
        log.open("wb") as output,
        subprocess.Popen(
            [str(BIN / "wit"), "run", str(script), f"ledger={ledger}", "--dask", cluster.address],
            stdout=output,
            stderr=output,
            env=env,
            cwd=tmp_path,
        ) as command,
    ):
        try:
            wait_until(lambda: len(_lines(ledger)) >= 2, DEADLINE, "two items to start")
            victim = int(_lines(ledger)[0].split()[1])  # the worker running the first item
            os.kill(victim, signal.SIGKILL)
            command.wait(timeout=DEADLINE)
        finally:
            command.kill()
    assert command.returncode == 0, log.read_text()
    results = json.loads((tmp_path / "wit-out" / "Recorded" / "results.json").read_text())
    assert results["variables"]["doubled"] == [i * 2 for i in range(40)]
    done = _lines(Path(f"{ledger}.done"))
    assert {int(line.split()[0]) for line in done} == set(range(40))
    on_victim = {int(s.split()[0]) for s in _lines(ledger) if int(s.split()[1]) == victim}
    done_on_victim = {int(s.split()[0]) for s in done if int(s.split()[1]) == victim}
    assert on_victim - done_on_victim, "the kill came after the victim's items had ended"


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@pytest.fixture
def dask_hub(cluster: DaskProcesses, tmp_path: Path) -> Iterator[ProcessFarm]:
    cluster.worker("w1")
    cluster.worker("w2")
    cluster.connected(2)
    address = cluster.address.replace("tcp://", "dask://")
    farm = ProcessFarm(tmp_path / "farm", free_port(), hub_args=("--executor", address))
    farm.root.mkdir()
    try:
        farm.start_hub()
        yield farm
    finally:
        farm.stop()


def test_a_hub_with_a_dask_executor_runs_jobs_there_without_nodes(
    dask_hub: ProcessFarm,
) -> None:
    import hashlib

    job_id = dask_hub.submit(HASHES_AND_FILES, {"n": "300"})
    job = dask_hub.wait_done(job_id, DEADLINE)
    assert job["status"] == "completed", job
    assert job["variables"]["hashes"] == [
        hashlib.sha256(f"item-{i}".encode()).hexdigest() for i in range(300)
    ]
    assert job["variables"]["texts"] == ["text 0", "text 1", "text 2"]
    assert dask_hub.api("GET", "/nodes").json() == []  # no node ran anything
    assert "jobs' maps run on the Dask cluster at dask://127.0.0.1:" in dask_hub.log()


def test_cancelling_a_hubs_job_cancels_its_dask_tasks(
    dask_hub: ProcessFarm, cluster: DaskProcesses, tmp_path: Path
) -> None:
    from distributed import Client

    ledger = tmp_path / "ledger"
    job_id = dask_hub.submit(
        "Job:Recorded(String:ledger)\n{\n    IntCollection:doubled = Grid.ForEach(i in "
        "Int.Range(0, 80)) => Testing.Record(i, ledger, 200);\n}\n",
        {"ledger": str(ledger)},
    )
    wait_until(ledger.exists, DEADLINE, "the first item to start")
    assert dask_hub.api("POST", f"/jobs/{job_id}/cancel").status_code == 200
    assert dask_hub.wait_done(job_id, DEADLINE)["status"] == "cancelled"
    with Client(scheduler_file=str(cluster.scheduler_file), timeout=DEADLINE) as client:

        def tasks() -> int:
            count: int = client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks))
            return count

        wait_until(lambda: tasks() == 0, DEADLINE, "the scheduler to drop the job's tasks")
    wait_until(
        lambda: len(_lines(ledger)) == len(_lines(Path(f"{ledger}.done"))),
        DEADLINE,
        "the batches under way to end",
    )
    assert len(_lines(ledger)) < 80
