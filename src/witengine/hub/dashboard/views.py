"""What each dashboard page shows, built from the hub's parts: plain data for the templates.

The dispatcher's live state (nodes and their states, batches, maps, ETAs, benchmark rates,
blocklists) comes from the hub's one read model, `witengine.hub.dispatch.FarmView`. Pages build
their parts lazily (`cached_property`), so a fragment costs only what it shows.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from witengine.hub.auth.book import ADMIN_TOKEN_LABEL
from witengine.hub.dashboard.charts import Cell, Columns, Gantt, columns, gantt, item_cells
from witengine.hub.dashboard.highlight import Piece, highlight
from witengine.hub.dashboard.tail import EventTails, Tail
from witengine.hub.dashboard.watch import (
    BUCKET_SECONDS,
    STATE_NAMES,
    BatchTrack,
    FarmWatch,
    Output,
)
from witengine.hub.dashboard.week import WeekGrid, available_slots, to_local, week_grid
from witengine.hub.dispatch import FarmView
from witengine.hub.service import HubService
from witengine.hub.store.base import JobRecord, JoinRecord, NodeRecord, Store, TokenRecord
from witengine.hub.store.market import TradeRecord
from witengine.protocol import Capabilities, NodeHello
from witengine.protocol.events import (
    JobEvent,
    JobFinished,
    JobPaused,
    JobRerun,
    JobResumed,
    JobResumedAfterRestart,
    TraceLogged,
    ValuesReturned,
)
from witengine.protocol.states import Admission, JobStatus, NodeState
from witengine.scheduling.verification import Record
from witengine.security.node_keys import short_fingerprint

IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
}
VIDEO_TYPES = {".mp4": "video/mp4", ".webm": "video/webm", ".ogv": "video/ogg", ".m4v": "video/mp4"}
TEXT_TYPES = dict.fromkeys((".txt", ".log", ".csv", ".json"), "text/plain")
# The events a job page's log shows, one line each.
LOGGED = (
    TraceLogged,
    ValuesReturned,
    JobPaused,
    JobResumed,
    JobFinished,
    JobResumedAfterRestart,
    JobRerun,
)
# Nodes in the list: those at work (or holding work, frozen) first, those gone last.
LISTED_FIRST = (
    NodeState.BUSY,
    NodeState.SUSPENDED,
    NodeState.DRAINING,
    NodeState.UNRESPONSIVE,
    NodeState.IDLE,
    NodeState.UNAVAILABLE,
    NodeState.DRAINED,
    NodeState.OFFLINE,
)


def media_type(name: str) -> str:
    """The type a blob is served as, from its name; anything unknown is a plain download."""
    suffix = name[name.rfind(".") :].lower() if "." in name else ""
    return (IMAGE_TYPES | VIDEO_TYPES | TEXT_TYPES).get(suffix, "application/octet-stream")


def file_kind(name: str) -> str:
    """image, video or file: how the page shows a blob."""
    kind = media_type(name).partition("/")[0]
    return kind if kind in ("image", "video") else "file"


# ------------------------------------------------------------------ nodes


@dataclass(frozen=True)
class NodeRow:
    id: str
    name: str
    state: NodeState
    os: str
    cpu: str
    cores: int
    ram_bytes: int
    gpus: list[str]
    software: dict[str, str]
    plugins: list[str]
    activities: list[str]
    slots: int
    running: list[BatchTrack]
    done: int
    last_heard: float | None  # wall seconds of its last message
    last_seen: float  # wall seconds of its last connect or disconnect
    rates: list[tuple[str, float]]  # (activity, items per second per slot), measured
    benchmarks: list[tuple[str, float, str]]  # (activity, units per second, unit), benchmarked
    blocked: list[tuple[str, str]]  # (job, plugin): blocklisted after failing its items
    reputation: list[tuple[str, Record]] = field(default_factory=list)  # activity -> its record
    reason: str = ""  # why it is suspended or unavailable, as its owner policy says
    policy: dict[str, str] | None = None  # its owner policy, setting -> value; None: none
    week: tuple[float, ...] = ()  # the share of each UTC hour of the week its windows allow
    window_seconds: float | None = None  # until its current window of work closes
    status_url: str | None = None  # the node's own page, as it said in its hello
    pool: str = "default"  # its pool, whether that pool is trusted, and its owner ("": itself)
    trusted: bool = True
    owner: str = ""

    @property
    def online(self) -> bool:
        return self.state.online

    @property
    def counted(self) -> bool:
        """Whether its windows count in the farm's capacity: connected and not drained."""
        return self.online and not self.drained

    @property
    def drained(self) -> bool:
        return self.state in (NodeState.DRAINING, NodeState.DRAINED)


