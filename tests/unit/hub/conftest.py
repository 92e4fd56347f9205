"""A real hub on 127.0.0.1: uvicorn serving `create_app` on a free loopback port, in this loop."""

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
from witengine.hub.settings import HubSettings
from witengine.protocol import API_PREFIX
from witengine.security.tokens import Role

MAX_BLOB_BYTES = 24 * 1024 * 1024  # above the largest upload a test makes


@dataclass
class LiveHub:
    hub: Hub
    url: str  # the API root, e.g. http://127.0.0.1:41234/api/v1
    client: httpx.AsyncClient  # sends the hub's admin token
    token: str  # the admin token the hub made on its first start

    def issue(self, role: Role, **options: object) -> str:
        """A new token of `role`, made directly in the hub's store."""
        return self.hub.book.issue(role, **options).text  # type: ignore[arg-type]

    def headers(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    async def submit(self, script: str, **parameters: str) -> dict[str, Any]:
        """Submit a job as the admin; its summary once the hub acknowledged it."""
        response = await self.client.post(
            "/jobs", json={"script": script, "filename": "job.wit", "parameters": parameters}
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def wait_for(self, job_id: str, wanted: set[str]) -> dict[str, Any]:
        """The job once its status is one of `wanted` (polled, with a deadline of about 20 s)."""
        job: dict[str, Any] = {}
        for _ in range(1000):
            job = (await self.client.get(f"/jobs/{job_id}")).json()
            if job["status"] in wanted:
                return job
            await asyncio.sleep(0.02)
        raise AssertionError(f"job {job_id} never became {sorted(wanted)}: {job}")


@pytest.fixture
async def live_hub(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[LiveHub]:
    """A hub on loopback; `@pytest.mark.parametrize("live_hub", [{...}], indirect=True)` gives
    it other settings (such as smaller limits)."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    options: dict[str, Any] = {
        "advertise": False,
        "no_node_seconds": 3600.0,  # jobs that need nodes wait for them for the whole test
        "max_blob_bytes": MAX_BLOB_BYTES,
        **getattr(request, "param", {}),
    }
    settings = HubSettings(data_dir=tmp_path / "hub", port=port, **options)
    hub = build_hub(settings)
    config = uvicorn.Config(
        create_app(settings, hub),
        log_level="warning",
        lifespan="on",
        ws="websockets-sansio",
        ws_max_size=settings.limits.node_message_bytes,
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    for _ in range(1000):  # bounded: the server starts in a few loop turns
        if server.started or serving.done():
            break
        await asyncio.sleep(0.01)
    assert server.started, "uvicorn did not start"
    url = f"http://127.0.0.1:{port}{API_PREFIX}"
    token = hub.admin_token
    assert token is not None, "a new hub makes an admin token"
    headers = {"Authorization": f"Bearer {token}"}
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30.0, headers=headers) as client:
            yield LiveHub(hub, url, client, token)
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 30.0)
        listener.close()
