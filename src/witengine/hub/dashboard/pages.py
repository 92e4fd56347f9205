"""The dashboard's pages and their live fragments, rendered with Jinja2 templates.

Each page (a *view*) is a template that includes a few fragments; a fragment is one template
that renders alone, so the stream can send it again when what it shows has changed. `Pages`
builds a view's data once and renders the page or any of its fragments from it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from witengine.credits import credits, signed_credits
from witengine.durations import time_left
from witengine.hub.dashboard.accounts import account_page, account_rows
from witengine.hub.dashboard.board import board_rows
from witengine.hub.dashboard.views import DashboardContext, LogEntry, file_kind
from witengine.hub.exchange.ledger import Ledger
from witengine.hub.exchange.routes import ledger_verdict

HERE = Path(__file__).parent
STATIC = HERE / "static"

# The live parts of each page, in page order; `<section id="VIEW-NAME">` holds each.
FRAGMENTS: dict[str, tuple[str, ...]] = {
    "overview": ("summary", "active", "capacity", "week"),
    "nodes": ("waiting", "table"),
    "node": ("summary", "throughput", "batches"),
    "jobs": ("table",),
    "job": ("header", "timeline", "maps", "outputs", "results"),
    "board": ("table",),
    "accounts": ("table",),
    "account": ("summary", "statement"),
}


def _size(count: int | float) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def _rate(units_per_second: float) -> str:
    """A rate as people read it: whole units from 100 up, three significant digits below."""
    if units_per_second >= 100:
        return f"{units_per_second:,.0f}"
    return f"{units_per_second:.3g}"


def _amount(value: float) -> str:
    """A count of slots as a grid's cell shows it: whole from 10 up, one decimal below."""
    if value <= 0:
        return "0"
    if value >= 10:
        return f"{value:,.0f}"
    return f"{value:.1f}".removesuffix(".0")


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).isoformat(timespec="seconds")


def _clock(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def _static_versions() -> dict[str, str]:
    """A short digest of each static file, so a changed file gets a new URL (no stale cache)."""
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        for path in STATIC.iterdir()
        if path.is_file()
    }


class Pages:
    """Renders the dashboard's pages and fragments from the hub's current state."""

    def __init__(self, ctx: DashboardContext) -> None:
        self.ctx = ctx
        self.env = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
            auto_reload=False,
        )
        versions = _static_versions()
        self.env.globals["static"] = lambda name: f"/static/{name}?v={versions.get(name, '')}"
        self.env.filters.update(
            size=_size,
            iso=_iso,
            clock=_clock,
            file_kind=file_kind,
            time_left=time_left,
            rate=_rate,
            amount=_amount,
            credits=credits,
            signed_credits=signed_credits,
        )

    def context(self, view: str, key: str | None) -> dict[str, Any] | None:
        """The data a view shows; None when what it shows does not exist."""
        ctx = self.ctx
        if view == "overview":
            return {"o": ctx.overview()}
        if view == "nodes":
            return {"nodes": ctx.node_rows(), "waiting": ctx.waiting_nodes()}
        if view == "jobs":
            return {"jobs": ctx.job_rows()}
        if view == "node" and key:
            row = ctx.node_row(key)
            if row is None:
                return None
            track = ctx.watch.nodes.get(key)
            batches = list(reversed(track.batches)) if track else []
            chart = ctx.throughput(key)
            zone, week = ctx.node_week(row)
            return {
                "node": row,
                "chart": chart,
                "batches": batches,
                "now": ctx.wall(),
                "week": week,
                "zone": zone,
            }
        if view == "job" and key:
            page = ctx.job_page(key)
            return {"page": page} if page is not None else None
        if view == "accounts":
            return {"accounts": account_rows(ctx.store)}
        if view == "account" and key:
            found = account_page(ctx.store, key)
            return {"a": found} if found is not None else None
        if view == "board" and ctx.service.board is not None:
            prefix = key or ""
            return {"rows": board_rows(ctx.service.board, prefix), "prefix": prefix}
        return None

    def page(self, view: str, context: dict[str, Any], stream: str | None) -> str:
        if view == "account":
            # The whole ledger's check: once when the page opens, not at every tick of its stream.
            context = context | {
                "verdict": ledger_verdict(Ledger(self.ctx.store, self.ctx.wall)),
                "checked_at": self.ctx.wall(),
            }
        return self.render(f"{view}.html", view=view, stream=stream, **context)

    def fragment(self, view: str, name: str, context: dict[str, Any]) -> str:
        return self.render(f"fragments/{view}_{name}.html", view=view, **context)

    def log_entry(self, entry: LogEntry) -> str:
        return self.render("fragments/log_entry.html", e=entry)

    def render(self, template: str, **context: Any) -> str:
        return self.env.get_template(template).render(**context)