@dataclass(frozen=True)
class WaitingNode:
    """A node waiting for approval, as the Nodes page shows it beside its Approve button."""

    id: str
    name: str
    address: str
    machine: str  # OS, CPU, cores, RAM, GPUs, as the node described them
    software: list[str]
    key: str  # the first 16 digits of its key's fingerprint, as the node prints them
    fingerprint: str
    asked_at: float
    seen_at: float


def waiting_node(record: JoinRecord) -> WaitingNode:
    caps = Capabilities.model_validate(record.machine)
    gpus = ", ".join(g.name for g in caps.gpus)
    parts = [f"{caps.os} {caps.arch}", caps.cpu_model, f"{caps.cores} cores", _ram(caps.ram_bytes)]
    machine = ", ".join(part for part in [*parts, gpus] if part)
    return WaitingNode(
        id=record.node_id,
        name=record.name,
        address=record.address,
        machine=machine,
        software=[f"{name} {version}" for name, version in sorted(caps.software.items())],
        key=short_fingerprint(record.fingerprint),
        fingerprint=record.fingerprint,
        asked_at=record.asked_at,
        seen_at=record.seen_at,
    )


def _ram(count: int) -> str:
    return f"{count / 1024**3:.1f} GiB RAM"


def node_row(record: NodeRecord, farm: FarmView, watch: FarmWatch, trusted: bool = True) -> NodeRow:
    """`trusted`: whether the node's pool is."""
    hello = NodeHello.model_validate(record.info)
    caps = hello.capabilities
    state = farm.node_state(record.id)
    track = watch.nodes.get(record.id)
    rates = []
    for activity in sorted(track.speed if track else ()):
        rate = watch.rate(record.id, activity)
        if rate is not None:
            rates.append((activity, rate))
    return NodeRow(
        id=record.id,
        name=record.name,
        state=state,
        os=" ".join(filter(None, (caps.os, caps.os_version, caps.arch))),
        cpu=caps.cpu_model,
        cores=caps.cores,
        ram_bytes=caps.ram_bytes,
        gpus=[" ".join(filter(None, (g.vendor, g.name))) for g in caps.gpus],
        software=dict(sorted(caps.software.items())),
        plugins=[f"{p.name} {p.version}" for p in hello.plugins],
        activities=list(hello.activities),
        slots=hello.slots,
        running=sorted(watch.running_batches(record.id), key=lambda b: b.started),
        done=farm.done(record.id),
        last_heard=track.last_heard if track else None,
        last_seen=record.last_seen,
        rates=rates,
        benchmarks=[
            (r.activity, r.rate, r.unit.partition("@")[0]) for r in farm.benchmarks(record.id)
        ],
        blocked=farm.blocked(record.id),
        reputation=farm.reputation(record.id),
        reason=farm.node_reason(record.id),
        # What it said in its last hello when the hub has not met it since it started.
        policy=(farm.policy(record.id) if farm.known(record.id) else hello.status.policy) or None,
        week=farm.week(record.id) if farm.known(record.id) else tuple(hello.status.week),
        window_seconds=farm.window_seconds(record.id),
        status_url=hello.status_url,
        pool=record.pool,
        trusted=trusted,
        owner=record.owner,
    )


# ------------------------------------------------------------------- jobs


@dataclass(frozen=True)
class JobRow:
    id: str
    name: str
    status: JobStatus
    created_at: float
    started_at: float | None
    finished_at: float | None
    done: int
    total: int
    error: str | None
    eta: float | None = None  # seconds its running maps still need, by the rate model
    owner: str = "—"  # who submitted it, as a person reads it

    @property
    def percent(self) -> float:
        return 100.0 * self.done / self.total if self.total else 0.0

    @property
    def ended(self) -> bool:
        return self.status.ended


def job_row(
    job: JobRecord, done: int, total: int, eta: float | None = None, owner: str = "—"
) -> JobRow:
    return JobRow(
        job.id,
        job.name,
        job.status,
        job.created_at,
        job.started_at,
        job.finished_at,
        done,
        total,
        job.error,
        eta,
        owner,
    )


