"""What enrolling many nodes costs, counted rather than timed (the time is `bench/soak.py`'s):
nodes enrolling from one process load this machine's certificate authorities once between them,
not once per client (that load took tens of milliseconds of CPU a client, even for a plain-HTTP
hub, and made 200 simulated nodes take 12 s to enrol)."""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any

import pytest

from witengine.client import HubClient
from witengine.node.enrol import enrol
from witengine.node.hub_client import HubFiles
from witengine.security.connect import trusted_authorities
from witengine.security.tokens import Role

if TYPE_CHECKING:
    from tests.unit.hub.conftest import LiveHub

pytestmark = pytest.mark.timeout(60)


def count_calls(monkeypatch: pytest.MonkeyPatch, owner: type, name: str) -> list[object]:
    """Each call of `owner.name` appends to the list returned, and goes through unchanged."""
    calls: list[object] = []
    original = getattr(owner, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls


async def test_enrolling_nodes_in_one_process_loads_the_trusted_authorities_once(
    live_hub: LiveHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = live_hub.url.removesuffix("/api/v1")
    join = live_hub.issue(Role.JOIN)
    trusted_authorities.cache_clear()  # as in a fresh process
    loads = count_calls(monkeypatch, ssl.SSLContext, "load_verify_locations")

    credentials = [await enrol(root, join, f"node-{n}") for n in range(5)]
    files = [HubFiles(root) for _ in range(3)]
    clients = [HubClient(root, token=credential.token) for credential in credentials]

    assert len({credential.node_id for credential in credentials}) == 5
    assert len(loads) == 1
    for file in files:
        await file.aclose()
    for client in clients:
        await client.aclose()
