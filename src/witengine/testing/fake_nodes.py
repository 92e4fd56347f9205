"""Light nodes for tests and benchmarks: the real WebSocket protocol, no runner processes.

A `FakeNode` connects to a hub like `wit node` does, says hello with made-up capabilities, and
"runs" each item of the batches it is given in `item_seconds`, then returns a value (by default
the item's first argument, which is what `Compute.Sleep` returns; `value` can compute the real
result of a cheap activity, such as `Compute.Hash`; `fail` can fail chosen items with an error).
Results go back a few at a time, heartbeats name the batches it holds (so their leases last), a
cancel stops a batch, and it can report benchmark rates as a node does after measuring. Items are
timed on a schedule rather than slept one by one, so a few hundred of them fit in one process
without flooding its event loop: a benchmark can show the hub a farm of hundreds of machines.

A fake node presents `token` (its credential), or first trades `join_token` for a credential of
its own as `wit node --token` does; given an admin's token, it enrols with it first (the hub lets
admins enrol nodes), since a node link takes a node's own credential only. `node_link` is the one
place it opens its connection; `running` keeps fake nodes connected for the length of a `with`
block.

A fake node may follow an owner (`owner`: what its policy lets it do from when `start_owner` is
called, as `OwnerChange`s; `leaves_at`: it goes for good then, closing its link). It says its
availability in its hello and sends `NodeStatus` at each change, as a node with a policy does:
suspended, it freezes its work (the item in progress keeps what it has done and goes on from
there when it is available again: time frozen does not count); unavailable, it vacates: the
results it finished go first, then `BatchFinished(handed_back=True)` for each batch it holds,
started or not. A batch that arrives while it may not work goes straight back the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import httpx
import websockets
from pydantic import TypeAdapter

from witengine import __version__
from witengine.clock import wall_time
from witengine.node.enrol import enrol
from witengine.protocol import (
    API_PREFIX,
    Assign,
    BatchFinished,
    BenchmarkReport,
    CancelBatch,
    Capabilities,
    Heartbeat,
    HubMessage,
    NodeHello,
    NodeStatus,
    PluginInfo,
    Receipt,
    Results,
    TaskResult,
    Welcome,
)
from witengine.protocol.auth import Enrolment, EnrolRequest
from witengine.protocol.states import Availability
from witengine.security.accounts import AccountKey
from witengine.security.receipts import sign_receipt
from witengine.security.tokens import Role, TokenError, parse_token

_HUB_MESSAGE: TypeAdapter[HubMessage] = TypeAdapter(HubMessage)
FLUSH_SECONDS = 0.05  # results wait at most this long to share a message
AHEAD_SECONDS = 0.005  # an item due sooner than this is done at once: fewer wake-ups
CONNECT_TRIES = 5


class OwnerChange(NamedTuple):
    """From `at` seconds after the owner's clock starts, the node may do this."""

    at: float
    availability: Availability
    window_seconds: float | None = None  # from `at` until its window closes; None: no end
    reason: str = ""


def echo_first(activity: str, args: list[Any]) -> Any:
    return args[0] if args else None


def never_fails(activity: str, args: list[Any]) -> str | None:
    return None


def node_link(hub_url: str, token: str | None = None) -> websockets.connect:
    """Open a node's WebSocket to the hub (http://host:port), with its credential if any."""
    url = "ws" + hub_url.removeprefix("http") + API_PREFIX + "/nodes/connect"
    headers = {"Authorization": f"Bearer {token}"} if token else None
    return websockets.connect(
        url,
        max_size=None,
        compression=None,
        open_timeout=30,
        additional_headers=headers,
        proxy=None,  # loopback: never through a proxy from the environment
    )


async def enrolled_by_admin(hub_url: str, admin_token: str, name: str) -> tuple[str, str]:
    """A new node's credential and id, enrolled with an admin's token (hub_url: http://host:port)."""
    async with httpx.AsyncClient(
        base_url=hub_url + API_PREFIX,
        headers={"Authorization": f"Bearer {admin_token}"},
        timeout=30,
        trust_env=False,  # loopback: never through a proxy from the environment
    ) as client:
        answer = await client.post("/nodes/enrol", json=EnrolRequest(name=name).model_dump())
    answer.raise_for_status()
    enrolment = Enrolment.model_validate_json(answer.content)
    return enrolment.token, enrolment.node_id


def _kind(token: str) -> str | None:
    try:
        return parse_token(token).kind
    except TokenError:
        return None