def owner_name(token: TokenRecord | None, token_id: str | None) -> str:
    """Who submitted a job, named by its token: the label, else its role and id; "admin token"
    for the one made on the hub's first start; "—" when the job names none."""
    if token_id is None:
        return "—"
    if token is None:
        return token_id  # deleted since: its id is all there is
    if token.label == ADMIN_TOKEN_LABEL:
        return "admin token"
    return token.label or f"{token.role} {token.id}"


@dataclass(frozen=True)
class LogEntry:
    seq: int
    kind: str
    line: int | None
    text: str
    css: str  # info, trace, error


def log_entry(seq: int, event: JobEvent) -> LogEntry | None:
    """A job event as one line of the page's log; None for events the log leaves out."""
    if not isinstance(event, LOGGED):
        return None
    line = getattr(event, "line", None)
    css = "info"
    match event:
        case TraceLogged():
            text, css = event.message, "trace"
        case ValuesReturned():
            text = "returned " + _short(event.values)
        case JobFinished(status=status, error=error):
            text = f"job {status}"
            if error:
                text, css = f"{text}: {error}", "error"
        case JobRerun(of=of, reused=reused):
            text = f"a re-run of {of}: {reused} result(s) kept from it"
        case _:
            text = event.kind.replace("_", " ")
    return LogEntry(seq, event.kind, line, text, css)


def _short(value: Any, limit: int = 300) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class MapView:
    id: str
    activity: str
    count: int
    counts: dict[str, int]
    cells: list[Cell]
    per_cell: int


@dataclass(frozen=True)
class ResultValue:
    name: str
    type: str
    text: str | None  # a value shown as text
    files: list[dict[str, Any]]  # blobs: sha256, size, name, kind


class JobPage:
    """One job's page; each part is built when first asked for."""

    def __init__(self, job: JobRecord, ctx: DashboardContext) -> None:
        self.job = job
        self.ctx = ctx

    @cached_property
    def tail(self) -> Tail:
        return self.ctx.tails.read(self.job.id)

    @cached_property
    def row(self) -> JobRow:
        done, total = self.ctx.service.progress(self.job.id, self.job)
        if total == 0:
            done, total = self.tail.done_total
        return self.ctx.job_row(self.job, done, total)

    @cached_property
    def lines(self) -> list[list[Piece]]:
        return highlight(self.job.script)

    @cached_property
    def trades(self) -> list[TradeRecord]:
        """Its trades on the exchange, newest first (the last 50), when it bid."""
        market = self.ctx.service.dispatcher.market
        return [] if market is None else market.book.list_trades(job_id=self.job.id, limit=50)

    @property
    def running_lines(self) -> list[int]:
        return [] if self.job.status.ended else list(self.tail.running)

    @cached_property
    def batches(self) -> list[BatchTrack]:
        track = self.ctx.watch.job(self.job.id)
        return list(track.batches) if track else []

    @cached_property
    def timeline(self) -> Gantt:
        return gantt(self.batches, self.ctx.wall())

    @cached_property
    def maps(self) -> list[MapView]:
        track = self.ctx.watch.job(self.job.id)
        views = []
        for state in track.maps.values() if track else ():
            cells = item_cells(state.states)
            per = cells[0].last - cells[0].first + 1 if cells else 1
            views.append(MapView(state.id, state.activity, state.count, state.counts(), cells, per))
        return views

    @cached_property
    def outputs(self) -> list[Output]:
        track = self.ctx.watch.job(self.job.id)
        return list(reversed(track.outputs)) if track else []

    @cached_property
    def last_image(self) -> Output | None:
        return next((o for o in self.outputs if file_kind(o.name) == "image"), None)

    @cached_property
    def log(self) -> list[LogEntry]:
        entries = (log_entry(seq, data) for seq, data in self.tail.events)
        return [e for e in entries if e is not None]

    @cached_property
    def results(self) -> list[ResultValue]:
        variables = self.job.variables or {}
        values = variables.get("values") or {}
        types = variables.get("types") or {}
        return [result_value(name, str(types.get(name, "")), v) for name, v in values.items()]

    @property
    def can_cancel(self) -> bool:
        return not self.job.status.ended

    @property
    def can_pause(self) -> bool:
        return self.job.status in (JobStatus.RUNNING, JobStatus.QUEUED)

    @property
    def can_resume(self) -> bool:
        return self.job.status is JobStatus.PAUSED

    @property
    def can_rerun(self) -> bool:
        return self.job.status.rerunnable


