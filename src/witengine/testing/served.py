"""A real hub in a test's own event loop: `create_app` served by uvicorn on a free loopback port,
configured as `wit hub` serves it (`hub.serving.server_config`), with WebSockets on so that
nodes can link. Tests reach it over real HTTP; they may also look into the `Hub` it serves.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from witengine.hub.app import Hub, build_hub, create_app
from witengine.hub.serving import server_config, tcp_listener
from witengine.hub.settings import HubSettings


@dataclass(frozen=True)
class ServedHub:
    hub: Hub
    app: FastAPI
    root: str  # http://127.0.0.1:PORT

    @property
    def admin_token(self) -> str:
        """The admin token the hub made on its first start."""
        token = self.hub.admin_token
        assert token is not None, "a new hub makes an admin token"
        return token


@asynccontextmanager
async def served_hub(data_dir: Path, **settings: Any) -> AsyncIterator[ServedHub]:
    """A new hub keeping its data in `data_dir`, with `settings` (HubSettings' fields; no mDNS
    unless asked), serving until the block ends."""
    listener = tcp_listener(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    options: dict[str, Any] = {"advertise": False, **settings}
    hub_settings = HubSettings(data_dir=data_dir, port=port, **options)
    hub = build_hub(hub_settings)
    app = create_app(hub_settings, hub)
    server = uvicorn.Server(server_config(app, hub_settings, ws="websockets-sansio"))
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        for _ in range(1000):  # bounded: the server starts in a few loop turns
            if server.started or serving.done():
                break
            await asyncio.sleep(0.01)
        assert server.started, "uvicorn did not start"
        yield ServedHub(hub, app, f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 30.0)
        listener.close()
