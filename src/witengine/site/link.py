"""A site hub's link to its parent hub (`wit hub --parent URL --token JOIN-TOKEN`): the site is
one node of the parent.

It enrols as a node does (its credential and its id kept in the data folder, the parent's
certificate pinned), and dials the parent's node socket with a hello that offers the site's
online nodes together (`offer`): their slots, capabilities, activities, and their rates summed,
sent again as they change. Each batch the parent hands it runs over the site's own nodes
(`batches`); results go up as the site commits them, wait in an outbox until the parent
acknowledges them and go again after a lost link, as a node's do. A site with no online node
offers nothing: it stays away from the parent until one is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import websockets
from pydantic import TypeAdapter

from witengine.clock import wall_time
from witengine.hub.app import Hub
from witengine.node.enrol import Credential, NodeRefused
from witengine.node.hub_client import HubFiles
from witengine.node.plugins import PluginInstaller
from witengine.protocol import (
    NODE_LEAVING,
    Ack,
    Assign,
    BatchFinished,
    CancelBatch,
    Heartbeat,
    HubMessage,
    NodeHello,
    NodeStatus,
    ResultKey,
    Results,
    TaskResult,
    TrustNotice,
    Welcome,
)
from witengine.protocol.states import NodeState
from witengine.site.batches import SiteWork
from witengine.site.enrolment import ParentSettings, parent_transport, site_credential
from witengine.site.offer import NodeRates, SiteOffer, site_offer
from witengine.site.plugins import take_parent_plugins
from witengine.waiting import Backoff

log = logging.getLogger(__name__)
_HUB_MESSAGE: TypeAdapter[HubMessage] = TypeAdapter(HubMessage)
OFFER_SECONDS = 2.0  # how often the site looks again at what its nodes offer
LEAVE_SECONDS = 2.0


@dataclass
class _Held:
    """A parent's batch on the site: its task, and its items still without a result."""

    assign: Assign
    remaining: set[tuple[str, int]]
    task: asyncio.Task[None] | None = None


@dataclass
class _Outgoing:
    results: list[tuple[str, TaskResult]] = field(default_factory=list)
    finished: list[BatchFinished] = field(default_factory=list)


