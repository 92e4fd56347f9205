"""`AuthGate`: the dependency every route of the hub passes, at app level.

It finds the presented token (the `Authorization: Bearer` header, the only one a WebSocket may
use; the dashboard's session cookie; the sign-in form; `?token=` once on a dashboard page), slows
an address that failed before, checks the token with the `TokenBook`, refuses cookie-borne
unsafe requests from other sites, and checks the role against the route's entry in `policy`.
Refusals are 401 (with `WWW-Authenticate: Bearer` and the reason) or 403, audited; a browser
asking for a page gets the sign-in form. It also keeps the open node links per token, to close
them the moment their token is revoked or expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocket

from witengine.hub.auth.book import Principal, Refused, TokenBook
from witengine.hub.auth.policy import allowed_roles, is_public
from witengine.hub.auth.signin import confirm_page, signin_page
from witengine.hub.auth.throttle import FailedAuthThrottle
from witengine.hub.turns import Turn
from witengine.protocol import API_PREFIX
from witengine.security.tokens import Role

log = logging.getLogger(__name__)
SESSION_COOKIE = "wit_session"
CSRF_HEADER = "x-wit-dashboard"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
Close = Callable[[str], Awaitable[None]]


T = TypeVar("T")


class AuthRefusal(Exception):
    """A request the gate turns away: 401 (who are you?) or 403 (not you)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class SignedIn(Exception):
    """A page was opened with `?token=`: set the session cookie and drop the token from the URL."""

    def __init__(self, token: str, location: str) -> None:
        super().__init__(location)
        self.token = token
        self.location = location


class SignInAsked(Exception):
    """A page was opened with `?token=` from another site, or by a browser that does not say
    from where: ask before signing in (a form that posts to /signin)."""

    def __init__(self, token: str, principal: Principal, location: str) -> None:
        super().__init__(location)
        self.token = token
        self.principal = principal
        self.location = location


def route_key(connection: HTTPConnection) -> tuple[str, str]:
    """(method, route path) of a matched request, the path as declared with its router's prefix
    (`/api/v1/jobs/{job_id}`); `WS` for WebSockets."""
    method = "WS" if connection.scope["type"] == "websocket" else connection.scope["method"]
    path: str = connection.scope["path"]
    route = connection.scope.get("route")
    template, regex = getattr(route, "path", None), getattr(route, "path_regex", None)
    if template is None or regex is None:
        return method, path
    # The route knows its path without the prefix it was included under: the prefix is what
    # comes before the part of the URL the route's own pattern matches.
    for cut, char in enumerate(path):
        if char == "/" and regex.fullmatch(path[cut:]):
            return method, path[:cut] + template
    return method, template


def address_of(connection: HTTPConnection) -> str:
    return connection.client.host if connection.client else ""


def principal_of(connection: HTTPConnection) -> Principal:
    """The principal the gate let in (every route but the health check has one)."""
    principal: Principal = connection.state.principal
    return principal