@dataclass
class FakeNode:
    hub_url: str  # http://host:port
    name: str
    activities: Sequence[str] = ("Compute.Sleep",)
    slots: int = 1
    item_seconds: float = 0.01
    value: Callable[[str, list[Any]], Any] = echo_first
    fail: Callable[[str, list[Any]], str | None] = never_fails  # an item's error, None: it works
    node_id: str | None = None
    token: str | None = None  # the credential it connects with
    join_token: str | None = None  # without a credential: enrol with this first, as a node does
    benchmarks: Sequence[BenchmarkReport] = ()  # sent once connected, as a node's idle rates
    # Its owner's account key, as `wit node --account` holds it: it signs a receipt for each
    # results upload (the right key, or a wrong one, to be refused).
    account_key: AccountKey | None = None
    enrolled: asyncio.Event = field(default_factory=asyncio.Event)  # it holds a credential
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    done: int = 0  # results sent
    received: int = 0  # tasks received, counting each attempt and duplicate
    cancels: int = 0  # batches the hub cancelled
    owner: Sequence[OwnerChange] = ()  # in time order; none: it may always work
    leaves_at: float | None = None  # seconds after the owner's clock starts: gone for good
    suspensions: int = 0  # times its owner came back while it was working
    handed_back: int = 0  # items it handed back unrun (vacating)
    left: bool = False  # it went for good (`leaves_at`)
    _cancelled: set[str] = field(default_factory=set, init=False)
    _holding: set[str] = field(default_factory=set, init=False)  # batches received and not finished
    _mode: Availability = field(default=Availability.AVAILABLE, init=False)
    _reason: str = field(default="", init=False)
    _window_end: float | None = field(default=None, init=False)  # loop time its window closes
    _frozen_since: float | None = field(
        default=None, init=False
    )  # loop time it was suspended, while it is
    _frozen: float = field(default=0.0, init=False)  # seconds spent suspended before that
    _changed: asyncio.Event = field(
        default_factory=asyncio.Event, init=False
    )  # set (and replaced) on change
    _owner_started: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _queue: asyncio.Queue[Assign] = field(default_factory=asyncio.Queue, init=False)

    def __post_init__(self) -> None:
        first = self.owner[0] if self.owner else None
        if first is not None and first.at <= 0:
            self._mode, self._reason = first.availability, first.reason

    def start_owner(self) -> None:
        """The owner's clock starts now: the node follows `owner` and `leaves_at` from here."""
        self._owner_started.set()

    def status(self) -> NodeStatus:
        """Its availability now, as it reports it."""
        first = self.owner[0] if self.owner else None
        window: float | None = None
        if self._window_end is not None:
            window = max(0.0, self._window_end - asyncio.get_running_loop().time())
        elif first is not None and first.at <= 0 and not self._owner_started.is_set():
            window = first.window_seconds
        return NodeStatus(
            availability=self._mode,
            reason=self._reason,
            window_seconds=window,
            policy={"hours": "simulated"} if self.owner else {},
        )

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
            plugins=[PluginInfo(name="compute", version=__version__)],
            activities=list(self.activities),
            status=self.status() if self.owner else NodeStatus(),
            receipts=self.account_key is not None,
        )

    async def _open(self) -> websockets.ClientConnection:
        """Connect, trying again a few times: a hub greeting hundreds of nodes may be slow."""
        for attempt in range(1, CONNECT_TRIES + 1):
            try:
                return await node_link(self.hub_url, self.token)
            except (OSError, TimeoutError, websockets.InvalidHandshake):
                if attempt == CONNECT_TRIES:
                    raise
                await asyncio.sleep(0.2 * attempt)
        raise AssertionError("unreachable")

    async def run(self) -> None:
        """Enrol if it must, connect and work until cancelled (or the hub closes the link)."""
        if self.token is None and self.join_token is not None:
            credential = await enrol(self.hub_url, self.join_token, self.name)
            self.token, self.node_id = credential.token, credential.node_id
        elif self.token is not None and _kind(self.token) == Role.ADMIN.value:
            self.token, self.node_id = await enrolled_by_admin(self.hub_url, self.token, self.name)
        self.enrolled.set()
        async with await self._open() as socket:
            await socket.send(self.hello().model_dump_json())
            welcome = Welcome.model_validate_json(await socket.recv())
            self.node_id = welcome.node_id
            self.connected.set()
            for report in self.benchmarks:
                await socket.send(report.model_dump_json())
            batches = self._queue
            helpers = [asyncio.create_task(self._heartbeat(socket, welcome.heartbeat_seconds))]
            helpers += [asyncio.create_task(self._slot(socket, batches)) for _ in range(self.slots)]
            if self.owner or self.leaves_at is not None:
                helpers.append(asyncio.create_task(self._follow_owner(socket)))
            try:
                async for text in socket:
                    message = _HUB_MESSAGE.validate_json(text)
                    if isinstance(message, Assign):
                        self.received += len(message.tasks)
                        self._holding.add(message.batch_id)
                        batches.put_nowait(message)
                    elif isinstance(message, CancelBatch):
                        self.cancels += 1
                        self._cancelled.add(message.batch_id)
                        self._holding.discard(message.batch_id)
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
            await socket.send(Heartbeat(batches=sorted(self._holding)).model_dump_json())

    async def _slot(
        self, socket: websockets.ClientConnection, batches: asyncio.Queue[Assign]
    ) -> None:
        clock = asyncio.get_running_loop().time
        while True:
            assign = await batches.get()
            if self._mode is not Availability.AVAILABLE:  # it may not work now: straight back
                await self._hand_back(socket, assign, [], 0)
                continue
            pending: list[TaskResult] = []
            due = self._work_now()
            flushed = clock()
            vacated = False
            for position, task in enumerate(assign.tasks):
                if assign.batch_id in self._cancelled:
                    break
                due += self.item_seconds  # when this item finishes, one after another
                if not await self._work_until(due):
                    await self._hand_back(socket, assign, pending, position)
                    vacated = True
                    break
                error = self.fail(assign.activity, task.args)
                pending.append(
                    TaskResult(
                        map_id=task.map_id,
                        index=task.index,
                        attempt=task.attempt,
                        ok=error is None,
                        value=self.value(assign.activity, task.args) if error is None else None,
                        error=error,
                        seconds=self.item_seconds,
                    )
                )
                if clock() - flushed >= FLUSH_SECONDS:
                    await self._send(socket, assign.batch_id, pending)
                    pending, flushed = [], clock()
            if vacated:
                continue
            await self._send(socket, assign.batch_id, pending)
            self._holding.discard(assign.batch_id)
            if assign.batch_id not in self._cancelled:
                await socket.send(BatchFinished(batch_id=assign.batch_id).model_dump_json())

    def _work_now(self) -> float:
        """The loop's time less the time spent suspended: the clock its work runs by."""
        now = asyncio.get_running_loop().time()
        frozen = self._frozen + (now - self._frozen_since if self._frozen_since else 0.0)
        return now - frozen

    async def _work_until(self, due: float) -> bool:
        """Work until `due` on the work clock (frozen while suspended); False: it vacated."""
        while True:
            if self._mode is Availability.UNAVAILABLE:
                return False
            if self._mode is Availability.SUSPENDED:
                await self._changed.wait()
                continue
            left = due - self._work_now()
            if left <= AHEAD_SECONDS:
                return True
            await asyncio.sleep(left)

    async def _hand_back(
        self,
        socket: websockets.ClientConnection,
        assign: Assign,
        finished: list[TaskResult],
        position: int,
    ) -> None:
        """Vacate one batch: the results it finished, then the rest handed back unrun."""
        await self._send(socket, assign.batch_id, finished)
        self._holding.discard(assign.batch_id)
        self.handed_back += len(assign.tasks) - position
        finished_message = BatchFinished(batch_id=assign.batch_id, handed_back=True)
        await socket.send(finished_message.model_dump_json())

    async def _follow_owner(self, socket: websockets.ClientConnection) -> None:
        """Do what the owner's policy says, when it says it; leave for good at `leaves_at`."""
        await self._owner_started.wait()
        loop = asyncio.get_running_loop()
        began = loop.time()
        moments: list[tuple[float, OwnerChange | None]] = [(c.at, c) for c in self.owner]
        if self.leaves_at is not None:
            moments.append((self.leaves_at, None))
        for at, change in sorted(moments, key=lambda moment: moment[0]):
            await asyncio.sleep(max(0.0, began + at - loop.time()))
            if change is None:
                self.left = True
                await socket.close()
                return
            await self._become(socket, change)

    async def _become(self, socket: websockets.ClientConnection, change: OwnerChange) -> None:
        now = asyncio.get_running_loop().time()
        before, self._mode, self._reason = self._mode, change.availability, change.reason
        if before is Availability.SUSPENDED and self._frozen_since is not None:
            self._frozen += now - self._frozen_since
            self._frozen_since = None
        if change.availability is Availability.SUSPENDED and before is Availability.AVAILABLE:
            self._frozen_since = now
            self.suspensions += 1
        seconds = change.window_seconds
        self._window_end = None if seconds is None else now + seconds
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()  # slots waiting for a change look again
        if change.availability is Availability.UNAVAILABLE:
            while not self._queue.empty():  # batches not started: back, unrun
                await self._hand_back(socket, self._queue.get_nowait(), [], 0)
        await socket.send(self.status().model_dump_json())

    async def _send(
        self, socket: websockets.ClientConnection, batch_id: str, results: list[TaskResult]
    ) -> None:
        if results:
            self.done += len(results)
            receipt = None
            if self.account_key is not None:
                key = self.account_key
                signed = sign_receipt(key.private, key.name, batch_id, results, wall_time())
                receipt = Receipt(**vars(signed))
            message = Results(batch_id=batch_id, results=results, receipt=receipt)
            await socket.send(message.model_dump_json())


@contextlib.asynccontextmanager
async def running(*fakes: FakeNode, connect_seconds: float = 10.0) -> AsyncIterator[list[FakeNode]]:
    """The fake nodes running and connected, stopped when the block ends."""
    tasks = [asyncio.create_task(fake.run()) for fake in fakes]
    try:
        for fake in fakes:
            await asyncio.wait_for(fake.connected.wait(), connect_seconds)
        yield list(fakes)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
