"""The checks every test of the fault-injection suite ends with, and the local reference run
they compare with.

After each fault, three things must hold:
- every item's result is committed exactly once: the hub's stored results (its SQLite file, read
  only, or its PostgreSQL database) hold one result row per item (the rows are counted, though
  their key allows no second), and a watch that reads them through the whole run never sees a
  committed result change, vanish, move to a new map, or be written again under another attempt
  (so a second commit shows even when it wrote the same value again; executions may repeat: that
  is the ledger's business, not the store's);
- the results equal those of a local run of the same script (`witengine.api`'s executor);
- no acknowledged job is lost: every job the hub answered 201 for is still there at the end, with
  its final state.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from witengine import api
from witengine.lang.checker import check_source
from witengine.plugins.registry import build_library, discover, load_ref
from witengine.protocol.states import JobStatus
from witengine.runtime.blobs import LocalBlobStore
from witengine.runtime.local import LocalExecutor
from witengine.testing.processes import TEST_PLUGINS, ProcessFarm, wait_until

LEDGER = """\
Job:Ledger(Int:n, String:ledger, Int:ms = 10)
{
    IntCollection:doubled = Grid.ForEach(i in Int.Range(0, n)) => Testing.Record(i, ledger, ms);
}
"""
ENDED = tuple(status for status in JobStatus if status.ended)


def start_nodes(farm: ProcessFarm, *names: str, hub_url: str | None = None) -> None:
    for name in names:
        farm.start_node(name, hub_url=hub_url)
    wait_until(lambda: set(names) <= set(farm.online()), 60, f"nodes {names} to connect")


def run_locally(script: str, parameters: dict[str, str], blob_dir: Path) -> api.JobResult:
    """The script run on this machine's cores, as `wit run --local` does: the reference."""
    plugins = [*discover({}), load_ref(TEST_PLUGINS)]
    library = build_library(plugins)
    checked = check_source(script, library, "reference.wit")

    async def run() -> api.JobResult:
        async with LocalExecutor([p.ref for p in plugins], blob_dir, 2) as executor:
            return await api.run_checked(
                checked,
                parameters,
                library=library,
                executor=executor,
                store=LocalBlobStore(blob_dir),
            )

    result = asyncio.run(run())
    assert result.status is JobStatus.COMPLETED, result.error
    return result


# ------------------------------------------------------------ stored results


Tasks = dict[int, tuple[str, Any, int, int]]  # index -> (state, result, commits, attempt)


Store = Path | str  # the hub's SQLite file, or the URL of its PostgreSQL database
STORE_ERRORS = (sqlite3.Error, psycopg.Error)


@contextlib.contextmanager
def reading(db: Store) -> Iterator[Callable[[str, tuple[Any, ...]], list[Any]]]:
    """`query(sql, params)` on the hub's store, read only; `?` marks the parameters."""
    if isinstance(db, Path):
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as lite:
            yield lambda sql, params: lite.execute(sql, params).fetchall()
        return
    with psycopg.connect(db, autocommit=True, connect_timeout=5) as pg:
        pg.read_only = True
        yield lambda sql, params: pg.execute(sql.replace("?", "%s"), params).fetchall()


def read_tasks(db: Store, job_id: str) -> dict[int, tuple[str, Tasks]]:
    """The job's maps as the hub stored them: seq -> (map id, index -> (state, result, the
    commits the task took, the attempt of its result)), every item stored (pending: no result)."""
    with reading(db) as query:
        maps = query("SELECT seq, id FROM maps WHERE job_id = ? ORDER BY seq", (job_id,))
        stored: dict[int, tuple[str, Tasks]] = {}
        for seq, map_id in maps:
            ((count,),) = query(
                "SELECT COALESCE(SUM(size), 0) FROM items WHERE map_id = ?", (map_id,)
            )
            tasks: Tasks = {i: ("pending", None, 0, 0) for i in range(int(count))}
            for i, value, error, attempt in query(
                "SELECT idx, value, error, attempt FROM results WHERE map_id = ?", (map_id,)
            ):
                state, result = ("done", _json(value)) if error is None else ("failed", error)
                tasks[i] = (state, result, tasks.get(i, ("", None, 0))[2] + 1, attempt)
            stored[seq] = (map_id, tasks)
    return stored