class AuthGate:
    def __init__(
        self,
        book: TokenBook,
        throttle: FailedAuthThrottle | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.book = book
        self.throttle = throttle or FailedAuthThrottle()
        self.monotonic = monotonic
        self.sleep = sleep
        self.links: dict[str, dict[int, Close]] = {}  # token id -> open node links
        self._link_ids = 0

    # ------------------------------------------------------------ the gate

    async def __call__(self, connection: HTTPConnection) -> None:
        method, path = route_key(connection)
        if is_public(method, path):
            return
        text, source = await self._presented(connection, method, path)
        if text is None and method == "WS":
            raise AuthRefusal(
                401,
                "no token: a node link needs the node's credential in the header "
                "'Authorization: Bearer <token>' (wit node enrols with a join token to get one)",
            )
        if text is None:
            raise AuthRefusal(
                401,
                "no token: send the header 'Authorization: Bearer <token>' (wit commands take "
                "--token or WIT_TOKEN, and on the hub's machine read its admin token from its "
                "data folder)",
            )
        principal = await self._check(connection, text)
        if source in ("cookie", "form") and method in UNSAFE_METHODS:
            self._same_site(connection, principal, method, path)
        if principal.role not in allowed_roles(method, path):
            self.audit(connection, "auth.forbidden", "refused", f"{method} {path}", principal)
            raise AuthRefusal(
                403, f"a {principal.role.value} token may not use {method} {path}{_hint(principal)}"
            )
        connection.state.principal = principal
        connection.state.presented = text
        if source == "query":
            # A link another site opened would sign the browser in with a token of that site's
            # choosing (sign-in CSRF): only a link opened from outside any page (typed, pasted,
            # clicked in a terminal) or from the hub's own pages signs in at once.
            location = _without_token(connection)
            if connection.headers.get("sec-fetch-site") in ("none", "same-origin"):
                raise SignedIn(text, location)
            raise SignInAsked(text, principal, location)

    async def _presented(
        self, connection: HTTPConnection, method: str, path: str
    ) -> tuple[str | None, str]:
        header = connection.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip(), "header"
        if method == "WS":
            # A browser sends its cookies with a WebSocket handshake any site's page starts, and
            # no page can set this header: a link proves itself with the header alone.
            return None, ""
        if method == "POST" and path == "/signin" and isinstance(connection, Request):
            body = (await connection.body())[:4096].decode(errors="replace")
            form = dict(parse_qsl(body))
            return (form.get("token", "").strip() or None), "form"
        if method == "GET" and not path.startswith(API_PREFIX):
            query = connection.query_params.get("token", "").strip()
            if query:
                return query, "query"
        cookie = connection.cookies.get(SESSION_COOKIE, "").strip()
        if cookie:
            return cookie, "cookie"
        return None, ""

    async def _check(self, connection: HTTPConnection, text: str) -> Principal:
        address = address_of(connection)
        # Failures slow the guesses of one token's secret from one address (and, together, the
        # malformed tokens and those naming no token from it): only such guesses could ever
        # succeed, and a valid token from the same address is never queued behind them.
        named = self.book.named_id(text)
        key = f"{address} {named or '(no such token)'}"
        wait = self.throttle.wait_before_check(key, self.monotonic())
        if wait is None:
            raise AuthRefusal(
                429, "too many failed attempts with this token from this address; try again later"
            )
        if wait > 0:
            await self.sleep(wait)
        try:
            return self.book.verify(text)
        except Refused as refused:
            self.throttle.failed(key, self.monotonic())
            method, path = route_key(connection)
            self.book.audit(
                "auth.failed",
                refused.reason,
                actor_id=refused.token_id,
                address=address,
                target=f"{method} {path}",
            )
            log.warning("refused a token from %s: %s", address, refused.reason)
            raise AuthRefusal(401, refused.reason) from None

    def _same_site(
        self, connection: HTTPConnection, principal: Principal, method: str, path: str
    ) -> None:
        """A browser's cookie goes with any request to the hub, even one another site made:
        an unsafe one counts only if it comes from the hub's own pages."""
        origin = connection.headers.get("origin")
        own = f"{connection.url.scheme}://{connection.headers.get('host', '')}"
        if origin is not None:
            same = origin.lower() == own.lower()
        else:
            same = connection.headers.get(CSRF_HEADER) == "1"
        fetch_site = connection.headers.get("sec-fetch-site")
        if fetch_site is not None and fetch_site not in ("same-origin", "none"):
            same = False
        if not same:
            self.audit(connection, "auth.cross_site", "refused", f"{method} {path}", principal)
            raise AuthRefusal(403, "cross-site request refused: use the hub's own pages")

    # ------------------------------------------------------------- audit

    def audit(
        self,
        connection: HTTPConnection,
        action: str,
        outcome: str,
        target: str = "",
        principal: Principal | None = None,
    ) -> None:
        if principal is None:
            principal = getattr(connection.state, "principal", None)
        self.book.audit(
            action, outcome, actor=principal, address=address_of(connection), target=target
        )

    # -------------------------------------------------------- node links

    def link_opened(self, token_id: str, close: Close) -> Callable[[], None]:
        """Keep an open link to close if its token is revoked; returns its forgetting."""
        self._link_ids += 1
        number = self._link_ids
        self.links.setdefault(token_id, {})[number] = close

        def forget() -> None:
            links = self.links.get(token_id, {})
            links.pop(number, None)
            if not links:
                self.links.pop(token_id, None)

        return forget

    async def close_links(self, token_id: str, reason: str) -> int:
        closers = list(self.links.pop(token_id, {}).values())
        for close in closers:
            with contextlib.suppress(Exception):
                await close(reason)
        return len(closers)

    async def sweep(self) -> None:
        """Close links whose token was revoked (on the data directory, say) or expired: a token
        read from the store each, a turn of the event loop at a time (a farm of 500 nodes holds
        500 tokens)."""
        turn = Turn()
        for token_id in list(self.links):
            if turn.over():
                await turn.next()
            if token_id in self.links and not self.book.still_valid(token_id):
                closed = await self.close_links(token_id, f"token {token_id} no longer valid")
                log.info("closed %d link(s) of token %s: no longer valid", closed, token_id)

    async def watch(self, every: float = 2.0) -> None:
        while True:
            await asyncio.sleep(every)
            await self.sweep()

    async def while_valid(
        self, connection: HTTPConnection, items: AsyncIterator[T], every: float = 2.0
    ) -> AsyncIterator[T]:
        """`items` for as long as the token that opened the stream stays valid: a stream (server-
        sent events, say) ends within `every` seconds of its token's revocation or expiry."""
        token_id = principal_of(connection).token_id
        pending: asyncio.Future[T] = asyncio.ensure_future(anext(items))
        try:
            while True:
                done, _ = await asyncio.wait({pending}, timeout=every)
                if not self.book.still_valid(token_id):
                    log.info("ended a stream of token %s: no longer valid", token_id)
                    return
                if not done:
                    continue
                try:
                    item = pending.result()
                except StopAsyncIteration:
                    return
                yield item
                pending = asyncio.ensure_future(anext(items))
        finally:
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
            aclose = getattr(items, "aclose", None)
            if aclose is not None:
                await aclose()

    # ---------------------------------------------------------- responses

    def install(self, app: FastAPI) -> None:
        """Answer the gate's refusals: JSON with the reason, the sign-in form for pages, a denied
        handshake for WebSockets."""

        async def refused(connection: HTTPConnection, error: Exception) -> Response | None:
            assert isinstance(error, AuthRefusal)
            headers = {}
            if error.status == 401:
                reason = error.reason.replace('"', "'")
                headers["WWW-Authenticate"] = (
                    f'Bearer realm="witengine", error="invalid_token", error_description="{reason}"'
                )
            if isinstance(connection, WebSocket):
                await connection.send_denial_response(
                    JSONResponse({"detail": error.reason}, error.status, headers)
                )
                return None
            method, path = route_key(connection)
            if error.status == 401 and method == "GET" and not path.startswith(API_PREFIX):
                page = signin_page(connection.url.path, error.reason)
                return HTMLResponse(page, error.status, headers=headers | SIGNIN_HEADERS)
            return JSONResponse({"detail": error.reason}, error.status, headers)

        async def signed_in(connection: HTTPConnection, error: Exception) -> Response:
            assert isinstance(error, SignedIn)
            response = RedirectResponse(error.location, status_code=303)
            set_session(response, error.token, connection.url.scheme == "https")
            return response

        async def asked(connection: HTTPConnection, error: Exception) -> Response:
            assert isinstance(error, SignInAsked)
            label = error.principal.label
            who = error.principal.actor + (f" labelled {label!r}" if label else "")
            page = confirm_page(error.token, who, error.location)
            return HTMLResponse(page, headers=SIGNIN_HEADERS)

        app.add_exception_handler(AuthRefusal, refused)  # type: ignore[arg-type]
        app.add_exception_handler(SignedIn, signed_in)
        app.add_exception_handler(SignInAsked, asked)


SIGNIN_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def set_session(response: Response, token: str, secure: bool) -> None:
    response.set_cookie(
        SESSION_COOKIE, token, httponly=True, samesite="strict", secure=secure, path="/"
    )


def clear_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")


def _without_token(connection: HTTPConnection) -> str:
    query = [(k, v) for k, v in connection.query_params.multi_items() if k != "token"]
    path = urlsplit(str(connection.url)).path
    return path + ("?" + urlencode(query) if query else "")


def _hint(principal: Principal) -> str:
    if principal.role is Role.JOIN:
        return " (a join token only enrols a node: wit node --token <join token>)"
    if principal.role is Role.NODE:
        return " (a node credential only does a node's work)"
    return ""
