"""A node's own status page (`wit node --status-port`): what it runs now, its recent batches and
their logs, its tools and rates, its owner policy and state, and buttons for its owner to pause
and resume it; with `wit node --account NAME`, the owner's account console at /console
(`witengine.node.console`), for this machine's users only.

Server-rendered HTML (Jinja2) like the hub's dashboard, served by a small Starlette app under
uvicorn inside the agent's task group; the page refreshes its live part every two seconds with a
plain `fetch` (no stream). It reads the agent only through `NodeShown` and acts only through the
owner loop (`Pausing`); who may do what is `status_guard`'s to say. It must not change anything
else of the node.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import secrets
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode

import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from witengine.clock import wall_time
from witengine.credits import credits, parse_credits, signed_credits
from witengine.errors import WitError
from witengine.node.console import SECTIONS, ConsoleError, ConsoleView, OwnerConsole
from witengine.node.journal import Journal
from witengine.node.policy import duration_text
from witengine.node.settings import NodeSettings
from witengine.node.status_guard import (
    Refusal,
    allowed_hosts,
    check_host,
    check_state_change,
    is_loopback,
)
from witengine.protocol import BenchmarkReport, Capabilities, NodeStatus
from witengine.protocol.states import Availability
from witengine.security.tickets import Ticket, TicketError, read_ticket

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
REFRESH_SECONDS = 2  # how often the open page fetches its live part
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'self'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # "no-referrer" would make a form's Origin "null"
    "Cache-Control": "no-store",
}
# The cookie that keeps a ticket, named by the page's port: a browser sends a host's cookies to
# every port of it, and two nodes on one machine each take only their own tickets.
TICKET_COOKIE = "wit_node_ticket_{port}"
FORM_BYTES = 4096  # a pause's or a resume's form: its secret, and nothing much else
STATIC_TYPES = {
    "status.css": "text/css",
    "status.js": "text/javascript",
    "console.js": "text/javascript",
}
CONSOLE_REFRESH_SECONDS = 5  # how often the open console reads the account again


class PageUnavailable(WitError):
    """The node cannot listen where its page was asked to be."""


@dataclass(frozen=True)
class NodeShown:
    """What the page shows of its node, read from the agent at each request."""

    name: str
    node_id: str | None
    hub_url: str
    connected: bool
    slots: int
    capabilities: Capabilities
    plugins: list[str]
    benchmarks: list[BenchmarkReport]
    journal: Journal
    frozen: bool  # a running batch is frozen


class Pausing(Protocol):
    """The owner loop, as the page's buttons reach it."""

    status: NodeStatus
    policy: dict[str, str]

    @property
    def paused(self) -> bool: ...

    async def pause(self) -> None: ...

    async def resume(self) -> None: ...


def state_of(shown: NodeShown, owner: Pausing) -> tuple[str, str]:
    """The node's state as its page names it, and why."""
    status = owner.status
    if owner.paused:
        return "paused", status.reason
    if status.availability is Availability.SUSPENDED:
        return "suspended", status.reason
    if status.availability is Availability.UNAVAILABLE:
        return "unavailable", status.reason
    if not shown.connected:
        return "offline", f"not connected to the hub {shown.hub_url}; trying again"
    return ("busy" if shown.journal.current else "idle"), ""


