"""Helpers of the office tests: nodes under an owner policy whose idle source is a file
(`idle-source = "file:PATH"`: its modification time is the owner's last input), an owner who sits
at a node's keyboard for a while (touching that file), and the node's batch processes as psutil
sees them."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

from witengine.testing.processes import ProcessFarm, free_port, wait_until

# Short enough for a test: work starts after a second without input, frozen work thaws after a
# second without input, and work frozen for `vacate` seconds is handed back.
IDLE_AFTER, RESUME_AFTER = "1s", "1s"
STOPPED = psutil.STATUS_STOPPED


def start_office_node(farm: ProcessFarm, name: str, vacate_after: str, *extra: str) -> Path:
    """A node whose owner left a while ago; the file its owner's input touches."""
    keyboard = farm.root / f"{name}.keyboard"
    keyboard.touch()
    long_ago = time.time() - 3600
    os.utime(keyboard, (long_ago, long_ago))
    farm.start_node(
        name,
        *("--idle-source", f"file:{keyboard}"),
        *("--idle-after", IDLE_AFTER, "--resume-after", RESUME_AFTER),
        *("--vacate-after", vacate_after),
        # Normal priority: on a shared test machine the idle class could starve the batches.
        *("--priority", "normal"),
        # The test machine is shared: other processes' load must not stop these nodes.
        *("--max-load", "1000"),
        *("--slots", "1", "--no-bench"),
        *extra,
    )
    return keyboard


@contextlib.contextmanager
def owner_at(keyboard: Path, every: float = 0.2) -> Iterator[None]:
    """The owner types on the node's machine for as long as the block runs."""
    leaving = threading.Event()

    def type_away() -> None:
        while not leaving.is_set():
            keyboard.touch()
            leaving.wait(every)

    typist = threading.Thread(target=type_away, daemon=True)
    keyboard.touch()
    typist.start()
    try:
        yield
    finally:
        leaving.set()
        typist.join(5)


def nodes(farm: ProcessFarm) -> dict[str, dict[str, Any]]:
    """GET /nodes, by node name."""
    return {row["name"]: row for row in farm.api("GET", "/nodes").json()}


def batch_processes(farm: ProcessFarm, name: str) -> list[psutil.Process]:
    """The node's batch processes and everything under them (Blender, say)."""
    agent = psutil.Process(farm.nodes[name].pid)
    found = []
    for child in agent.children():
        with contextlib.suppress(psutil.Error):
            if "witengine.node.batch_process" in child.cmdline():
                found += [child, *child.children(recursive=True)]
    return found


def status(process: psutil.Process) -> str:
    try:
        return str(process.status())
    except psutil.NoSuchProcess:
        return "gone"


def all_stopped(processes: list[psutil.Process]) -> bool:
    return bool(processes) and all(status(p) == STOPPED for p in processes)


def wait_frozen(processes: list[psutil.Process], within: float) -> float:
    """Seconds until every one of the processes is stopped (state T); fails after `within`."""
    started = time.monotonic()
    wait_until(lambda: all_stopped(processes), within, "the batch's processes to be stopped")
    return time.monotonic() - started


def running_on(ledger: Path, processes: list[psutil.Process]) -> list[int]:
    """Items the processes started (a `Testing.Record` ledger's lines name each one's pid)."""
    pids = {p.pid for p in processes}
    if not ledger.exists():
        return []
    return [
        int(item)
        for item, pid in (line.split() for line in ledger.read_text().splitlines())
        if int(pid) in pids
    ]


def working(farm: ProcessFarm, *names: str) -> None:
    """Wait for the nodes to connect and, their owners away, to take work."""
    wait_until(
        lambda: all(nodes(farm).get(n, {}).get("state") == "idle" for n in names),
        60,
        f"nodes {names} to be idle (their owners away)",
    )


def office_farm(root: Path) -> Iterator[ProcessFarm]:
    """A hub of real processes; its nodes, started by the test, stopped cleanly at the end (a
    frozen batch is killed with its node: a SIGKILL would leave it stopped)."""
    farm = ProcessFarm(root, free_port())
    try:
        farm.start_hub()
        yield farm
    finally:
        for process in farm.nodes.values():
            if process.poll() is None:
                process.terminate()
                process.wait(15)
        farm.stop()
