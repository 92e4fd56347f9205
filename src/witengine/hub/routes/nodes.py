"""Node routes: the WebSocket nodes connect to, the list of nodes, drain and resume."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable

from fastapi import (
    APIRouter,
    HTTPException,
    Request,
    Response,
    WebSocket,
    WebSocketDisconnect,
    status,
)
from pydantic import TypeAdapter, ValidationError

from witengine.hub.auth.gate import AuthGate, principal_of
from witengine.hub.dispatch import Dispatcher
from witengine.hub.limits import Limits
from witengine.hub.routes.node_list import NodeListing, reputation_entry
from witengine.hub.routes.pools import placement_of
from witengine.hub.store.base import NodeRecord, Store
from witengine.protocol import (
    NODE_LEAVING,
    PROTOCOL_VERSION,
    BenchmarkReport,
    ErrorBody,
    HubMessage,
    NodeDrain,
    NodeForgotten,
    NodeHello,
    NodeMessage,
    NodeReputation,
    NodeSummary,
    TaskResult,
    Welcome,
)
from witengine.protocol.states import DEFAULT_POOL
from witengine.security.tokens import Role

log = logging.getLogger(__name__)
_NODE_MESSAGE: TypeAdapter[NodeMessage] = TypeAdapter(NodeMessage)
WallClock = Callable[[], float]
# Sees every message between the hub and a node (the dashboard's record of batches).
Observer = Callable[[str, HubMessage | NodeMessage], None]
Close = Callable[[str], Awaitable[None]]


def _unobserved(node_id: str, message: HubMessage | NodeMessage) -> None:
    pass


def node_router(
    dispatcher: Dispatcher,
    store: Store,
    wall: WallClock,
    gate: AuthGate,
    observe: Observer = _unobserved,
    *,
    max_message_bytes: int = Limits.node_message_bytes,
) -> APIRouter:
    router = APIRouter(tags=["nodes"])
    listing = NodeListing()

    @router.get("/nodes", response_model=list[NodeSummary])
    async def list_nodes() -> Response:
        return Response(listing.json(dispatcher, store), media_type="application/json")

    @router.get(
        "/nodes/{node_id}/reputation",
        response_model=list[NodeReputation],
        responses={404: {"model": ErrorBody}},
    )
    async def node_reputation(node_id: str) -> list[NodeReputation]:
        """The node's record per activity from the verification of its results."""
        if store.get_node(node_id) is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no node {node_id} is known")
        return [reputation_entry(r) for r in store.list_reputation(node_id)]

    _drain_routes(router, dispatcher)
    _forget_route(router, dispatcher, store, gate)

    _connect_route(router, dispatcher, store, wall, gate, observe, max_message_bytes)
    return router


