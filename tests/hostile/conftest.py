"""Real hubs for the hostile suite: `hostile_hub`, `create_app` served by uvicorn on a free
loopback port in this loop, configured as `wit hub` serves it, with the hub's own tokens at hand;
and `farm`, a hub process with one node process, for a module's tests to share."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from witengine.hub.app import Hub
from witengine.hub.auth.gate import AuthGate
from witengine.security.tokens import Role
from witengine.testing.processes import ProcessFarm, free_port, wait_until
from witengine.testing.served import served_hub


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
    async with served_hub(tmp_path / "hub", **getattr(request, "param", {})) as served:
        yield HostileHub(served.hub, served.root, served.admin_token, served.app.state.gate)


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessFarm]:
    """A `wit hub` process and one `wit node` process (one thread, one slot, no benchmark)."""
    root = tmp_path_factory.mktemp("farm")
    farm = ProcessFarm(root, free_port(), hub_env={"WIT_CACHE_DIR": str(root / "hub-cache")})
    try:
        farm.start_hub()
        farm.start_node("n", "--threads", "1", "--slots", "1", "--no-bench")
        wait_until(lambda: farm.online() == ["n"], 60, "the node to connect")
        yield farm
    finally:
        farm.stop()
