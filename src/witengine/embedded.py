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
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from witengine.client import HubClient, HubError
from witengine.errors import WitError
from witengine.lifetime import die_with_parent
from witengine.node.probe import usable_cores
from witengine.security.files import read_private

log = logging.getLogger(__name__)
START_SECONDS = 60.0


class FarmError(WitError):
    """The embedded farm could not start; the message says which part and where its log is."""


@dataclass
class Farm:
    url: str
    data_dir: Path
    hub: asyncio.subprocess.Process
    token: str  # the hub's admin token, for the command that started the farm
    nodes: list[asyncio.subprocess.Process] = field(default_factory=list)


def _python_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "witengine", *args]


async def start_hub(
    data_dir: Path, *, extra: tuple[str, ...] = ()
) -> tuple[asyncio.subprocess.Process, str]:
    """Start `wit hub` on a free loopback port; return it with its URL once it listens."""
    data_dir.mkdir(parents=True, exist_ok=True)
    log_file = (data_dir / "hub.log").open("ab")
    process = await asyncio.create_subprocess_exec(
        *_python_command(
            "hub", "--port", "0", "--data-dir", str(data_dir), "--no-advertise", *extra
        ),
        stdout=asyncio.subprocess.PIPE,
        stderr=log_file,
        start_new_session=True,
        preexec_fn=die_with_parent,
    )
    log_file.close()
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), START_SECONDS)
    except TimeoutError:
        line = b""
    text = line.decode().strip()
    if "http://" not in text:
        await stop(process)
        raise FarmError(f"the hub did not start; see {data_dir / 'hub.log'}")
    return process, text[text.index("http://") :].split()[0]


def admin_token(data_dir: Path) -> str:
    """The admin token a hub wrote to its data folder on its first start."""
    token = read_private(data_dir / "admin.token")
    if token is None:
        raise FarmError(f"the hub made no admin token in {data_dir}; see {data_dir / 'hub.log'}")
    return token


async def join_token(url: str, token: str) -> str:
    """A join token for the nodes of this farm, made with the admin token."""
    async with HubClient(url, token=token) as client:
        try:
            made = await client.create_token("node", label="embedded farm", ttl="1d")
        except HubError as error:
            raise FarmError(f"cannot make a join token for the local nodes: {error}") from None
    return made.token


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


async def stop(process: asyncio.subprocess.Process, timeout: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL it if it lingers."""
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()


async def wait_for_nodes(
    url: str, count: int, timeout: float = START_SECONDS, *, token: str | None = None
) -> None:
    async with HubClient(url, token=token) as client:
        deadline = asyncio.get_running_loop().time() + timeout
        online = 0
        while asyncio.get_running_loop().time() < deadline:
            with contextlib.suppress(HubError):
                online = sum(1 for n in await client.nodes() if n.state != "offline")
                if online >= count:
                    return
            await asyncio.sleep(0.1)
    raise FarmError(f"only {online} of {count} nodes connected within {timeout:g} s")


@asynccontextmanager
async def embedded_farm(nodes: int, data_dir: Path | None = None) -> AsyncIterator[Farm]:
    """A hub and `nodes` nodes on this machine, stopped when the block ends."""
    with contextlib.ExitStack() as stack:
        if data_dir is None:
            data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="wit-farm-")))
        data_dir.mkdir(parents=True, exist_ok=True)
        hub, url = await start_hub(data_dir / "hub")
        try:
            token = admin_token(data_dir / "hub")
            joining = await join_token(url, token)
        except FarmError:
            await stop(hub)
            raise
        farm = Farm(url, data_dir, hub, token)
        threads = str(max(1, usable_cores() // nodes))  # the nodes share this machine's cores
        try:
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
            await wait_for_nodes(url, nodes, token=token)
            yield farm
        finally:
            await asyncio.gather(*(stop(p) for p in farm.nodes))
            await stop(hub)
