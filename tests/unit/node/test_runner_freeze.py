"""Freezing a batch for the owner policy: the runner's child (and what it started, in its group or
not) stopped and continued whole, the frozen time kept out of the item's seconds, a frozen batch
killed outright, and the policy's worker limits applied to each child."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from witengine.node import process_tree
from witengine.node.policy import WorkerLimits
from witengine.node.runner import Runner
from witengine.protocol import Assign, TaskResult, TaskSpec

COMPUTE = "witengine.plugins.compute:plugin"
STOPPED = psutil.STATUS_STOPPED


def sleeps(count: int, ms: int) -> Assign:
    return Assign(
        batch_id="b1",
        job_id="job_1",
        activity="Compute.Sleep",
        tasks=[TaskSpec(map_id="m", index=i, attempt=1, args=[ms]) for i in range(count)],
        lease_seconds=30,
    )


def status(pid: int) -> str:
    try:
        return str(psutil.Process(pid).status())
    except psutil.NoSuchProcess:
        return "gone"


def wait_for(condition: object, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.01)
    raise AssertionError("the condition never held")


async def collect(runner: Runner, batch: Assign, into: list[TaskResult]) -> None:
    async for part in runner.run(batch):
        assert isinstance(part, list), part
        into.extend(part)


# A parent in its own group (as the runner starts it) with one child in its group and one that
# left it (setsid): both must stop, continue and die with it.
TREE = """
import subprocess, sys, time
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
print("ready", flush=True)
time.sleep(60)
"""


def test_a_tree_stops_continues_and_dies_whole_even_what_left_its_group() -> None:
    leader = subprocess.Popen(
        [sys.executable, "-c", TREE], stdout=subprocess.PIPE, start_new_session=True
    )
    try:
        assert leader.stdout is not None and leader.stdout.readline() == b"ready\n"
        children = psutil.Process(leader.pid).children(recursive=True)
        assert len(children) == 2
        assert {os.getpgid(c.pid) == leader.pid for c in children} == {True, False}
        everyone = [leader.pid, *(c.pid for c in children)]
        process_tree.stop(leader.pid)
        wait_for(lambda: all(status(pid) == STOPPED for pid in everyone))
        process_tree.resume(leader.pid)
        wait_for(lambda: all(status(pid) == psutil.STATUS_SLEEPING for pid in everyone))
        process_tree.stop(leader.pid)
        process_tree.kill(leader.pid)
        leader.wait(5)
        wait_for(lambda: all(status(pid) in ("gone", psutil.STATUS_ZOMBIE) for pid in everyone))
    finally:
        if leader.poll() is None:
            os.killpg(leader.pid, signal.SIGKILL)
            leader.wait()
        if leader.stdout is not None:
            leader.stdout.close()


async def test_a_frozen_batch_makes_no_progress_and_its_frozen_time_is_not_the_item_s(
    tmp_path: Path,
) -> None:
    slot = Runner([COMPUTE], tmp_path)
    results: list[TaskResult] = []
    running = asyncio.create_task(collect(slot, sleeps(3, 400), results))
    try:
        while not results:
            await asyncio.sleep(0.01)
        slot.freeze()
        assert slot.process is not None
        child = slot.process.pid
        wait_for(lambda: status(child) == STOPPED, 1.0)  # a signal takes a moment to land
        await asyncio.sleep(1.2)  # three items' time: none finishes while frozen
        assert len(results) == 1
        slot.thaw()
        await asyncio.wait_for(running, 5)
    finally:
        await slot.kill()
    assert [r.index for r in results] == [0, 1, 2]
    assert all(r.seconds < 0.9 for r in results), [r.seconds for r in results]


async def test_a_batch_that_starts_while_frozen_waits_stopped_until_thawed(
    tmp_path: Path,
) -> None:
    slot = Runner([COMPUTE], tmp_path)
    await slot.warm()
    slot.freeze()  # idle when frozen: nothing to stop yet
    assert slot.process is not None and status(slot.process.pid) != STOPPED
    results: list[TaskResult] = []
    running = asyncio.create_task(collect(slot, sleeps(1, 10), results))
    try:
        await asyncio.sleep(0.5)
        assert status(slot.process.pid) == STOPPED and results == []
        slot.thaw()
        await asyncio.wait_for(running, 5)
    finally:
        await slot.kill()
    assert [r.index for r in results] == [0]


async def test_a_frozen_batch_is_killed_at_once(tmp_path: Path) -> None:
    slot = Runner([COMPUTE], tmp_path)
    results: list[TaskResult] = []
    running = asyncio.create_task(collect(slot, sleeps(3, 2000), results))
    await asyncio.sleep(0.5)
    slot.freeze()
    process = slot.process
    assert process is not None
    child = process.pid
    await slot.kill()
    assert process.returncode == -signal.SIGKILL, "killed, not thawed and left to end"
    assert status(child) == "gone"
    with pytest.raises(AssertionError, match="RunnerDied"):
        await asyncio.wait_for(running, 5)  # collect() asserts it gets no RunnerDied


@pytest.mark.skipif(sys.platform != "linux", reason="the idle class and RLIMIT_DATA are Linux's")
async def test_a_child_runs_under_the_policy_s_worker_limits(tmp_path: Path) -> None:
    memory = 2 << 30
    slot = Runner([COMPUTE], tmp_path, limits=WorkerLimits(nice=19, memory_bytes=memory))
    try:
        await slot.warm()
        assert slot.process is not None
        child = psutil.Process(slot.process.pid)
        assert child.nice() == 19
        assert os.sched_getscheduler(child.pid) == os.SCHED_IDLE
        assert child.rlimit(psutil.RLIMIT_DATA) == (memory, memory)
        results: list[TaskResult] = []
        await collect(slot, sleeps(2, 1), results)
        assert [r.ok for r in results] == [True, True]
    finally:
        await slot.kill()


async def test_a_child_without_a_policy_runs_as_the_agent_does(tmp_path: Path) -> None:
    slot = Runner([COMPUTE], tmp_path)
    try:
        await slot.warm()
        assert slot.process is not None
        child = psutil.Process(slot.process.pid)
        assert child.nice() == psutil.Process().nice()
        assert child.rlimit(psutil.RLIMIT_DATA) == psutil.Process().rlimit(psutil.RLIMIT_DATA)
    finally:
        await slot.kill()


# An agent with an owner policy, its one batch frozen: printed, its batch process's pid.
FROZEN_AGENT = """
import asyncio, sys
from pathlib import Path
from witengine.node.policy import WorkerLimits
from witengine.node.runner import Runner
from witengine.protocol import Assign, TaskSpec

