"""The hub's web dashboard: the farm, its nodes and jobs, live, at the hub's own address.

Server-rendered HTML (Jinja2), one small script of plain ES modules and a stylesheet served from
`static/`, inline SVG charts, and one server-sent event stream per open page; no build step and
nothing fetched from elsewhere. It reads the hub's store, service and dispatcher, keeps its own
bounded memory of batches (`watch`), and changes nothing but through the JSON API, except the
files a person uploads to submit a job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from witengine.clock import wall_time
from witengine.hub.dashboard.pages import STATIC
from witengine.hub.dashboard.routes import Guard, dashboard_router
from witengine.hub.dashboard.tail import EventTails
from witengine.hub.dashboard.views import DashboardContext
from witengine.hub.dashboard.watch import FarmWatch
from witengine.hub.dispatch import Dispatcher
from witengine.hub.service import HubService
from witengine.runtime.blobs import LocalBlobStore


@dataclass
class Dashboard:
    context: DashboardContext
    watch: FarmWatch
    blobs: LocalBlobStore
    max_blob_bytes: int
    tick: float

    @classmethod
    def build(
        cls,
        service: HubService,
        dispatcher: Dispatcher,
        blobs: LocalBlobStore,
        *,
        max_blob_bytes: int,
        tick: float = 1.0,
        wall: Callable[[], float] = wall_time,
    ) -> Dashboard:
        watch = FarmWatch(dispatcher.view, wall)
        dispatcher.on_delivered(watch.delivered)
        context = DashboardContext(service, dispatcher.view, watch, EventTails(service.store), wall)
        return cls(context, watch, blobs, max_blob_bytes, tick)

    def mount(self, app: FastAPI, guard: Guard) -> None:
        """Serve the pages at `/` and the static files at `/static`; `guard` keeps a page's
        stream going only while the token that opened it is valid."""
        app.include_router(
            dashboard_router(
                self.context,
                self.blobs,
                max_blob_bytes=self.max_blob_bytes,
                tick=self.tick,
                guard=guard,
            )
        )
        static = StaticFiles(directory=STATIC)

        # A route, not a mount: mounted apps would bypass the app's gate (its dependencies).
        @app.get("/static/{path:path}", include_in_schema=False, name="static")
        async def static_file(path: str, request: Request) -> Response:
            return await static.get_response(path, request.scope)


__all__ = ["Dashboard"]
