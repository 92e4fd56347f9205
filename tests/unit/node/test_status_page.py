"""A node's own page: what it shows of an idle, a running and a suspended node, and its pause and
resume buttons, which only the page itself may press (its secret, its origin, its host), and
only from the node's own machine."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from witengine.node.journal import Journal, Outcome
from witengine.node.owner import OwnerLoop, for_node
from witengine.node.policy import PAUSED, Action, Decision, Observation
from witengine.node.settings import NodeSettings
from witengine.node.status_page import NodeShown, StatusPage
from witengine.protocol import (
    Assign,
    BenchmarkReport,
    Capabilities,
    NodeStatus,
    TaskResult,
    TaskSpec,
)
from witengine.protocol.states import Availability
from witengine.security.tickets import make_ticket
from witengine.security.tokens import Role
from witengine.testing.clock import FakeClock

CAPABILITIES = Capabilities(
    os="linux", arch="x86_64", cores=8, ram_bytes=16 * 1024**3, software={"blender": "4.2.1"}
)


class FakeWork:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.reports: list[NodeStatus] = []
        self.held = False

    def holding(self) -> bool:
        return self.held

    async def thaw(self) -> None:
        self.calls.append("thaw")

    async def freeze(self) -> None:
        self.calls.append("freeze")

    async def hand_back(self) -> None:
        self.calls.append("hand_back")
        self.held = False

    def report(self, status: NodeStatus) -> None:
        self.reports.append(status)


class Node:
    """An agent as its page sees it: a journal, an owner loop and the facts."""

    def __init__(self, tmp_path: Path) -> None:
        self.work = FakeWork()
        self.clock = FakeClock()
        self.owner: OwnerLoop = for_node(None, self.work, self.clock)
        self.journal = Journal()
        self.connected = True
        settings = NodeSettings(
            hub_url="http://127.0.0.1:7310", name="desk", cache_dir=tmp_path, status_port=0
        )
        self.page = StatusPage(settings, self.owner, self.shown, wall=lambda: 1_800_000_000.0)
        self.page.listen()

    def shown(self) -> NodeShown:
        return NodeShown(
            name="desk",
            node_id="node_0123456789ab",
            hub_url="http://127.0.0.1:7310",
            connected=self.connected,
            slots=2,
            capabilities=CAPABILITIES,
            plugins=["compute 1.0"],
            benchmarks=[
                BenchmarkReport(
                    activity="Compute.Sleep",
                    plugin="compute",
                    plugin_version="1.0",
                    unit="items",
                    rate=12.5,
                    elapsed=1.5,
                    iterations=20,
                )
            ],
            journal=self.journal,
            frozen=False,
        )

    def client(self, host: str | None = None, peer: str = "127.0.0.1") -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.page.app, client=(peer, 50000))
        base = f"http://{host or f'127.0.0.1:{self.page.port}'}"
        return httpx.AsyncClient(transport=transport, base_url=base)


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    made = Node(tmp_path)
    await made.owner.step()
    try:
        yield made
    finally:
        assert made.page.listener is not None
        made.page.listener.close()


def secret(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None, html
    return found.group(1)


def assign(batch_id: str, size: int) -> Assign:
    tasks = [TaskSpec("map_1", i, 1, [i]) for i in range(size)]
    return Assign(
        batch_id=batch_id, job_id="job_42", activity="Compute.Sleep", tasks=tasks, lease_seconds=30
    )


async def test_an_idle_node_shows_its_state_tools_rates_and_no_policy(node: Node) -> None:
    async with node.client() as client:
        answer = await client.get("/")
    assert answer.status_code == 200
    html = answer.text
    assert 'id="state">idle<' in html
    assert "blender" in html and "4.2.1" in html
    assert "Compute.Sleep" in html and "12.5" in html
    assert "None: it works whenever it runs." in html
    assert 'id="pause"' in html and 'id="resume"' not in html
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]


async def test_a_running_node_shows_its_batches_their_progress_and_logs(node: Node) -> None:
    node.journal.received(assign("batch_1", 10), 1_800_000_000.0)
    node.journal.started("batch_1", 1_800_000_001.0)
    node.journal.delivered(
        "batch_1", [TaskResult("map_1", i, 1, True, i, None, 0.5) for i in range(3)]
    )
    node.journal.wrote("batch_1", "Fra:1 Mem:12M | Rendering 3 / 64 samples <b>")
    node.journal.received(assign("batch_0", 4), 1_799_999_990.0)
    node.journal.started("batch_0", 1_799_999_991.0)
    node.journal.wrote("batch_0", "Traceback: it broke")
    node.journal.ended(
        "batch_0", Outcome.FAILED, 1_799_999_995.0, "the runner process exited with code 3"
    )
    async with node.client() as client:
        html = (await client.get("/live")).text
    assert 'id="state">busy<' in html
    assert "job_42" in html and "batch_1" in html and "3 / 10" in html
    assert "Rendering 3 / 64 samples &lt;b&gt;" in html  # escaped, never markup
    assert "failed" in html and "exited with code 3" in html and "Traceback: it broke" in html
    assert "2.00" in html  # items per second, measured: 3 items in 1.5 s


async def test_a_suspended_node_shows_why(tmp_path: Path) -> None:
    made = Node(tmp_path)

    class Suspending:
        def decide(self, seen: Observation) -> Decision:
            return Decision(Action.SUSPEND, "the owner is back: input 3 s ago")

    made.owner.governor = Suspending()
    made.work.held = True
    await made.owner.step()
    async with made.client() as client:
        html = (await client.get("/")).text
    assert 'id="state">suspended<' in html
    assert "the owner is back: input 3 s ago" in html
    assert "Its work is frozen on it" in html
    assert made.page.listener is not None
    made.page.listener.close()


async def test_pause_freezes_the_work_and_tells_the_hub_and_resume_clears_it(node: Node) -> None:
    node.work.held = True
    async with node.client() as client:
        token = secret((await client.get("/")).text)
        headers = {"Origin": f"http://127.0.0.1:{node.page.port}"}
        answer = await client.post("/pause", data={"csrf": token}, headers=headers)
        assert answer.status_code == 303 and answer.headers["location"] == "/"
        assert node.owner.paused
        assert node.work.calls[-1] == "freeze"
        assert node.work.reports[-1].availability is Availability.SUSPENDED
        assert node.work.reports[-1].reason == PAUSED
        html = (await client.get("/")).text
        assert 'id="state">paused<' in html and 'id="resume"' in html
        answer = await client.post("/resume", data={"csrf": token}, headers=headers)
        assert answer.status_code == 303
    assert not node.owner.paused
    assert node.work.calls[-1] == "thaw"
    assert node.work.reports[-1].availability is Availability.AVAILABLE


@pytest.mark.parametrize(
    ("headers", "form"),
    [
        ({}, {}),  # no secret
        ({}, {"csrf": "guessed"}),
        ({"Origin": "http://evil.example"}, None),  # the right secret, from another site
        ({"Origin": "null"}, None),
        ({"Sec-Fetch-Site": "cross-site"}, None),
        ({"Sec-Fetch-Site": "same-site"}, None),
    ],
)
async def test_a_pause_from_anywhere_but_the_page_itself_is_refused(
    node: Node, headers: dict[str, str], form: dict[str, str] | None
) -> None:
    async with node.client() as client:
        token = secret((await client.get("/")).text)
        answer = await client.post(
            "/pause", data=form if form is not None else {"csrf": token}, headers=headers
        )
    assert answer.status_code == 403
    assert not node.owner.paused


async def test_a_page_asked_for_under_another_host_name_is_refused(node: Node) -> None:
    async with node.client(host=f"rebound.example:{node.page.port}") as client:
        answer = await client.get("/")
    assert answer.status_code == 421
    assert "csrf" not in answer.text
    async with node.client(host=f"localhost:{node.page.port}") as client:
        assert (await client.get("/")).status_code == 200


async def test_a_page_on_loopback_answers_no_other_machine(node: Node) -> None:
    async with node.client(peer="192.168.1.20") as client:
        answer = await client.get("/")
    assert answer.status_code == 401
    assert "csrf" not in answer.text


async def test_a_pause_outlasting_vacate_after_hands_the_work_back(node: Node) -> None:
    node.work.held = True
    await node.owner.pause()
    node.clock.advance(10 * 60)
    await node.owner.step()
    assert node.work.calls[-1] == "hand_back"
    status = node.work.reports[-1]
    assert status.availability is Availability.UNAVAILABLE
    assert status.reason.startswith(PAUSED)


class LanNode(Node):
    """A node whose page listens on every address, so other machines may open it."""

    def __init__(self, tmp_path: Path) -> None:
        self.hub = Ed25519PrivateKey.generate()
        self.work = FakeWork()
        self.clock = FakeClock()
        self.owner = for_node(None, self.work, self.clock)
        self.journal = Journal()
        self.connected = True
        settings = NodeSettings(
            hub_url="http://192.168.1.10:7310",
            name="desk",
            cache_dir=tmp_path,
            status_port=0,
            status_host="0.0.0.0",
        )
        self.page = StatusPage(
            settings, self.owner, self.shown, keys=lambda: [self.hub.public_key()], wall=lambda: NOW
        )
        self.page.listen()

    def lan_client(self) -> httpx.AsyncClient:
        host = self.page.url.removeprefix("http://").rstrip("/")
        return self.client(host=host, peer="192.168.1.20")


NOW = 1_800_000_000.0


@pytest.fixture
async def lan_node(tmp_path: Path) -> AsyncIterator[LanNode]:
    made = LanNode(tmp_path)
    await made.owner.step()
    try:
        yield made
    finally:
        assert made.page.listener is not None
        made.page.listener.close()


async def test_a_page_open_to_the_lan_answers_another_machine_only_with_a_ticket(
    lan_node: LanNode,
) -> None:
    async with lan_node.lan_client() as client:
        refused = await client.get("/")
        assert refused.status_code == 401
        assert "open this node's page from the hub's dashboard" in refused.text
        ticket = make_ticket(lan_node.hub, "node_0123456789ab", Role.VIEWER, NOW)
        signed_in = await client.get("/", params={"ticket": ticket})
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/"
        cookie = signed_in.headers["set-cookie"]
        assert cookie.startswith(f"wit_node_ticket_{lan_node.page.port}=")  # this node's only
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie
        html = (await client.get("/")).text  # the cookie, not the address, carries it now
        assert 'id="state">idle<' in html
        assert 'id="pause"' not in html and "or an admin may pause it" in html
        token = secret_or_none(html)
        answer = await client.post(
            "/pause",
            data={"csrf": token or lan_node.page.secret},
            headers={"Origin": lan_node.page.url.rstrip("/")},
        )
        assert answer.status_code == 403 and "only an admin" in answer.text
    assert not lan_node.owner.paused


async def test_an_admins_ticket_may_pause_a_node_from_another_machine(lan_node: LanNode) -> None:
    async with lan_node.lan_client() as client:
        ticket = make_ticket(lan_node.hub, "node_0123456789ab", Role.ADMIN, NOW)
        assert (await client.get("/", params={"ticket": ticket})).status_code == 303
        token = secret((await client.get("/")).text)
        origin = lan_node.page.url.rstrip("/")
        answer = await client.post("/pause", data={"csrf": token}, headers={"Origin": origin})
        assert answer.status_code == 303
    assert lan_node.owner.paused


@pytest.mark.parametrize("node_id", ["node_someone_else", "node_0123456789ab"])
async def test_a_ticket_for_another_node_or_from_another_hub_opens_nothing(
    lan_node: LanNode, node_id: str
) -> None:
    signer = lan_node.hub if node_id != "node_0123456789ab" else Ed25519PrivateKey.generate()
    async with lan_node.lan_client() as client:
        answer = await client.get(
            "/", params={"ticket": make_ticket(signer, node_id, Role.ADMIN, NOW)}
        )
        assert answer.status_code == 401
        assert (await client.get("/")).status_code == 401


def secret_or_none(html: str) -> str | None:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    return found.group(1) if found else None


async def test_a_pause_is_a_small_form(node: Node) -> None:
    async with node.client() as client:
        token = secret((await client.get("/")).text)
        answer = await client.post("/pause", data={"csrf": token, "more": "x" * 5000})
    assert answer.status_code == 413
    assert not node.owner.paused
