"""How a hub is served over HTTP: the socket it listens on, the uvicorn configuration `wit hub`
runs it with, and whose forwarded headers it believes.

uvicorn on its own believes `X-Forwarded-For` and `X-Forwarded-Proto` from loopback (and from
the addresses of `FORWARDED_ALLOW_IPS`): any client on the hub's machine could then name the
address the audit log records and the failed-authentication throttle counts. A hub turns that
off and believes those headers only from the proxies its settings name (`wit hub
--trusted-proxy`), none by default. This module must not decide anything else about requests.
"""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from witengine.hub.settings import HubSettings


def tcp_listener(address: tuple[str, int], **options: Any) -> socket.socket:
    """`socket.create_server(address, **options)`, marked as a TCP socket. asyncio turns off
    Nagle's algorithm only on connections whose socket says IPPROTO_TCP, and an accepted socket
    says what its listener says: create_server's says 0. Without this, every answer on a
    kept-alive connection (uvicorn writes its head and its body apart) waited some 40 ms for
    the client's delayed ACK, and so did the hub's small WebSocket messages."""
    plain = socket.create_server(address, **options)
    return socket.socket(plain.family, plain.type, socket.IPPROTO_TCP, fileno=plain.detach())


def trusted_proxy(text: str) -> str:
    """An address (`10.0.0.5`) or network (`10.0.0.0/24`) of a trusted proxy, written as the
    hub compares it; ValueError for anything else (a host name, say)."""
    text = text.strip()
    try:
        if "/" in text:
            return str(ipaddress.ip_network(text, strict=False))
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise ValueError(
            f"{text!r} is not an IP address or network (such as 10.0.0.5 or 10.0.0.0/24)"
        ) from None


def believe_proxies(app: FastAPI, settings: HubSettings) -> None:
    """Take a request's client address (and scheme) from `X-Forwarded-For` (`-Proto`) when it
    comes from one of the settings' trusted proxies; from nobody else."""
    if settings.trusted_proxies:
        proxies = [trusted_proxy(proxy) for proxy in settings.trusted_proxies]
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=proxies)


GRACEFUL_SECONDS = 5  # requests under way when the hub is told to stop may take this long


def server_config(
    app: FastAPI,
    settings: HubSettings,
    *,
    ssl_certfile: Path | None = None,
    ssl_keyfile: Path | None = None,
    ws: str = "auto",
) -> uvicorn.Config:
    """uvicorn's configuration for a hub: forwarded headers left to the hub (`believe_proxies`),
    node messages bounded by `limits.node_message_bytes` (a larger frame closes with 1009)."""
    return uvicorn.Config(
        app,
        log_level="warning",
        lifespan="on",
        proxy_headers=False,
        timeout_graceful_shutdown=GRACEFUL_SECONDS,  # a stream left open cannot hold it up
        ws=ws,
        ws_max_size=settings.limits.node_message_bytes,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
    )
