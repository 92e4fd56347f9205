"""Announcing the hub on the local network over mDNS (`_witengine._tcp.local.`).

An answer only suggests an address to nodes; it grants nothing. A hub serving HTTPS advertises
its scheme and its certificate's fingerprint, so that a node pinned to it can tell it from other
hubs on the network; the pin, not the advert, decides whom the node trusts. The hub works the
same without it.
"""

from __future__ import annotations

import socket

from zeroconf import ServiceInfo
from zeroconf.asyncio import AsyncZeroconf

from witengine import __version__
from witengine.protocol import API_PREFIX

SERVICE_TYPE = "_witengine._tcp.local."


def _address(host: str) -> str:
    if host in ("0.0.0.0", "", "::"):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.connect(("10.255.255.255", 1))  # no packet is sent; picks the LAN address
                return str(probe.getsockname()[0])
            except OSError:
                return "127.0.0.1"
    return host


class Advertiser:
    def __init__(
        self,
        *,
        name: str,
        host: str,
        port: int,
        scheme: str = "http",
        fingerprint: str | None = None,
    ) -> None:
        address = _address(host)
        instance = f"{name} on {socket.gethostname()}"[:60]
        properties = {"version": __version__, "api": API_PREFIX, "scheme": scheme}
        if fingerprint:
            properties["fingerprint"] = fingerprint  # lets a pinned node pick its hub
        self.info = ServiceInfo(
            SERVICE_TYPE,
            f"{instance}.{SERVICE_TYPE}",
            addresses=[socket.inet_aton(address)],
            port=port,
            properties=properties,
            server=f"{socket.gethostname()}.local.",
        )
        self.zeroconf: AsyncZeroconf | None = None
        self.interfaces = [address]

    async def start(self) -> None:
        self.zeroconf = AsyncZeroconf(interfaces=self.interfaces)
        # A second hub of the same name (on the same machine) is announced as NAME-2.
        await self.zeroconf.async_register_service(self.info, allow_name_change=True)

    async def stop(self) -> None:
        if self.zeroconf is not None:
            await self.zeroconf.async_unregister_service(self.info)
            await self.zeroconf.async_close()
            self.zeroconf = None