class SiteLink:
    """The site hub `hub` as a node of the parent hub."""

    def __init__(self, hub: Hub, settings: ParentSettings) -> None:
        self.hub = hub
        self.settings = settings
        self.identity = settings.folder / "node-id"
        self.node_id: str | None = _read(self.identity)
        self.credential: Credential | None = None
        self.files = HubFiles(settings.url)
        self.work = SiteWork(hub, lambda: self.files)
        self.batches: dict[str, _Held] = {}
        self.outbox: dict[tuple[str, int, int], tuple[str, TaskResult]] = {}
        self.outgoing = _Outgoing()
        # Each batch's activity until its end is sent: what the files of its results are.
        self.activity_of: dict[str, str] = {}
        self.has_outgoing = asyncio.Event()
        self.offered: SiteOffer | None = None
        self.told = NodeStatus()  # the availability the parent knows
        self.heartbeat_seconds = 5.0

    # ------------------------------------------------------------- identity

    async def _authenticate(self) -> None:
        credential = await site_credential(self.settings)
        if credential.node_id and credential.node_id != self.node_id:
            self._keep_id(credential.node_id)
        self.credential = credential
        headers, verify = self._transport()
        old, self.files = self.files, HubFiles(self.settings.url, headers=headers, verify=verify)
        await old.aclose()

    def _transport(self) -> tuple[dict[str, str], ssl.SSLContext | None]:
        return parent_transport(self.settings, self.credential)

    def _keep_id(self, node_id: str) -> None:
        self.node_id = node_id
        self.identity.parent.mkdir(parents=True, exist_ok=True)
        self.identity.write_text(node_id + "\n")

    # ------------------------------------------------------------------ top

    async def run(self) -> None:
        """Stay linked to the parent until cancelled; NodeRefused when it refuses the site."""
        await self._authenticate()
        backoff = Backoff(self.settings.max_backoff)
        url = _websocket_url(self.settings.url)
        await self._take_plugins()  # before the site's nodes come: they get them here
        try:
            while True:
                offer = self.offer()
                if offer is None:  # no node online: nothing to offer the parent
                    await asyncio.sleep(OFFER_SECONDS)
                    continue
                await self._take_plugins()  # the parent's new ones, at each link as a node
                headers, verify = self._transport()
                try:
                    async with websockets.connect(
                        url,
                        max_size=None,
                        open_timeout=10,
                        close_timeout=LEAVE_SECONDS,
                        compression=None,
                        additional_headers=headers,
                        ssl=verify if url.startswith("wss://") else None,
                    ) as socket:
                        await self._session(socket, offer)
                        backoff.reset()
                except websockets.InvalidStatus as error:
                    code = error.response.status_code
                    if code in (401, 403):
                        raise NodeRefused(
                            f"the parent hub {self.settings.url} refused this site ({code}); "
                            "enrol it again with a new join token: wit hub --parent URL --token …"
                        ) from None
                    log.warning("parent %s answered %d", url, code)
                except (OSError, TimeoutError, websockets.WebSocketException) as error:
                    log.warning(
                        "parent %s unreachable (%s); retrying in %.1f s",
                        self.settings.url,
                        error,
                        backoff.seconds,
                    )
                await backoff.wait()
        finally:
            for held in self.batches.values():
                if held.task is not None:
                    held.task.cancel()
            await self.files.aclose()

    async def _take_plugins(self) -> None:
        """The parent's plugins this site lacks, installed here and served to its nodes."""
        installer = PluginInstaller(self.settings.url, self.settings.folder, self.files.client)
        await take_parent_plugins(self.hub, installer)

    def offer(self) -> SiteOffer | None:
        """What the site's online nodes offer the parent now."""
        nodes = offered_nodes(self.hub)
        online = {node_id for node_id, _ in nodes}
        rates = [
            NodeRates(
                r.node_id,
                r.activity,
                r.unit,
                r.rate,
                r.elapsed,
                r.iterations,
                r.plugin,
                r.plugin_version,
            )
            for node_id in online
            for r in self.hub.dispatcher.rates.of_node(node_id)
        ]
        return site_offer(nodes, rates, self.settings.share.share)

    def status(self) -> NodeStatus:
        """The site's availability to its parent now, by its share's hours."""
        return self.settings.share.status(datetime.fromtimestamp(wall_time()).astimezone())

    # -------------------------------------------------------------- session

    async def _session(self, socket: websockets.ClientConnection, offer: SiteOffer) -> None:
        hello = NodeHello(
            node_id=self.node_id,
            name=self.settings.name,
            slots=min(offer.slots, 1024),
            capabilities=offer.capabilities,
            plugins=list(offer.plugins),
            activities=list(offer.activities),
            unmet=offer.unmet,
            holding=self._holding(),
            status=self.status(),
            status_url=self.settings.status_url,
        )
        await socket.send(hello.model_dump_json())
        welcome = Welcome.model_validate_json(await socket.recv())
        if welcome.node_id != self.node_id:
            self._keep_id(welcome.node_id)
        self.heartbeat_seconds = welcome.heartbeat_seconds
        self.offered, self.told = offer, hello.status
        log.info("linked to the parent %s as %s", self.settings.url, self.node_id)
        for report in offer.rates:
            await socket.send(report.model_dump_json())
        self.outgoing.results = list(self.outbox.values())  # everything unacknowledged, again
        self.has_outgoing.set()
        helpers = [
            asyncio.create_task(self._send(socket)),
            asyncio.create_task(self._heartbeat(socket)),
            asyncio.create_task(self._watch_offer(socket)),
        ]
        try:
            async for text in socket:
                self._receive(_HUB_MESSAGE.validate_json(text))
        except websockets.ConnectionClosed:
            pass
        except asyncio.CancelledError:  # the site hub is stopping
            with contextlib.suppress(OSError, websockets.WebSocketException):
                await socket.close(NODE_LEAVING, "the site hub is stopping")
            raise
        finally:
            for helper in helpers:
                helper.cancel()
            for helper in helpers:
                with contextlib.suppress(asyncio.CancelledError, websockets.WebSocketException):
                    await helper
        log.warning("lost the link to the parent %s", self.settings.url)

    def _holding(self) -> dict[str, list[ResultKey]]:
        holding: dict[str, list[ResultKey]] = {}
        for batch_id, held in self.batches.items():
            attempts = {(t.map_id, t.index): t.attempt for t in held.assign.tasks}
            keys = [
                ResultKey(map_id=m, index=i, attempt=attempts[(m, i)])
                for m, i in sorted(held.remaining)
            ]
            if keys:
                holding[batch_id] = keys
        return holding

    def _receive(self, message: HubMessage) -> None:
        if isinstance(message, Assign):
            held = _Held(message, {(t.map_id, t.index) for t in message.tasks})
            self.batches[message.batch_id] = held
            self.activity_of[message.batch_id] = message.activity
            held.task = asyncio.get_running_loop().create_task(
                self._run_batch(held), name=f"parent batch {message.batch_id}"
            )
        elif isinstance(message, CancelBatch):
            called = self.batches.pop(message.batch_id, None)
            self.activity_of.pop(message.batch_id, None)
            if called is not None and called.task is not None:
                log.info("batch %s called back: %s", message.batch_id, message.reason)
                called.task.cancel()
        elif isinstance(message, Ack):
            for key in message.results:
                self.outbox.pop(key, None)
        elif isinstance(message, TrustNotice):
            log.warning(
                "the parent %s this site for %s: %s",
                message.state,
                message.activity,
                message.reason,
            )

    async def _run_batch(self, held: _Held) -> None:
        batch_id = held.assign.batch_id
        try:
            whole = await self.work.run(held.assign, self._deliver)
        except asyncio.CancelledError:
            return  # called back: the parent wants nothing more of it
        except Exception:  # a defect: the parent gives the items to others
            log.exception("batch %s of the parent stopped", batch_id)
            whole = False
        self.batches.pop(batch_id, None)
        self.outgoing.finished.append(BatchFinished(batch_id=batch_id, handed_back=not whole))
        self.has_outgoing.set()

    def _deliver(self, batch_id: str, results: list[TaskResult]) -> None:
        held = self.batches.get(batch_id)
        for result in results:
            if held is not None:
                held.remaining.discard((result.map_id, result.index))
            entry = (batch_id, result)
            self.outbox[(result.map_id, result.index, result.attempt)] = entry
            self.outgoing.results.append(entry)
        self.has_outgoing.set()

    async def _send(self, socket: websockets.ClientConnection) -> None:
        while True:
            await self.has_outgoing.wait()
            await asyncio.sleep(0.005)  # let a few more results join this message
            self.has_outgoing.clear()
            results, self.outgoing.results = self.outgoing.results, []
            finished, self.outgoing.finished = self.outgoing.finished, []
            by_batch: dict[str, list[TaskResult]] = {}
            for batch_id, result in results:
                by_batch.setdefault(batch_id, []).append(result)
            for batch_id, items in by_batch.items():
                activity = self.activity_of.get(batch_id)
                if activity is not None:  # sent again after a lost link: uploaded before
                    await self.work.upload_outputs(activity, items)
                for start in range(0, len(items), 2000):
                    part = items[start : start + 2000]
                    await socket.send(Results(batch_id=batch_id, results=part).model_dump_json())
            for done in finished:
                await socket.send(done.model_dump_json())
                self.activity_of.pop(done.batch_id, None)

    async def _heartbeat(self, socket: websockets.ClientConnection) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            await socket.send(Heartbeat(batches=list(self.batches)).model_dump_json())

    async def _watch_offer(self, socket: websockets.ClientConnection) -> None:
        """Tell the parent what changed of the site's offer: new rates as reports; other
        changes (slots, activities) in a new hello, the link closed to open again."""
        while True:
            await asyncio.sleep(OFFER_SECONDS)
            offer = self.offer()
            previous = self.offered
            if previous is None:
                continue
            if offer is None or not offer.same_node(previous):
                log.info("the site's nodes changed: telling the parent in a new hello")
                await socket.close()
                return
            status = self.status()
            if status.availability != self.told.availability:
                log.info("the parent is told the site is %s", status.availability)
                await socket.send(status.model_dump_json())
                self.told = status
            if offer.rates != previous.rates:
                changed = [r for r in offer.rates if r not in previous.rates]
                for report in changed:
                    await socket.send(report.model_dump_json())
                self.offered = offer


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def _websocket_url(url: str) -> str:
    base = url.rstrip("/")
    if base.startswith("https://"):
        base = "wss://" + base.removeprefix("https://")
    elif base.startswith("http://"):
        base = "ws://" + base.removeprefix("http://")
    return base + "/api/v1/nodes/connect"


# The states of a site's nodes it offers its parent: free to work, or kept from it for a moment
# only (an owner back at the keyboard suspends a node for seconds, a node may miss a heartbeat).
# A node outside its owner's hours (or on battery), drained or offline is not offered: a site of
# office machines offers its parent what their owners' policies let them run, nights only when
# that is what they say.
OFFERED = frozenset({NodeState.IDLE, NodeState.BUSY, NodeState.SUSPENDED, NodeState.UNRESPONSIVE})


def offered_nodes(hub: Hub) -> list[tuple[str, NodeHello]]:
    """The site's nodes it offers its parent now (see `OFFERED`), with their hellos."""
    view = hub.dispatcher.view
    nodes = []
    for record in hub.store.list_nodes():
        if view.node_state(record.id) not in OFFERED:
            continue
        with contextlib.suppress(ValueError):
            nodes.append((record.id, NodeHello.model_validate(record.info)))
    return nodes