def result_value(name: str, type_: str, value: Any) -> ResultValue:
    blobs = value if isinstance(value, list) else [value]
    if value is not None and blobs and all(_is_blob(b) for b in blobs):
        files = [{**b, "kind": file_kind(str(b.get("name", "")))} for b in blobs[:200]]
        return ResultValue(name, type_, None, files)
    return ResultValue(name, type_, _short(value, 2000), [])


def _is_blob(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("sha256"), str) and "size" in value


# --------------------------------------------------------------- overview


@dataclass(frozen=True)
class Capacity:
    plugin: str
    activity: str
    rate: float  # items per second, all online nodes together, from measured speeds
    nodes: int  # online nodes with a measured speed
    benchmark: float  # units per second, all online nodes together, from their benchmarks
    unit: str  # the benchmark's unit ("" when no node has benchmarked the activity)
    benchmarked: int  # online nodes with a benchmark


@dataclass(frozen=True)
class FarmWeek:
    """The farm's capacity by hour of the local week, and what it delivered (see `week`)."""

    zone: str  # the hub's time zone, as the grid's hours are: "CET, UTC+01:00"
    available: WeekGrid  # slots the connected nodes' windows allow
    delivered: WeekGrid  # slots busy on average, from the results committed
    nodes: int  # the nodes counted: connected, not drained
    with_policy: int  # of those, the ones with an owner policy
    slots: int  # their slots together
    since: float  # wall seconds: when the hub began to count what was delivered


@dataclass(frozen=True)
class Overview:
    nodes: dict[str, int]
    jobs: dict[str, int]
    items_per_second: float
    active: list[JobRow]
    recent: list[JobRow]
    capacity: list[Capacity]
    week: FarmWeek | None = None


# ---------------------------------------------------------------- context


