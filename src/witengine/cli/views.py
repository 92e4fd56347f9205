"""How the `wit` command shows things: progress bars, traces, result tables. Rich lives here."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from rich import box
from rich.console import Console, RenderableType
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from witengine.durations import time_left
from witengine.lang.forms import FORMS
from witengine.protocol.events import (
    JobEvent,
    JobPaused,
    JobResumed,
    ProgressReported,
    TraceLogged,
    ValuesReturned,
)
from witengine.protocol.states import JobStatus
from witengine.runtime.library import Library


class _FarmProgress(Progress):
    """Progress bars with a line under them saying what each node has done."""

    nodes_line = ""

    def get_renderables(self) -> Iterator[RenderableType]:
        yield from super().get_renderables()
        if self.nodes_line:
            yield Text(self.nodes_line, style="dim")


class RunView:
    """Live progress of a job: one bar per distributed statement, traces above the bars, and
    on a farm what each node has done."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.nodes: dict[str, list[float]] = {}  # node -> [items, seconds]
        self.progress = _FarmProgress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("items"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.bars: dict[int, TaskID] = {}

    def __enter__(self) -> RunView:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()
        if self.nodes:
            self.console.print(node_work_table(self.nodes))

    def _farm_work(self, nodes: dict[str, tuple[float, float]]) -> None:
        """What each node has done, as a hub's progress events say."""
        self.nodes = {name: [items, seconds] for name, (items, seconds) in nodes.items()}
        self.progress.nodes_line = "nodes: " + " · ".join(
            f"{name} {int(work[0]):,}" for name, work in sorted(self.nodes.items())
        )

    def event(self, event: JobEvent) -> None:
        match event:
            case ProgressReported(line=line, activity=activity, done=done, total=total):
                if event.nodes is not None:
                    self._farm_work(event.nodes)
                bar = self.bars.get(line)
                if (
                    bar is None
                    or self.progress.tasks[bar].total != total
                    or (done == 0 and self.progress.tasks[bar].finished)
                ):
                    bar = self.progress.add_task(f"line {line} {activity}", total=total)
                    self.bars[line] = bar
                self.progress.update(bar, completed=done)
            case TraceLogged(line=line, message=message):
                self.progress.console.print(f"[dim]line {line}[/dim] {escape(message)}")
            case ValuesReturned(line=line, values=values):
                shown = ", ".join(json.dumps(v) for v in values)
                self.progress.console.print(
                    f"[dim]line {line}[/dim] [cyan]return[/cyan] {escape(shown)}"
                )
            case JobPaused():
                self.progress.console.print("[yellow]paused[/yellow]")
            case JobResumed():
                self.progress.console.print("[yellow]resumed[/yellow]")
            case _:
                pass


def node_work_table(nodes: dict[str, list[float]]) -> Table:
    """Items, busy seconds and items per busy second of each node that worked on a job."""
    table = Table(title="Work by node")
    for column in ("node", "items", "share", "busy s", "items/s"):
        table.add_column(column, justify="left" if column == "node" else "right")
    total = sum(work[0] for work in nodes.values()) or 1
    for name, (items, seconds) in sorted(nodes.items()):
        # Frames of a render come at a fraction of one a second: two decimals below 10.
        per_second = items / seconds if seconds > 0 else None
        rate = "-" if per_second is None else f"{per_second:,.{2 if per_second < 10 else 1}f}"
        table.add_row(
            escape(name), f"{int(items):,}", f"{items / total:.0%}", f"{seconds:,.1f}", rate
        )
    return table


def _short(value: Any, limit: int = 80) -> str:
    if isinstance(value, dict) and "blob" in value:
        return str(value.get("path") or f"sha256:{value['blob'][:12]}…")
    text = json.dumps(value, ensure_ascii=False)
    if isinstance(value, list) and len(text) > limit:
        return f"{len(value)} items: {text[: limit - 20]}…"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def result_table(variables: dict[str, Any], types: dict[str, str]) -> Table:
    table = Table(title="Results", show_lines=False)
    table.add_column("variable", style="bold")
    table.add_column("type", style="dim")
    table.add_column("value")
    for name, value in variables.items():
        table.add_row(name, types.get(name, ""), escape(_short(value)))
    return table


def activities_tables(library: Library) -> Iterable[Table]:
    forms = Table(title="Language forms")
    forms.add_column("form", style="bold")
    forms.add_column("kind", style="dim")
    forms.add_column("meaning")
    for form in FORMS.values():
        forms.add_row(escape(form.spec.signature()), form.kind.value, form.spec.summary)
    yield forms
    activities = Table(title="Activities")
    activities.add_column("signature", style="bold")
    activities.add_column("plugin", style="dim")
    activities.add_column("runs on", style="dim")
    activities.add_column("meaning")
    for activity in sorted(
        library.activities.values(), key=lambda a: (a.plugin != "builtin", a.name)
    ):
        spec = activity.spec
        activities.add_row(
            escape(spec.signature()), activity.plugin, spec.placement.value, spec.summary
        )
    yield activities
    types = Table(title="Types (each also has an …Collection)")
    types.add_column("type", style="bold")
    types.add_column("made from", style="dim")
    types.add_column("meaning")
    for typedef in library.types.values():
        types.add_row(typedef.name, ", ".join(sorted(typedef.spec.accepts)), typedef.spec.summary)
    yield types


def _bytes(count: int) -> str:
    size = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def short_id(full: str) -> str:
    """An id as the listings show it (as `docker ps` does): its kind and 8 characters, enough
    to tell one hub's jobs or nodes apart. Commands take it, or any beginning of an id that
    only one has."""
    kind, underscore, rest = full.partition("_")
    return f"{kind}_{rest[:8]}" if underscore else full[:12]


def _listing(title: str, columns: list[str], rows: list[list[str]], wide: bool) -> Table:
    """A table that lists things as `docker ps` does: one line per row in an 80-column
    terminal, where only the free-text columns (names, machines, errors) give way, to an
    ellipsis; `wide` folds long cells over lines instead. An id never folds."""
    table = Table(
        title=title,
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1, 0, 0),
    )
    for index, column in enumerate(columns):
        fixed = column == "id" or (column not in FREE_TEXT and not wide)
        widths = [len(column), *(Text.from_markup(row[index]).cell_len for row in rows)]
        table.add_column(
            column,
            no_wrap=fixed or not wide,
            overflow="fold" if wide else "ellipsis",
            min_width=max(widths) if fixed else _least(column, max(widths)),
        )
    for row in rows:
        table.add_row(*row)
    return table


