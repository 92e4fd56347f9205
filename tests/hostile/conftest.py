"""A real hub for the hostile suite: `create_app` served by uvicorn on a free loopback port, in
this loop, configured as `wit hub` serves it, with the hub's own tokens at hand."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from witengine.hub.app import Hub, build_hub, create_app
from witengine.hub.auth.gate import AuthGate
from witengine.hub.serving import server_config
from witengine.hub.settings import HubSettings
from witengine.security.tokens import Role


@dataclass
class HostileHub:
    hub: Hub
    root: str  # http://127.0.0.1:PORT
    admin: str  # the admin token the hub made on its first start
    app_gate: AuthGate  # the gate every request passes

    def client(self, token: str | None = None, **options: Any) -> httpx.AsyncClient:
        """A client of the hub, sending `token` when given."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(base_url=self.root, headers=headers, timeout=30, **options)

    def issue(self, role: Role, **options: Any) -> str:
        """A new token of `role`, made directly in the hub's store."""
        return self.hub.book.issue(role, **options).text

    @property
    def ws_root(self) -> str:
        return "ws" + self.root.removeprefix("http")


@pytest.fixture
async def hostile_hub(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[HostileHub]:
    """A hub on loopback; `@pytest.mark.parametrize("hostile_hub", [{...}], indirect=True)` gives
    it other settings."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    options: dict[str, Any] = {"advertise": False, **getattr(request, "param", {})}
    settings = HubSettings(data_dir=tmp_path / "hub", port=port, **options)
    hub = build_hub(settings)
    app = create_app(settings, hub)
    config = server_config(app, settings, ws="websockets-sansio")  # as `wit hub` serves it
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    for _ in range(1000):  # bounded: the server starts in a few loop turns
        if server.started or serving.done():
            break
        await asyncio.sleep(0.01)
    assert server.started and hub.admin_token is not None
    try:
        yield HostileHub(hub, f"http://127.0.0.1:{port}", hub.admin_token, app.state.gate)
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 30.0)
        listener.close()
