"""The dashboard's HTTP routes: pages, fragments, the live stream, files, and the submit form.

Pages are HTML rendered on the server; `?fragment=NAME` gives one live part of a page alone.
Actions (cancel, pause, resume, drain) go to the JSON API, which the page's script calls. Writes
that only the dashboard makes (checking a script as one types, uploading a file to submit,
checking the uploaded files as `wit run` prepares them before it sends them) want the
`X-Wit-Dashboard` header, which a page of another site cannot send.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Header, HTTPException, Request, status
from fastapi.responses import FileResponse, HTMLResponse
from sse_starlette import EventSourceResponse

from witengine.credits import credits
from witengine.errors import ParameterError
from witengine.filenames import safe_name
from witengine.hub.dashboard.pages import FRAGMENTS, Pages
from witengine.hub.dashboard.stream import Snapshots, frames
from witengine.hub.dashboard.views import DashboardContext, media_type
from witengine.hub.dashboard.watch import STATE_NAMES
from witengine.hub.event_ids import resume_after
from witengine.hub.exchange.market_routes import trade_detail
from witengine.hub.limits import check_submission
from witengine.lang.checker import CheckedJob, check_source
from witengine.lang.errors import ScriptError, render_diagnostic
from witengine.lang.printer import print_expr
from witengine.protocol import BlobRef, SubmitJob, Text
from witengine.runtime.blobs import Blob, BlobError, BlobStoreFull, LocalBlobStore
from witengine.runtime.library import Library
from witengine.runtime.parameters import check_sent, text_reader

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; media-src 'self'; script-src 'self'; "
        "style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
DASHBOARD_HEADER = "X-Wit-Dashboard"


class ScriptText(SubmitJob):
    """A script the submit page checks as it is typed: a job without its inputs yet, held to the
    hub's limits as `/api/v1/check` holds it."""

    script: Text = ""


# Keeps a page's stream going only while what opened it may (the gate's while_valid: a stream
# whose token is revoked ends within seconds, not at its lifetime).
Guard = Callable[[Request, AsyncIterator[dict[str, Any]]], AsyncIterator[dict[str, Any]]]


def _unguarded(
    _request: Request, events: AsyncIterator[dict[str, Any]]
) -> AsyncIterator[dict[str, Any]]:
    return events


def dashboard_router(
    ctx: DashboardContext,
    blobs: LocalBlobStore,
    *,
    max_blob_bytes: int,
    tick: float = 1.0,
    stream_lifetime: float = 600.0,
    guard: Guard = _unguarded,
) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    pages = Pages(ctx)
    _page_routes(router, pages)
    _item_route(router, pages)
    _trade_route(router, pages)
    snapshots = Snapshots(pages, fresh=tick * 0.9)
    _stream_route(router, snapshots, tick, stream_lifetime, guard)
    _file_route(router, blobs)
    _submit_routes(router, pages, blobs, max_blob_bytes)
    return router


def _html(text: str, code: int = 200) -> HTMLResponse:
    return HTMLResponse(text, status_code=code, headers=SECURITY_HEADERS)


def _missing(pages: Pages, what: str, key: object) -> HTMLResponse:
    return _html(pages.render("missing.html", view=what, stream=None, what=what, key=key), 404)


def _page_routes(router: APIRouter, pages: Pages) -> None:
    """GET /, /nodes, /nodes/{id}, /jobs, /jobs/{id}, /accounts, /accounts/{name}, /board;
    `?fragment=NAME` for one live part."""

    def show(view: str, key: str | None, fragment: str | None) -> HTMLResponse:
        context = pages.context(view, key)
        if context is None:
            return _missing(pages, view, key)
        if fragment is not None:
            if fragment not in FRAGMENTS[view]:
                raise HTTPException(status.HTTP_404_NOT_FOUND, f"no fragment {fragment}")
            return _html(pages.fragment(view, fragment, context))
        stream = f"/stream?view={view}" + (f"&key={quote(key)}" if key else "")
        if view == "job":
            stream += f"&after={context['page'].tail.seen}"
        return _html(pages.page(view, context, stream))

    @router.get("/")
    async def overview(fragment: str | None = None) -> HTMLResponse:
        return show("overview", None, fragment)

    @router.get("/nodes")
    async def nodes(fragment: str | None = None) -> HTMLResponse:
        return show("nodes", None, fragment)

    @router.get("/nodes/{node_id}")
    async def node(node_id: str, fragment: str | None = None) -> HTMLResponse:
        return show("node", node_id, fragment)

    @router.get("/jobs")
    async def jobs(fragment: str | None = None) -> HTMLResponse:
        return show("jobs", None, fragment)

    @router.get("/jobs/{job_id}")
    async def job(job_id: str, fragment: str | None = None) -> HTMLResponse:
        return show("job", job_id, fragment)

    @router.get("/accounts")
    async def accounts(fragment: str | None = None) -> HTMLResponse:
        return show("accounts", None, fragment)

    @router.get("/accounts/{name}")
    async def account(name: str, fragment: str | None = None) -> HTMLResponse:
        return show("account", name[:200], fragment)

    @router.get("/board")
    async def board(prefix: str = "", fragment: str | None = None) -> HTMLResponse:
        return show("board", prefix[:200] or None, fragment)


