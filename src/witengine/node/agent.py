"""The node agent: dials out to a hub, takes batches, runs them, returns every result.

It keeps one WebSocket to the hub for assignments, cancels, acknowledgements and heartbeats, and
talks HTTP for blobs. Results go into an outbox the moment an item finishes and leave it only when
the hub acknowledges them, so nothing finished is lost while the hub is away: the agent reconnects
with back-off, tells the hub which tasks it still holds, and sends its outbox again. Batches run
in child processes (see `runner`); a crashing activity never takes the agent down.

With an owner policy (`settings.policy`) the agent works only when the policy lets it: its owner
loop (`owner`) freezes the running batches when the owner comes back, thaws them when the owner
has gone again, and hands them back to the hub when the owner stays; meanwhile the agent itself
goes on (its heartbeats keep the frozen batches' leases alive). Without one it always works.

With `settings.status_port` it serves its own page (`status_page`): what it runs, its recent
batches with their logs (its `journal`), its tools, rates and policy, and buttons for its owner
to pause and resume it (through the owner loop, which a node without a policy then has too).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import json
import logging
import shutil
import ssl
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websockets
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import TypeAdapter, ValidationError

from witengine.clock import wall_time
from witengine.errors import PluginError, WitError
from witengine.node.batch_files import fetch_inputs, output_files, upload_outputs
from witengine.node.cache import BlobCache
from witengine.node.console import OwnerConsole
from witengine.node.enrol import (
    CREDENTIAL_FILE,
    Credential,
    HubUnreachable,
    HubUntrusted,
    NodeRefused,
    as_given,
    ask_to_join,
    enrol,
    load_credential,
    save_credential,
    token_kind,
    untrusted_hub,
)
from witengine.node.hub_client import HubFiles
from witengine.node.journal import Journal, Outcome
from witengine.node.owner import OwnerLoop, Work, for_node
from witengine.node.plugins import PluginInstaller
from witengine.node.probe import LookFor
from witengine.node.rates import IdleBenchmarks, offered_activities
from witengine.node.runner import Runner, RunnerDied
from witengine.node.settings import NodeSettings
from witengine.node.status_page import NodeShown, StatusPage
from witengine.plugins.bundles import load_public_key_file
from witengine.protocol import (
    NODE_LEAVING,
    Ack,
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
    ResultKey,
    Results,
    TaskResult,
    TrustNotice,
    Welcome,
)
from witengine.protocol.auth import JoinWaiting
from witengine.protocol.states import Admission
from witengine.runtime.library import Library
from witengine.security.accounts import AccountKey
from witengine.security.connect import transport_options, wrong_scheme
from witengine.security.node_keys import NodeKey, short_fingerprint
from witengine.security.receipts import sign_receipt
from witengine.security.tls import TlsError, fetch_fingerprint
from witengine.security.tokens import Role
from witengine.waiting import Backoff

log = logging.getLogger(__name__)
_HUB_MESSAGE: TypeAdapter[HubMessage] = TypeAdapter(HubMessage)
Key = tuple[str, int, int]  # map_id, index, attempt
LEAVE_SECONDS = 2.0  # the longest a stopping node waits for the hub to hear it is leaving
WAIT_SECONDS = 3.0  # the longest between asks of a node waiting for approval


@dataclass
class _Batch:
    assign: Assign
    remaining: set[tuple[str, int]]
    runner: Runner | None = None
    cancelled: bool = False
    handed_back: bool = False  # the owner needs the machine: what is unfinished goes back
    reported: bool = False  # its BatchFinished is on its way


@dataclass
class _Outgoing:
    results: list[tuple[str, TaskResult]] = field(default_factory=list)
    finished: list[BatchFinished] = field(default_factory=list)
    reports: list[BenchmarkReport] = field(default_factory=list)
    status: NodeStatus | None = None  # the owner policy's latest, not yet sent


class Agent:
    """One node: its connection, its slots and its outbox."""

    def __init__(
        self,
        settings: NodeSettings,
        library: Library,
        plugins: Sequence[PluginInfo],
        capabilities: Capabilities,
        owner_loop: Callable[[Work], OwnerLoop] | None = None,
        look_for: LookFor | None = None,
        account_key: AccountKey | None = None,
    ) -> None:
        """`owner_loop` makes the loop that applies an owner policy to the agent's work; by
        default, with `settings.policy`, the one that watches this machine. `look_for` finds
        the tools that plugins installed from the hub declare (None: they are not looked for).
        `account_key`: the owner's account key (`wit node --account`), which signs the requests
        of the owner's console on the node's page; it never leaves this process."""
        self.settings = settings
        self.account_key = account_key  # also signs the receipts of its paid results uploads
        self.library = library
        self.plugins = list(plugins)
        self.capabilities = capabilities
        self.look_for = look_for
        self.identity = settings.cache_dir / "node-id"  # the same node after a restart
        self.node_id: str | None = _read_identity(self.identity)
        self.cache = BlobCache(settings.cache_dir / "blobs", settings.cache_bytes)
        self.credential_path = settings.cache_dir / CREDENTIAL_FILE
        self.scratch = settings.cache_dir / "work"  # the batch processes' work folders
        self.credential: Credential | None = None
        self.enrolled = False  # with the join token, in this run
        self.files = HubFiles(settings.hub_url)
        self.installer = PluginInstaller(
            settings.hub_url, settings.cache_dir, self.files.client, settings.trust_keys
        )
        self.runners: list[Runner] = []
        self.benchmarks = IdleBenchmarks.for_node(
            settings, lambda: self.library, self._plugin_sources, capabilities, self._report_rate
        )
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.batches: dict[str, _Batch] = {}
        self.outbox: dict[Key, tuple[str, TaskResult]] = {}
        self.outgoing = _Outgoing()
        self.has_outgoing = asyncio.Event()
        self.connected = asyncio.Event()
        self.heartbeat_seconds = 5.0
        self.may_work = asyncio.Event()  # batches may start (the owner policy lets them)
        self.may_work.set()
        self.journal = Journal()  # its batches, for its page
        policy = settings.policy
        page = settings.status_port is not None
        if owner_loop is None and (policy is not None or page):
            owner_loop = functools.partial(for_node, policy)
        self.owner = owner_loop(self) if owner_loop is not None else None
        self.page: StatusPage | None = None
        if page and self.owner is not None:
            console = (
                OwnerConsole(account_key, lambda: self.files.client)
                if account_key is not None
                else None
            )
            self.page = StatusPage(
                settings, self.owner, self.shown, keys=self._hub_keys, console=console
            )

    # ---------------------------------------------------------------- top

    async def run(self) -> None:
        """Work until cancelled; NodeBusy when another node uses the same cache folder,
        NodeRefused when the hub refuses its token and no join token can mend that, HubUntrusted
        when the hub's certificate does not match this node's pin."""
        with _exclusive(self.settings.cache_dir):
            if self.page is not None:
                self.page.listen()  # PageUnavailable before anything else starts
            # Work folders an earlier run left (its batch processes killed with it, no clean-up)
            # are no one's now: this node holds the folder alone.
            shutil.rmtree(self.scratch, ignore_errors=True)
            try:
                await self._authenticate()
                await self._run()
            except* NodeRefused as group:
                raise group.exceptions[0] from None

    # ----------------------------------------------------------- identity

    def _join_token(self) -> str | None:
        token = self.settings.token
        if not token:
            return None
        return token if token_kind(token) == Role.JOIN.value else None

    async def _authenticate(self, refused: str | None = None) -> None:
        """Find this node's credential: kept from an earlier enrolment, else made now with the
        join token, else the token given as is. `refused`: the hub refused the current one."""
        kept = load_credential(self.credential_path)
        stored = None if refused else kept
        join = self._join_token()
        if stored is not None:
            credential = stored
        elif join is not None and not self.enrolled:
            credential = await self._enrol(join, kept)
            self.enrolled = True
            save_credential(self.credential_path, credential)
            log.info("enrolled with %s as %s", self.settings.hub_url, credential.node_id)
        elif self.settings.token and join is None and refused is None:
            credential = as_given(self.settings.hub_url, self.settings.token, None)
        elif not self.settings.token and (kept is None or kept.joined):
            # No token: ask the hub to let this node join, and wait for an admin's approval
            # (a hub with --approve-lan); a node that joined so asks again when refused.
            credential = await self._join(kept)
            save_credential(self.credential_path, credential)
            log.info("joined %s as %s", self.settings.hub_url, credential.node_id)
        elif refused is not None:
            raise NodeRefused(
                f"the hub {self.settings.hub_url} refused this node's credential ({refused}); "
                "enrol it again with a new join token: wit node --token <join token>"
            )
        else:
            raise NodeRefused(
                f"this node has no credential for {self.settings.hub_url}: enrol it once with "
                "a join token (wit token create --role node, on the hub): wit node --token …"
            )
        if credential.node_id and credential.node_id != self.node_id:
            self.node_id = credential.node_id
            self.identity.parent.mkdir(parents=True, exist_ok=True)
            self.identity.write_text(credential.node_id + "\n")
        await self._use(credential)

    async def _enrol(self, join: str, previous: Credential | None) -> Credential:
        """Enrol with the join token, proving with `previous` (the credential this node had)
        that it is the same node. A hub that cannot be reached yet (started after its nodes,
        say) is tried again with back-off, as a node that lost its hub does."""
        backoff = Backoff(self.settings.max_backoff)
        while True:
            try:
                return await enrol(
                    self.settings.hub_url,
                    join,
                    self.settings.name,
                    fingerprint=self.settings.fingerprint,
                    insecure=self.settings.insecure,
                    previous=previous,
                )
            except HubUnreachable as error:
                log.warning("%s; retrying in %.1f s", error, backoff.seconds)
            await backoff.wait()

    async def _join(self, kept: Credential | None) -> Credential:
        """Ask to join without a token until an admin approves this node (or a refusal ends
        it: NodeRefused), asking again every few seconds while it waits. An https hub's
        certificate is pinned from --fingerprint, else from this node's earlier credential,
        else taken as the hub first presents it (and shown, to compare with the hub's)."""
        url = self.settings.hub_url
        key = NodeKey.load_or_make(self.settings.cache_dir)
        pin = self.settings.fingerprint or (kept.fingerprint if kept is not None else None)
        backoff = Backoff(min(self.settings.max_backoff, WAIT_SECONDS), first=0.5)
        waiting: JoinWaiting | None = None
        told = False
        while True:
            try:
                if pin is None and url.lower().startswith("https://"):
                    pin = await fetch_fingerprint(url)
                    log.warning(
                        "trusting the certificate %s of %s on first use: compare it with the "
                        "hub's (wit hub --show-fingerprint), or pass --fingerprint",
                        pin,
                        url,
                    )
                answer = await ask_to_join(
                    url, key, self.settings.name, self.capabilities, fingerprint=pin,
                    waiting=waiting,
                )  # fmt: skip
            except (HubUnreachable, TlsError) as error:
                log.warning("%s; retrying in %.1f s", error, backoff.seconds)
                await backoff.wait()
                continue
            if isinstance(answer, Credential):
                return answer
            approved_again = waiting is not None and waiting.state == Admission.APPROVED
            waiting = answer
            if answer.state == Admission.APPROVED and not approved_again:
                continue  # approved: sign the hub's challenge and ask again at once
            if not told:
                hub_pin = f"; the hub's certificate {pin}" if pin else ""
                log.info(
                    "waiting for approval on %s (this node's key %s%s): an admin approves it "
                    "with wit nodes --approve %s, or on the dashboard's Nodes page",
                    url,
                    short_fingerprint(key.fingerprint),
                    hub_pin,
                    answer.node_id,
                )
                told = True
            await backoff.wait()

    async def _use(self, credential: Credential) -> None:
        self.credential = credential
        headers, verify = self._transport()
        old = self.files
        self.files = HubFiles(self.settings.hub_url, headers=headers, verify=verify)
        self.installer.client = self.files.client
        await old.aclose()

    def _transport(self) -> tuple[dict[str, str], Any]:
        credential = self.credential
        return transport_options(
            self.settings.hub_url,
            credential.token if credential else None,
            (credential.fingerprint if credential else None) or self.settings.fingerprint,
            insecure=self.settings.insecure,
            who="this node",
        )

    async def _run(self) -> None:
        policy = self.settings.policy
        runners = self.runners = [
            Runner(
                self.settings.plugin_refs,
                self.cache.root,
                self.settings.threads,
                self.settings.speed,
                policy.worker_limits() if policy is not None else None,
                scratch_root=self.scratch,
            )
            for _ in range(self.settings.slots)
        ]
        try:
            async with asyncio.TaskGroup() as group:
                if self.owner is not None:
                    await self.owner.step()  # the hello says what the policy says now
                    group.create_task(self.owner.run())
                for runner in runners:
                    group.create_task(self._slot(runner))
                group.create_task(self._connect_forever())
                group.create_task(self.benchmarks.run())
                if self.page is not None:
                    group.create_task(self.page.serve())
        finally:
            for runner in runners:
                await runner.kill()
            await self.files.aclose()

    async def _connect_forever(self) -> None:
        backoff = Backoff(self.settings.max_backoff)
        url = _websocket_url(self.settings.hub_url)
        while True:
            headers, verify = self._transport()
            try:
                async with websockets.connect(
                    url,
                    max_size=None,
                    open_timeout=10,
                    close_timeout=LEAVE_SECONDS,  # a hub that does not answer a goodbye
                    compression=None,
                    additional_headers=headers,
                    ssl=verify if url.startswith("wss://") else None,
                ) as socket:
                    await self._session(socket)
                    backoff.reset()
            except websockets.InvalidStatus as error:
                code = error.response.status_code
                if code not in (401, 403):
                    log.warning(
                        "hub %s answered %d; retrying in %.1f s", url, code, backoff.seconds
                    )
                else:
                    reason = _refusal(error)
                    log.error("the hub %s refused this node: %s", self.settings.hub_url, reason)
                    await self._authenticate(refused=reason)  # NodeRefused unless re-enrolled
                    continue
            except ssl.SSLCertVerificationError as error:  # trying again cannot mend that
                raise HubUntrusted(self._untrusted(error)) from None
            except (OSError, TimeoutError, websockets.WebSocketException, ValidationError) as error:
                other = wrong_scheme(self.settings.hub_url, error)
                if other is not None:  # trying again cannot mend that
                    raise NodeRefused(other) from None
                log.warning(
                    "hub %s unreachable (%s); retrying in %.1f s",
                    self.settings.hub_url,
                    error,
                    backoff.seconds,
                )
            finally:
                self.connected.clear()
            await backoff.wait()

    def _untrusted(self, error: ssl.SSLCertVerificationError) -> str:
        """Why the hub's certificate is refused; a pin from the credential names that file."""
        credential = self.credential
        kept = credential is not None and credential.fingerprint is not None
        pin_file = self.credential_path if kept else None
        return untrusted_hub(self.settings.hub_url, error, pin_file) or str(error)

    async def _install_plugins(self) -> None:
        """Install the hub's plugins this node lacks, so that the hello offers their activities."""
        self.library, installed = await self.installer.install(self.library, self.plugins)
        self.plugins += [p.info for p in installed]
        declared = [tool for p in installed for tool in p.plugin.tools]
        if self.look_for is not None and declared:
            # Off the loop: asking a new tool its version may take seconds.
            found = await asyncio.to_thread(self.look_for, declared)
            software = {**self.capabilities.software, **found}
            self.capabilities = self.capabilities.model_copy(update={"software": software})
        for runner in self.runners:
            runner.add_plugins([p.plugin.ref for p in installed], [p.folder for p in installed])
            if installed:
                await runner.warm()  # an idle child with the new plugins, not at the next batch

    def _plugin_sources(self) -> tuple[list[str], list[Path]]:
        """The plugins' refs and the folders they import from, as the runners load them."""
        if not self.runners:
            return list(self.settings.plugin_refs), []
        return self.runners[0].plugin_refs, self.runners[0].plugin_paths

    def _report_rate(self, report: BenchmarkReport) -> None:
        self.outgoing.reports.append(report)
        self.has_outgoing.set()

    async def _session(self, socket: websockets.ClientConnection) -> None:
        await self._install_plugins()
        self.benchmarks.kick()  # plugins that just arrived have rates to measure
        activities, unmet = offered_activities(self.library, self.capabilities)
        hello = NodeHello(
            node_id=self.node_id,
            name=self.settings.name,
            slots=self.settings.slots,
            capabilities=self.capabilities,
            plugins=self.plugins,
            activities=activities,
            unmet=unmet,
            holding=self._holding(),
            status=self.owner.status if self.owner is not None else NodeStatus(),
            status_url=self.page.url if self.page is not None else None,
            receipts=self.account_key is not None,
        )
        await socket.send(hello.model_dump_json())
        welcome = Welcome.model_validate_json(await socket.recv())
        if welcome.node_id != self.node_id:
            self.node_id = welcome.node_id
            self.identity.parent.mkdir(parents=True, exist_ok=True)
            self.identity.write_text(welcome.node_id + "\n")
        self.heartbeat_seconds = welcome.heartbeat_seconds
        log.info("connected to %s as %s", self.settings.hub_url, self.node_id)
        self.connected.set()
        self.outgoing.results = list(self.outbox.values())  # everything unacknowledged, again
        self.outgoing.reports = self.benchmarks.reports()  # every known rate, for a new hub too
        self.has_outgoing.set()
        helpers = [
            asyncio.create_task(self._send(socket)),
            asyncio.create_task(self._heartbeat(socket)),
        ]
        try:
            async for text in socket:
                self._receive(_HUB_MESSAGE.validate_json(text))
        except websockets.ConnectionClosed:
            pass
        except asyncio.CancelledError:  # the node is stopping
            await _leave(socket)
            raise
        finally:
            for helper in helpers:
                helper.cancel()
            for helper in helpers:
                with contextlib.suppress(asyncio.CancelledError, websockets.WebSocketException):
                    await helper
        log.warning("lost the connection to %s", self.settings.hub_url)

    def _holding(self) -> dict[str, list[ResultKey]]:
        holding: dict[str, list[ResultKey]] = {}
        for batch_id, batch in self.batches.items():
            attempts = {(t.map_id, t.index): t.attempt for t in batch.assign.tasks}
            keys = [
                ResultKey(map_id=m, index=i, attempt=attempts[(m, i)])
                for m, i in sorted(batch.remaining)
            ]
            if keys and not batch.cancelled and not batch.handed_back:
                holding[batch_id] = keys
        return holding

    # ---------------------------------------------------------- messages

    def _receive(self, message: HubMessage) -> None:
        if isinstance(message, Assign):
            self.journal.received(message, wall_time())
            if not self.may_work.is_set():  # sent before the hub heard the owner is back
                self._finish(_Batch(message, set(), handed_back=True))
                self._ended(message.batch_id, Outcome.HANDED_BACK)
                return
            remaining = {(t.map_id, t.index) for t in message.tasks}
            self.batches[message.batch_id] = _Batch(message, remaining)
            self.queue.put_nowait(message.batch_id)
            self.benchmarks.busy()  # work first: a running benchmark is killed
        elif isinstance(message, CancelBatch):
            batch = self.batches.get(message.batch_id)
            if batch is not None and not batch.cancelled:
                log.info("batch %s cancelled: %s", message.batch_id, message.reason)
                batch.cancelled = True
                if batch.runner is not None:
                    asyncio.get_running_loop().create_task(batch.runner.kill())
        elif isinstance(message, Ack):
            for key in message.results:
                self.outbox.pop(key, None)
        elif isinstance(message, TrustNotice):
            what = "any activity" if message.activity == "*" else message.activity
            log.warning("the hub %s this node for %s: %s", message.state, what, message.reason)

    async def _send(self, socket: websockets.ClientConnection) -> None:
        while True:
            await self.has_outgoing.wait()
            await asyncio.sleep(0.005)  # let a few more results join this message
            self.has_outgoing.clear()
            status, self.outgoing.status = self.outgoing.status, None
            if status is not None:  # first: a node that stops working is given nothing more
                await socket.send(status.model_dump_json())
            results, self.outgoing.results = self.outgoing.results, []
            finished, self.outgoing.finished = self.outgoing.finished, []
            by_batch: dict[str, list[TaskResult]] = {}
            for batch_id, result in results:
                by_batch.setdefault(batch_id, []).append(result)
            for batch_id, items in by_batch.items():
                for start in range(0, len(items), 2000):
                    part = items[start : start + 2000]  # checked as they came from the runner
                    message = Results.model_construct(
                        batch_id=batch_id, results=part, receipt=self._receipt(batch_id, part)
                    )
                    await socket.send(message.model_dump_json())
            for done in finished:
                await socket.send(done.model_dump_json())
            reports, self.outgoing.reports = self.outgoing.reports, []
            for report in reports:
                await socket.send(report.model_dump_json())

    def _receipt(self, batch_id: str, results: list[TaskResult]) -> Receipt | None:
        """The owner's signed receipt of a results upload, when the node holds its key."""
        if self.account_key is None:
            return None
        key = self.account_key
        signed = sign_receipt(key.private, key.name, batch_id, results, wall_time())
        return Receipt(**vars(signed))

    async def _heartbeat(self, socket: websockets.ClientConnection) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            live = [
                b
                for b, batch in self.batches.items()
                if not batch.cancelled and not batch.handed_back
            ]
            await socket.send(Heartbeat(batches=live).model_dump_json())

    # -------------------------------------------------------------- slots

    async def _slot(self, runner: Runner) -> None:
        while True:
            await runner.warm()  # idle: the next batch finds its child ready
            batch_id = await self.queue.get()
            batch = self.batches.get(batch_id)
            if batch is not None and not batch.cancelled:
                await self.may_work.wait()  # the owner policy lets batches start
            if batch is None or batch.cancelled or batch.handed_back:
                self.batches.pop(batch_id, None)
                self._idle_benchmarks()
                self._ended(batch_id, _outcome(batch))
                continue
            error = await self._run_batch(batch, runner)
            self.batches.pop(batch_id, None)
            self._idle_benchmarks()
            self._finish(batch, error)
            self._ended(batch_id, _outcome(batch, error), error)

    def _ended(self, batch_id: str, outcome: Outcome, error: str | None = None) -> None:
        self.journal.ended(batch_id, outcome, wall_time(), error)

    def _finish(self, batch: _Batch, error: str | None = None) -> None:
        """Tell the hub the node is done with the batch (unless the hub called it back)."""
        if batch.cancelled or batch.reported:
            return
        batch.reported = True
        self.outgoing.finished.append(
            BatchFinished(
                batch_id=batch.assign.batch_id,
                error=None if batch.handed_back else error,
                handed_back=batch.handed_back,
            )
        )
        self.has_outgoing.set()

    def _idle_benchmarks(self) -> None:
        """No batch is left: benchmarks may run, unless the owner policy stopped work."""
        if not self.batches and self.may_work.is_set():
            self.benchmarks.idle()

    async def _run_batch(self, batch: _Batch, runner: Runner) -> str | None:
        assign = batch.assign
        try:
            await fetch_inputs(self.library, self.cache, self.files, assign)
        except Exception as error:  # a missing or corrupt input fails the items, not the agent
            for task in assign.tasks:
                self._deliver(
                    batch,
                    TaskResult(
                        map_id=task.map_id,
                        index=task.index,
                        attempt=task.attempt,
                        ok=False,
                        error=f"{assign.activity}: cannot fetch an input file: {error}",
                    ),
                )
            return None
        if batch.handed_back:  # the owner came back while its inputs were fetched
            return None
        batch.runner = runner
        self.journal.started(assign.batch_id, wall_time())
        runner.on_log = functools.partial(self.journal.wrote, assign.batch_id)
        uploads = output_files(self.library, assign.activity)
        try:
            async for finished in runner.run(assign):
                if isinstance(finished, RunnerDied):
                    if batch.cancelled or batch.handed_back:
                        return None
                    log.warning("batch %s: %s", assign.batch_id, finished.message)
                    return finished.message
                if batch.cancelled or batch.handed_back:  # its failures are the kill's
                    finished = [result for result in finished if result.ok]
                # Results of a cancelled batch still go back: the hub decides whether they
                # count (a fenced-off attempt's result is ignored there, never guessed at).
                if uploads:
                    finished = [
                        await upload_outputs(
                            self.library, self.cache, self.files, assign.activity, r
                        )
                        if r.ok
                        else r
                        for r in finished
                    ]
                self._deliver(batch, *finished)
        finally:
            batch.runner = None
            runner.on_log = None
        return None

    def _deliver(self, batch: _Batch, *results: TaskResult) -> None:
        batch_id, remaining, outbox = batch.assign.batch_id, batch.remaining, self.outbox
        entries = [(batch_id, result) for result in results]
        for entry in entries:
            result = entry[1]
            remaining.discard(result[:2])  # (map_id, index)
            outbox[result[:3]] = entry  # (map_id, index, attempt)
        self.journal.delivered(batch_id, results)
        self.outgoing.results += entries
        self.has_outgoing.set()

    # ------------------------------------------------- the owner policy's work

    def holding(self) -> bool:
        """Whether the node holds a batch of the hub's."""
        return any(not b.cancelled and not b.handed_back for b in self.batches.values())

    async def thaw(self) -> None:
        """The owner policy lets the node work: batches start, and frozen ones thaw."""
        self.may_work.set()
        for runner in self.runners:
            runner.thaw()
        self._idle_benchmarks()

    async def freeze(self) -> None:
        """The owner is back: freeze every running batch's process tree, start none, measure
        nothing. The running batches stay the node's (its heartbeats keep their leases); those
        not started yet go back to the hub at once, for other nodes to run meanwhile."""
        self.may_work.clear()
        self.benchmarks.busy()
        for runner in self.runners:
            runner.freeze()
        self._hand_back_waiting()

    async def hand_back(self) -> None:
        """Hand back every batch: what finished is delivered (the outbox has it), what did not
        is killed, and each batch's BatchFinished(handed_back) follows its results."""
        self.may_work.clear()
        self.benchmarks.busy()
        self._hand_back_waiting()
        kills = []
        for batch in self.batches.values():
            if batch.runner is not None and not batch.cancelled and not batch.handed_back:
                batch.handed_back = True
                kills.append(batch.runner.kill())  # its slot reports it, after its results
        await asyncio.gather(*kills)
        for runner in self.runners:
            runner.thaw()  # the idle children, and the next ones, run unfrozen

    def _hand_back_waiting(self) -> None:
        """Batches waiting for a slot or for their inputs (nothing of them ran) go back."""
        for batch_id, batch in list(self.batches.items()):
            if batch.runner is None and not batch.cancelled and not batch.handed_back:
                batch.handed_back = True
                self.batches.pop(batch_id, None)
                self._finish(batch)
                self._ended(batch_id, Outcome.HANDED_BACK)

    def report(self, status: NodeStatus) -> None:
        """Send the owner policy's status to the hub (on the next connection if none is up)."""
        self.outgoing.status = status
        self.has_outgoing.set()

    # ------------------------------------------------------------ its page

    def _hub_keys(self) -> list[Ed25519PublicKey]:
        """The hub's key as this node pinned it, which signs the tickets to its page."""
        pin = self.installer.pin
        try:
            return [load_public_key_file(pin)] if pin.exists() else []
        except PluginError as error:
            log.warning("%s; the node's page opens to no other machine", error)
            return []

    def shown(self) -> NodeShown:
        """What the node's page shows of it now."""
        return NodeShown(
            name=self.settings.name,
            node_id=self.node_id,
            hub_url=self.settings.hub_url,
            connected=self.connected.is_set(),
            slots=self.settings.slots,
            capabilities=self.capabilities,
            plugins=[f"{p.name} {p.version}" for p in self.plugins],
            benchmarks=self.benchmarks.reports(),
            journal=self.journal,
            frozen=any(runner.frozen and runner.busy for runner in self.runners),
        )


def _outcome(batch: _Batch | None, error: str | None = None) -> Outcome:
    if batch is None or batch.cancelled:
        return Outcome.CANCELLED
    if batch.handed_back:
        return Outcome.HANDED_BACK
    return Outcome.FAILED if error else Outcome.DONE


class NodeBusy(WitError):
    """Another node already works from this cache folder (and so under the same identity)."""


@contextlib.contextmanager
def _exclusive(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "node.lock").open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise NodeBusy(
                f"another node is running from {folder}; give each node its own --cache-dir"
            ) from None
        yield


async def _leave(socket: websockets.ClientConnection) -> None:
    """Tell the hub this node is going, so that it hands the node's items on without waiting
    (for LEAVE_SECONDS at most: the link's close timeout)."""
    with contextlib.suppress(OSError, websockets.WebSocketException):
        await socket.close(NODE_LEAVING, "the node is stopping")


def _refusal(error: websockets.InvalidStatus) -> str:
    """The reason the hub gave for refusing the handshake."""
    body = error.response.body or b""
    try:
        detail = json.loads(body).get("detail")
    except (ValueError, AttributeError):
        detail = None
    return f"{error.response.status_code} {detail or body[:200].decode(errors='replace')}"


def _read_identity(path: Path) -> str | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return text or None


def _websocket_url(hub_url: str) -> str:
    base = hub_url.rstrip("/")
    if base.startswith("https://"):
        base = "wss://" + base.removeprefix("https://")
    elif base.startswith("http://"):
        base = "ws://" + base.removeprefix("http://")
    return base + "/api/v1/nodes/connect"