@dataclass
class DashboardContext:
    """The hub parts the dashboard reads, and its own memory."""

    service: HubService
    farm: FarmView
    watch: FarmWatch
    tails: EventTails
    wall: Callable[[], float]
    zone: dt.tzinfo | None = None  # the zone the week is shown in; None: the hub's own

    @property
    def store(self) -> Store:
        return self.service.store

    def node_rows(self) -> list[NodeRow]:
        self.watch.sync()
        trusted = self._trusted_pools()
        rows = [
            node_row(r, self.farm, self.watch, r.pool in trusted) for r in self.store.list_nodes()
        ]
        return sorted(rows, key=lambda r: (LISTED_FIRST.index(r.state), r.name))

    def waiting_nodes(self) -> list[WaitingNode]:
        """Nodes that asked to join without a token and wait for an admin, first asked first."""
        return [
            waiting_node(record)
            for record in self.store.list_joins()
            if record.state == Admission.PENDING
        ]

    def node_row(self, node_id: str) -> NodeRow | None:
        record = self.store.get_node(node_id)
        self.watch.sync()
        if record is None:
            return None
        return node_row(record, self.farm, self.watch, record.pool in self._trusted_pools())

    def _trusted_pools(self) -> set[str]:
        return {pool.name for pool in self.store.list_pools() if pool.trusted}

    def job_rows(self, limit: int = 50) -> list[JobRow]:
        rows = []
        for job in self.store.list_jobs(limit):
            done, total = self.service.progress(job.id, job)
            rows.append(self.job_row(job, done, total))
        return rows

    def job_row(self, job: JobRecord, done: int, total: int) -> JobRow:
        """A job with its ETA (while it runs) and its owner's name."""
        eta = None if job.status.ended else self.farm.remaining_seconds(job.id)
        owner = owner_name(self.store.get_token(job.owner) if job.owner else None, job.owner)
        return job_row(job, done, total, eta, owner)

    def job_page(self, job_id: str) -> JobPage | None:
        job = self.service.job(job_id)
        if job is None:
            return None
        self.watch.sync()
        return JobPage(job, self)

    def throughput(self, node_id: str) -> Columns:
        track = self.watch.nodes.get(node_id)
        series = track.throughput.series(self.wall(), 60) if track else []
        return columns(series, BUCKET_SECONDS)

    def overview(self) -> Overview:
        rows = self.node_rows()
        nodes = {"online": 0} | {state.value: 0 for state in NodeState}
        for row in rows:
            nodes[row.state.value] += 1
            nodes["online"] += row.online
        # Unfinished jobs carry no results, so they are cheap to read; ended ones may carry
        # large ones: only the last few are read.
        active = [
            self.job_row(j, *self.service.progress(j.id, j)) for j in self.store.unfinished_jobs()
        ]
        statuses = {s.value: 0 for s in JobStatus}
        for job in active:
            statuses[job.status] = statuses.get(job.status, 0) + 1
        return Overview(
            nodes=nodes,
            jobs=statuses,
            items_per_second=self.watch.items_per_second(),
            active=active[::-1],  # newest first, like the list of jobs
            recent=[j for j in self.job_rows(12) if j.ended][:8],
            capacity=self.capacity(rows),
            week=self.week(rows),
        )

    def zone_at(self, at: float) -> tuple[str, float]:
        """The zone the dashboard shows the week in, as people read it, and its offset east of
        UTC in seconds at `at` (daylight saving included)."""
        if self.zone is not None:
            local = dt.datetime.fromtimestamp(at, tz=self.zone)
        else:
            local = dt.datetime.fromtimestamp(at).astimezone()  # the hub's own zone
        return _zone_name(local), (local.utcoffset() or dt.timedelta()).total_seconds()

    def node_week(self, row: NodeRow) -> tuple[str, WeekGrid]:
        """The node's slots by hour of the local week, as its windows allow them, and the zone."""
        zone, offset = self.zone_at(self.wall())
        slots = to_local(available_slots([(row.slots, row.week)]), offset)
        grid = week_grid(
            slots, lambda when, h: f"{when}: {slots[h]:.1f} of {row.slots} slots available"
        )
        return zone, grid

    def week(self, rows: list[NodeRow]) -> FarmWeek:
        """The slots the connected nodes' windows allow in each hour of the hub's local week,
        and the slots the farm kept busy in it on average (`witengine.hub.dashboard.week`)."""
        now = self.wall()
        zone, offset = self.zone_at(now)
        counted = [row for row in rows if row.counted]
        slots = sum(row.slots for row in counted)
        available = to_local(available_slots((row.slots, row.week) for row in counted), offset)
        busy = to_local(self.watch.week.busy_slots(now), offset)
        items = to_local(self.watch.week.items_per_hour(now), offset)
        scale = max(max(available, default=0.0), max(busy, default=0.0))
        return FarmWeek(
            zone=zone,
            available=week_grid(
                available,
                lambda when, h: f"{when}: {available[h]:.1f} of {slots} slots available",
                scale,
            ),
            delivered=week_grid(
                busy,
                lambda when, h: (
                    f"{when}: {busy[h]:.1f} slots busy on average, "
                    f"{items[h]:,.0f} items committed per hour"
                ),
                scale,
            ),
            nodes=len(counted),
            with_policy=sum(1 for row in counted if row.policy),
            slots=slots,
            since=self.watch.week.start,
        )

    def capacity(self, rows: list[NodeRow]) -> list[Capacity]:
        """What the online nodes can do per activity: the sum of their benchmarks (in the
        activity's unit) and of their measured speeds (items per second), each times slots."""
        measured: dict[str, list[float]] = {}
        benchmarked: dict[str, list[float]] = {}
        units: dict[str, str] = {}
        for row in rows:
            if not row.online:
                continue
            for activity, rate in row.rates:
                total = measured.setdefault(activity, [0.0, 0])
                total[0] += rate * row.slots
                total[1] += 1
            for activity, rate, unit in row.benchmarks:
                total = benchmarked.setdefault(activity, [0.0, 0])
                total[0] += rate * row.slots
                total[1] += 1
                units[activity] = unit
        library = self.service.library.activities
        return [
            Capacity(
                library[a].plugin if a in library else a.partition(".")[0].lower(),
                a,
                measured.get(a, [0.0, 0])[0],
                int(measured.get(a, [0.0, 0])[1]),
                benchmarked.get(a, [0.0, 0])[0],
                units.get(a, ""),
                int(benchmarked.get(a, [0.0, 0])[1]),
            )
            for a in sorted(measured.keys() | benchmarked.keys())
        ]


def _zone_name(local: dt.datetime) -> str:
    """A zone as people read it: its abbreviation and offset ("CET, UTC+01:00")."""
    offset = local.strftime("%z")  # +0100
    utc = f"UTC{offset[:3]}:{offset[3:]}" if offset else "UTC"
    name = local.tzname() or ""
    return f"{name}, {utc}" if name and name not in (utc, "UTC") else utc


__all__ = ["STATE_NAMES", "DashboardContext", "JobPage"]
