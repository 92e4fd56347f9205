"""Authentication and roles over real HTTP and WebSockets on loopback: every route but the health
check refuses a request without a token, each role is held to what it may do, revocation acts on
the next request and closes a node's link, a node reads only the blobs of its own batches, the
dashboard's cookie does not work from another site, and every such event lands in the audit log."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from fastapi import FastAPI
from fastapi.routing import APIRoute, APIWebSocketRoute

from witengine.hub import turns
from witengine.hub.app import Hub
from witengine.hub.auth.throttle import FailedAuthThrottle
from witengine.protocol import API_PREFIX, Assign, Welcome
from witengine.security.tokens import Role
from witengine.testing.fake_nodes import FakeNode, node_link
from witengine.testing.served import served_hub
from witengine.testing.turns import turns_counted


@dataclass
class AuthHub:
    hub: Hub
    app: FastAPI
    root: str  # http://127.0.0.1:PORT
    admin: str

    def client(self, token: str | None = None, **options: Any) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(base_url=self.root, headers=headers, timeout=30, **options)

    def issue(self, role: Role, **options: Any) -> str:
        return self.hub.book.issue(role, **options).text


@pytest.fixture
async def auth_hub(tmp_path: Path) -> AsyncIterator[AuthHub]:
    async with served_hub(tmp_path / "hub") as served:
        yield AuthHub(served.hub, served.app, served.root, served.admin_token)


def every_route(app: FastAPI) -> Iterator[tuple[str, str]]:
    """(method, path) of every route the app serves, those of included routers with their prefix."""

    def walk(routes: list[Any], prefix: str) -> Iterator[tuple[str, str]]:
        for route in routes:
            if isinstance(route, APIRoute):
                for method in sorted(route.methods):
                    yield method, prefix + route.path
            elif isinstance(route, APIWebSocketRoute):
                yield "WS", prefix + route.path
            elif hasattr(route, "original_router"):  # FastAPI's record of include_router
                yield from walk(route.original_router.routes, prefix + route.include_context.prefix)
            else:
                raise AssertionError(f"a route the gate does not cover: {route!r}")

    yield from walk(list(app.routes), "")


def concrete(path: str) -> str:
    """A path with its parameters filled in."""
    path = path.replace("{sha256}", "a" * 64).replace("{name:path}", "x.png")
    return re.sub(r"\{[^}]+\}", "x", path)


async def test_every_route_but_the_health_check_and_the_ask_to_join_answers_401_without_a_token(
    auth_hub: AuthHub,
) -> None:
    routes = sorted(set(every_route(auth_hub.app)))
    paths = {path for _, path in routes}
    # The enumeration finds the routes that matter (so that it cannot pass by finding none).
    for expected in ("/api/v1/jobs", "/api/v1/nodes/connect", "/api/v1/tokens", "/", "/stream"):
        assert expected in paths
    assert len(routes) >= 40
    async with auth_hub.client() as client:
        for method, path in routes:
            if method == "WS":
                url = "ws" + auth_hub.root.removeprefix("http") + concrete(path)
                with pytest.raises(websockets.InvalidStatus) as refused:
                    await websockets.connect(url, proxy=None)
                assert refused.value.response.status_code == 401
                continue
            response = await client.request(method, concrete(path))
            if path == f"{API_PREFIX}/health":
                assert response.status_code == 200
                continue
            if path == f"{API_PREFIX}/nodes/join":  # checks its body, then the hub's rules
                assert response.status_code == 422
                continue
            assert response.status_code == 401, (method, path, response.text[:200])
            assert response.headers["www-authenticate"].startswith("Bearer"), (method, path)
            if path.startswith(API_PREFIX) and method != "HEAD":
                assert "no token" in response.json()["detail"]


async def test_a_made_up_an_expired_and_a_malformed_token_are_refused_with_the_reason(
    auth_hub: AuthHub,
) -> None:
    expired = auth_hub.issue(Role.VIEWER, ttl_seconds=0.01)
    made_up = auth_hub.issue(Role.VIEWER)[:-3] + "AAA"
    time.sleep(0.02)
    for token, reason in ((expired, "expired"), (made_up, "unknown"), ("nonsense", "malformed")):
        async with auth_hub.client(token) as client:
            response = await client.get("/api/v1/jobs")
        assert response.status_code == 401
        assert reason in response.json()["detail"]
        assert reason in response.headers["www-authenticate"]


async def test_a_node_credential_cannot_submit_or_read_jobs(auth_hub: AuthHub) -> None:
    async with auth_hub.client(auth_hub.issue(Role.JOIN)) as joining:
        enrolled = (await joining.post("/api/v1/nodes/enrol", json={"name": "n1"})).json()
        assert (await joining.get("/api/v1/jobs")).status_code == 403
    script = "Job:A() { Int:x = 1; }"
    async with auth_hub.client(enrolled["token"]) as node:
        submitted = await node.post("/api/v1/jobs", json={"script": script})
        assert submitted.status_code == 403
        assert "node" in submitted.json()["detail"]
        assert (await node.get("/api/v1/jobs")).status_code == 403
        assert (await node.post("/api/v1/tokens", json={"role": "admin"})).status_code == 403
        assert (await node.get("/api/v1/plugins")).status_code == 200
    assert auth_hub.hub.store.list_jobs() == []


async def test_roles_read_submit_and_administer_as_the_policy_says(auth_hub: AuthHub) -> None:
    script = "Job:A() { Int:x = 1; }"
    async with auth_hub.client(auth_hub.issue(Role.VIEWER)) as viewer:
        assert (await viewer.get("/api/v1/jobs")).status_code == 200
        assert (await viewer.post("/api/v1/jobs", json={"script": script})).status_code == 403
    async with auth_hub.client(auth_hub.issue(Role.SUBMITTER)) as submitter:
        job = await submitter.post("/api/v1/jobs", json={"script": script})
        assert job.status_code == 201
        assert (await submitter.get("/api/v1/audit")).status_code == 403
        assert (await submitter.post("/api/v1/nodes/x/drain")).status_code == 403
        assert (await submitter.delete("/api/v1/nodes/x")).status_code == 403
    async with auth_hub.client(auth_hub.admin) as admin:
        assert (await admin.get("/api/v1/audit")).status_code == 200


async def test_a_submitter_controls_its_own_jobs_only_and_an_admin_any(auth_hub: AuthHub) -> None:
    script = "Job:A() { Int:x = 1; Grid.ForEach(i in [1, 2]) => Compute.Sleep(i); }"
    async with (
        auth_hub.client(auth_hub.issue(Role.SUBMITTER)) as owner,
        auth_hub.client(auth_hub.issue(Role.SUBMITTER)) as other,
        auth_hub.client(auth_hub.admin) as admin,
    ):
        job_id = (await owner.post("/api/v1/jobs", json={"script": script})).json()["id"]
        refused = await other.post(f"/api/v1/jobs/{job_id}/cancel")
        assert refused.status_code == 403
        assert "another token" in refused.json()["detail"]
        assert (await owner.post(f"/api/v1/jobs/{job_id}/pause")).status_code == 200
        assert (await admin.post(f"/api/v1/jobs/{job_id}/cancel")).status_code == 200


async def test_a_join_token_for_more_nodes_than_the_store_can_count_is_refused_not_a_500(
    auth_hub: AuthHub,
) -> None:
    # Found by the schema fuzzer: uses = 4.8e24 reached SQLite and overflowed its INTEGER.
    async with auth_hub.client(auth_hub.admin) as admin:
        refused = await admin.post("/api/v1/tokens", json={"role": "join", "uses": 2**82})
        assert refused.status_code == 422
        assert "uses" in refused.text
        made = await admin.post("/api/v1/tokens", json={"role": "join", "uses": 1_000_000})
        assert made.status_code == 201
        assert made.json()["max_uses"] == 1_000_000


async def test_a_revoked_token_is_refused_at_its_next_request(auth_hub: AuthHub) -> None:
    async with auth_hub.client(auth_hub.admin) as admin:
        made = (await admin.post("/api/v1/tokens", json={"role": "viewer"})).json()
        async with auth_hub.client(made["token"]) as viewer:
            assert (await viewer.get("/api/v1/jobs")).status_code == 200
            revoked = await admin.post(f"/api/v1/tokens/{made['id']}/revoke")
            assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
            refused = await viewer.get("/api/v1/jobs")
        assert refused.status_code == 401
        assert "revoked" in refused.json()["detail"]


@pytest.mark.parametrize(
    ("path", "live"),
    [
        ("/api/v1/jobs/{job}/events", "statement_started"),  # a job's events
        ("/stream?view=overview", "event: ready"),  # a dashboard page's updates (10 min long)
    ],
)
async def test_a_revoked_token_ends_the_event_stream_it_opened(
    auth_hub: AuthHub, path: str, live: str
) -> None:
    waits = (
        "Job:Wait()\n{\n    BoolCollection:f = Grid.ForEach(x in Long.Range(2, 9)) "
        "=> Compute.IsPrime(x);\n}\n"
    )  # no node here: the job stays running and its stream open
    async with auth_hub.client(auth_hub.admin) as admin:
        made = (await admin.post("/api/v1/tokens", json={"role": "viewer"})).json()
        job = (await admin.post("/api/v1/jobs", json={"script": waits, "filename": "w.wit"})).json()
        async with (
            auth_hub.client(made["token"]) as viewer,
            viewer.stream("GET", path.format(job=job["id"]), timeout=30) as stream,
        ):
            assert stream.status_code == 200
            lines = stream.aiter_lines()
            while live not in await asyncio.wait_for(anext(lines), 10):
                pass  # the stream is live
            await admin.post(f"/api/v1/tokens/{made['id']}/revoke")

            async def to_its_end() -> None:
                async for _ in lines:  # ends once the hub sees the revocation
                    pass

            try:
                await asyncio.wait_for(to_its_end(), 10)
            except TimeoutError:
                raise AssertionError("the stream outlived its token") from None
        await admin.post(f"/api/v1/jobs/{job['id']}/cancel")


async def test_revoking_a_node_credential_closes_its_open_link_at_once(auth_hub: AuthHub) -> None:
    async with auth_hub.client(auth_hub.issue(Role.JOIN)) as joining:
        enrolled = (await joining.post("/api/v1/nodes/enrol", json={"name": "n1"})).json()
    fake = FakeNode(auth_hub.root, "n1")
    async with node_link(auth_hub.root, enrolled["token"]) as link:
        await link.send(fake.hello().model_dump_json())
        welcome = Welcome.model_validate_json(await link.recv())
        assert welcome.node_id == enrolled["node_id"]  # the credential decides the node's id
        async with auth_hub.client(auth_hub.admin) as admin:
            revoked = await admin.post(f"/api/v1/tokens/{enrolled['token_id']}/revoke")
            assert revoked.status_code == 200
        with pytest.raises(websockets.ConnectionClosed) as closed:
            for _ in range(100):  # bounded: heartbeats or nothing, until the close
                await asyncio.wait_for(link.recv(), 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        assert "revoked" in closed.value.rcvd.reason
    with pytest.raises(websockets.InvalidStatus) as refused:
        await node_link(auth_hub.root, enrolled["token"])
    assert refused.value.response.status_code == 401


async def test_a_node_reads_the_blobs_of_its_own_batch_and_not_another_nodes(
    auth_hub: AuthHub,
) -> None:
    text = b"only for the node that holds the batch"
    import hashlib

    sha = hashlib.sha256(text).hexdigest()
    script = (
        "Job:Read(BlobCollection:inputs)\n{\n"
        "    StringCollection:texts = Grid.ForEach(f in inputs) => Compute.ReadText(f);\n}\n"
    )
    join = auth_hub.issue(Role.JOIN)
    async with auth_hub.client(join) as joining:
        holder = (await joining.post("/api/v1/nodes/enrol", json={"name": "a"})).json()
        other = (await joining.post("/api/v1/nodes/enrol", json={"name": "b"})).json()
    async with auth_hub.client(auth_hub.admin) as admin:
        assert (await admin.put(f"/api/v1/blobs/{sha}", content=text)).status_code == 201
        ref = {"sha256": sha, "size": len(text), "name": "in.txt"}
        job = await admin.post("/api/v1/jobs", json={"script": script, "files": {"inputs": [ref]}})
        assert job.status_code == 201, job.text
    fake = FakeNode(auth_hub.root, "a", activities=("Compute.ReadText",))
    async with node_link(auth_hub.root, holder["token"]) as link:
        await link.send(fake.hello().model_dump_json())
        Welcome.model_validate_json(await link.recv())
        assign = None
        for _ in range(100):  # bounded: the batch comes within a few messages
            message = json.loads(await asyncio.wait_for(link.recv(), 10))
            if message.get("kind") == "assign" or ("batch_id" in message and "tasks" in message):
                assign = Assign.model_validate(message)
                break
        assert assign is not None
        async with auth_hub.client(holder["token"]) as mine:
            assert (await mine.get(f"/api/v1/blobs/{sha}")).content == text
        async with auth_hub.client(other["token"]) as theirs:
            refused = await theirs.get(f"/api/v1/blobs/{sha}")
            assert refused.status_code == 403
            assert "not an input of a batch you hold" in refused.json()["detail"]
            assert (await theirs.get(f"/api/v1/jobs/{job.json()['id']}")).status_code == 403


async def signed_in(auth_hub: AuthHub, token: str) -> httpx.AsyncClient:
    client = auth_hub.client(follow_redirects=False)
    response = await client.post(
        "/signin",
        content=f"token={token}&next=/jobs",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Origin": auth_hub.root},
    )
    assert response.status_code == 303 and response.headers["location"] == "/jobs"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    return client


async def test_the_dashboard_signs_in_with_a_token_and_refuses_cross_site_posts(
    auth_hub: AuthHub,
) -> None:
    script = "Job:A() { Int:x = 1; Grid.ForEach(i in [1, 2]) => Compute.Sleep(i); }"
    async with auth_hub.client(auth_hub.admin) as admin:
        job_id = (await admin.post("/api/v1/jobs", json={"script": script})).json()["id"]
    async with auth_hub.client() as anonymous:
        page = await anonymous.get("/jobs")
        assert page.status_code == 401 and 'action="/signin"' in page.text
    browser = await signed_in(auth_hub, auth_hub.admin)
    try:
        assert (await browser.get("/jobs")).status_code == 200
        cancel = f"/api/v1/jobs/{job_id}/pause"
        evil = await browser.post(cancel, headers={"Origin": "http://evil.example"})
        assert evil.status_code == 403 and "cross-site" in evil.json()["detail"]
        bare = await browser.post(cancel)  # no Origin and no dashboard header: refused too
        assert bare.status_code == 403
        site = await browser.post(
            cancel, headers={"Sec-Fetch-Site": "cross-site", "X-Wit-Dashboard": "1"}
        )
        assert site.status_code == 403
        own = await browser.post(cancel, headers={"Origin": auth_hub.root})
        assert own.status_code == 200, own.text
    finally:
        await browser.aclose()
    async with auth_hub.client() as visitor:
        once = await visitor.get(  # a link opened from outside any page (a terminal, say)
            f"/nodes?token={auth_hub.admin}",
            headers={"Sec-Fetch-Site": "none"},
            follow_redirects=False,
        )
        assert once.status_code == 303 and once.headers["location"] == "/nodes"
        assert "wit_session=" in once.headers["set-cookie"]


async def test_failed_authentication_is_slowed_and_every_refusal_is_audited(
    auth_hub: AuthHub,
) -> None:
    bad = auth_hub.issue(Role.VIEWER)[:-3] + "BBB"
    gate = auth_hub.app.state.gate
    waited: list[float] = []

    async def sleep(seconds: float) -> None:
        waited.append(seconds)
        await asyncio.sleep(seconds)

    gate.sleep = sleep
    async with auth_hub.client(bad) as guesser:
        for _ in range(4):
            assert (await guesser.get("/api/v1/jobs")).status_code == 401
    # The 2nd, 3rd and 4th tries waited 50, 100 and 200 ms before their check.
    assert waited == pytest.approx([0.05, 0.1, 0.2], abs=1e-3)
    async with auth_hub.client(auth_hub.admin) as admin:
        await admin.post("/api/v1/tokens", json={"role": "node", "label": "for the rack"})
        lines = (await admin.get("/api/v1/audit", params={"limit": 50})).json()
    failed = [line for line in lines if line["action"] == "auth.failed"]
    assert len(failed) == 4 and all(line["address"] == "127.0.0.1" for line in failed)
    assert failed[0]["outcome"] == "unknown token"
    created = [line for line in lines if line["action"] == "token.create"]
    assert created[0]["actor_role"] == "admin" and "(join)" in created[0]["target"]


def test_the_throttle_doubles_the_wait_up_to_its_cap_forgets_and_stays_bounded() -> None:
    throttle = FailedAuthThrottle(first=0.05, cap=2.0, forget_after=60.0, max_keys=3)
    assert throttle.wait_before_check("a", 0.0) == 0.0  # never failed: no wait
    for n in range(1, 8):
        throttle.failed("a", 0.0)
        assert throttle.delay(n) == min(0.05 * 2 ** (n - 1), 2.0)
    first = throttle.wait_before_check("a", 0.0)
    second = throttle.wait_before_check("a", 0.0)  # queued behind the first
    assert first == 2.0 and second == 4.0
    assert throttle.wait_before_check("a", 200.0) == 0.0  # quiet for long enough: forgotten
    for address in "bcde":
        throttle.failed(address, 300.0)
    assert len(throttle) == 3 and throttle.failures("b") == 0  # the oldest went first


def test_a_busy_guesser_is_turned_away_once_its_queue_is_long() -> None:
    throttle = FailedAuthThrottle(first=1.0, cap=2.0, max_queue=5.0)
    for _ in range(3):
        throttle.failed("a", 0.0)
    waits = [throttle.wait_before_check("a", 0.0) for _ in range(4)]
    assert waits == [2.0, 4.0, 6.0, None]


async def test_the_sweep_closes_the_links_of_tokens_revoked_elsewhere_a_turn_at_a_time(
    auth_hub: AuthHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tokens revoked in the store itself (by a command on the data directory, say) are found
    by the gate's sweep, which lets the event loop turn between the tokens it reads (here after
    every one): the revoked node's link closes, the other stays open."""
    monkeypatch.setattr(turns, "TURN_SECONDS", 0.0)
    async with auth_hub.client(auth_hub.issue(Role.JOIN)) as joining:
        kept = (await joining.post("/api/v1/nodes/enrol", json={"name": "kept"})).json()
        gone = (await joining.post("/api/v1/nodes/enrol", json={"name": "gone"})).json()
    async with (
        node_link(auth_hub.root, kept["token"]) as kept_link,
        node_link(auth_hub.root, gone["token"]) as gone_link,
    ):
        for link, name in ((kept_link, "kept"), (gone_link, "gone")):
            await link.send(FakeNode(auth_hub.root, name).hello().model_dump_json())
            Welcome.model_validate_json(await link.recv())
        async with turns_counted() as looped:
            await auth_hub.app.state.gate.sweep()  # nothing revoked: nothing closed
        assert looped.counted >= 1  # the loop turned between the tokens read
        assert auth_hub.hub.store.revoke_token(gone["token_id"], time.time())
        await auth_hub.app.state.gate.sweep()
        with pytest.raises(websockets.ConnectionClosed) as closed:
            for _ in range(100):  # bounded: heartbeats or nothing, until the close
                await asyncio.wait_for(gone_link.recv(), 5)
        assert closed.value.rcvd is not None and "no longer valid" in closed.value.rcvd.reason
        await kept_link.ping()  # still open: the sweep left it