def commits_per_hub_run(db: Store, job_id: str) -> list[int]:
    """How many results the hub accepted for the job in each of its runs (they restart the
    count), as its last progress event of that run says."""
    with reading(db) as query:
        rows = query("SELECT data FROM events WHERE job_id = ? ORDER BY seq", (job_id,))
    runs = [0]
    for (data,) in rows:
        event = json.loads(data)
        if event["kind"] == "job_resumed_after_restart":
            runs.append(0)
        elif event["kind"] == "progress_reported":
            runs[-1] = sum(int(items) for items, _ in event.get("nodes", {}).values())
    return runs


def _json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


@dataclass
class CommitWatch:
    """Reads the hub's stored results over and over while a job runs (across hub restarts) and
    notes anything that contradicts "committed once": a committed result that changes, is written
    again under another attempt or goes back to pending, a task that counts more than one commit,
    or a map of the job that is made again under a new id."""

    db: Store
    job_id: str
    every: float = 0.1
    # (seq, idx) -> (result, the attempt it was committed under)
    seen: dict[tuple[int, int], tuple[Any, int]] = field(default_factory=dict)
    maps: dict[int, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    recounted: set[tuple[int, int]] = field(default_factory=set)  # items seen committed twice
    reads: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> CommitWatch:
        self._thread = threading.Thread(target=self._watch, name="commit-watch", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        self._read()  # the job's final state too: a job may end before the first look

    def _watch(self) -> None:
        while not self._stop.wait(self.every):
            self._read()

    def _read(self) -> None:
        try:
            stored = read_tasks(self.db, self.job_id)
        except STORE_ERRORS:  # the hub is being killed or restarted: read again later
            return
        self.reads += 1
        self.check(stored)

    def check(self, stored: dict[int, tuple[str, Tasks]]) -> None:
        for seq, (map_id, tasks) in stored.items():
            if self.maps.setdefault(seq, map_id) != map_id:
                self.problems.append(f"map {seq} made again: {self.maps[seq]} -> {map_id}")
                self.maps[seq] = map_id
            for index, (state, result, commits, attempt) in tasks.items():
                key = (seq, index)
                if commits > 1 and key not in self.recounted:
                    self.recounted.add(key)
                    self.problems.append(f"item {index} of map {seq} committed {commits} times")
                if key in self.seen:
                    if state != "done":
                        self.problems.append(f"item {index} of map {seq} committed, then {state}")
                    elif (result, attempt) != self.seen[key]:
                        self.problems.append(
                            f"item {index} of map {seq} committed twice: "
                            f"{self.seen[key]!r} then {(result, attempt)!r} (result, attempt)"
                        )
                elif state == "done":
                    self.seen[key] = (result, attempt)


def assert_committed_once(
    farm: ProcessFarm, job_id: str, expected: list[Any], watch: CommitWatch
) -> None:
    """One stored result per item, equal to `expected`, committed once (as the store counts),
    the watch saw none change, and the hub counted no more accepted results than items."""
    db = watch.db
    stored = read_tasks(db, job_id)
    watch.check(stored)
    assert not watch.problems, watch.problems[:10]
    assert watch.reads > 0, "the watch never read the hub's results"
    assert list(stored) == [1], f"one map expected, found {sorted(stored)}"
    _, tasks = stored[1]
    assert sorted(tasks) == list(range(len(expected)))
    wrong = {i: t for i, t in tasks.items() if t[:3] != ("done", expected[i], 1)}
    assert not wrong, f"{len(wrong)} item(s) not committed as expected: {list(wrong.items())[:5]}"
    # A run's last progress event may miss the results accepted just before a crash, never
    # count one twice; a job the hub saw through in one run counts each item exactly once.
    runs = commits_per_hub_run(db, job_id)
    if len(runs) == 1:
        assert runs == [len(expected)], f"the hub accepted {runs[0]} results for {len(expected)}"
    else:
        assert sum(runs) <= len(expected), f"the hub accepted {runs} results for {len(expected)}"


def assert_no_acknowledged_job_lost(
    farm: ProcessFarm, timeout: float = 120
) -> dict[str, dict[str, Any]]:
    """Every job the hub answered 201 for is there and ends; their final states by id."""
    finals: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    for job_id in farm.acknowledged:
        response = farm.api("GET", f"/jobs/{job_id}")
        assert response.status_code == 200, f"acknowledged job {job_id} lost: {response.text}"
        finals[job_id] = farm.wait_done(job_id, max(1.0, deadline - time.monotonic()))
    listed = {job["id"] for job in farm.api("GET", "/jobs").json()}
    missing = set(farm.acknowledged) - listed
    assert not missing, f"acknowledged jobs missing from the job list: {sorted(missing)}"
    return finals
