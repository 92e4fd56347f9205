"""Light nodes for tests and benchmarks: the real WebSocket protocol, no runner processes.

A `FakeNode` connects to a hub like `wit node` does, says hello with made-up capabilities, and
"runs" each item of the batches it is given by waiting `item_seconds`, then returns a value
(by default the item's first argument, which is what `Compute.Sleep` returns). Results go back
a few at a time, heartbeats keep its leases, a cancel stops a batch. Fifty of them fit in one
process, so a benchmark can show the hub a farm of fifty machines.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import websockets
from pydantic import TypeAdapter

from witengine.protocol import (
    API_PREFIX,
    Assign,
    BatchFinished,
    CancelBatch,
    Capabilities,
    Heartbeat,
    HubMessage,
    NodeHello,
    PluginInfo,
    Results,
    TaskResult,
    Welcome,
)

_HUB_MESSAGE: TypeAdapter[HubMessage] = TypeAdapter(HubMessage)
FLUSH_SECONDS = 0.05  # results wait at most this long to share a message


def echo_first(activity: str, args: list[Any]) -> Any:
    return args[0] if args else None


@dataclass
class FakeNode:
    hub_url: str  # http://host:port
    name: str
    activities: Sequence[str] = ("Compute.Sleep",)
    slots: int = 1
    item_seconds: float = 0.01
    value: Callable[[str, list[Any]], Any] = echo_first
    node_id: str | None = None
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    done: int = 0
    _cancelled: set[str] = field(default_factory=set)

    def hello(self) -> NodeHello:
        return NodeHello(
            node_id=self.node_id,
            name=self.name,
            slots=self.slots,
            capabilities=Capabilities(
                os="Linux",
                os_version="6.1",
                arch="x86_64",
                cpu_model="Fake CPU",
                cores=self.slots,
                ram_bytes=8 << 30,
                software={"python": "3.11"},
            ),
            plugins=[PluginInfo(name="compute", version="0.1.0")],
            activities=list(self.activities),
        )

    async def run(self) -> None:
        """Connect and work until cancelled (or the hub closes the connection)."""
        url = "ws" + self.hub_url.removeprefix("http") + API_PREFIX + "/nodes/connect"
        async with websockets.connect(url, max_size=None, compression=None) as socket:
            await socket.send(self.hello().model_dump_json())
            welcome = Welcome.model_validate_json(await socket.recv())
            self.node_id = welcome.node_id
            self.connected.set()
            batches: asyncio.Queue[Assign] = asyncio.Queue()
            helpers = [asyncio.create_task(self._heartbeat(socket, welcome.heartbeat_seconds))]
            helpers += [asyncio.create_task(self._slot(socket, batches)) for _ in range(self.slots)]
            try:
                async for text in socket:
                    message = _HUB_MESSAGE.validate_json(text)
                    if isinstance(message, Assign):
                        batches.put_nowait(message)
                    elif isinstance(message, CancelBatch):
                        self._cancelled.add(message.batch_id)
            except websockets.ConnectionClosed:
                pass
            finally:
                self.connected.clear()
                for helper in helpers:
                    helper.cancel()
                for helper in helpers:
                    with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
                        await helper

    async def _heartbeat(self, socket: websockets.ClientConnection, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            await socket.send(Heartbeat(batches=[]).model_dump_json())

    async def _slot(
        self, socket: websockets.ClientConnection, batches: asyncio.Queue[Assign]
    ) -> None:
        while True:
            assign = await batches.get()
            pending: list[TaskResult] = []
            clock = asyncio.get_running_loop().time
            flushed = clock()
            for task in assign.tasks:
                if assign.batch_id in self._cancelled:
                    break
                started = clock()
                await asyncio.sleep(self.item_seconds)
                pending.append(
                    TaskResult(
                        map_id=task.map_id,
                        index=task.index,
                        attempt=task.attempt,
                        ok=True,
                        value=self.value(assign.activity, task.args),
                        seconds=clock() - started,
                    )
                )
                if clock() - flushed >= FLUSH_SECONDS:
                    await self._send(socket, assign.batch_id, pending)
                    pending, flushed = [], clock()
            await self._send(socket, assign.batch_id, pending)
            if assign.batch_id not in self._cancelled:
                await socket.send(BatchFinished(batch_id=assign.batch_id).model_dump_json())

    async def _send(
        self, socket: websockets.ClientConnection, batch_id: str, results: list[TaskResult]
    ) -> None:
        if results:
            self.done += len(results)
            await socket.send(Results(batch_id=batch_id, results=results).model_dump_json())
