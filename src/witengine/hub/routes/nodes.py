"""Node routes: the WebSocket nodes connect to, the list of nodes, drain and resume."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from fastapi import APIRouter, HTTPException, WebSocket, WebSocketDisconnect, status
from pydantic import TypeAdapter, ValidationError

from witengine.hub.auth.gate import AuthGate, principal_of
from witengine.hub.dispatcher import Dispatcher
from witengine.hub.store.base import NodeRecord, RateRecord, Store
from witengine.protocol import (
    PROTOCOL_VERSION,
    BenchmarkReport,
    ErrorBody,
    HubMessage,
    NodeHello,
    NodeMessage,
    NodeRate,
    NodeSummary,
    Welcome,
)
from witengine.security.tokens import Role

log = logging.getLogger(__name__)
_NODE_MESSAGE: TypeAdapter[NodeMessage] = TypeAdapter(NodeMessage)
WallClock = Callable[[], float]
# Sees every message between the hub and a node (the dashboard's record of batches).
Observer = Callable[[str, HubMessage | NodeMessage], None]


def _unobserved(node_id: str, message: HubMessage | NodeMessage) -> None:
    pass


def node_router(
    dispatcher: Dispatcher,
    store: Store,
    wall: WallClock,
    gate: AuthGate,
    observe: Observer = _unobserved,
) -> APIRouter:
    router = APIRouter(tags=["nodes"])

    @router.get("/nodes", response_model=list[NodeSummary])
    async def list_nodes() -> list[NodeSummary]:
        summaries = []
        for record in store.list_nodes():
            hello = NodeHello.model_validate(record.info)
            live = dispatcher.nodes.get(record.id)
            running = sum(
                len(dispatcher.leases[b].indices)
                for b in (live.leases if live else ())
                if b in dispatcher.leases
            )
            state = "offline"
            if live is not None and live.connected:
                state = "busy" if running else "online"
            summaries.append(
                NodeSummary(
                    id=record.id,
                    name=record.name,
                    state=state,
                    slots=hello.slots,
                    capabilities=hello.capabilities,
                    plugins=hello.plugins,
                    running=running,
                    done=live.done if live else 0,
                    last_seen=record.last_seen,
                    rates=[_rate(r) for r in dispatcher.rates.of_node(record.id)],
                    unmet=hello.unmet,
                )
            )
        return summaries

    _drain_routes(router, dispatcher)

    _connect_route(router, dispatcher, store, wall, gate, observe)
    return router


def _connect_route(
    router: APIRouter,
    dispatcher: Dispatcher,
    store: Store,
    wall: WallClock,
    gate: AuthGate,
    observe: Observer,
) -> None:
    """The WebSocket nodes connect to (`/nodes/connect`)."""

    @router.websocket("/nodes/connect")
    async def connect(socket: WebSocket) -> None:
        await socket.accept()
        try:
            hello = NodeHello.model_validate_json(await socket.receive_text())
        except (ValidationError, WebSocketDisconnect) as error:
            log.warning("refused a node: %s", error)
            with contextlib.suppress(Exception):
                await socket.close(code=1008, reason="the first message must be a valid hello")
            return
        if hello.protocol != PROTOCOL_VERSION:
            await socket.close(
                code=1008, reason=f"protocol {hello.protocol} is not {PROTOCOL_VERSION}"
            )
            return
        principal = principal_of(socket)
        if principal.role is Role.NODE:  # a node credential speaks for its own node only
            hello = hello.model_copy(update={"node_id": principal.node_id})

        async def close(reason: str) -> None:
            await socket.close(code=1008, reason=reason[:120])

        forget_link = gate.link_opened(principal.token_id, close)
        try:
            await _serve(socket, hello)
        finally:
            forget_link()

    async def _serve(socket: WebSocket, hello: NodeHello) -> None:
        outgoing: asyncio.Queue[HubMessage] = asyncio.Queue()
        node_id = dispatcher.connect(hello, outgoing.put_nowait)
        dispatcher.rates.node_joined(node_id, hello)
        now = wall()
        previous = store.get_node(node_id)
        info = hello.model_copy(update={"node_id": node_id, "holding": {}}).model_dump()
        store.upsert_node(
            NodeRecord(node_id, hello.name, info, previous.first_seen if previous else now, now)
        )
        log.info("node %s (%s) connected with %d slot(s)", hello.name, node_id, hello.slots)
        await socket.send_text(
            Welcome(
                node_id=node_id,
                heartbeat_seconds=dispatcher.heartbeat_seconds,
                lease_seconds=dispatcher.lease_seconds,
            ).model_dump_json()
        )

        async def write() -> None:
            while True:
                message = await outgoing.get()
                observe(node_id, message)
                await socket.send_text(message.model_dump_json())

        writer = asyncio.create_task(write())
        try:
            while True:
                text = await socket.receive_text()
                try:
                    message = _NODE_MESSAGE.validate_json(text)
                except ValidationError as error:
                    log.warning("node %s sent an invalid message: %s", hello.name, error)
                    continue
                observe(node_id, message)
                if isinstance(message, BenchmarkReport):
                    dispatcher.rates.record(node_id, message, wall())
                dispatcher.receive(node_id, message)
        except WebSocketDisconnect:
            pass
        finally:
            writer.cancel()
            dispatcher.disconnect(node_id)
            record = store.get_node(node_id)
            if record is not None:
                store.upsert_node(
                    NodeRecord(node_id, record.name, record.info, record.first_seen, wall())
                )
            log.info("node %s (%s) disconnected", hello.name, node_id)


def _rate(record: RateRecord) -> NodeRate:
    return NodeRate(
        activity=record.activity,
        unit=record.unit,
        rate=record.rate,
        elapsed=record.elapsed,
        iterations=record.iterations,
        plugin_version=record.plugin_version,
        measured_at=record.measured_at,
    )


def _drain_routes(router: APIRouter, dispatcher: Dispatcher) -> None:
    """POST /nodes/{id}/drain and /resume."""

    def set_drained(node_id: str, drained: bool) -> dict[str, object]:
        if node_id not in dispatcher.nodes:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no node {node_id} has connected")
        if drained:
            dispatcher.drained.add(node_id)
        else:
            dispatcher.drained.discard(node_id)
        dispatcher.wake()
        return {"id": node_id, "drained": drained}

    @router.post("/nodes/{node_id}/drain", responses={404: {"model": ErrorBody}})
    async def drain_node(node_id: str) -> dict[str, object]:
        """Let a node finish the batches it holds and give it no new ones."""
        return set_drained(node_id, True)

    @router.post("/nodes/{node_id}/resume", responses={404: {"model": ErrorBody}})
    async def resume_node(node_id: str) -> dict[str, object]:
        """Give a drained node work again."""
        return set_drained(node_id, False)
