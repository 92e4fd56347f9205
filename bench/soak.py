"""Soak: one real hub, 200 simulated nodes and a 100,000-item job; nothing lost, nothing twice.

A real hub process on 127.0.0.1 (`wit hub`, its own data directory) and `--nodes` simulated nodes
(`FakeNode`s, spread over `--processes` processes, each an asyncio loop) that speak the real node
protocol over WebSockets: hello with their hardware, benchmark rates, heartbeats naming their
batches, results a few at a time; when the hub has tokens, each first trades a join token (made with
the admin token the hub wrote in its data directory) for a credential of its own, as `wit node
--token` does, and the bench's own requests carry the admin token. Each "runs" an item of
`Compute.Hash(Format("item-{0}", i))` by computing its real sha256, timed at the node's own speed
(item times spread log-uniformly over `--item-ms`, one node in four with 2 or 4 slots). The job goes
through the real API (`run_on_hub`: check, submit, follow its events, fetch its 100,000 results).

Throughout the job a poller fetches the job's status, the job list, the node list and the health
check one after another (a few requests a second) and times each; a sampler reads the hub's RSS
(psutil, hub process and children). After the run the hub stops and its store is read
(read-only; its SQLite file, or with `--store postgresql://…` the PostgreSQL database the hub
kept its state in, which must be empty at the start): an item is *lost* when it has no
committed result, *wrong* when its result differs from the local sha256 (in the store or in
what `run_on_hub` returned), *duplicated* when it was
committed more than once (the commits each task counts in the store, and the hub's own commit
count, the nodes' `done` summed, against the distinct items committed). All three must be zero:
the bench exits 1 otherwise, and 2 when the deadline for the whole run (`--deadline`) passes
first. Every process it started is gone when it exits; they also die with it if it is killed.

Figures: enrolment (from the first node process ready, its imports done, to the last node
holding its credential: in all, per node, and each node's own wait), then how long until every
node is connected and the CPU seconds hub and nodes spent until then; items per second (the job's
hub record, started to finished; and submit to results in hand), API latency p50/p99/max per
endpoint and overall, the slowest requests with when they came (seconds after submitting; the
worst from submitting until five seconds after the map reached the hub's dispatcher is printed
apart: a hub held up by preparing a large job shows there), the hub's peak RSS, and CPU
seconds of the hub and of the simulated nodes (on a machine of few cores, shared, they compete
for them).

    .venv/bin/python bench/soak.py [--nodes 200] [--items 100000] [--processes 2]
        [--item-ms 20 400] [--deadline 600] [--json] [--profile hub.txt] [--store URL]
        [--profile-enrolment enrolment.txt]

`--profile FILE` records the hub with py-spy (`pip install py-spy`) while the job runs, and
`--profile-enrolment FILE` while the nodes enrol and connect, as collapsed stacks (one line per
stack and its count of samples).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import hashlib
import json
import math
import os
import random
import re
import signal
import sqlite3  # noqa: TID251 - the bench audits the hub's store itself, read-only
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import psutil

from witengine import __version__
from witengine.client import HubAccess
from witengine.protocol import BenchmarkReport
from witengine.testing.fake_nodes import FakeNode
from witengine.testing.processes import free_port

SCRIPT = """\
Job:Soak(Int:n = 1000)
{
    StringCollection:hashes = Grid.ForEach(i in Int.Range(0, n))
        => Compute.Hash(Format("item-{0}", i));
}
"""
ENDPOINTS = ("/jobs/{job}", "/jobs", "/nodes", "/health")
POLL_PAUSE = 0.05  # seconds between two polled requests
SUBMIT_SECONDS = 5.0  # requests asked until this long after the map reached the hub: "at submit"
SAMPLE_SECONDS = 0.25  # between two RSS samples


def expected(index: int) -> str:
    return hashlib.sha256(f"item-{index}".encode()).hexdigest()


def hash_item(activity: str, args: list[Any]) -> str:
    if activity != "Compute.Hash":
        raise ValueError(f"a simulated node runs only Compute.Hash, not {activity}")
    return hashlib.sha256(str(args[0]).encode("utf-8")).hexdigest()


# ---------------------------------------------------------------- credentials


JOIN_TOKEN = "SOAK_JOIN_TOKEN"  # how the node processes get the join token (not in argv)


def admin_token(root: Path) -> str | None:
    """The admin token the hub wrote on its first start (None: a hub without tokens)."""
    path = root / "hub" / "admin.token"
    return path.read_text().strip() if path.exists() else None


def api_headers(token: str | None) -> dict[str, str]:
    """Headers of every API request this bench makes."""
    return {"Authorization": f"Bearer {token}"} if token else {}


async def join_token(client: httpx.AsyncClient, nodes: int) -> str | None:
    """A join token for the simulated nodes, as `wit token create --role node` makes one: each
    node trades it for a credential of its own, as `wit node --token` does."""
    if "authorization" not in client.headers:
        return None
    response = await client.post("/tokens", json={"role": "node", "uses": nodes, "label": "soak"})
    if response.status_code != 201:
        raise SystemExit(f"the hub made no join token: {response.status_code} {response.text}")
    token: str = response.json()["token"]
    return token


# ------------------------------------------------------------ simulated nodes


def node_plan(number: int, seed: int, item_ms: tuple[float, float]) -> tuple[float, int]:
    """Node `number`'s seconds per item (log-uniform over item_ms) and slots."""
    rng = random.Random(seed * 100_003 + number)
    low, high = item_ms
    seconds = math.exp(rng.uniform(math.log(low), math.log(high))) / 1000
    slots = rng.choices((1, 2, 4), weights=(75, 20, 5))[0]
    return seconds, slots


