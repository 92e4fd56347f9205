"""The blackboard's API on a real hub: versions and ETags, compare-and-set (412), create-only,
deletes as versions, history, listing, the stream of changes (complete and resumable), the
hub's limits, and who may write which keys (403)."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from witengine.hub.limits import Limits
from witengine.security.tokens import Role

if TYPE_CHECKING:  # pytest runs without the repository on sys.path
    from tests.unit.hub.conftest import LiveHub

pytestmark = pytest.mark.timeout(60)


async def put(
    hub: LiveHub, key: str, value: Any, headers: dict[str, str] | None = None
) -> httpx.Response:
    return await hub.client.put(f"/board/{key}", json={"value": value}, headers=headers or {})


async def test_a_key_reads_back_with_its_version_as_etag(live_hub: LiveHub) -> None:
    written = await put(live_hub, "frames/12", {"node": "box", "frames": [1, 2]})
    assert written.status_code == 200, written.text
    assert written.headers["etag"] == '"1"'
    body = written.json()
    assert body["version"] == 1 and body["writer"].startswith("admin tok_") and body["seq"] >= 1
    read = await live_hub.client.get("/board/frames/12")
    assert read.status_code == 200 and read.headers["etag"] == '"1"'
    assert read.json()["value"] == {"node": "box", "frames": [1, 2]}
    assert (await live_hub.client.get("/board/frames/13")).status_code == 404


async def test_if_match_writes_only_at_that_version(live_hub: LiveHub) -> None:
    await put(live_hub, "plan", "a")
    assert (await put(live_hub, "plan", "b", {"If-Match": '"1"'})).status_code == 200
    late = await put(live_hub, "plan", "c", {"If-Match": "1"})
    assert late.status_code == 412
    assert late.json()["detail"] == "key 'plan' is at version 2, not at version 1"
    assert late.headers["etag"] == '"2"'
    assert (await live_hub.client.get("/board/plan")).json()["value"] == "b"
    bad = await put(live_hub, "plan", "d", {"If-Match": "two"})
    assert bad.status_code == 400 and "If-Match" in bad.json()["detail"]
    assert (await put(live_hub, "plan", "e", {"If-Match": "*"})).status_code == 200
    assert (await put(live_hub, "nothing", "e", {"If-Match": "*"})).status_code == 412


async def test_if_none_match_creates_only_and_one_of_many_racing_writers_wins(
    live_hub: LiveHub,
) -> None:
    answers = await asyncio.gather(
        *(put(live_hub, "lock", n, {"If-None-Match": "*"}) for n in range(30))
    )
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] + [412] * 29
    winner = next(a.json()["value"] for a in answers if a.status_code == 200)
    history = (await live_hub.client.get("/board/lock/history")).json()
    assert [(v["version"], v["value"]) for v in history] == [(1, winner)]


async def test_a_delete_is_a_version_kept_in_the_history(live_hub: LiveHub) -> None:
    await put(live_hub, "k", 1)
    assert (await live_hub.client.delete("/board/k", headers={"If-Match": "2"})).status_code == 412
    gone = await live_hub.client.delete("/board/k", headers={"If-Match": "1"})
    assert gone.status_code == 200 and gone.json()["deleted"] is True
    read = await live_hub.client.get("/board/k")
    assert read.status_code == 404 and "was deleted (version 2" in read.json()["detail"]
    assert (await live_hub.client.delete("/board/k")).status_code == 404
    assert (await live_hub.client.get("/board")).json() == []
    await put(live_hub, "k", 3, {"If-None-Match": "*"})
    history = (await live_hub.client.get("/board/k/history")).json()
    assert [(v["version"], v["value"], v["deleted"]) for v in history] == [
        (3, 3, False),
        (2, None, True),
        (1, 1, False),
    ]
    assert (await live_hub.client.get("/board/none/history")).status_code == 404


async def test_keys_are_listed_by_name_under_a_prefix(live_hub: LiveHub) -> None:
    for key in ["shots/b", "shots/a", "notes"]:
        await put(live_hub, key, key)
    listed = await live_hub.client.get("/board", params={"prefix": "shots/"})
    assert [v["key"] for v in listed.json()] == ["shots/a", "shots/b"]


async def read_changes(
    hub: LiveHub, count: int, headers: dict[str, str] | None = None, **params: Any
) -> list[dict[str, Any]]:
    """The first `count` changes the stream sends, with their event ids."""
    found: list[dict[str, Any]] = []
    async with asyncio.timeout(20):
        async with hub.client.stream(
            "GET", "/board-changes", params=params, headers=headers or {}
        ) as stream:
            assert stream.status_code == 200
            event_id = None
            async for line in stream.aiter_lines():
                if line.startswith("id: "):
                    event_id = int(line.removeprefix("id: "))
                if line.startswith("data: "):
                    change = json.loads(line.removeprefix("data: "))
                    assert change["seq"] == event_id
                    found.append(change)
                    if len(found) == count:
                        return found
    return found


async def test_the_stream_has_every_change_in_order_then_new_ones_and_resumes(
    live_hub: LiveHub,
) -> None:
    await put(live_hub, "a", 1)
    await put(live_hub, "b", 2)
    await live_hub.client.delete("/board/a")

    async def later() -> None:
        await asyncio.sleep(0.2)
        await put(live_hub, "c", 3)

    writer = asyncio.create_task(later())
    changes = await read_changes(live_hub, 4)
    await writer
    assert [(c["key"], c["version"], c["deleted"]) for c in changes] == [
        ("a", 1, False),
        ("b", 1, False),
        ("a", 2, True),
        ("c", 1, False),
    ]
    seqs = [c["seq"] for c in changes]
    assert seqs == sorted(seqs) and len(set(seqs)) == 4
    resumed = await read_changes(live_hub, 2, since=seqs[1])
    assert [c["seq"] for c in resumed] == seqs[2:]
    by_header = await read_changes(live_hub, 1, {"Last-Event-ID": str(seqs[2])})
    assert [c["seq"] for c in by_header] == seqs[3:]
    only_c = await read_changes(live_hub, 1, prefix="c")
    assert [c["key"] for c in only_c] == ["c"]


async def test_bad_keys_and_values_are_refused_saying_why(live_hub: LiveHub) -> None:
    for key, status in [("a//b", 422), ("a/%2E%2E/b", 422), ("a/history", 422), ("x" * 201, 413)]:
        answer = await put(live_hub, key, 1)
        assert answer.status_code == status, (key, answer.text)
    assert (await put(live_hub, "a//b", 1)).json()["detail"].startswith("the key 'a//b' has")
    long = await put(live_hub, "x" * 201, 1)
    assert long.status_code == 413 and "limits.board_key_chars = 200" in long.json()["detail"]
    space = await live_hub.client.put("/board/a%20b", json={"value": 1})
    assert space.status_code == 422
    big = await put(live_hub, "big", "x" * 70_000)
    assert big.status_code == 413 and "limits.board_value_bytes = 65,536" in big.json()["detail"]
    nan = await live_hub.client.put(
        "/board/nan", content=b'{"value": [NaN]}', headers={"Content-Type": "application/json"}
    )
    assert nan.status_code == 422
    surrogate = await live_hub.client.put(
        "/board/s",
        content=b'{"value": {"a": "\\ud800"}}',
        headers={"Content-Type": "application/json"},
    )
    assert surrogate.status_code == 422 and "surrogate" in surrogate.json()["detail"]
    assert (await live_hub.client.get("/board")).json() == []


@pytest.mark.parametrize(
    "live_hub", [{"limits": Limits(board_keys=2, board_history=3)}], indirect=True
)
async def test_the_number_of_keys_and_versions_kept_are_bounded(live_hub: LiveHub) -> None:
    for n in range(5):
        await put(live_hub, "a", n)
    await put(live_hub, "b", 0)
    full = await put(live_hub, "c", 0)
    assert full.status_code == 413 and "limits.board_keys = 2" in full.json()["detail"]
    history = (await live_hub.client.get("/board/a/history")).json()
    assert [v["version"] for v in history] == [5, 4, 3]


async def test_viewers_read_and_may_not_write(live_hub: LiveHub) -> None:
    await put(live_hub, "k", 1)
    viewer = live_hub.headers(live_hub.issue(Role.VIEWER))
    assert (await live_hub.client.get("/board/k", headers=viewer)).status_code == 200
    refused = await live_hub.client.put("/board/k", json={"value": 2}, headers=viewer)
    assert refused.status_code == 403
    assert (await live_hub.client.delete("/board/k", headers=viewer)).status_code == 403
    assert (await live_hub.client.get("/board/k")).json()["version"] == 1


async def test_a_node_writes_its_own_keys_only(live_hub: LiveHub) -> None:
    node = live_hub.headers(live_hub.issue(Role.NODE, node_id="node_a"))
    own = await live_hub.client.put("/board/nodes/node_a/plan", json={"value": 1}, headers=node)
    assert own.status_code == 200 and own.json()["writer"] == "node node_a"
    for key in ["nodes/node_b/plan", "shared", "farm/rates"]:
        refused = await live_hub.client.put(f"/board/{key}", json={"value": 1}, headers=node)
        assert refused.status_code == 403, key
    assert "a node writes only its own keys" in refused.json()["detail"] or key == "farm/rates"
    assert (await live_hub.client.get("/board/shared", headers=node)).status_code == 404
    audit = live_hub.hub.store.audit(limit=5)
    assert any(a.action == "board.write" and a.outcome == "refused" for a in audit)


async def test_submitters_may_not_write_a_nodes_keys_nor_anyone_the_hubs(
    live_hub: LiveHub,
) -> None:
    submitter = live_hub.headers(live_hub.issue(Role.SUBMITTER))
    ok = await live_hub.client.put("/board/shots/a", json={"value": 1}, headers=submitter)
    assert ok.status_code == 200 and ok.json()["writer"].startswith("submitter tok_")
    for key in ["nodes/node_a/plan", "farm/rates"]:
        refused = await live_hub.client.put(f"/board/{key}", json={"value": 1}, headers=submitter)
        assert refused.status_code == 403, key
    assert (await put(live_hub, "farm/rates", 1)).status_code == 403  # nor an admin
    assert (await put(live_hub, "nodes/node_a/plan", 1)).status_code == 200  # an admin may