def _item_route(router: APIRouter, pages: Pages) -> None:
    @router.get("/jobs/{job_id}/items/{map_id}")
    async def item(
        job_id: str, map_id: str, index: int, fragment: str | None = None
    ) -> HTMLResponse:
        """One item: its state, arguments, last error and the batches that carried it."""
        found = _item(pages.ctx, job_id, map_id, index)
        if found is None:
            return _missing(pages, "item", index)
        if fragment is not None:
            return _html(pages.render("fragments/item.html", item=found))
        return _html(pages.render("item.html", view="item", stream=None, item=found))


def _trade_route(router: APIRouter, pages: Pages) -> None:
    @router.get("/trades/{trade_id}")
    async def trade(trade_id: str) -> HTMLResponse:
        """A trade of the exchange: its parties, price, timeline and signed requests."""
        market = pages.ctx.service.dispatcher.market
        found = market.book.get_trade(trade_id) if market is not None else None
        if market is None or found is None:
            return _missing(pages, "trade", trade_id)
        detail = trade_detail(pages.ctx.store, market, found)
        return _html(
            pages.render(
                "trade.html",
                view="trade",
                stream=None,
                trade=detail,
                credits=credits,
                clock=lambda at: dt.datetime.fromtimestamp(at).strftime("%Y-%m-%d %H:%M:%S.%f")[
                    :-3
                ],
                iso=lambda at: dt.datetime.fromtimestamp(at).astimezone().isoformat(),
            )
        )


def _stream_route(
    router: APIRouter, snapshots: Snapshots, tick: float, lifetime: float, guard: Guard
) -> None:
    @router.get("/stream")
    async def stream(
        request: Request,
        view: str,
        key: str | None = None,
        after: int = 0,
        last_event_id: Annotated[str | None, Header()] = None,
    ) -> EventSourceResponse:
        """A page's live updates; a reconnecting page's log goes on from Last-Event-ID."""
        if view not in FRAGMENTS:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no view {view}")
        start = resume_after(last_event_id, after)
        events = frames(snapshots, view, key, start, tick=tick, lifetime=lifetime)
        return EventSourceResponse(
            guard(request, events), ping=15, headers={"Cache-Control": "no-store"}
        )


def _file_route(router: APIRouter, blobs: LocalBlobStore) -> None:
    @router.get("/files/{sha256}/{name:path}")
    async def file(sha256: str, name: str, download: bool = False) -> FileResponse:
        """A blob served by its name's type: images and videos show in the page."""
        try:
            path = blobs.path(Blob(sha256, 0))
        except BlobError:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no file {sha256[:80]}") from None
        kind = media_type(name)
        inline = not download and kind != "application/octet-stream"
        return FileResponse(
            path,
            media_type=kind,
            filename=safe_name(name),
            content_disposition_type="inline" if inline else "attachment",
            headers={
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": "public, max-age=31536000, immutable",
                "Content-Security-Policy": "default-src 'none'; sandbox",
            },
        )


def _submit_routes(
    router: APIRouter, pages: Pages, blobs: LocalBlobStore, max_blob_bytes: int
) -> None:
    @router.get("/submit")
    async def submit_form() -> HTMLResponse:
        context = _check_context(pages.ctx, "", "job.wit")
        return _html(pages.render("submit.html", view="submit", stream=None, **context))

    @router.post("/submit/check")
    async def check(
        body: ScriptText, x_wit_dashboard: Annotated[str | None, Header()] = None
    ) -> dict[str, Any]:
        """The checker's verdict as HTML: its messages (with caret), and the parameters' inputs."""
        _from_dashboard(x_wit_dashboard)
        check_submission(body, pages.ctx.service.limits)
        # A long script takes seconds to check: in a thread, so that the hub goes on meanwhile.
        context = await asyncio.to_thread(_check_context, pages.ctx, body.script, body.filename)
        return {
            "ok": context["checked"] is not None and not context["diagnostics"],
            "diagnostics": pages.render("fragments/submit_diagnostics.html", **context),
            "parameters": pages.render("fragments/submit_parameters.html", **context),
        }

    @router.post("/submit/upload", status_code=status.HTTP_201_CREATED)
    async def upload(
        request: Request, name: str = "", x_wit_dashboard: Annotated[str | None, Header()] = None
    ) -> dict[str, Any]:
        """Store a file for a job's Blob parameter; answers its reference (sha256, size, name)."""
        _from_dashboard(x_wit_dashboard)
        blob = await _receive(request, blobs, max_blob_bytes)
        return {"sha256": blob.sha256, "size": blob.size, "name": safe_name(name) if name else ""}

    @router.post("/submit/check-files")
    async def check_files(
        body: SubmitJob, x_wit_dashboard: Annotated[str | None, Header()] = None
    ) -> dict[str, Any]:
        """Check a job's uploaded files as `wit run` prepares them on the submitting machine,
        which a browser cannot: a .blend must carry every file it uses. 400 naming what is
        wrong (a missing texture, say). Blender may run a while: in a thread, not in the loop."""
        _from_dashboard(x_wit_dashboard)
        check_submission(body, pages.ctx.service.limits)
        try:
            await asyncio.to_thread(_check_files, pages.ctx.service.library, blobs, body)
        except (ScriptError, ParameterError, BlobError) as error:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from None
        return {"ok": True}


