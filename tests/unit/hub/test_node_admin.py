"""Running a farm's nodes over real HTTP on 127.0.0.1: forgetting a node (a retired machine:
refused while it is connected, then its record, rates and credential go, it cannot come back
without a new join token, and the audit log says who did it), and `wit nodes` draining,
resuming and forgetting nodes by name."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import TYPE_CHECKING, Any

import pytest
import websockets

from witengine import __version__
from witengine.protocol import BenchmarkReport
from witengine.security.tokens import Role
from witengine.testing.fake_nodes import FakeNode, node_link, running

if TYPE_CHECKING:
    from tests.unit.hub.conftest import LiveHub

pytestmark = pytest.mark.timeout(60)


async def test_a_node_is_forgotten_only_when_not_connected_and_its_credential_goes_with_it(
    live_hub: LiveHub,
) -> None:
    root = live_hub.url.removesuffix("/api/v1")
    join = live_hub.issue(Role.JOIN)
    rate = BenchmarkReport(
        activity="Compute.Sleep",
        unit="milliseconds@1",
        rate=900.0,
        elapsed=1.0,
        iterations=9,
        plugin="compute",
        plugin_version=__version__,
    )
    retired = FakeNode(root, "retired", join_token=join, benchmarks=[rate])
    async with running(retired, FakeNode(root, "kept", join_token=join)):
        assert retired.node_id is not None
        refused = await live_hub.client.delete(f"/nodes/{retired.node_id}")
        assert refused.status_code == 409
        assert refused.json()["detail"] == (
            f"node retired ({retired.node_id}) is connected; stop it first (Ctrl-C or SIGTERM "
            "to its wit node), then forget it"
        )
    listed = {n["name"]: n for n in (await live_hub.client.get("/nodes")).json()}
    assert listed["retired"]["state"] == "offline" and listed["retired"]["rates"]

    forgot = await live_hub.client.delete(f"/nodes/{retired.node_id}")
    assert forgot.status_code == 200, forgot.text
    assert forgot.json()["name"] == "retired" and len(forgot.json()["revoked"]) == 1
    assert [n["name"] for n in (await live_hub.client.get("/nodes")).json()] == ["kept"]
    assert live_hub.hub.store.get_node(retired.node_id) is None
    assert not [r for r in live_hub.hub.store.list_rates() if r.node_id == retired.node_id]
    with pytest.raises(websockets.InvalidStatus) as back:
        await node_link(root, retired.token)
    assert back.value.response.status_code == 401

    again = await live_hub.client.delete(f"/nodes/{retired.node_id}")
    assert again.status_code == 404 and again.json()["detail"] == f"no node {retired.node_id}"
    audit = (await live_hub.client.get("/audit")).json()
    actions = [(line["action"], line["outcome"]) for line in audit]
    assert ("node.forget", "ok") in actions and ("node.forget", "connected") in actions
    assert ("node.forget", "unknown node") in actions


async def wit(token: str, *args: str) -> tuple[int, str, str]:
    """The `wit` command, without blocking this loop (the hub under test runs in it)."""
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "witengine", *args),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "WIT_TOKEN": token},
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_wit_nodes_forget_takes_a_name_and_says_why_it_cannot(live_hub: LiveHub) -> None:
    root = live_hub.url.removesuffix("/api/v1")
    join = live_hub.issue(Role.JOIN)
    retired, busy = (
        FakeNode(root, "retired", join_token=join),
        FakeNode(root, "busy", join_token=join),
    )
    async with running(retired):
        pass
    async with running(busy):
        code, _, err = await wit(live_hub.token, "nodes", "--hub", root, "--forget", "busy")
        assert code == 1 and f"node busy ({busy.node_id}) is connected; stop it first" in err
        code, _, err = await wit(live_hub.token, "nodes", "--hub", root, "--forget", "nobody")
        assert (code, err) == (1, "wit nodes: no node is called or has the id 'nobody'\n")
        code, out, err = await wit(live_hub.token, "nodes", "--hub", root, "--forget", "retired")
    assert code == 0, err
    assert out.startswith(f"forgot node retired ({retired.node_id}); revoked tok_"), out
    assert [n["name"] for n in (await live_hub.client.get("/nodes")).json()] == ["busy"]


async def test_wit_nodes_drains_and_resumes_a_node_by_name(live_hub: LiveHub) -> None:
    root = live_hub.url.removesuffix("/api/v1")
    node = FakeNode(root, "studio", join_token=live_hub.issue(Role.JOIN))
    view = live_hub.hub.dispatcher.view
    async with running(node):
        code, out, err = await wit(live_hub.token, "nodes", "--hub", root, "--drain", "studio")
        assert code == 0, err
        assert out == (
            f"drained node studio ({node.node_id}): it finishes what it holds, gets nothing new\n"
        )
        assert view.drained(node.node_id)
        code, out, err = await wit(live_hub.token, "nodes", "--hub", root, "--json")
        assert [n["state"] for n in json.loads(out)] == ["drained"], err
        code, out, err = await wit(live_hub.token, "nodes", "--hub", root)
        assert "drained" in out and "online" not in out, out
        code, out, err = await wit(live_hub.token, "nodes", "--hub", root, "--resume", "studio")
        assert (code, out) == (0, f"node studio ({node.node_id}) takes work again\n"), err
        assert not view.drained(node.node_id)
        assert [n["state"] for n in (await live_hub.client.get("/nodes")).json()] == ["idle"]
        both = ("--drain", "studio", "--forget", "studio")
        code, _, err = await wit(live_hub.token, "nodes", "--hub", root, *both)
        assert (code, err) == (
            2,
            "wit nodes: give one of --drain, --resume, --forget, --approve, --refuse and "
            "--revoke at a time\n",
        )


FOLLOWED = """\
Job:Followed(Int:n = 6)
{
    Trace("starting");
    IntCollection:slept = Grid.ForEach(i in Int.Range(1, n)) => Compute.Sleep(i);
}
"""


@pytest.mark.parametrize(
    ("broken", "code", "status"), [(False, 0, "completed"), (True, 1, "failed")]
)
async def test_wit_job_follow_shows_a_running_job_as_wit_run_does_and_exits_with_its_status(
    live_hub: LiveHub, broken: bool, code: int, status: str
) -> None:
    root = live_hub.url.removesuffix("/api/v1")

    def fail(activity: str, args: list[Any]) -> str | None:
        return "no sleep for item 3" if broken and args[0] == 3 else None

    node = FakeNode(root, "sleeper", item_seconds=0.2, fail=fail, token=live_hub.token)
    async with running(node):
        job = await live_hub.submit(FOLLOWED)
        code_seen, _, err = await wit(live_hub.token, "job", "--hub", root, job["id"], "-f")
    assert code_seen == code, err
    assert "starting" in err, "the job's traces, from its start"
    assert "line 4 Compute.Sleep" in err, "a progress bar per Grid.ForEach"
    assert err.rstrip().splitlines()[-1].startswith(f"{job['id']}: {status}"), err
    if not broken:
        assert "Work by node" in err and "sleeper" in err