FREE_TEXT = frozenset({"name", "reason", "owner", "machine", "gpus", "software", "error"})
NAME_CELLS = 14  # a name gives way last, and never below this many cells


def _least(column: str, longest: int) -> int | None:
    """The fewest cells a free-text column gives way to: a name stays readable."""
    return min(longest, NAME_CELLS) if column == "name" else None


STATE_COLOURS = {
    "idle": "green",
    "busy": "cyan",
    "suspended": "yellow",
    "unavailable": "dim",
    "offline": "dim",
}


def nodes_table(nodes: Iterable[Any], wide: bool = False) -> Table:
    """One line per node: name, state (and why, when its owner policy decided it), work,
    machine in short, its tools by name; `wide` adds the id, OS, GPU names and every tool with
    its version."""
    nodes = list(nodes)
    reasons = any(getattr(node, "reason", "") for node in nodes)
    # Pools and owners only on a farm that has more than the default pool, or with `wide`.
    pooled = wide or any(
        getattr(node, "pool", "default") != "default" or getattr(node, "owner", "")
        for node in nodes
    )
    columns = ["name", "state", *(["reason"] if reasons else [])]
    columns += [*(["pool", "owner"] if pooled else []), "slots", "done", "machine", "gpus"]
    columns += ["software"]
    rows = []
    for node in nodes:
        caps = node.capabilities
        machine = f"{caps.cores} cores, {_bytes(caps.ram_bytes)}"
        programs = sorted(caps.software.items())  # the tools its probe found
        if wide:
            machine = f"{caps.os} {caps.arch}, {machine}"
            gpus = ", ".join(g.name for g in caps.gpus) or "-"
            software = ", ".join(f"{name} {version}" for name, version in programs)
        else:
            gpus = str(len(caps.gpus)) if caps.gpus else "-"
            # Names only, and Python (which nearly every node has) only in the wide listing:
            # the column is the first to give way in 80 columns.
            software = ", ".join(name for name, _ in programs if name != "python")
        colour = STATE_COLOURS.get(node.state, "")
        cells = [
            escape(node.name),
            f"[{colour}]{node.state}[/{colour}]" if colour else node.state,
            *([escape(node.reason or "-")] if reasons else []),
            *(_pool_cells(node) if pooled else []),
            f"{node.running}/{node.slots}",
            str(node.done),
            escape(machine),
            escape(gpus),
            escape(software or "-"),
        ]
        rows.append([cells[0], node.id, *cells[1:]] if wide else cells)
    return _listing("Nodes", ["name", "id", *columns[1:]] if wide else columns, rows, wide)


