"""The runner's child process: started before work arrives, kept across batches, replaced after
a kill, and never replaced under a running batch."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from witengine.node.runner import Runner, RunnerDied
from witengine.protocol import Assign, TaskSpec

COMPUTE = "witengine.plugins.compute:plugin"


def batch(batch_id: str, count: int) -> Assign:
    return Assign(
        batch_id=batch_id,
        job_id="job_1",
        activity="Compute.Work",
        tasks=[TaskSpec(map_id="m", index=i, attempt=1, args=[float(i)]) for i in range(count)],
        lease_seconds=30,
    )


def runner(tmp_path: Path) -> Runner:
    (tmp_path / "blobs").mkdir(exist_ok=True)
    return Runner([COMPUTE], tmp_path / "blobs")


async def test_a_warmed_runner_runs_its_first_batch_in_the_child_it_started(tmp_path: Path) -> None:
    slot = runner(tmp_path)
    try:
        assert slot.process is None
        await slot.warm()
        assert slot.process is not None
        warmed = slot.process.pid
        results = [r async for r in slot.run(batch("b1", 3))]
        assert slot.process is not None and slot.process.pid == warmed
        await slot.warm()  # already up: the same child
        assert slot.process.pid == warmed
    finally:
        await slot.kill()
    assert [r.value for part in results if isinstance(part, list) for r in part] == [0.0, 1.0, 2.0]


async def test_warming_under_a_running_batch_leaves_its_child_alone(tmp_path: Path) -> None:
    slot = runner(tmp_path)
    seen: list[int] = []
    try:
        async for _ in slot.run(batch("b1", 3)):
            assert slot.busy
            # A plugin arrives mid-batch: the child is stale, yet a warm must not replace it.
            if not seen:
                slot.add_plugins(["witengine.testing.swatches:plugin"], [])
            await slot.warm()
            assert slot.process is not None
            seen.append(slot.process.pid)
        assert not slot.busy
        await slot.warm()  # idle now: the stale child goes, one with the new plugin comes
        assert slot.process is not None and slot.process.pid not in seen
    finally:
        await slot.kill()
    assert seen and len(set(seen)) == 1  # one child, however the results came in


async def test_after_a_kill_the_next_warm_starts_a_fresh_child(tmp_path: Path) -> None:
    slot = runner(tmp_path)
    try:
        await slot.warm()
        assert slot.process is not None
        first = slot.process.pid
        await slot.kill()
        assert slot.process is None
        await slot.warm()
        assert slot.process is not None and slot.process.pid != first
        results = [r async for r in slot.run(batch("b2", 2))]
    finally:
        await slot.kill()
    assert [r.value for part in results if isinstance(part, list) for r in part] == [0.0, 1.0]


async def test_a_child_that_dies_mid_batch_has_sent_every_result_before_and_names_the_item(
    tmp_path: Path,
) -> None:
    """Each result leaves the child as its item finishes: one that dies at item 40 of a batch of
    tiny items has sent the 40 before (none is run again), and the item it died on is the one
    reported failed, not one whose result it still held."""
    (tmp_path / "blobs").mkdir()
    slot = Runner([COMPUTE, "witengine.testing.plugins:plugin"], tmp_path / "blobs")
    tasks = [TaskSpec("m", i, 1, [i, 40]) for i in range(60)]
    crashing = Assign(
        batch_id="b1", job_id="job_1", activity="Testing.CrashAt", tasks=tasks, lease_seconds=30
    )
    try:
        parts = [part async for part in slot.run(crashing)]
    finally:
        await slot.kill()
    results = [r for part in parts if isinstance(part, list) for r in part]
    assert [(r.index, r.value) for r in results if r.ok] == [(i, 2 * i) for i in range(40)]
    (failed,) = [r for r in results if not r.ok]
    assert failed.index == 40, failed
    assert failed.error == "Testing.CrashAt: the runner process exited with code 3 while running it"
    assert isinstance(parts[-1], RunnerDied) and len(parts) >= 3  # results came in parts


AGENT = """
import asyncio, sys
from pathlib import Path
from witengine.node.runner import Runner, RunnerDied

async def main() -> None:
    slot = Runner([sys.argv[1]], Path(sys.argv[2]))
    await slot.warm()
    print(slot.process.pid, flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


def test_a_worker_ends_with_its_agent_even_when_the_agent_is_killed(tmp_path: Path) -> None:
    """The agent is killed while its new worker is still loading; the folder it would have
    used is removed at once (as an embedded farm's is). A worker that outlived the agent would
    finish loading and make its blob folder again, in the middle of that removal."""
    blobs = tmp_path / "blobs"
    blobs.mkdir()
    with subprocess.Popen(
        [sys.executable, "-c", AGENT, COMPUTE, str(blobs)], stdout=subprocess.PIPE, text=True
    ) as agent:
        try:
            assert agent.stdout is not None
            worker = psutil.Process(int(agent.stdout.readline()))
        finally:
            agent.kill()  # SIGKILL: the agent cleans nothing up
            agent.wait(10)
    shutil.rmtree(blobs)
    with contextlib.suppress(psutil.NoSuchProcess):
        worker.wait(10)  # psutil.TimeoutExpired if the worker outlived it by far
    assert not blobs.exists(), "the worker went on after its agent died"


def test_a_worker_told_to_stop_mid_item_ends_at_once_and_removes_its_scratch_folder(
    tmp_path: Path,
) -> None:
    """SIGTERM is what a worker gets when its agent dies (die_with_parent) or is stopped: it
    ends as at the end of its input, its scratch folder (where Blender renders) removed."""
    blobs, scratch = tmp_path / "blobs", tmp_path / "tmp"
    blobs.mkdir()
    scratch.mkdir()
    task = TaskSpec(map_id="m", index=0, attempt=1, args=[60_000])
    line = json.dumps({"batch_id": "b", "activity": "Compute.Sleep", "tasks": [task]})
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "witengine.node.batch_process",
            "--plugins",
            COMPUTE,
            "--blobs",
            str(blobs),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, "TMPDIR": str(scratch)},
        text=True,
    ) as worker:
        assert worker.stdin is not None
        worker.stdin.write(line + "\n")
        worker.stdin.flush()
        for _ in range(100):  # bounded: the worker makes its folder as it starts
            if any(scratch.iterdir()):
                break
            time.sleep(0.05)
        assert [p.name[:14] for p in scratch.iterdir()] == ["wit-node-work-"]
        time.sleep(0.3)  # in the item's sleep now
        worker.terminate()
        assert worker.wait(5) == 128 + signal.SIGTERM
    assert list(scratch.iterdir()) == [], "the worker left its scratch folder behind"


async def test_what_a_batch_prints_reaches_its_log_before_the_batch_ends(tmp_path: Path) -> None:
    (tmp_path / "blobs").mkdir(exist_ok=True)
    slot = Runner(["witengine.testing.plugins:plugin"], tmp_path / "blobs")
    lines: list[str] = []
    tasks = [TaskSpec(map_id="m", index=i, attempt=1, args=[i]) for i in range(4)]
    chatty = batch("b1", 4).model_copy(update={"activity": "Testing.Chatty", "tasks": tasks})
    try:
        for _ in range(3):  # every time: none arrives after its batch
            lines.clear()
            slot.on_log = lines.append
            _ = [r async for r in slot.run(chatty)]
            slot.on_log = None
            assert lines == [f"working on {i}" for i in range(4)]
    finally:
        await slot.kill()
