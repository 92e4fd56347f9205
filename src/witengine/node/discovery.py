"""Finding a hub on the local network over mDNS, for nodes started without `--hub`.

An answer only suggests an address. A node pinned to a hub's certificate takes only an advert
that names that certificate's fingerprint (and then checks the certificate itself on connecting);
an unpinned node takes the first hub that answers.
"""

from __future__ import annotations

import asyncio
import socket

from zeroconf import ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

SERVICE_TYPE = "_witengine._tcp.local."


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


async def find_hub(
    timeout: float, interfaces: list[str] | None = None, fingerprint: str | None = None
) -> str | None:
    """The first hub that answers within `timeout` seconds (with `fingerprint`, the first that
    advertises it), or None."""
    found: asyncio.Queue[str] = asyncio.Queue()
    zeroconf = AsyncZeroconf(interfaces=interfaces) if interfaces else AsyncZeroconf()

    async def resolve(zc: Zeroconf, service_type: str, name: str) -> None:
        info = AsyncServiceInfo(service_type, name)
        if await info.async_request(zc, 3000) and advertises(info.properties, fingerprint):
            url = hub_url(info.addresses, info.port or 0, info.properties)
            if url:
                found.put_nowait(url)

    tasks: set[asyncio.Task[None]] = set()

    def changed(
        zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        if state_change is ServiceStateChange.Added:
            task = asyncio.get_running_loop().create_task(resolve(zeroconf, service_type, name))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    browser = AsyncServiceBrowser(zeroconf.zeroconf, [SERVICE_TYPE], handlers=[changed])
    try:
        return await asyncio.wait_for(found.get(), timeout)
    except TimeoutError:
        return None
    finally:
        await browser.async_cancel()
        await zeroconf.async_close()