def _connect_route(
    router: APIRouter,
    dispatcher: Dispatcher,
    store: Store,
    wall: WallClock,
    gate: AuthGate,
    observe: Observer,
    max_message_bytes: int,
) -> None:
    """The WebSocket nodes connect to (`/nodes/connect`). A frame that is not a valid message
    closes the link with the reason; a defect in handling one closes it with an error id."""

    current = _CurrentLinks()

    @router.websocket("/nodes/connect")
    async def connect(socket: WebSocket) -> None:
        await socket.accept()
        hello = await _read_hello(socket, max_message_bytes)
        if hello is None:
            return
        principal = principal_of(socket)
        if principal.role is not Role.NODE or principal.node_id is None:
            await _close(socket, 1008, "a node link needs a node's own credential")
            return
        # A node credential speaks for its own node only, whatever id the hello names: the
        # credential's secret is the proof that this is that node.
        hello = hello.model_copy(update={"node_id": principal.node_id})

        async def close(reason: str) -> None:
            await _close(socket, 1008, reason[:120])

        forget_link = gate.link_opened(principal.token_id, close)
        try:
            await _serve(socket, principal.node_id, principal.token_id, hello, close)
        finally:
            forget_link()

    async def _serve(
        socket: WebSocket, node_id: str, token_id: str, hello: NodeHello, close: Close
    ) -> None:
        await current.take(node_id, hello.name, close)
        outgoing: asyncio.Queue[HubMessage] = asyncio.Queue()
        # Its pool and owner: as its record keeps them, or, on its first connection, as the
        # join token that enrolled it said (its credential carries them).
        previous = store.get_node(node_id)
        credential = store.get_token(token_id) if previous is None else None
        pool = previous.pool if previous else (credential and credential.pool) or DEFAULT_POOL
        owner = previous.owner if previous else (credential and credential.owner) or ""
        dispatcher.connect(hello, outgoing.put_nowait, placement_of(store, pool, owner))
        dispatcher.rates.node_joined(node_id, hello)
        now = wall()
        info = hello.model_copy(update={"node_id": node_id, "holding": {}}).model_dump()
        first_seen = previous.first_seen if previous else now
        store.upsert_node(NodeRecord(node_id, hello.name, info, first_seen, now, pool, owner))
        log.info("node %s (%s) connected with %d slot(s)", hello.name, node_id, hello.slots)
        await socket.send_text(
            Welcome(
                node_id=node_id,
                heartbeat_seconds=dispatcher.times.heartbeat,
                lease_seconds=dispatcher.times.lease,
            ).model_dump_json()
        )

        async def write() -> None:
            while True:
                message = await outgoing.get()
                observe(node_id, message)
                await socket.send_text(message.model_dump_json())

        writer = asyncio.create_task(write())
        leaving = False
        try:
            while True:
                try:
                    message = await _next_message(socket, max_message_bytes)
                except _Refused as refused:
                    # Results it sent before stay committed; those it holds it sends again.
                    log.warning("closed the link of node %s (%s): %s", hello.name, node_id, refused)
                    await _close(socket, refused.code, refused.reason)
                    break
                try:
                    observe(node_id, message)
                    if isinstance(message, BenchmarkReport):
                        dispatcher.rates.record(node_id, message, wall())
                    dispatcher.receive(node_id, message)
                except Exception:  # a defect: this link ends, the hub and other links go on
                    error_id = f"err_{uuid.uuid4().hex[:12]}"
                    log.exception("internal error %s on the link of node %s", error_id, node_id)
                    await _close(socket, 1011, f"internal error {error_id} in the hub")
                    break
        except WebSocketDisconnect as closed:
            leaving = closed.code == NODE_LEAVING
        finally:
            writer.cancel()
            if current.release(node_id, close):
                _ended(dispatcher, store, wall, node_id, hello.name, leaving)
            else:  # replaced: the node goes on on its new link
                log.info("the old link of node %s (%s) ended", hello.name, node_id)


def _ended(
    dispatcher: Dispatcher, store: Store, wall: WallClock, node_id: str, name: str, leaving: bool
) -> None:
    """A node's link ended: the node is away (lost after the grace period), or gone if leaving."""
    dispatcher.disconnect(node_id, leaving=leaving)
    record = store.get_node(node_id)
    if record is not None:
        store.upsert_node(NodeRecord(node_id, record.name, record.info, record.first_seen, wall()))
    log.info("node %s (%s) %s", name, node_id, "left" if leaving else "disconnected")


class _CurrentLinks:
    """Each connected node's one link, by its closing. A node that connects again (its old
    connection dropped without a close the hub saw) replaces its old link, which the hub closes;
    the old link's end then leaves the node as its new link has it."""

    def __init__(self) -> None:
        self._links: dict[str, Close] = {}

    async def take(self, node_id: str, name: str, close: Close) -> None:
        stale = self._links.get(node_id)
        self._links[node_id] = close
        if stale is not None:
            log.warning("node %s (%s) connected again: closing its old link", name, node_id)
            await stale("the node connected again on another link")

    def release(self, node_id: str, close: Close) -> bool:
        """Forget a link that ended; False when it had been replaced (the node is still on)."""
        if self._links.get(node_id) is not close:
            return False
        del self._links[node_id]
        return True


class _Refused(Exception):
    """A frame from a node that the hub will not read: the link closes with this code and reason."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


async def _read_hello(socket: WebSocket, max_bytes: int) -> NodeHello | None:
    """The node's first frame, its hello; None when it was refused and the link closed."""
    try:
        hello = NodeHello.model_validate_json(await _next_frame(socket, max_bytes))
    except (ValidationError, _Refused, WebSocketDisconnect) as error:
        log.warning("refused a node: %s", error)
        reason = "the first message must be a valid hello"
        if isinstance(error, _Refused):
            reason = f"{reason}: {error.reason}"
        await _close(socket, 1008, reason)
        return None
    if hello.protocol != PROTOCOL_VERSION:
        await _close(socket, 1008, f"protocol {hello.protocol} is not {PROTOCOL_VERSION}")
        return None
    return hello