TRUST_COLOURS = {"new": "", "reliable": "green", "blocked": "red"}


def reputation_table(nodes: Iterable[Any], wide: bool = False) -> Table:
    """One line per node and activity whose results were verified: its trust state, results
    found right and wrong, spot checks passed and failed."""
    columns = ["name", "activity", "trust", "accepted", "rejected", "spot checks"]
    rows = []
    for node in nodes:
        for record in getattr(node, "reputation", []):
            colour = TRUST_COLOURS.get(record.state, "")
            trust = f"[{colour}]{record.state}[/{colour}]" if colour else record.state
            rows.append(
                [
                    escape(node.name),
                    escape(record.activity),
                    trust,
                    str(record.accepted),
                    str(record.rejected),
                    f"{record.spot_passed} passed, {record.spot_failed} failed",
                ]
            )
    return _listing("Reputation", columns, rows, wide)


def _pool_cells(node: Any) -> list[str]:
    """A node's pool (its tier when untrusted) and its owner ("-": the node itself)."""
    pool = getattr(node, "pool", "default")
    tier = getattr(node, "tier", "trusted")
    shown = pool if tier == "trusted" else f"{pool} [yellow](untrusted)[/yellow]"
    return [escape(pool) if shown == pool else shown, escape(getattr(node, "owner", "") or "-")]


def pools_table(pools: Iterable[Any]) -> Table:
    """One line per pool: name, tier, nodes in it."""
    rows = []
    for pool in pools:
        tier = pool.tier.value if hasattr(pool.tier, "value") else str(pool.tier)
        colour = "green" if tier == "trusted" else "yellow"
        name = escape(pool.name) + (" (built in)" if pool.builtin else "")
        rows.append([name, f"[{colour}]{tier}[/{colour}]", str(pool.nodes)])
    return _listing("Pools", ["name", "tier", "nodes"], rows, False)


