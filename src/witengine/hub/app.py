"""`create_app`: builds a hub from its settings. Wiring only; behaviour lives in the parts.

The lifespan opens the store and blob store, resumes unfinished jobs, runs the dispatcher's loop
and (when asked) advertises the hub over mDNS; on shutdown it stops them in reverse order,
leaving running jobs to resume at the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from fastapi import Depends, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from witengine import __version__
from witengine.clock import Clock, SystemClock, wall_time
from witengine.hub.auth.admissions import Admissions, admission_router
from witengine.hub.auth.book import TokenBook
from witengine.hub.auth.gate import AuthGate
from witengine.hub.auth.routes import auth_router, signin_router
from witengine.hub.board import Board
from witengine.hub.board.facts import FarmFacts
from witengine.hub.board.routes import board_router
from witengine.hub.body_limit import BodyLimit
from witengine.hub.bundles import BundleShelf
from witengine.hub.comparing import PluginComparer
from witengine.hub.dashboard import Dashboard
from witengine.hub.dispatch import Dispatcher, Estimator, Requirer
from witengine.hub.exchange.market import Market
from witengine.hub.exchange.market_routes import market_router
from witengine.hub.exchange.routes import exchange_router
from witengine.hub.exchange.signatures import SignatureCheck
from witengine.hub.http_errors import ERROR_RESPONSES, install_error_handlers
from witengine.hub.keys import signing_key
from witengine.hub.routes.blobs import blob_router
from witengine.hub.routes.folders import folder_router
from witengine.hub.routes.jobs import job_router
from witengine.hub.routes.node_pages import node_page_router
from witengine.hub.routes.nodes import node_router
from witengine.hub.routes.plugins import plugin_router
from witengine.hub.routes.pools import pool_router
from witengine.hub.service import HubService
from witengine.hub.serving import believe_proxies
from witengine.hub.settings import HubSettings
from witengine.hub.store.base import Store
from witengine.hub.store.market import MarketStore
from witengine.hub.store.opening import open_store
from witengine.plugins.api import Plugin
from witengine.plugins.registry import build_library, discover
from witengine.plugins.requirements import Requirements
from witengine.protocol import API_PREFIX
from witengine.runtime.blobs import LocalBlobStore
from witengine.runtime.invoke import requirements_json, work_json
from witengine.runtime.library import Library

if TYPE_CHECKING:
    from witengine.engines.dask_executor import DaskExecutor

log = logging.getLogger(__name__)


@dataclass
class Hub:
    """The parts of one hub, reachable from tests and tools."""

    settings: HubSettings
    store: Store
    blobs: LocalBlobStore
    library: Library
    dispatcher: Dispatcher
    service: HubService
    bundles: BundleShelf
    book: TokenBook
    board: Board
    admin_token: str | None = None  # made on this first start, to be shown once
    plugins: Sequence[Plugin] = ()  # what it runs, packed for nodes (and loaded on Dask workers)


def build_hub(
    settings: HubSettings,
    *,
    store: Store | None = None,
    library: Library | None = None,
    plugins: Sequence[Plugin] | None = None,
    clock: Clock | None = None,
) -> Hub:
    """A hub's parts. Without `library` it runs `plugins` (default: every installed plugin);
    `plugins` are also what it packs and signs for nodes."""
    clock = clock or SystemClock()
    # Its store, keys and tokens are the farm's secrets: the folder is its owner's alone.
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    settings.data_dir.chmod(0o700)
    store = store or open_store(settings.store, settings.data_dir)
    blobs = LocalBlobStore(settings.data_dir / "blobs")
    if plugins is None:
        plugins = discover() if library is None else []
    library = library or build_library(plugins)
    bundles = BundleShelf.build(
        plugins, settings.data_dir / "plugins", signing_key(settings.data_dir)
    )
    market = (
        Market(store, wall_time, fee=settings.exchange_fee)
        if isinstance(store, MarketStore)
        else None
    )
    dispatcher = Dispatcher(
        store,
        clock,
        estimate=_estimator(library),
        requires=_requirer(library),
        compare=PluginComparer(library, blobs),
        lease_seconds=settings.lease_seconds,
        heartbeat_seconds=settings.heartbeat_seconds,
        grace_seconds=settings.grace_seconds,
        no_node_seconds=settings.no_node_seconds,
        market=market,
    )
    board = Board(store, settings.limits, wall_time)
    service = HubService(
        store,
        blobs,
        library,
        dispatcher,
        now=clock.now,
        wall=wall_time,
        limits=settings.limits,
        board=board,
    )
    book = TokenBook(store, wall_time)
    dispatcher.on_trust_changed(
        lambda change: book.audit(
            "node.trust",
            change.after.value,
            target=f"{change.node_id} {change.activity}: {change.reason}",
        )
    )
    admin_token = book.ensure_admin_token(settings.data_dir)
    return Hub(
        settings,
        store,
        blobs,
        library,
        dispatcher,
        service,
        bundles,
        book,
        board,
        admin_token,
        plugins=list(plugins),
    )


def _estimator(library: Library) -> Estimator:
    """Each item's work as its activity's plugin estimates it, for the scheduler."""

    def estimate(activity: str, items: Sequence[Sequence[Any]]) -> tuple[str, list[float]]:
        definition = library.activities.get(activity)
        plugin = definition.plugin if definition is not None else activity.rpartition(".")[0]
        return plugin, work_json(library, activity, items)

    return estimate


def _requirer(library: Library) -> Requirer:
    """What the node that runs an item must have, as its activity says from its arguments."""

    def requires(activity: str, args: Sequence[Any]) -> Requirements | None:
        found = requirements_json(library, activity, args)
        return found if isinstance(found, Requirements) else None

    return requires


async def _engine(hub: Hub) -> DaskExecutor | None:
    """The Dask cluster that runs the jobs' maps (`wit hub --executor dask://…`), connected;
    None when the nodes run them."""
    if hub.settings.executor is None:
        return None
    from witengine.engines.dask_executor import DaskExecutor

    engine = await DaskExecutor.connect(
        hub.settings.executor, hub.library, hub.blobs, hub.plugins or discover()
    )
    log.info("jobs' maps run on the Dask cluster at %s", hub.settings.executor)
    return engine


def create_app(settings: HubSettings, hub: Hub | None = None) -> FastAPI:
    hub = hub or build_hub(settings)
    gate = AuthGate(hub.book)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = hub.service.engine = await _engine(hub)  # before a resumed job needs it
        loop_task = asyncio.create_task(hub.dispatcher.run(), name="dispatcher")
        links_task = asyncio.create_task(gate.watch(), name="revoked links")
        facts_task = asyncio.create_task(facts.run(), name="farm facts")
        await hub.service.resume_unfinished()
        advertiser = None
        if settings.advertise:
            advertiser = await _advertise(settings)
        try:
            yield
        finally:
            if advertiser is not None:
                with contextlib.suppress(Exception):
                    await advertiser.stop()
            await hub.service.stop()
            for task in (loop_task, links_task, facts_task):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if engine is not None:
                await engine.aclose()
            hub.store.close()

    app = FastAPI(
        title="witengine hub",
        version=__version__,
        summary="Runs Wit jobs over a farm of nodes.",
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
        # Every route passes the gate (tokens, roles, cross-site checks): a new route cannot
        # forget it. The API's description and its pages are routes too, behind it.
        dependencies=[Depends(gate)],
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.hub = hub
    app.state.gate = gate
    gate.install(app)
    dashboard = Dashboard.build(
        hub.service, hub.dispatcher, hub.blobs, max_blob_bytes=settings.max_blob_bytes
    )
    app.state.dashboard = dashboard
    facts = FarmFacts(
        hub.board,
        hub.dispatcher.view,
        dashboard.watch,
        nodes=hub.store.list_nodes,
        running=hub.service.running,
        work=hub.dispatcher.work_by_node,
        every=settings.board_facts_seconds,
    )
    app.state.facts = facts

    install_error_handlers(app)
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.limits.request_bytes,
        setting="limits.request_bytes",
        streams=_streams_to_disk,
    )
    believe_proxies(app, settings)  # the outermost: everything within sees the client's address

    @app.get(f"{API_PREFIX}/health", tags=["hub"])
    async def health() -> dict[str, str]:
        """Whether the hub answers: the one route that needs no token."""
        return {"status": "ok", "version": __version__}

    _description_routes(app)
    app.include_router(
        auth_router(hub.book, gate, lambda: settings.tls_fingerprint), prefix=API_PREFIX
    )
    app.include_router(signin_router())
    admissions = Admissions(hub.store, hub.book, gate, wall_time, open_=settings.approve_lan)
    app.state.admissions = admissions
    app.include_router(admission_router(admissions), prefix=API_PREFIX)

    app.include_router(job_router(hub.service, gate), prefix=API_PREFIX)
    app.include_router(
        node_router(
            hub.dispatcher,
            hub.store,
            wall_time,
            gate,
            dashboard.watch.observe,
            max_message_bytes=settings.limits.node_message_bytes,
        ),
        prefix=API_PREFIX,
    )
    app.include_router(
        blob_router(hub.blobs, settings.max_blob_bytes, hub.dispatcher.node_holds_blob),
        prefix=API_PREFIX,
    )
    app.include_router(plugin_router(hub.bundles, gate), prefix=API_PREFIX)
    app.include_router(pool_router(hub.dispatcher, hub.store, wall_time, gate), prefix=API_PREFIX)
    app.include_router(node_page_router(hub.store, hub.bundles.key, wall_time))
    app.include_router(board_router(hub.board, gate), prefix=API_PREFIX)
    app.state.signatures = SignatureCheck(hub.store, gate, wall_time)
    app.include_router(exchange_router(hub.store, gate, wall_time), prefix=API_PREFIX)
    if hub.dispatcher.market is not None:
        app.include_router(market_router(hub.store, hub.dispatcher.market, gate), prefix=API_PREFIX)
    app.include_router(folder_router(hub.dispatcher, hub.store, hub.board), prefix=API_PREFIX)
    dashboard.mount(app, gate.while_valid)
    return app


def _description_routes(app: FastAPI) -> None:
    """`/openapi.json` and `/docs`, as routes behind the gate rather than FastAPI's own."""

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} API")


def _streams_to_disk(method: str, path: str) -> bool:
    """Uploads, which their routes count against max_blob_bytes as they stream to disk."""
    if method == "PUT" and path.startswith(f"{API_PREFIX}/blobs/"):
        return True
    return method == "POST" and path == "/submit/upload"


class _Stoppable(Protocol):
    async def stop(self) -> None: ...


async def _advertise(settings: HubSettings) -> _Stoppable | None:
    """Announce the hub on the local network; a hub without multicast still works."""
    try:
        from witengine.hub.discovery import Advertiser

        advertiser = Advertiser(
            name=settings.name,
            host=settings.host,
            port=settings.port,
            scheme=settings.scheme,
            fingerprint=settings.tls_fingerprint,
        )
        await advertiser.start()
        started: _Stoppable = advertiser
        return started
    except Exception as error:  # mDNS is a convenience: log and go on without it
        log.warning("could not advertise the hub over mDNS: %r", error)
        return None