async def _next_frame(socket: WebSocket, max_bytes: int) -> str:
    """The next text frame; _Refused for a binary or oversized one."""
    frame = await socket.receive()
    if frame["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(frame.get("code", 1000), frame.get("reason"))
    text = frame.get("text")
    if not isinstance(text, str):
        raise _Refused(1003, "the hub reads JSON text frames only")
    if len(text) > max_bytes:  # uvicorn's ws_max_size refuses larger frames before this
        raise _Refused(
            1009,
            f"a message of {len(text):,} characters is over the hub's limit "
            f"limits.node_message_bytes = {max_bytes:,}",
        )
    return text


async def _next_message(socket: WebSocket, max_bytes: int) -> NodeMessage:
    text = await _next_frame(socket, max_bytes)
    try:
        return _NODE_MESSAGE.validate_json(text)
    except ValidationError as error:
        first = error.errors()[0]
        raise _Refused(1008, f"invalid message: {_where(first['loc'])}: {first['msg']}") from None


def _where(location: tuple[int | str, ...]) -> str:
    """Where in a message a fault is, a result's fields by name: results are arrays, so the
    validator gives their positions (`results.0.1` is `results.0.index`)."""
    parts: list[int | str] = list(location)
    fields = TaskResult._fields
    for at in range(2, len(parts)):
        part = parts[at]
        in_result = parts[at - 2] == "results" and isinstance(parts[at - 1], int)
        if in_result and isinstance(part, int) and part < len(fields):
            parts[at] = fields[part]
    return ".".join(str(part) for part in parts)


async def _close(socket: WebSocket, code: int, reason: str) -> None:
    """Close with a reason the node logs (at most 123 bytes, as WebSocket allows)."""
    with contextlib.suppress(Exception):  # the node may be gone already
        await socket.close(code=code, reason=reason.encode()[:123].decode(errors="ignore"))


def _drain_routes(router: APIRouter, dispatcher: Dispatcher) -> None:
    """POST /nodes/{id}/drain and /resume."""

    def set_drained(node_id: str, drained: bool) -> NodeDrain:
        if not dispatcher.drain(node_id, drained):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no node {node_id} has connected")
        return NodeDrain(id=node_id, drained=drained)

    @router.post("/nodes/{node_id}/drain", responses={404: {"model": ErrorBody}})
    async def drain_node(node_id: str) -> NodeDrain:
        """Let a node finish the batches it holds and give it no new ones."""
        return set_drained(node_id, True)

    @router.post("/nodes/{node_id}/resume", responses={404: {"model": ErrorBody}})
    async def resume_node(node_id: str) -> NodeDrain:
        """Give a drained node work again."""
        return set_drained(node_id, False)


def _forget_route(router: APIRouter, dispatcher: Dispatcher, store: Store, gate: AuthGate) -> None:
    """DELETE /nodes/{id}: a retired machine off the list, and off the farm."""

    @router.delete(
        "/nodes/{node_id}",
        response_model=NodeForgotten,
        responses={404: {"model": ErrorBody}, 409: {"model": ErrorBody}},
    )
    async def forget_node(node_id: str, request: Request) -> NodeForgotten:
        """Remove a node that is not connected: its record and benchmark rates go, and its
        credential is revoked, so the machine needs a new join token to come back (or, having
        joined without one, asks afresh and waits for approval)."""
        record = store.get_node(node_id)
        asked = next((j for j in store.list_joins() if j.node_id == node_id), None)
        if record is None and asked is not None:  # asked to join, never connected
            record = NodeRecord(node_id, asked.name, {}, asked.asked_at, asked.seen_at)
        if record is None:
            gate.audit(request, "node.forget", "unknown node", node_id[:40])
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no node {node_id}")
        if dispatcher.view.node_connected(node_id):
            gate.audit(request, "node.forget", "connected", node_id)
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                f"node {record.name} ({node_id}) is connected; stop it first (Ctrl-C or SIGTERM "
                "to its wit node), then forget it",
            )
        revoked = [
            token.id
            for token in gate.book.store.list_tokens()
            if token.node_id == node_id and gate.book.revoke(token.id)
        ]
        dispatcher.forget(node_id)
        store.forget_node(node_id)
        store.forget_join(node_id)  # a node that joined without a token asks afresh
        tokens = ", ".join(revoked) or "no credential"
        gate.audit(request, "node.forget", "ok", f"{node_id} {record.name!r}; revoked {tokens}")
        log.info("forgot node %s (%s); revoked %s", record.name, node_id, tokens)
        return NodeForgotten(id=node_id, name=record.name, revoked=revoked)
