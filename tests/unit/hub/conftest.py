"""A real hub on 127.0.0.1: uvicorn serving `create_app` on a free loopback port, in this loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from witengine.hub.app import Hub
from witengine.protocol import API_PREFIX
from witengine.security.tokens import Role
from witengine.testing.served import served_hub

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
    options: dict[str, Any] = {
        "no_node_seconds": 3600.0,  # jobs that need nodes wait for them for the whole test
        "max_blob_bytes": MAX_BLOB_BYTES,
        **getattr(request, "param", {}),
    }
    async with served_hub(tmp_path / "hub", **options) as served:
        url = f"{served.root}{API_PREFIX}"
        headers = {"Authorization": f"Bearer {served.admin_token}"}
        async with httpx.AsyncClient(base_url=url, timeout=30.0, headers=headers) as client:
            yield LiveHub(served.hub, url, client, served.admin_token)