def simulated_node(
    hub_url: str, number: int, seed: int, item_ms: tuple[float, float], join: str | None
) -> FakeNode:
    seconds, slots = node_plan(number, seed, item_ms)
    rate = 10 / seconds  # bytes@1 per second: "item-NNNNN" is about 10 bytes
    error = random.Random(seed + number).uniform(-0.3, 0.3)  # benchmarks are never exact
    report = BenchmarkReport(
        activity="Compute.Hash",
        plugin="compute",
        plugin_version=__version__,
        unit="bytes@1",
        rate=rate * (1 + error),
        elapsed=1.0,
        iterations=max(1, int(rate)),
    )
    return FakeNode(
        hub_url,
        f"sim-{number:03d}",
        activities=("Compute.Hash",),
        slots=slots,
        item_seconds=seconds,
        value=hash_item,
        join_token=join,
        benchmarks=(report,),
    )


def soak_node(options: argparse.Namespace, number: int, join: str | None) -> FakeNode:
    return simulated_node(options.hub, number, options.seed, tuple(options.item_ms), join)


async def node_group(
    options: argparse.Namespace,
    make: Callable[[argparse.Namespace, int, str | None], FakeNode] = soak_node,
) -> None:
    """A child process: run nodes first..first+count-1 (each made by `make`) until stdin closes
    or the deadline. A line `owners` on stdin starts the owners' clocks of the nodes that follow
    one (`FakeNode.start_owner`).

    Prints one JSON line when every node is connected and one with each node's counts at the end.
    """
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    join = os.environ.get(JOIN_TOKEN) or None
    fakes = [make(options, n, join) for n in range(options.first, options.first + options.count)]
    ready = time.time()
    tasks = [asyncio.create_task(fake.run(), name=fake.name) for fake in fakes]
    enrolled = [asyncio.create_task(when(fake.enrolled)) for fake in fakes]
    ended = asyncio.create_task(_commands(stdin, fakes))  # EOF: the bench is done, or died
    try:
        async with asyncio.timeout(options.deadline):
            connecting = asyncio.gather(*(when(fake.connected) for fake in fakes))
            await asyncio.wait([connecting, ended, *tasks], return_when=asyncio.FIRST_COMPLETED)
            if not connecting.done():
                connecting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await connecting
                failed = [f"{t.get_name()}: {_crash(t)}" for t in tasks if t.done()]
                print(json.dumps({"error": f"nodes could not connect: {failed[:3]}"}), flush=True)
                return
            times = {"ready": ready, "enrolled": [t.result() for t in enrolled]}
            print(json.dumps({**times, "connected": connecting.result()}), flush=True)
            await ended
    except TimeoutError:
        pass
    finally:
        stats = [
            {
                "name": fake.name,
                "seconds": fake.item_seconds,
                "slots": fake.slots,
                "done": fake.done,
                "received": fake.received,
                "cancels": fake.cancels,
                "connected": fake.connected.is_set(),
                "crashed": _crash(task),
                "left": fake.left,  # it went for good, as its owner's laptop does
                "suspensions": fake.suspensions,
                "handed back": fake.handed_back,
            }
            for fake, task in zip(fakes, tasks, strict=True)
        ]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        ended.cancel()
        print(json.dumps({"stats": stats}), flush=True)