def joins_table(asks: Iterable[Any], title: str, wide: bool = False) -> Table:
    """Nodes that asked to join without a token: name, state, address, key fingerprint (its
    first 16 digits, which the node prints too), machine; `wide` adds the id, the whole key and
    when it last asked."""
    import datetime as dt

    from witengine.security.node_keys import short_fingerprint

    columns = ["name", "state", "address", "key", "machine"]
    rows = []
    for ask in asks:
        caps = ask.machine
        machine = f"{caps.cores} cores, {_bytes(caps.ram_bytes)}"
        colour = {"pending": "yellow", "approved": "green"}.get(ask.state, "dim")
        cells = [
            escape(ask.name),
            f"[{colour}]{ask.state}[/{colour}]",
            ask.address,
            short_fingerprint(ask.fingerprint),
            escape(machine),
        ]
        if wide:
            seen = dt.datetime.fromtimestamp(ask.seen_at).strftime("%Y-%m-%d %H:%M:%S")
            cells[3] = ask.fingerprint
            cells[4] = escape(f"{caps.os} {caps.arch}, {machine}")
            cells = [cells[0], ask.node_id, *cells[1:], seen]
        rows.append(cells)
    if wide:
        columns = ["name", "id", *columns[1:], "asked"]
    return _listing(title, columns, rows, wide)


def jobs_table(jobs: Iterable[Any], wide: bool = False) -> Table:
    """One line per job: short id, name, status, progress, time left, when it was made;
    `wide` shows whole ids, the date, and the error."""
    import datetime as dt

    columns = ["id", "name", "status", "progress", "time left", "created"]
    rows = []
    today = dt.date.today()
    for job in jobs:
        created = dt.datetime.fromtimestamp(job.created_at)
        earlier = "%Y-%m-%d %H:%M:%S" if wide else "%Y-%m-%d"
        when = created.strftime("%H:%M:%S" if created.date() == today else earlier)
        progress = f"{job.progress.done}/{job.progress.total}" if job.progress.total else ""
        running = job.status in (JobStatus.RUNNING, JobStatus.QUEUED, JobStatus.PAUSED)
        left = time_left(job.eta_seconds).removesuffix(" left") if running else ""
        cells = [short_id(job.id), escape(job.name), job.status, progress, left, when]
        rows.append([job.id, *cells[1:], escape(job.error or "")] if wide else cells)
    return _listing("Jobs", [*columns, "error"] if wide else columns, rows, wide)


def board_table(values: Iterable[Any], title: str) -> Table:
    """Versions of blackboard keys: key, version, value, who wrote it and when."""
    import datetime as dt

    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left")
    for column in ("key", "version", "value", "writer", "when"):
        table.add_column(column, overflow="fold")
    for value in values:
        when = dt.datetime.fromtimestamp(value.at).isoformat(sep=" ", timespec="seconds")
        text = json.dumps(value.value, ensure_ascii=False)
        shown = "(deleted)" if value.deleted else text if len(text) <= 80 else text[:79] + "…"
        table.add_row(escape(value.key), str(value.version), escape(shown), value.writer, when)
    return table


def resources_table(nodes: Iterable[Any]) -> Table:
    """`wit resources`: each node, its machine, its tools with versions, and the waiting job
    files it could run."""
    rows = []
    for node in nodes:
        caps = node.capabilities
        machine = f"{caps.os} {caps.arch}, {caps.cores} cores, {_bytes(caps.ram_bytes)}"
        if caps.gpus:
            machine += ", " + ", ".join(g.name for g in caps.gpus)
        tools = ", ".join(f"{name} {version}" for name, version in sorted(caps.software.items()))
        rows.append(
            [
                escape(node.name),
                str(node.state),
                escape(machine),
                escape(tools or "-"),
                escape(", ".join(node.could_run) or "-"),
            ]
        )
    columns = ["name", "state", "machine", "software", "could run"]
    return _listing("Resources", columns, rows, wide=True)


def waiting_table(files: Iterable[Any]) -> Table:
    """`wit resources --jobs`: each waiting job file, what it needs, the nodes that could run
    it and why it waits."""
    rows = [
        [
            escape(f"{f.folder}/{f.file}"),
            escape(", ".join(f.needs) or "-"),
            escape(", ".join(f.nodes) or "none"),
            escape(f"waiting: {f.reason}" if f.reason else "waiting"),
        ]
        for f in files
    ]
    return _listing("Waiting job files", ["file", "needs", "nodes", "reason"], rows, wide=True)
