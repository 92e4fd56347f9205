"""The embedded farm: a hub and local nodes as real processes, for `wit run` without a hub.

It uses the same code paths as a real farm (HTTP, WebSocket, child runners), only on loopback
and for the length of one command. Processes are started here, at the edge, and always stopped:
first politely (SIGTERM), then for sure (SIGKILL).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from witengine.client import HubAccess, HubClient, HubError
from witengine.errors import WitError
from witengine.lifetime import die_with_parent
from witengine.node.probe import usable_cores

log = logging.getLogger(__name__)
START_SECONDS = 60.0
UNREACHABLE_SECONDS = 5.0  # for a farm that is starting to say why its hub cannot be reached
T = TypeVar("T")


class FarmError(WitError):
    """The embedded farm could not start; the message says which part and where its log is."""


@dataclass
class EmbeddedFarm:
    url: str
    data_dir: Path
    hub: asyncio.subprocess.Process
    token: str  # the hub's admin token, for the command that started the farm
    nodes: list[asyncio.subprocess.Process] = field(default_factory=list)

    @property
    def access(self) -> HubAccess:
        """How the command that started the farm reaches its hub: as its admin, and reading
        results straight from the hub's blob folder (its own, on this machine)."""
        return HubAccess(self.url, token=self.token, blob_dir=self.data_dir / "hub" / "blobs")

    async def ready(self, timeout: float = START_SECONDS) -> None:
        """Wait until the hub serves and every node is online; FarmError, naming the log to
        read, when a process ends first or it takes longer than `timeout`. Call it once."""
        await hub_listening(self.hub, self.data_dir / "hub")
        await wait_for_nodes(self, timeout)

    async def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Do `work` (which uses the farm) while the farm comes up (see `embedded_farm`'s
        `wait`). When a part of the farm fails to start, that is the error: FarmError, naming
        its log, rather than what the work made of a hub that went away."""
        job = asyncio.ensure_future(work)
        watch = asyncio.ensure_future(self.ready())

        def farm_failure() -> BaseException | None:
            return watch.exception() if watch.done() else None

        try:
            await asyncio.wait({job, watch}, return_when=asyncio.FIRST_COMPLETED)
            lost = job.exception() if job.done() else None
            if isinstance(lost, HubError) and lost.status == 0 and not watch.done():
                # Could not reach the hub while it was starting: it ended (the watch says why).
                await asyncio.wait({watch}, timeout=UNREACHABLE_SECONDS)
            failure = farm_failure()
            if failure is not None:
                raise failure from None
            return await job
        finally:
            for task in (job, watch):
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(BaseException):
                        await task


def _python_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "witengine", *args]


def prepare_hub(data_dir: Path) -> tuple[str, str]:
    """Make a new hub's admin token and a join token for its nodes in its data folder, before
    it starts (as `wit token create --data-dir` would), so the nodes need not wait for it."""
    from witengine.hub.auth.book import TokenBook
    from witengine.hub.store.sqlite import SqliteStore
    from witengine.security.tokens import Role

    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        store = SqliteStore(data_dir / "hub.sqlite3")
    except OSError as error:
        raise FarmError(f"cannot make the hub's folder {data_dir}: {error}") from None
    try:
        book = TokenBook(store, time.time)
        admin = book.ensure_admin_token(data_dir)
        if admin is None:
            raise FarmError(f"{data_dir} holds a hub already; the embedded farm starts a new one")
        joining = book.issue(Role.JOIN, label="embedded farm", ttl_seconds=86_400.0)
    finally:
        store.close()
    return admin, joining.text


def loopback_listener() -> socket.socket:
    """A listening socket on a free loopback port: its address is known before any process
    serves it, and connections wait in its queue until the hub does."""
    from witengine.hub.serving import tcp_listener  # the hub's modules, only when a hub starts

    return tcp_listener(("127.0.0.1", 0), backlog=128)


async def start_hub(data_dir: Path, listener: socket.socket) -> asyncio.subprocess.Process:
    """Start `wit hub` serving `listener` (the caller may close its own copy once it returns);
    `hub_listening` tells when it serves."""
    log_file = (data_dir / "hub.log").open("ab")
    try:
        return await asyncio.create_subprocess_exec(
            *_python_command(
                "hub",
                "--listen-fd",
                str(listener.fileno()),
                "--data-dir",
                str(data_dir),
                "--no-advertise",
            ),
            stdout=asyncio.subprocess.PIPE,
            stderr=log_file,
            pass_fds=(listener.fileno(),),
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
    finally:
        log_file.close()


async def hub_listening(process: asyncio.subprocess.Process, data_dir: Path) -> None:
    """Wait for the hub's "listening" line; FarmError when it ends or stays silent instead."""
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), START_SECONDS)
    except TimeoutError:
        line = b""
    if b"http://" not in line:
        raise FarmError(f"the hub did not start; see {data_dir / 'hub.log'}")


