"""A site hub served with its link to the parent: the link starts once the hub serves, and
ends with it; a parent that refuses the site stops the hub, saying why."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket

import uvicorn

from witengine.hub.app import Hub
from witengine.node.enrol import NodeRefused
from witengine.site.enrolment import ParentSettings
from witengine.site.link import SiteLink

log = logging.getLogger(__name__)


async def serve_with_parent(
    server: uvicorn.Server, listener: socket.socket, hub: Hub, parent: ParentSettings
) -> str | None:
    """Serve the hub and keep its link to the parent; the reason the parent refused the site,
    if it did (the hub then stops), else None once the hub stops."""
    serving = asyncio.ensure_future(server.serve(sockets=[listener]))
    while not server.started and not serving.done():
        await asyncio.sleep(0.05)
    link = asyncio.ensure_future(SiteLink(hub, parent).run())
    try:
        done, _ = await asyncio.wait({serving, link}, return_when=asyncio.FIRST_COMPLETED)
        if link in done and not link.cancelled():
            error = link.exception()
            if isinstance(error, NodeRefused):
                server.should_exit = True
                await serving
                return str(error)
            if error is not None:
                raise error
        await serving
        return None
    finally:
        link.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await link