class StatusPage:
    """The page's listener, app and secret, for one agent."""

    def __init__(
        self,
        settings: NodeSettings,
        owner: Pausing,
        shown: Callable[[], NodeShown],
        *,
        keys: Callable[[], list[Ed25519PublicKey]] = list,
        wall: Callable[[], float] = wall_time,
        console: OwnerConsole | None = None,
    ) -> None:
        """`keys`: the hub's keys that sign tickets (the one the node pinned); `wall`: seconds
        since the epoch, for the tickets' lifetimes and the page's times; `console`: the
        owner's account console (`wit node --account`), served at /console to this machine."""
        self.host = settings.status_host
        self.port = settings.status_port or 0
        self.owner = owner
        self.shown = shown
        self.keys = keys
        self.wall = wall
        self.console = console
        self.secret = secrets.token_urlsafe(32)  # the forms' CSRF secret, this process only
        self.listener: socket.socket | None = None
        self.allowed: frozenset[str] = frozenset()
        self.url = ""
        self.env = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
            auto_reload=False,
        )
        self.env.filters.update(
            clock=_clock,
            size=_size,
            rate=_rate,
            duration=duration_text,
            credits=credits,
            signed_credits=signed_credits,
        )
        self.app = self._app()

    # ------------------------------------------------------------ serving

    @property
    def lan(self) -> bool:
        """Whether the page listens beyond this machine."""
        return not is_loopback(self.host) and self.host.lower() != "localhost"

    def listen(self) -> None:
        """Bind the page's address now; PageUnavailable if it is taken or not this machine's."""
        try:
            listener = socket.create_server((self.host, self.port))
        except OSError as error:
            reason = error.strerror or str(error)
            raise PageUnavailable(
                f"--status-port: cannot listen on {self.host}:{self.port}: {reason}"
            ) from None
        self.listener = listener
        self.port = listener.getsockname()[1]
        names = [] if not self.lan else _lan_names(self.host)
        self.allowed = allowed_hosts(self.port, names)
        shown_host = names[0] if names else "127.0.0.1"
        self.url = f"http://{shown_host}:{self.port}/"

    async def serve(self) -> None:
        """Answer until cancelled."""
        if self.listener is None:
            self.listen()
        assert self.listener is not None
        config = uvicorn.Config(
            self.app, log_level="warning", lifespan="off", proxy_headers=False, access_log=False
        )
        server = _Server(config)
        log.info("status page at %s", self.url)
        if self.console is not None:
            log.info("the console of account %s at %sconsole", self.console.account, self.url)
        try:
            await server.serve(sockets=[self.listener])
        finally:
            self.listener.close()

    # ---------------------------------------------------------------- app

    def _app(self) -> Starlette:
        routes = [
            Route("/", self._guarded(self._page), methods=["GET"]),
            Route("/live", self._guarded(self._live), methods=["GET"]),
            Route("/pause", self._guarded(self._pause, posts=True), methods=["POST"]),
            Route("/resume", self._guarded(self._resume, posts=True), methods=["POST"]),
            Route("/static/{name}", self._guarded(self._static), methods=["GET"]),
        ]
        if self.console is not None:
            mine = functools.partial(self._guarded, owner_only=True)
            routes += [
                Route("/console", mine(self._console), methods=["GET"]),
                Route("/console/transfer", mine(self._transfer, posts=True), methods=["POST"]),
                # the exchange's forms: asks and mandates, signed here (`OwnerConsole.act`)
                Route("/console/{action}", mine(self._act, posts=True), methods=["POST"]),
            ]
        return Starlette(routes=routes)

    def _guarded(
        self,
        handler: Callable[[Request], Awaitable[Response]],
        *,
        posts: bool = False,
        owner_only: bool = False,
    ) -> Callable[[Request], Awaitable[Response]]:
        """`owner_only`: this machine's users only, whatever ticket another one holds (the
        owner's console: their money, moved with their key)."""

        async def guarded(request: Request) -> Response:
            refusal = check_host(request.headers.get("host"), self.allowed)
            if refusal is not None:
                return _refused(refusal)
            client = request.client
            if owner_only and not is_loopback(client.host if client else None):
                return _refused(Refusal(403, "the owner's console answers only this machine"))
            ticket: Ticket | None = None
            if not is_loopback(client.host if client else None):  # else this machine's owner
                given = request.query_params.get("ticket")
                if given is not None and request.method == "GET":
                    return self._sign_in(request, given)
                found = self._ticket(request)
                if isinstance(found, Refusal):
                    return _refused(found)
                ticket = found
            request.state.may_pause = ticket is None or ticket.may_pause
            if posts:
                if int(request.headers.get("content-length") or 0) > FORM_BYTES:
                    return _refused(Refusal(413, "a pause or resume is a small form"))
                form = dict(parse_qsl((await request.body())[:FORM_BYTES].decode(errors="replace")))
                request.state.form = form
                refusal = check_state_change(request.headers, form, self.secret)
                if refusal is None and not request.state.may_pause:
                    refusal = Refusal(403, "only an admin may pause or resume this node")
                if refusal is not None:
                    return _refused(refusal)
            response = await handler(request)
            response.headers.update(SECURITY_HEADERS)
            return response

        return guarded

    def _ticket(self, request: Request) -> Ticket | Refusal:
        """The ticket another machine's browser holds for this page, checked."""
        if not self.lan:
            return Refusal(401, "this node's page answers only its own machine")
        text = request.cookies.get(TICKET_COOKIE.format(port=self.port))
        if text is None:
            return Refusal(
                401,
                "open this node's page from the hub's dashboard (its node page links to it): "
                "the link carries a ticket the hub signs for you",
            )
        try:
            return read_ticket(text, self.keys(), self.shown().node_id, self.wall())
        except TicketError as error:
            return Refusal(401, str(error))

    def _sign_in(self, request: Request, text: str) -> Response:
        """A link from the hub's dashboard: its ticket goes into a cookie, and out of the
        address."""
        if not self.lan:
            return _refused(Refusal(401, "this node's page answers only its own machine"))
        try:
            ticket = read_ticket(text, self.keys(), self.shown().node_id, self.wall())
        except TicketError as error:
            return _refused(Refusal(401, str(error)))
        response = RedirectResponse(request.url.path, status_code=303)
        response.set_cookie(
            TICKET_COOKIE.format(port=self.port),
            text,
            max_age=max(1, int(ticket.expires - self.wall())),
            httponly=True,
            samesite="lax",  # sent on the link from the hub's page, another site
            path="/",
        )
        response.headers.update(SECURITY_HEADERS)
        return response

    def context(self, may_pause: bool = True) -> dict[str, Any]:
        shown = self.shown()
        owner = self.owner
        state, reason = state_of(shown, owner)
        return {
            "n": shown,
            "state": state,
            "reason": reason,
            "paused": owner.paused,
            "policy": owner.policy,
            "window": owner.status.window_seconds,
            "current": list(shown.journal.current.values()),
            "recent": list(reversed(shown.journal.recent)),
            "rates": shown.journal.rates(),
            "now": self.wall(),
            "csrf": self.secret,
            "may_pause": may_pause,
            "refresh": REFRESH_SECONDS,
            "console": self.console is not None,
        }

    def render(self, template: str, may_pause: bool = True) -> str:
        return self.env.get_template(template).render(**self.context(may_pause))

    async def _page(self, request: Request) -> Response:
        return HTMLResponse(self.render("status.html", request.state.may_pause))

    async def _live(self, request: Request) -> Response:
        return HTMLResponse(self.render("status_live.html", request.state.may_pause))

    async def _pause(self, request: Request) -> Response:
        log.info("paused by its owner at the node's page")
        await self.owner.pause()
        return RedirectResponse("/", status_code=303)

    async def _resume(self, request: Request) -> Response:
        log.info("resumed by its owner at the node's page")
        await self.owner.resume()
        return RedirectResponse("/", status_code=303)

    async def _console(self, request: Request) -> Response:
        assert self.console is not None
        said = request.query_params.get("said", "")[:300]
        return HTMLResponse(await self.render_console(said=said))

    async def render_console(self, *, said: str = "", failed: str = "", code: int = 200) -> str:
        """The console page: the account as the hub has it now, or why it cannot be read."""
        assert self.console is not None
        view: ConsoleView | None = None
        unreadable = ""
        try:
            view = await self.console.view()
        except ConsoleError as error:
            unreadable = str(error)
        return self.env.get_template("console.html").render(
            n=self.shown(),
            account=self.console.account,
            v=view,
            unreadable=unreadable,
            sections=SECTIONS,
            said=said,
            failed=failed,
            csrf=self.secret,
            now=self.wall(),
            refresh=CONSOLE_REFRESH_SECONDS,
        )

    async def _transfer(self, request: Request) -> Response:
        """The console's transfer form: signed here with the owner's key, sent to the hub."""
        assert self.console is not None
        form: dict[str, str] = request.state.form
        to = form.get("to", "").strip()
        memo = form.get("memo", "").strip()
        try:
            amount = parse_credits(form.get("amount", ""))
        except ValueError as error:
            return HTMLResponse(await self.render_console(failed=f"amount: {error}"), 400)
        if not to:
            return HTMLResponse(await self.render_console(failed="to: name the account paid"), 400)
        try:
            tx = await self.console.transfer(to, amount, memo)
        except ConsoleError as error:
            return HTMLResponse(await self.render_console(failed=str(error)), 400)
        log.info("paid %s credits to %s from the owner's console", credits(amount), to)
        said = f"Paid {credits(amount)} credits to {to} (transaction {tx.seq})."
        return RedirectResponse(f"/console?{urlencode({'said': said})}", status_code=303)

    async def _act(self, request: Request) -> Response:
        """An ask or a mandate made, paused, resumed or withdrawn from the console."""
        assert self.console is not None
        action = request.path_params["action"]
        try:
            said = await self.console.act(action, request.state.form)
        except ConsoleError as error:
            return HTMLResponse(await self.render_console(failed=str(error)), 400)
        log.info("%s (the owner's console)", said)
        return RedirectResponse(f"/console?{urlencode({'said': said})}", status_code=303)

    async def _static(self, request: Request) -> Response:
        name = request.path_params["name"]
        kind = STATIC_TYPES.get(name)
        if kind is None:
            return Response("not found", status_code=404, media_type="text/plain")
        return Response((HERE / "static" / name).read_bytes(), media_type=kind)


class _Server(uvicorn.Server):
    """uvicorn inside the agent: the node's own signal handling stops it, not uvicorn's."""

    @contextlib.contextmanager
    def capture_signals(self) -> Any:
        yield


def _refused(refusal: Refusal) -> Response:
    return Response(
        refusal.reason + "\n",
        status_code=refusal.status,
        media_type="text/plain",
        headers=SECURITY_HEADERS,
    )


def _lan_names(host: str) -> list[str]:
    """The names other machines reach the page by: the address it listens on (this machine's
    LAN address when it listens on all), its host name, and that name on mDNS."""
    if host in ("0.0.0.0", "", "::"):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.connect(("192.0.2.1", 9))  # a documentation address: only the route
                address = str(probe.getsockname()[0])
            except OSError:
                address = "127.0.0.1"
    else:
        address = f"[{host}]" if ":" in host else host
    name = socket.gethostname()
    return [address, name, f"{name}.local"]


def _clock(seconds: float | None) -> str:
    if not seconds:
        return "—"
    return dt.datetime.fromtimestamp(seconds).strftime("%Y-%m-%d %H:%M:%S")


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def _rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"