async def start_node(
    url: str,
    name: str,
    cache_dir: Path,
    log_path: Path,
    *,
    token: str | None = None,
    extra: tuple[str, ...] = (),
) -> asyncio.subprocess.Process:
    """Start `wit node` for the hub at `url`; `token` is a join token it enrols with."""
    with log_path.open("ab") as log_file:
        return await asyncio.create_subprocess_exec(
            *_python_command(
                "node",
                "--hub",
                url,
                "--name",
                name,
                "--cache-dir",
                str(cache_dir),
                *(("--token", token) if token else ()),
                *extra,
            ),
            stdout=log_file,
            stderr=log_file,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )


async def stop(process: asyncio.subprocess.Process, name: str, timeout: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL it if it lingers (and say so: `name` tells
    which part, and where its log is)."""
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), timeout)
    except TimeoutError:
        log.warning("%s did not stop within %g s of SIGTERM; killed", name, timeout)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()


async def wait_for_nodes(farm: EmbeddedFarm, timeout: float = START_SECONDS) -> None:
    """Wait until all the farm's nodes are online; FarmError, naming its log, when a node ends
    first, or when they take longer than `timeout`."""
    async with HubClient(farm.url, token=farm.token) as client:
        deadline = asyncio.get_running_loop().time() + timeout
        online = 0
        while asyncio.get_running_loop().time() < deadline:
            for number, process in enumerate(farm.nodes, start=1):
                if process.returncode is not None:
                    log_path = farm.data_dir / f"node-{number}.log"
                    raise FarmError(
                        f"node local-{number} ended (exit code {process.returncode}) before it "
                        f"connected; see {log_path}"
                    )
            with contextlib.suppress(HubError):
                online = sum(1 for n in await client.nodes() if n.state != "offline")
                if online >= len(farm.nodes):
                    return
            await asyncio.sleep(0.05)
    raise FarmError(f"only {online} of {len(farm.nodes)} nodes connected within {timeout:g} s")


@asynccontextmanager
async def embedded_farm(
    nodes: int, data_dir: Path | None = None, *, wait: bool = True
) -> AsyncIterator[EmbeddedFarm]:
    """A hub and `nodes` nodes on this machine, stopped when the block ends.

    The hub and its nodes start at once: the farm makes the tokens and the listening socket
    itself, so the nodes' start-up overlaps the hub's, and their first requests wait in the
    socket's queue until the hub serves. With `wait=False` the block starts at once, when the
    processes have only been started: requests to the hub wait for it the same way, and the
    caller awaits `farm.ready()` alongside its own work (to hear of a part that failed).
    """
    with contextlib.ExitStack() as stack:
        if data_dir is None:
            data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="wit-farm-")))
        hub_dir = data_dir / "hub"
        token, joining = await asyncio.to_thread(prepare_hub, hub_dir)
        started: list[asyncio.subprocess.Process] = []
        try:
            with loopback_listener() as listener:
                url = f"http://127.0.0.1:{listener.getsockname()[1]}"
                hub = await start_hub(hub_dir, listener)
            started.append(hub)
            farm = EmbeddedFarm(url, data_dir, hub, token)
            threads = str(max(1, usable_cores() // nodes))  # the nodes share this machine's cores
            for number in range(1, nodes + 1):
                farm.nodes.append(
                    await start_node(
                        url,
                        f"local-{number}",
                        data_dir / f"node-{number}",
                        data_dir / f"node-{number}.log",
                        token=joining,
                        # Nodes of one machine, for one command: equally fast, and gone before
                        # a benchmark would pay off; measuring would only slow the job down.
                        extra=("--threads", threads, "--no-bench"),
                    )
                )
                started.append(farm.nodes[-1])
            if wait:
                await farm.ready()
            yield farm
        finally:
            names = [f"the hub ({hub_dir / 'hub.log'})"]
            names += [f"node local-{n} ({data_dir / f'node-{n}.log'})" for n in range(1, nodes + 1)]
            await asyncio.gather(*(stop(p, name) for p, name in zip(started, names, strict=False)))