async def _commands(stdin: asyncio.StreamReader, fakes: list[FakeNode]) -> None:
    """Read the bench's lines until it closes our stdin: `owners` starts the owners' clocks."""
    while line := await stdin.readline():
        if line.strip() == b"owners":
            for fake in fakes:
                fake.start_owner()


async def when(event: asyncio.Event) -> float:
    """The wall time at which `event` is set (to compare across processes)."""
    await event.wait()
    return time.time()


def _crash(task: asyncio.Task[None]) -> str | None:
    if not task.done() or task.cancelled() or task.exception() is None:
        return None
    return repr(task.exception())


# ----------------------------------------------------------------- processes


def _die_with_parent() -> None:
    """In a child, before exec: the kernel kills it when the bench dies, however it dies."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


async def start_hub(root: Path, port: int, store: str | None = None) -> asyncio.subprocess.Process:
    log = (root / "hub.log").open("ab")
    command = ["hub", "--port", str(port), "--data-dir", str(root / "hub"), "--no-advertise"]
    if store:
        command += ["--store", store]
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIT_")}
    try:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "witengine",
            *command,
            stdout=log,
            stderr=log,
            env=env,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
    finally:
        log.close()


async def start_group(
    url: str,
    first: int,
    count: int,
    options: argparse.Namespace,
    join: str | None,
    script: str = __file__,
    extra: tuple[str, ...] = (),
) -> asyncio.subprocess.Process:
    """A process of simulated nodes: `script --group-of URL …` (and `extra` arguments)."""
    low, high = options.item_ms
    return await asyncio.create_subprocess_exec(
        sys.executable,
        script,
        "--group-of",
        url,
        "--first",
        str(first),
        "--count",
        str(count),
        "--seed",
        str(options.seed),
        "--item-ms",
        str(low),
        str(high),
        "--deadline",
        str(options.deadline),
        *extra,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, JOIN_TOKEN: join or ""},
        start_new_session=True,
        preexec_fn=_die_with_parent,
        limit=1 << 24,
    )


async def start_profiler(pid: int, output: Path | None) -> asyncio.subprocess.Process | None:
    """py-spy recording the hub (collapsed stacks) until SIGINT, without pausing it to sample
    (the bench times the hub's answers meanwhile)."""
    if output is None:
        return None
    spy = Path(sys.executable).with_name("py-spy")
    return await asyncio.create_subprocess_exec(
        str(spy),
        "record",
        "--pid",
        str(pid),
        "--format",
        "raw",
        "--rate",
        "200",
        "--nonblocking",
        "--output",
        str(output),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=_die_with_parent,
    )


async def read_line(process: asyncio.subprocess.Process) -> dict[str, Any]:
    assert process.stdout is not None
    line = await process.stdout.readline()
    if not line:
        raise SystemExit(f"a node process ended early (exit code {await process.wait()})")
    message: dict[str, Any] = json.loads(line)
    if "error" in message:
        raise SystemExit(message["error"])
    return message


async def stop(process: asyncio.subprocess.Process, sig: int = signal.SIGTERM) -> None:
    """Stop a child and its process group: `sig`, then SIGKILL after 10 s."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()


# ------------------------------------------------------------------ measuring


class Watch:
    """The hub's peak RSS and CPU time, and API latencies, while the job runs."""

    def __init__(self, hub_pid: int, token: str | None) -> None:
        self.token = token
        self.hub = psutil.Process(hub_pid)
        self.peak_rss = 0
        self.latencies: dict[str, list[float]] = {e: [] for e in ENDPOINTS}
        self.started = time.perf_counter()
        self.requests: list[tuple[float, float, str]] = []  # (ms, seconds into the job, endpoint)
        self.map_seen: float | None = None  # when the client heard the map reached the hub
        self.errors: list[str] = []

    def sample(self) -> None:
        with contextlib.suppress(psutil.Error):
            rss = self.hub.memory_info().rss
            for child in self.hub.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    rss += child.memory_info().rss
            self.peak_rss = max(self.peak_rss, rss)

    def cpu_seconds(self) -> float:
        times = self.hub.cpu_times()
        return times.user + times.system + times.children_user + times.children_system

    async def sample_forever(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(SAMPLE_SECONDS)

    def event(self, event: object) -> None:
        """A job event: the first progress report says the map reached the hub's dispatcher
        (the hub sends it just before storing and scheduling the map)."""
        if self.map_seen is None and getattr(event, "kind", "") == "progress_reported":
            self.map_seen = time.perf_counter() - self.started

    def at_submit(self) -> tuple[float, float, str] | None:
        """The slowest request asked before SUBMIT_SECONDS after the map reached the hub."""
        until = (self.map_seen or 0.0) + SUBMIT_SECONDS
        return max((r for r in self.requests if r[1] <= until), default=None)

    async def poll_forever(self, url: str, job: Callable[[], str | None]) -> None:
        """Fetch the endpoints in turn, timing each, until cancelled."""
        async with httpx.AsyncClient(
            base_url=url + "/api/v1", headers=api_headers(self.token), timeout=60
        ) as client:
            while True:
                for endpoint in ENDPOINTS:
                    job_id = job()
                    if job_id is None and "{job}" in endpoint:
                        continue
                    began = time.perf_counter()
                    try:
                        response = await client.get(endpoint.format(job=job_id))
                        if response.status_code != 200:
                            self.errors.append(f"{endpoint}: {response.status_code}")
                    except httpx.HTTPError as error:
                        self.errors.append(f"{endpoint}: {error!r}")
                        continue
                    took = (time.perf_counter() - began) * 1000
                    self.latencies[endpoint].append(took)
                    self.requests.append((took, began - self.started, endpoint))
                    await asyncio.sleep(POLL_PAUSE)


def read_store(database: Path | str, sql: str, params: tuple[Any, ...]) -> list[Any]:
    """Rows of one query on the hub's store, read-only: its SQLite file, or the URL of its
    PostgreSQL database (`?` marks the parameters)."""
    if isinstance(database, str):
        import psycopg  # noqa: TID251 - the bench audits the hub's store itself, read-only

        with psycopg.connect(database, autocommit=True) as pg:
            pg.read_only = True
            rows: list[Any] = pg.execute(sql.replace("?", "%s"), params).fetchall()
            return rows
    store = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        return store.execute(sql, params).fetchall()
    finally:
        store.close()


def audit(database: Path | str, job_id: str, items: int) -> dict[str, int]:
    """Lost, wrong and duplicated items as the hub's store has them (opened read-only)."""
    maps = read_store(database, "SELECT id FROM maps WHERE job_id = ?", (job_id,))
    if len(maps) != 1:
        raise SystemExit(f"expected one map for job {job_id}, the store has {len(maps)}")
    # A result row per committed item (failures have `error` set); its key allows no second,
    # but the rows are counted all the same.
    rows = read_store(
        database,
        "SELECT idx, COUNT(*), MIN(value) FROM results WHERE map_id = ? AND error IS NULL "
        "GROUP BY idx",
        (maps[0][0],),
    )
    committed: dict[int, str] = {}
    duplicated = 0
    for index, commits, result in rows:
        duplicated += max(0, commits - 1)
        committed[index] = json.loads(result)
    lost = sum(1 for i in range(items) if i not in committed)
    wrong = sum(1 for i, value in committed.items() if value != expected(i))
    return {"lost": lost, "wrong": wrong, "duplicated": duplicated, "committed": len(committed)}


def percentile(samples: list[float], fraction: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


# ---------------------------------------------------------------------- run


async def run_job(
    hub: HubAccess, script: Path, items: int, job_ids: list[str], watch: Watch
) -> list[str]:
    from witengine.api import run_on_hub

    def submitted(client: object, job_id: str) -> None:
        job_ids.append(job_id)

    result = await run_on_hub(
        hub, script, {"n": str(items)}, on_submitted=submitted, events=watch.event
    )
    if result.status.value != "completed":
        raise SystemExit(f"the job ended {result.status.value}: {result.error}")
    hashes: list[str] = result.variables["hashes"]
    return hashes


async def soak(
    options: argparse.Namespace,
    root: Path,
    script: str = __file__,
    extra: tuple[str, ...] = (),
    before_job: Callable[[list[asyncio.subprocess.Process]], Awaitable[None]] | None = None,
) -> dict[str, Any]:
    """The whole run; node processes are `script` (with `extra` arguments), and `before_job`
    is awaited once every node is connected, just before the job is submitted."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    store: str | None = getattr(options, "store", None)
    hub = await start_hub(root, port, store)
    groups: list[asyncio.subprocess.Process] = []
    helpers: list[asyncio.Task[None]] = []
    figures: dict[str, Any] = {"nodes": options.nodes, "items": options.items}
    try:
        async with httpx.AsyncClient(base_url=url + "/api/v1", timeout=30) as client:
            await wait_healthy(client, hub)
            token = admin_token(root)
            if store and token is None:
                raise SystemExit(
                    "the hub made no admin token: the database given to --store holds a hub's "
                    "state already; give the bench an empty database"
                )
            client.headers.update(api_headers(token))
            join = await join_token(client, options.nodes)
            watch = Watch(hub.pid, token)
            hub_cpu = watch.cpu_seconds()
            profiler = await start_profiler(hub.pid, options.profile_enrolment)
            began, started = time.perf_counter(), time.time()
            per = -(-options.nodes // options.processes)
            for first in range(0, options.nodes, per):
                count = min(per, options.nodes - first)
                groups.append(await start_group(url, first, count, options, join, script, extra))
            figures.update(joined([await read_line(group) for group in groups], started))
            figures["connect seconds"] = time.perf_counter() - began
            if profiler is not None:
                await stop(profiler, signal.SIGINT)
            figures["connect cpu seconds"] = {
                "hub": watch.cpu_seconds() - hub_cpu,
                "nodes": sum(cpu_seconds(group.pid) for group in groups),
            }
            online = [n for n in (await client.get("/nodes")).json() if n["state"] != "offline"]
            if len(online) != options.nodes:
                raise SystemExit(f"{len(online)} of {options.nodes} nodes are online")
            if before_job is not None:
                await before_job(groups)
            job_script = root / "soak.wit"
            job_script.write_text(SCRIPT)
            job_ids: list[str] = []
            helpers = [
                asyncio.create_task(watch.sample_forever()),
                asyncio.create_task(watch.poll_forever(url, lambda: next(iter(job_ids), None))),
            ]
            cpu_before = watch.cpu_seconds()
            profiler = await start_profiler(hub.pid, options.profile)
            began = watch.started = time.perf_counter()
            access = HubAccess(url, token)
            hashes = await run_job(access, job_script, options.items, job_ids, watch)
            if profiler is not None:
                await stop(profiler, signal.SIGINT)  # py-spy writes its file on SIGINT
            figures["submit to results seconds"] = time.perf_counter() - began
            for helper in helpers:
                helper.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            watch.sample()
            figures["hub cpu seconds"] = watch.cpu_seconds() - cpu_before
            job = (await client.get(f"/jobs/{job_ids[0]}")).json()
            figures["job seconds"] = job["finished_at"] - job["started_at"]
            commits = sum(n["done"] for n in (await client.get("/nodes")).json())
        node_stats, nodes_cpu = await stop_groups(groups)
        figures["nodes cpu seconds"] = nodes_cpu
        figures["hub peak rss bytes"] = max(watch.peak_rss, _high_water(hub.pid))
        await stop(hub)
        figures["store"] = "postgresql" if store else "sqlite"
        found = audit(store or root / "hub" / "hub.sqlite3", job_ids[0], options.items)
        figures.update(judge(root, found, options.items, hashes, commits, node_stats, watch))
    finally:
        for helper in helpers:
            helper.cancel()
        for process in [*groups, hub]:
            await stop(process, signal.SIGKILL)
    return figures


def joined(groups: list[dict[str, Any]], started: float) -> dict[str, Any]:
    """How long the nodes took to start, enrol and connect, from the groups' wall times.

    Enrolment runs from the moment the first node process is ready (its imports done) until
    the last node holds its credential; each node asks as soon as its process is ready, so
    a node's own wait is from its process's `ready` to its credential."""
    ready = min(g["ready"] for g in groups)
    enrolled = [t for g in groups for t in g["enrolled"]]
    waits = sorted(t - g["ready"] for g in groups for t in g["enrolled"])
    return {
        "node processes start seconds": max(g["ready"] for g in groups) - started,
        "enrol seconds": max(enrolled) - ready,
        "enrol wait p50 seconds": percentile(waits, 0.5),
        "enrol wait max seconds": waits[-1],
        "enrolled to connected seconds": max(t for g in groups for t in g["connected"])
        - max(enrolled),
    }


async def wait_healthy(client: httpx.AsyncClient, hub: asyncio.subprocess.Process) -> None:
    for _ in range(600):
        if hub.returncode is not None:
            raise SystemExit(f"the hub exited with code {hub.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if (await client.get("/health")).status_code == 200:
                return
        await asyncio.sleep(0.1)
    raise SystemExit("the hub did not answer within 60 s")


async def stop_groups(
    groups: list[asyncio.subprocess.Process],
) -> tuple[list[dict[str, Any]], float]:
    """Close the node processes' stdin; their counts per node, and their CPU seconds."""
    cpu = 0.0
    for group in groups:
        cpu += cpu_seconds(group.pid)
        assert group.stdin is not None
        group.stdin.close()
    stats: list[dict[str, Any]] = []
    for group in groups:
        async with asyncio.timeout(30):
            stats += (await read_line(group))["stats"]
            await group.wait()
    return stats, cpu


def cpu_seconds(pid: int) -> float:
    """A process's CPU seconds so far (0 once it is gone)."""
    with contextlib.suppress(psutil.Error):
        times = psutil.Process(pid).cpu_times()
        return times.user + times.system
    return 0.0


def _high_water(pid: int) -> int:
    """The kernel's own record of the process's peak RSS (VmHWM), where there is one."""
    with contextlib.suppress(OSError):
        found = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
        if found:
            return int(found[1]) * 1024
    return 0


def judge(
    root: Path,
    found: dict[str, int],
    items: int,
    hashes: list[str],
    commits: int,
    node_stats: list[dict[str, Any]],
    watch: Watch,
) -> dict[str, Any]:
    returned_wrong = sum(1 for i, h in enumerate(hashes) if h != expected(i))
    returned_wrong += abs(len(hashes) - items)
    received = sum(s["received"] for s in node_stats)
    log = (root / "hub.log").read_text(errors="replace")
    return {
        "lost": found["lost"],
        "wrong": found["wrong"] + returned_wrong,
        "duplicated": found["duplicated"] + max(0, commits - found["committed"]),
        "hub commits": commits,
        "tasks sent": received,
        "results sent": sum(s["done"] for s in node_stats),
        "batches cancelled": sum(s["cancels"] for s in node_stats),
        "leases expired": log.count(" expired ("),
        "nodes crashed": [s["name"] for s in node_stats if s["crashed"]],
        "nodes disconnected": [
            s["name"] for s in node_stats if not s["connected"] and not s["left"]
        ],
        "nodes that left": len([s for s in node_stats if s["left"]]),
        "suspensions": sum(s["suspensions"] for s in node_stats),
        "items handed back": sum(s["handed back"] for s in node_stats),
        "api errors": watch.errors[:10],
        "api error count": len(watch.errors),
        "latency ms": {
            endpoint: {
                "n": len(samples),
                "p50": percentile(samples, 0.5),
                "p99": percentile(samples, 0.99),
                "max": max(samples, default=float("nan")),
            }
            for endpoint, samples in watch.latencies.items()
        },
        "all latencies ms": [s for samples in watch.latencies.values() for s in samples],
        "slowest requests": [
            {"ms": ms, "at seconds": at, "endpoint": endpoint}
            for ms, at, endpoint in sorted(watch.requests, reverse=True)[:5]
        ],
        "map reached the hub seconds": watch.map_seen,
        "slowest at submit": (
            None
            if (slowest := watch.at_submit()) is None
            else dict(zip(("ms", "at seconds", "endpoint"), slowest, strict=True))
        ),
    }


def report(figures: dict[str, Any]) -> bool:
    """Print the figures; whether nothing was lost, wrong or duplicated."""
    items = figures["items"]
    every = figures.pop("all latencies ms")
    figures["latency ms"]["all"] = {
        "n": len(every),
        "p50": percentile(every, 0.5),
        "p99": percentile(every, 0.99),
        "max": max(every, default=float("nan")),
    }
    nodes = figures["nodes"]
    store = {"postgresql": "PostgreSQL"}.get(figures.get("store", ""), "SQLite")
    print(
        f"{nodes} simulated nodes, a {items:,}-item Compute.Hash job, the hub's store in {store} "
        f"(connected in {figures['connect seconds']:.1f} s)"
    )
    print(
        f"  enrolment: {figures['enrol seconds']:.2f} s for {nodes} nodes "
        f"({figures['enrol seconds'] / nodes * 1000:.1f} ms per node; a node waited "
        f"{figures['enrol wait p50 seconds']:.2f} s at the median, "
        f"{figures['enrol wait max seconds']:.2f} s at most); then all connected within "
        f"{figures['enrolled to connected seconds']:.2f} s (node processes started in "
        f"{figures['node processes start seconds']:.1f} s)"
    )
    print(
        f"  CPU seconds until connected: hub {figures['connect cpu seconds']['hub']:.1f}, "
        f"simulated nodes {figures['connect cpu seconds']['nodes']:.1f} (their imports included)"
    )
    print(
        f"  items per second: {items / figures['job seconds']:,.0f} (hub's job record, "
        f"{figures['job seconds']:.1f} s); {items / figures['submit to results seconds']:,.0f} "
        f"submit to results in hand ({figures['submit to results seconds']:.1f} s)"
    )
    print(f"  {'API latency':<14} {'requests':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for endpoint, row in figures["latency ms"].items():
        print(
            f"  {endpoint:<14} {row['n']:>8} {row['p50']:>8.1f} {row['p99']:>8.1f} "
            f"{row['max']:>8.1f}"
        )
    if figures["slowest requests"]:
        worst = figures["slowest requests"][0]
        print(
            f"  worst API latency: {worst['ms']:,.0f} ms on {worst['endpoint']}, asked "
            f"{worst['at seconds']:.1f} s after submitting (results in hand after "
            f"{figures['submit to results seconds']:.1f} s)"
        )
    at_submit, seen = figures["slowest at submit"], figures["map reached the hub seconds"]
    if at_submit is not None and seen is not None:
        print(
            f"  worst at submit: {at_submit['ms']:,.0f} ms on {at_submit['endpoint']}, asked "
            f"{at_submit['at seconds']:.1f} s after submitting (the map reached the hub's "
            f"dispatcher at {seen:.1f} s, as its first progress event told; requests asked "
            f"until {SUBMIT_SECONDS:g} s after that)"
        )
    slowest = ", ".join(
        f"{row['endpoint']} {row['ms']:.0f} ms at {row['at seconds']:.1f} s"
        for row in figures["slowest requests"]
    )
    print(f"  slowest: {slowest} (seconds after submitting)")
    print(f"  hub peak RSS: {figures['hub peak rss bytes'] / 2**20:.0f} MiB")
    print(
        f"  CPU seconds during the job: hub {figures['hub cpu seconds']:.1f}, simulated nodes "
        f"{figures['nodes cpu seconds']:.1f} (all of their run); hub "
        f"{figures['hub cpu seconds'] / items * 1e6:.0f} µs per item"
    )
    print(
        f"  tasks sent {figures['tasks sent']:,} (re-runs {figures['tasks sent'] - items:,}), "
        f"results returned {figures['results sent']:,}, batches cancelled "
        f"{figures['batches cancelled']:,}, leases expired {figures['leases expired']}"
    )
    problems = [
        f"{key}: {figures[key]}"
        for key in ("nodes crashed", "nodes disconnected", "api errors")
        if figures[key]
    ]
    for problem in problems:
        print(f"  {problem}")
    print(
        f"  lost {figures['lost']}, duplicated {figures['duplicated']}, wrong {figures['wrong']} "
        f"(hub commits {figures['hub commits']:,} for {items:,} items)"
    )
    return figures["lost"] == figures["duplicated"] == figures["wrong"] == 0


async def main(options: argparse.Namespace) -> int:
    with contextlib.ExitStack() as stack:
        if options.keep is None:
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="wit-bench-soak-"))
        else:
            folder = str(options.keep)
            options.keep.mkdir(parents=True)  # a fresh folder: the audit reads its store
        try:
            async with asyncio.timeout(options.deadline):
                figures = await soak(options, Path(folder))
        except TimeoutError:
            print(f"soak: the run did not end within {options.deadline:g} s", file=sys.stderr)
            print((Path(folder) / "hub.log").read_text(errors="replace")[-3000:], file=sys.stderr)
            return 2
    clean = report(figures)
    if options.json:
        print(json.dumps(figures))
    return 0 if clean else 1


def arguments() -> argparse.Namespace:
    return parser(__doc__).parse_args()


def parser(doc: str | None) -> argparse.ArgumentParser:
    """The soak's options (a bench built on it adds its own)."""
    command = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    command.add_argument("--nodes", type=int, default=200)
    command.add_argument("--items", type=int, default=100_000)
    command.add_argument("--processes", type=int, default=2, help="processes of simulated nodes")
    command.add_argument("--item-ms", type=float, nargs=2, default=(20.0, 400.0))
    command.add_argument("--deadline", type=float, default=600.0, help="seconds for everything")
    command.add_argument("--seed", type=int, default=7)
    command.add_argument(
        "--store",
        metavar="URL",
        help="run the hub on this PostgreSQL database (postgresql://…, empty) instead of SQLite",
    )
    command.add_argument("--json", action="store_true", help="also print the figures as JSON")
    command.add_argument(
        "--keep", type=Path, help="a new folder to keep the hub's data and log in (default: none)"
    )
    command.add_argument(
        "--profile", type=Path, help="record the hub with py-spy during the job (collapsed stacks)"
    )
    command.add_argument(
        "--profile-enrolment",
        type=Path,
        help="record the hub with py-spy while the nodes enrol and connect (collapsed stacks)",
    )
    command.add_argument("--group-of", dest="hub", help=argparse.SUPPRESS)
    command.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    command.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    return command


if __name__ == "__main__":
    parsed = arguments()
    if parsed.hub:
        asyncio.run(node_group(parsed))
    else:
        sys.exit(asyncio.run(main(parsed)))