def _from_dashboard(header: str | None) -> None:
    if header != "1":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only the dashboard's pages may do this")


def _check_files(library: Library, blobs: LocalBlobStore, body: SubmitJob) -> None:
    checked = check_source(body.script, library, body.filename)
    sent: dict[str, list[Blob]] = {}
    for name, refs in body.files.items():
        sent[name] = [_uploaded(blobs, ref) for ref in (refs if isinstance(refs, list) else [refs])]
    check_sent(checked, library, body.parameters, sent, blobs)


def _uploaded(blobs: LocalBlobStore, ref: BlobRef) -> Blob:
    if not blobs.has(ref.sha256):
        raise ParameterError(f"file {ref.name or ref.sha256} was not uploaded to the hub")
    return Blob(ref.sha256, ref.size, ref.name)


def _check_context(ctx: DashboardContext, script: str, filename: str) -> dict[str, Any]:
    checked: CheckedJob | None = None
    diagnostics: list[dict[str, Any]] = []
    if script.strip():
        try:
            checked = check_source(script, ctx.service.library, filename)
        except ScriptError as error:
            lines = [line.removesuffix("\r") for line in script.split("\n")]
            checked = None
            diagnostics = [
                {
                    "line": d.span.line,
                    "column": d.span.column,
                    "text": render_diagnostic(d, lines, filename),
                }
                for d in error.shown
            ]
    library = ctx.service.library
    parameters = [_parameter_input(p, library) for p in checked.parameters] if checked else []
    return {
        "empty": not script.strip(),
        "checked": checked,
        "diagnostics": diagnostics,
        "parameters": parameters,
        "script": script,
        "filename": filename,
    }


def _parameter_input(param: Any, library: Library) -> dict[str, Any]:
    """How the form asks for a parameter, by its declared type."""
    type_ = param.type
    element = type_.element.name if type_.element is not None else None
    name = type_.name
    kind, multiple, hint = "text", False, ""
    reader = text_reader(library, type_)
    if reader is not None:
        # Text that names files (`shot.blend@1-48`), and the files it names, uploaded in turn.
        kind, multiple = "named-files", True
        said = (reader.__doc__ or "").strip().partition("\n")[0]  # "`shot.blend@1-48`: …"
        hint = ("For example " if said.startswith("`") else "") + said.replace("`", "")
    elif name == "Blob" or element == "Blob":
        kind, multiple = "file", element == "Blob"
    elif name == "Bool":
        kind = "bool"
    elif name in ("Int", "Long"):
        kind = "integer"
    elif name in ("Float", "Double"):
        kind = "decimal"
    elif element is not None:
        hint = "Items separated by commas, or a JSON array."
    return {
        "name": param.name,
        "type": str(type_),
        "default": print_expr(param.default) if param.default is not None else None,
        "input": kind,
        "multiple": multiple,
        "help": hint,
    }


def _item(ctx: DashboardContext, job_id: str, map_id: str, index: int) -> dict[str, Any] | None:
    track = ctx.watch.job(job_id)
    state = track.maps.get(map_id) if track else None
    if state is None or not 0 <= index < state.count:
        return None
    args = ctx.service.store.map_args(map_id, [index]).get(index)
    return {
        "job_id": job_id,
        "index": index,
        "activity": state.activity,
        "state": STATE_NAMES[state.states[index]],
        "args": ", ".join(_short(a) for a in args) if args is not None else "(not stored)",
        "error": state.errors.get(index),
        "batches": list(ctx.watch.item_batches(job_id, map_id, index)),
    }


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 500 else text[:499] + "…"


async def _receive(request: Request, blobs: LocalBlobStore, max_bytes: int) -> Blob:
    """Stream the request body into the blob store, hashing it on the way; nothing of a refused
    or failed upload is kept, and a full disk is a 507 saying so."""
    try:
        with blobs.incoming() as incoming:
            async for chunk in request.stream():
                if incoming.size + len(chunk) > max_bytes:
                    raise HTTPException(413, "the file is too large for this hub")
                incoming.write(chunk)
            return incoming.keep()
    except BlobStoreFull:
        raise HTTPException(
            507, "the hub's blob store is full: no room on its disk for this file"
        ) from None
