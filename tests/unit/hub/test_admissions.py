"""Nodes joining without a token (`wit hub --approve-lan`), over real HTTP on 127.0.0.1 and,
for other client addresses, in-process: a node waits as pending and gets nothing until an admin
approves it; only the holder of its key gets its credential; refused and revoked nodes are
refused when they ask again, after a restart too; only admins answer; a public address, or a
hub without --approve-lan, is refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from witengine.hub.app import build_hub, create_app
from witengine.hub.settings import HubSettings
from witengine.protocol import API_PREFIX, Capabilities
from witengine.protocol.states import Admission
from witengine.security.node_keys import NodeKey, short_fingerprint
from witengine.security.tokens import Role
from witengine.testing.served import served_hub

pytestmark = pytest.mark.timeout(60)
MACHINE = Capabilities(os="linux", arch="x86_64", cores=8, ram_bytes=2**34)


def ask(key: NodeKey, name: str = "desk-7", waiting: dict[str, Any] | None = None) -> Any:
    """The body of an ask; signed when `waiting` (the hub's last answer) gave a challenge."""
    body: dict[str, Any] = {
        "name": name,
        "public_key": key.public_key,
        "machine": MACHINE.model_dump(),
    }
    if waiting is not None:
        body |= {"challenge": waiting["challenge"], "signature": key.sign(waiting["challenge"])}
    return body


async def test_a_node_waits_as_pending_gets_in_once_approved_and_is_refused_once_revoked(
    tmp_path: Path,
) -> None:
    key = NodeKey.load_or_make(tmp_path / "node")
    async with served_hub(tmp_path / "hub", approve_lan=True) as served:
        api = served.root + API_PREFIX
        admin = {"Authorization": f"Bearer {served.admin_token}"}
        async with httpx.AsyncClient(base_url=api, timeout=30.0) as client:
            first = await client.post("/nodes/join", json=ask(key))
            assert first.status_code == 202, first.text
            waiting = first.json()
            assert waiting["state"] == "pending" and waiting["fingerprint"] == key.fingerprint
            node_id = waiting["node_id"]

            # Signed or not, a pending node gets no credential.
            again = await client.post("/nodes/join", json=ask(key, waiting=waiting))
            assert again.status_code == 202 and again.json()["state"] == "pending"

            listed = (await client.get("/join-requests", headers=admin)).json()
            assert [(j["node_id"], j["name"], j["state"]) for j in listed] == [
                (node_id, "desk-7", "pending")
            ]
            assert listed[0]["address"] == "127.0.0.1"
            assert listed[0]["machine"]["cores"] == 8

            approved = await client.post(f"/join-requests/{node_id}/approve", headers=admin)
            assert approved.status_code == 200 and approved.json()["state"] == "approved"

            # The credential goes only to an ask signed over the last challenge: not to one
            # unsigned, nor to another key claiming the same public key.
            unsigned = await client.post("/nodes/join", json=ask(key))
            assert unsigned.status_code == 202 and unsigned.json()["state"] == "approved"
            other = NodeKey.load_or_make(tmp_path / "other")
            forged = ask(key, waiting=unsigned.json())
            forged["signature"] = other.sign(unsigned.json()["challenge"])
            assert (await client.post("/nodes/join", json=forged)).status_code == 202
            latest = (await client.post("/nodes/join", json=ask(key))).json()
            joined = await client.post("/nodes/join", json=ask(key, waiting=latest))
            assert joined.status_code == 201, joined.text
            credential = joined.json()
            assert credential["node_id"] == node_id
            me = await client.get(
                "/whoami", headers={"Authorization": f"Bearer {credential['token']}"}
            )
            assert me.json()["role"] == "node" and me.json()["node_id"] == node_id

            revoked = await client.post(f"/nodes/{node_id}/revoke", headers=admin)
            assert revoked.status_code == 200, revoked.text
            assert revoked.json()["revoked"] == [credential["token_id"]]
            assert revoked.json()["state"] == "revoked"
            me = await client.get(
                "/whoami", headers={"Authorization": f"Bearer {credential['token']}"}
            )
            assert me.status_code == 401
            out = await client.post("/nodes/join", json=ask(key))
            assert out.status_code == 403
            assert out.json()["detail"].startswith(
                f"an admin revoked this node (desk-7, {node_id}, key "
                f"{short_fingerprint(key.fingerprint)}) on "
            )
            assert out.json()["detail"].endswith(
                f": the hub refuses it; an admin may let it in again with wit nodes --approve "
                f"{node_id}"
            )
        actions = [(a.action, a.outcome) for a in served.hub.store.audit(20)][::-1]
        assert ("node.join", "pending") in actions and ("node.approve", "ok") in actions
        assert ("node.join", "ok") in actions and ("node.revoke", "ok") in actions
        assert actions[-1] == ("node.join", "refused")
    async with (
        served_hub(tmp_path / "hub", approve_lan=True) as served,
        httpx.AsyncClient(base_url=served.root + API_PREFIX) as client,
    ):
        after = await client.post("/nodes/join", json=ask(key))  # remembered across a restart
        assert after.status_code == 403
        assert after.json()["detail"].startswith(f"an admin revoked this node (desk-7, {node_id}")


async def test_a_pending_node_can_get_neither_work_nor_files(tmp_path: Path) -> None:
    key = NodeKey.load_or_make(tmp_path / "node")
    async with served_hub(tmp_path / "hub", approve_lan=True) as served:
        async with httpx.AsyncClient(base_url=served.root + API_PREFIX) as client:
            waiting = (await client.post("/nodes/join", json=ask(key))).json()
            # What the node holds is its key and a challenge: neither is a token.
            for header in ("", waiting["challenge"], key.public_key):
                headers = {"Authorization": f"Bearer {header}"} if header else {}
                blob = await client.get("/blobs/" + "a" * 64, headers=headers)
                assert blob.status_code == 401
                plugins = await client.get("/plugins", headers=headers)
                assert plugins.status_code == 401
        url = served.root.replace("http", "ws") + API_PREFIX + "/nodes/connect"
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(url):
                pass
        assert refused.value.response.status_code == 401


@pytest.mark.parametrize("role", [None, Role.VIEWER, Role.SUBMITTER, Role.NODE, Role.JOIN])
async def test_only_an_admin_approves_refuses_or_revokes(tmp_path: Path, role: Role | None) -> None:
    key = NodeKey.load_or_make(tmp_path / "node")
    async with served_hub(tmp_path / "hub", approve_lan=True) as served:
        async with httpx.AsyncClient(base_url=served.root + API_PREFIX) as client:
            node_id = (await client.post("/nodes/join", json=ask(key))).json()["node_id"]
            headers = {}
            if role is not None:
                node_id_of = "node_x" if role is Role.NODE else None
                issued = served.hub.book.issue(role, node_id=node_id_of)
                headers = {"Authorization": f"Bearer {issued.text}"}
            for path in (
                f"/join-requests/{node_id}/approve",
                f"/join-requests/{node_id}/refuse",
                f"/nodes/{node_id}/revoke",
            ):
                answer = await client.post(path, headers=headers)
                assert answer.status_code == (401 if role is None else 403), path
            listed = await client.get("/join-requests", headers=headers)
            readers = (Role.VIEWER, Role.SUBMITTER)
            assert listed.status_code == (200 if role in readers else 401 if role is None else 403)
        assert served.hub.store.list_joins()[0].state == "pending"


async def test_a_refused_node_is_refused_again_after_the_hub_restarts(tmp_path: Path) -> None:
    key = NodeKey.load_or_make(tmp_path / "node")
    async with served_hub(tmp_path / "hub", approve_lan=True) as served:
        admin = {"Authorization": f"Bearer {served.admin_token}"}
        async with httpx.AsyncClient(base_url=served.root + API_PREFIX) as client:
            node_id = (await client.post("/nodes/join", json=ask(key))).json()["node_id"]
            refused = await client.post(f"/join-requests/{node_id}/refuse", headers=admin)
            assert refused.json()["state"] == "refused"
            token = served.admin_token
    async with (
        served_hub(tmp_path / "hub", approve_lan=True) as served,
        httpx.AsyncClient(base_url=served.root + API_PREFIX) as client,
    ):
        again = await client.post("/nodes/join", json=ask(key))
        assert again.status_code == 403
        detail = again.json()["detail"]
        assert detail.startswith(f"an admin refused this node (desk-7, {node_id}")
        # An admin who changes their mind lets it in; an approved node cannot be refused.
        admin = {"Authorization": f"Bearer {token}"}
        approved = await client.post(f"/join-requests/{node_id}/approve", headers=admin)
        assert approved.json()["state"] == "approved"
        assert (await client.post("/nodes/join", json=ask(key))).status_code == 202
        late = await client.post(f"/join-requests/{node_id}/refuse", headers=admin)
        assert late.status_code == 409
        assert "wit nodes --revoke" in late.json()["detail"]
        # Forgotten, it may ask afresh, and waits again.
        assert (await client.delete(f"/nodes/{node_id}", headers=admin)).status_code == 200
        fresh = (await client.post("/nodes/join", json=ask(key))).json()
        assert fresh["state"] == "pending" and fresh["node_id"] != node_id


async def test_a_hub_without_approve_lan_refuses_nodes_without_a_token(tmp_path: Path) -> None:
    key = NodeKey.load_or_make(tmp_path / "node")
    async with served_hub(tmp_path / "hub") as served:
        async with httpx.AsyncClient(base_url=served.root + API_PREFIX) as client:
            answer = await client.post("/nodes/join", json=ask(key))
        assert served.hub.store.list_joins() == []
    assert answer.status_code == 403
    assert answer.json()["detail"] == (
        "this hub takes new nodes with a join token only (it was started without "
        "--approve-lan): make one on the hub's machine with `wit token create --role node`, "
        "then wit node --token …"
    )


def in_process(tmp_path: Path, peer: str, **settings: Any) -> httpx.AsyncClient:
    """A client of a hub (with --approve-lan) that sees it as coming from `peer`."""
    hub_settings = HubSettings(
        data_dir=tmp_path / "hub", advertise=False, approve_lan=True, **settings
    )
    app = create_app(hub_settings, build_hub(hub_settings))
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://hub" + API_PREFIX)


@pytest.mark.parametrize(
    ("peer", "status"),
    [
        ("192.168.1.20", 202),
        ("10.1.2.3", 202),
        ("172.31.0.9", 202),
        ("169.254.10.10", 202),
        ("fd12:3456::7", 202),
        ("fe80::1", 202),
        ("::ffff:192.168.1.20", 202),
        ("::1", 202),
        ("203.0.113.5", 403),
        ("8.8.8.8", 403),
        ("100.64.1.1", 403),
        ("2001:4860::8888", 403),
        ("::ffff:8.8.8.8", 403),
    ],
)
async def test_only_an_ask_from_the_local_network_is_taken(
    tmp_path: Path, peer: str, status: int
) -> None:
    key = NodeKey.load_or_make(tmp_path / "node")
    async with in_process(tmp_path, peer) as client:
        answer = await client.post("/nodes/join", json=ask(key))
    assert answer.status_code == status, answer.text
    if status == 403:
        assert "is not a private or link-local address" in answer.json()["detail"]


async def test_a_forwarded_address_counts_only_from_a_trusted_proxy(tmp_path: Path) -> None:
    key = NodeKey.load_or_make(tmp_path / "node")
    forwarded = {"X-Forwarded-For": "192.168.1.20"}
    async with in_process(tmp_path / "a", "203.0.113.5") as client:
        answer = await client.post("/nodes/join", json=ask(key), headers=forwarded)
    assert answer.status_code == 403
    assert answer.json()["detail"].startswith("203.0.113.5 is not a private")
    async with in_process(tmp_path / "b", "8.8.4.4", trusted_proxies=("8.8.4.4",)) as client:
        answer = await client.post("/nodes/join", json=ask(key), headers=forwarded)
    assert answer.status_code == 202, answer.text
    # A trusted proxy that names a public client is refused as that client.
    async with in_process(tmp_path / "c", "192.168.1.1", trusted_proxies=("192.168.1.1",)) as c:
        answer = await c.post("/nodes/join", json=ask(key), headers={"X-Forwarded-For": "1.2.3.4"})
    assert answer.status_code == 403


async def test_wit_nodes_lists_waiting_nodes_and_answers_them_by_name(tmp_path: Path) -> None:
    from tests.unit.hub.test_node_admin import wit

    keys = [NodeKey.load_or_make(tmp_path / name) for name in ("desk", "intruder")]
    async with served_hub(tmp_path / "hub", approve_lan=True) as served:
        async with httpx.AsyncClient(base_url=served.root + API_PREFIX) as client:
            for key, name in zip(keys, ("desk", "intruder"), strict=True):
                assert (await client.post("/nodes/join", json=ask(key, name))).status_code == 202
        token, hub = served.admin_token, ("--hub", served.root)
        code, out, err = await wit(token, "nodes", *hub)
        assert code == 0, err
        assert "Waiting for approval" in out
        for key, name in zip(keys, ("desk", "intruder"), strict=True):
            line = next(line for line in out.splitlines() if line.startswith(name))
            assert "pending" in line and short_fingerprint(key.fingerprint) in line, out
            assert "127.0.0.1" in line and "cores" in line, out  # its address and machine
        code, out, err = await wit(token, "nodes", *hub, "--refuse", "intruder")
        assert code == 0, err
        assert out.startswith("refused node intruder (node_") and "refused from now on" in out
        code, out, err = await wit(token, "nodes", *hub, "--approve", "nobody")
        assert (code, err) == (1, "wit nodes: no node is called or has the id 'nobody'\n")
        code, out, err = await wit(token, "nodes", *hub, "--asks", "--json")
        assert code == 0, err
        states = {a["name"]: a["state"] for a in json.loads(out)}
        assert states == {"desk": "pending", "intruder": "refused"}
        viewer = served.hub.book.issue(Role.VIEWER).text
        code, out, err = await wit(viewer, "nodes", *hub, "--approve", "desk")
        assert code == 1 and "a viewer token may not use POST" in err


async def test_asks_past_the_bound_of_waiting_nodes_are_turned_away_until_some_are_answered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from witengine.hub.auth import admissions

    monkeypatch.setattr(admissions, "MAX_WAITING", 3)
    keys = [NodeKey.load_or_make(tmp_path / f"node{n}") for n in range(5)]
    async with in_process(tmp_path, "192.168.1.20") as client:
        answers = [(await client.post("/nodes/join", json=ask(key))) for key in keys[:4]]
        assert [a.status_code for a in answers] == [202, 202, 202, 429]
        assert answers[3].json()["detail"] == (
            "3 nodes are waiting for approval already: the hub takes no more until an admin "
            "approves or refuses some (wit nodes --approve/--refuse)"
        )
        # Those already waiting still ask; once one is answered, a new one may ask.
        assert (await client.post("/nodes/join", json=ask(keys[0]))).status_code == 202
        app = client._transport.app  # type: ignore[attr-defined]
        app.state.admissions.decide(answers[0].json()["node_id"], Admission.REFUSED, "tok_x")
        assert (await client.post("/nodes/join", json=ask(keys[4]))).status_code == 202