async def main():
    slot = Runner(
        ["witengine.plugins.compute:plugin"], Path(sys.argv[1]),
        limits=WorkerLimits(0, None), scratch_root=Path(sys.argv[2]),
    )
    batch = Assign(
        batch_id="b1", job_id="job_1", activity="Compute.Sleep", lease_seconds=30,
        tasks=[TaskSpec(map_id="m", index=0, attempt=1, args=[60000])],
    )

    async def run():
        async for _ in slot.run(batch):
            pass

    task = asyncio.create_task(run())
    scratch = Path(sys.argv[2])
    while not (scratch.is_dir() and any(scratch.iterdir())):  # the batch process has started
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)
    slot.freeze()
    print(slot.process.pid, flush=True)
    await task

asyncio.run(main())
"""


@pytest.mark.skipif(sys.platform != "linux", reason="a parent's death signal is Linux's")
def test_a_frozen_batch_dies_with_a_node_killed_outright(tmp_path: Path) -> None:
    # A stopped process keeps a SIGTERM pending until it runs again: the batch process of a node
    # killed outright (its owner policy had frozen it) waited stopped for ever.
    scratch = tmp_path / "work"
    agent = subprocess.Popen(
        [sys.executable, "-c", FROZEN_AGENT, str(tmp_path / "blobs"), str(scratch)],
        stdout=subprocess.PIPE,
    )
    assert agent.stdout is not None
    child = 0
    try:
        child = int(agent.stdout.readline())
        wait_for(lambda: status(child) == STOPPED)
        assert psutil.Process(child).environ().get("WIT_DIE_HARD") == "1"  # and so its programs
        assert [p.name.startswith("wit-node-work-") for p in scratch.iterdir()] == [True]
        agent.kill()
        agent.wait(5)
        wait_for(lambda: status(child) == "gone")
    finally:
        agent.kill()
        agent.wait(5)
        agent.stdout.close()
        if child:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)


# A program a batch started (as Blender is), frozen with it: printed, its pid.
MIDDLE = """
import subprocess, sys, time
from witengine.lifetime import die_with_parent
program = subprocess.Popen(
    [sys.executable, "-c", "import time; time.sleep(60)"], preexec_fn=die_with_parent
)
print(program.pid, flush=True)
time.sleep(60)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="a parent's death signal is Linux's")
@pytest.mark.parametrize("hard", [True, False])
def test_a_frozen_program_dies_with_its_batch_process_when_its_node_says_so(hard: bool) -> None:
    env = {k: v for k, v in os.environ.items() if k != "WIT_DIE_HARD"}
    if hard:
        env["WIT_DIE_HARD"] = "1"
    middle = subprocess.Popen([sys.executable, "-c", MIDDLE], stdout=subprocess.PIPE, env=env)
    assert middle.stdout is not None
    program = 0
    try:
        program = int(middle.stdout.readline())
        os.kill(program, signal.SIGSTOP)
        wait_for(lambda: status(program) == STOPPED)
        middle.kill()
        middle.wait(5)
        if hard:
            wait_for(lambda: status(program) == "gone")
        else:  # what a node without a policy gives: SIGTERM, waiting while it is stopped
            time.sleep(0.5)
            assert status(program) == STOPPED
    finally:
        middle.kill()
        middle.wait(5)
        middle.stdout.close()
        if program:
            with contextlib.suppress(ProcessLookupError):
                os.kill(program, signal.SIGKILL)
