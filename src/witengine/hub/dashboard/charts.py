"""Geometry for the dashboard's inline SVG charts and the item grid: pure functions of data.

The templates draw what these return; nothing here knows about HTTP, templates or the hub.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

from witengine.hub.dashboard.watch import STATE_NAMES, BatchTrack

MAX_CELLS = 1_000  # an item grid never draws more cells than this; each cell may hold many items


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    css: str
    title: str
    duplicate: bool = False  # drawn hatched: a copy of work out on another node


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True)
class Gantt:
    width: float
    height: float
    label_width: float
    rows: list[tuple[str, float]]  # (node name, y of the row's middle)
    bars: list[Bar]
    ticks: list[Tick]
    summary: str  # what a screen reader says for the whole chart


def gantt(
    batches: Sequence[BatchTrack], now: float, *, width: float = 880.0, lane: float = 16.0
) -> Gantt:
    """A per-node timeline of batches: a row per node, a bar per batch, time left to right.

    A node runs several batches at once (one per slot, and one waiting): its row has as many
    lanes as it needed, each bar in the first lane free at its start.
    """
    label_width = 120.0
    if not batches:
        return Gantt(width, lane, label_width, [], [], [], "no batches yet")
    start = min(b.started for b in batches)
    end = max(max((b.ended or now) for b in batches), start + 1.0)
    span = end - start
    plot = width - label_width - 8
    lanes: dict[str, list[float]] = {}  # node -> the time each of its lanes is free again
    placed: list[tuple[BatchTrack, str, int]] = []
    for batch in sorted(batches, key=lambda b: b.started):
        free = lanes.setdefault(batch.node_name, [])
        n = next((i for i, until in enumerate(free) if until <= batch.started), len(free))
        if n == len(free):
            free.append(0.0)
        free[n] = batch.ended or now
        placed.append((batch, batch.node_name, n))
    tops: dict[str, float] = {}
    rows = []
    y = 0.0
    for name, free in lanes.items():
        tops[name] = y
        rows.append((name, y + len(free) * lane / 2))
        y += len(free) * lane + 6
    bars = []
    for batch, name, n in placed:
        x = label_width + (batch.started - start) / span * plot
        w = max(2.0, ((batch.ended or now) - batch.started) / span * plot)
        css = f"bar-{batch.outcome}" + (" bar-retry" if batch.retry else "")
        css += " bar-duplicate" if batch.duplicate_of else ""
        seconds = (batch.ended or now) - batch.started
        title = (
            f"{batch.id} on {name}: {batch.size} item(s) of {batch.activity}, "
            f"{batch.done} done, {batch.failed} failed, {seconds:.1f} s, {batch.outcome}"
            + (f" ({batch.reason})" if batch.reason else "")
            + (" (some items tried before)" if batch.retry else "")
            + duplicate_note(batch)
        )
        top = tops[name] + n * lane + 2
        bars.append(
            Bar(round(x, 1), top, round(w, 1), lane - 4, css, title, bool(batch.duplicate_of))
        )
    ticks = [
        Tick(round(label_width + (t - start) / span * plot, 1), _clock(t - start))
        for t in _tick_times(start, end)
    ]
    summary = (
        f"{len(batches)} batch(es) on {len(lanes)} node(s) over {_clock(span)}; "
        f"{sum(1 for b in batches if b.outcome == 'running')} running"
    )
    duplicates = [b for b in batches if b.duplicate_of]
    if duplicates:
        won = sum(1 for b in duplicates if b.done and b.outcome in ("finished", "cancelled"))
        summary += f"; {len(duplicates)} duplicate(s), {won} of which won"
    return Gantt(width, y + 16, label_width, rows, bars, ticks, summary)


def duplicate_note(batch: BatchTrack) -> str:
    """What a duplicate batch is a copy of and how its race ended ("" for any other batch)."""
    if not batch.duplicate_of:
        return ""
    note = f"; duplicate of work on {', '.join(batch.duplicate_of)}"
    if batch.outcome == "running":
        return note + ", still racing it"
    if batch.outcome == "finished" and batch.done:
        return note + ": won, its results came first"
    if batch.outcome == "cancelled" and batch.done:
        return note + f": won {batch.done} item(s), then cancelled"
    if batch.outcome == "cancelled":
        return note + ": cancelled, the other copy finished first"
    return note + f": {batch.outcome}"


def _tick_times(start: float, end: float, wanted: int = 6) -> list[float]:
    span = end - start
    step = next(
        (s for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600) if span / s <= wanted),
        3600 * math.ceil(span / 3600 / wanted),
    )
    return [start + k * step for k in range(int(span // step) + 1)]


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


@dataclass(frozen=True)
class Columns:
    width: float
    height: float
    bars: list[Bar]
    peak: float
    summary: str


def columns(
    series: Sequence[tuple[float, int]],
    bucket_seconds: float,
    *,
    width: float = 480.0,
    height: float = 80.0,
) -> Columns:
    """A column chart of items per second, one column per time bucket."""
    rates = [count / bucket_seconds for _, count in series]
    peak = max(rates, default=0.0)
    step = width / max(len(series), 1)
    bars: list[Bar] = []
    for (at, _), rate in zip(series, rates, strict=True):
        h = 0.0 if peak <= 0 else rate / peak * (height - 4)
        when = time.strftime("%H:%M:%S", time.localtime(at))
        bars.append(
            Bar(
                round(len(bars) * step, 1),
                round(height - h, 1),
                round(max(step - 1, 1), 1),
                round(h, 1),
                "col",
                f"{when}: {rate:.2f} items/s",
            )
        )
    now_rate = rates[-1] if rates else 0.0
    summary = f"items per second over the last {len(series) * bucket_seconds / 60:g} minutes: "
    summary += f"peak {peak:.2f}, latest {now_rate:.2f}"
    return Columns(width, height, bars, peak, summary)


@dataclass(frozen=True)
class Cell:
    first: int
    last: int
    state: str  # the cell's colour: failed, running, pending or done, in that order of concern
    title: str


def item_cells(states: bytes | bytearray, max_cells: int = MAX_CELLS) -> list[Cell]:
    """The item grid: one cell per item, or per run of items when there are too many."""
    count = len(states)
    per = max(1, math.ceil(count / max_cells))
    cells = []
    for first in range(0, count, per):
        chunk = states[first : first + per]
        last = first + len(chunk) - 1
        if per == 1:
            state = STATE_NAMES[chunk[0]]
            cells.append(Cell(first, last, state, f"item {first}: {state}"))
            continue
        counts = [chunk.count(code) for code in range(len(STATE_NAMES))]
        state = next(STATE_NAMES[code] for code in (3, 1, 0, 2) if counts[code] or code == 2)
        parts = ", ".join(f"{n} {STATE_NAMES[c]}" for c, n in enumerate(counts) if n)
        cells.append(Cell(first, last, state, f"items {first}–{last}: {parts}"))
    return cells
