"""Finding hubs on the local network over mDNS: for nodes started without `--hub`, and for the
`wit` commands that ask a hub when neither `--hub` nor `WIT_HUB` names one.

An answer only suggests an address. A node pinned to a hub's certificate takes only an advert
that names that certificate's fingerprint (and then checks the certificate itself on connecting);
an unpinned node takes the first hub that answers. A command lists every hub that answers, so
that it can ask which one when there are several.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass

from zeroconf import ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

SERVICE_TYPE = "_witengine._tcp.local."
SETTLE_SECONDS = 1.0  # after the first answer, how long a browse for every hub waits for others


@dataclass(frozen=True)
class Advert:
    """A hub as it announces itself: its URL, its instance name and (https) its fingerprint."""

    url: str
    name: str
    fingerprint: str | None = None


def hub_url(addresses: list[bytes], port: int, properties: dict[bytes, bytes | None]) -> str | None:
    """The URL of an advertised hub, from its mDNS record."""
    scheme = (properties.get(b"scheme") or b"http").decode()
    for raw in addresses:
        if len(raw) == 4:
            return f"{scheme}://{socket.inet_ntoa(raw)}:{port}"
    return None


def advertises(properties: dict[bytes, bytes | None], fingerprint: str | None) -> bool:
    """Whether an advert suits a node pinned to `fingerprint` (any advert suits an unpinned one)."""
    if fingerprint is None:
        return True
    advertised = (properties.get(b"fingerprint") or b"").decode(errors="replace")
    return advertised.lower() == fingerprint.lower()


async def browse(
    timeout: float,
    interfaces: list[str] | None = None,
    fingerprint: str | None = None,
    *,
    first: bool = False,
    settle: float = SETTLE_SECONDS,
) -> list[Advert]:
    """The hubs that answer within `timeout` seconds (with `fingerprint`, those that advertise
    it), each once: the first alone when `first`, else every one heard until `settle` seconds
    after the first answer (or the timeout)."""
    found: asyncio.Queue[Advert] = asyncio.Queue()
    zeroconf = AsyncZeroconf(interfaces=interfaces) if interfaces else AsyncZeroconf()

    async def resolve(zc: Zeroconf, service_type: str, name: str) -> None:
        info = AsyncServiceInfo(service_type, name)
        if await info.async_request(zc, 3000) and advertises(info.properties, fingerprint):
            url = hub_url(info.addresses, info.port or 0, info.properties)
            if url:
                pin = (info.properties.get(b"fingerprint") or b"").decode(errors="replace")
                found.put_nowait(Advert(url, name.removesuffix("." + service_type), pin or None))

    tasks: set[asyncio.Task[None]] = set()

    def changed(
        zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        if state_change is ServiceStateChange.Added:
            task = asyncio.get_running_loop().create_task(resolve(zeroconf, service_type, name))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    browser = AsyncServiceBrowser(zeroconf.zeroconf, [SERVICE_TYPE], handlers=[changed])
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    heard: dict[str, Advert] = {}
    try:
        while True:
            left = deadline - loop.time()
            if left <= 0:
                break
            try:
                advert = await asyncio.wait_for(found.get(), left)
            except TimeoutError:
                break
            heard.setdefault(advert.url, advert)
            if first:
                break
            deadline = min(deadline, loop.time() + settle) if len(heard) == 1 else deadline
        return list(heard.values())
    finally:
        await browser.async_cancel()
        await zeroconf.async_close()


async def find_hub(
    timeout: float, interfaces: list[str] | None = None, fingerprint: str | None = None
) -> str | None:
    """The first hub that answers within `timeout` seconds (with `fingerprint`, the first that
    advertises it), or None."""
    found = await browse(timeout, interfaces, fingerprint, first=True)
    return found[0].url if found else None
