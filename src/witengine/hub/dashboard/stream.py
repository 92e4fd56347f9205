"""The dashboard's live stream: server-sent events that keep an open page up to date.

A page opens one `EventSource` on `/stream?view=…`. Every tick the stream renders the page's
fragments and sends those that changed (`swap`); a job page also gets each new event of the job
(`log`, with the event's sequence number as the SSE id) and the lines running now (`running`).
A stream starts by sending every fragment, so a page that reconnects (after a hub restart, a lost
network or the stream's own end after `lifetime` seconds) is brought up to date, and its log goes
on from `Last-Event-ID`. Renders are shared: a fragment is rendered at most once per tick
whatever the number of pages showing it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from witengine.hub.dashboard.pages import FRAGMENTS, Pages
from witengine.hub.dashboard.views import JobPage, log_entry

RETRY_MS = 2_000  # how soon a browser reconnects after the stream breaks


@dataclass(frozen=True)
class Snapshot:
    at: float
    fragments: dict[str, str]  # fragment name -> HTML
    page: JobPage | None  # the job page's data, for its log and running lines


class Snapshots:
    """A view's fragments, rendered at most once per `fresh` seconds for all streams."""

    def __init__(
        self, pages: Pages, fresh: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.pages = pages
        self.fresh = fresh
        self.clock = clock
        self.cache: dict[tuple[str, str | None], Snapshot] = {}

    def get(self, view: str, key: str | None) -> Snapshot | None:
        now = self.clock()
        cached = self.cache.get((view, key))
        if cached is not None and now - cached.at < self.fresh:
            return cached
        for old in [k for k, s in self.cache.items() if now - s.at > 60 * self.fresh]:
            del self.cache[old]
        context = self.pages.context(view, key)
        if context is None:
            self.cache.pop((view, key), None)
            return None
        fragments = {name: self.pages.fragment(view, name, context) for name in FRAGMENTS[view]}
        page = context.get("page")
        snapshot = Snapshot(now, fragments, page if isinstance(page, JobPage) else None)
        self.cache[(view, key)] = snapshot
        return snapshot


async def frames(
    snapshots: Snapshots,
    view: str,
    key: str | None,
    after: int,
    *,
    tick: float,
    lifetime: float,
    clock: Callable[[], float] = time.monotonic,
) -> AsyncIterator[dict[str, Any]]:
    """The events of one stream, as sse-starlette wants them; ends after `lifetime` seconds."""
    sent: dict[str, str] = {}
    running: list[int] | None = None
    seen = after
    ends = clock() + lifetime
    yield {"event": "ready", "data": json.dumps({"view": view}), "retry": RETRY_MS}
    while True:
        snapshot = snapshots.get(view, key)
        if snapshot is None:
            yield {"event": "gone", "data": json.dumps({"view": view, "key": key})}
            return
        for name, html in snapshot.fragments.items():
            if sent.get(name) != html:
                sent[name] = html
                yield {"event": "swap", "data": json.dumps({"id": f"{view}-{name}", "html": html})}
        page = snapshot.page
        if page is not None:
            for seq, data in list(page.tail.events):
                if seq <= seen:
                    continue
                seen = seq
                entry = log_entry(seq, data)
                if entry is not None:
                    html = snapshots.pages.log_entry(entry)
                    yield {"event": "log", "id": str(seq), "data": json.dumps({"html": html})}
            if page.running_lines != running:
                running = page.running_lines
                yield {"event": "running", "data": json.dumps(running)}
        if clock() >= ends:
            return
        await asyncio.sleep(tick)
