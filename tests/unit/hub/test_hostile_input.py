"""Hostile and oversized input to a live hub: a 4xx naming what is wrong, never a 500, nothing
half stored; a node link that sends garbage is closed with a reason, and the hub goes on."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import websockets
from pydantic import TypeAdapter

from witengine.hub.limits import Limits
from witengine.protocol import Assign, HubMessage, Results, TaskResult, Welcome
from witengine.protocol.states import JobStatus
from witengine.testing.fake_nodes import FakeNode, enrolled_by_admin, node_link

if TYPE_CHECKING:
    from tests.unit.hub.conftest import LiveHub

_HUB_MESSAGE: TypeAdapter[HubMessage] = TypeAdapter(HubMessage)
SMALL = Limits(
    request_bytes=8192,
    script_chars=400,
    parameters=3,
    parameter_chars=20,
    files_per_parameter=2,
    file_name_chars=24,
    node_message_bytes=16384,
    map_items=5,
)
small_hub = pytest.mark.parametrize(
    "live_hub", [{"limits": SMALL, "max_blob_bytes": 1000}], indirect=True
)
DONE = 'Job:Done(Int:n = 1, String:s = "", Int:m = 0)\n{\nInt:twice = n * 2;\n}\n'
SHA = "ab" * 32


def blob(name: str = "") -> dict[str, Any]:
    return {"sha256": SHA, "size": 3, "name": name}


async def no_jobs(live: LiveHub) -> None:
    answer = await live.client.get("/jobs")
    assert answer.status_code == 200 and answer.json() == [], "a refused job was stored"


# ------------------------------------------------------------------- limits


@small_hub
@pytest.mark.parametrize(
    ("body", "limit", "value"),
    [
        ({"script": DONE + " " * 400}, "script_chars", f"{len(DONE) + 400:,}"),
        (
            {"script": DONE, "parameters": {"n": "1", "s": "x", "m": "2", "o": "3"}},
            "parameters",
            "4",
        ),
        ({"script": DONE, "parameters": {"s": "x" * 21}}, "parameter_chars", "21"),
        ({"script": DONE, "files": {"f": [blob(), blob(), blob()]}}, "files_per_parameter", "3"),
        ({"script": DONE, "files": {"f": blob("x" * 25)}}, "file_name_chars", "25"),
        ({"script": DONE, "filename": "d" * 30 + ".wit"}, "file_name_chars", "34"),
        ({"script": DONE, "parameters": {"p" * 30: "1"}}, "file_name_chars", "30"),
    ],
)
async def test_a_job_over_a_limit_is_refused_whole_naming_the_limit_and_the_value(
    live_hub: LiveHub, body: dict[str, Any], limit: str, value: str
) -> None:
    for route in ("/jobs", "/check"):
        answer = await live_hub.client.post(route, json=body)
        assert answer.status_code == 413, answer.text
        detail = answer.json()["detail"]
        assert f"limits.{limit} = " in detail and f" {value}" in detail, detail
    await no_jobs(live_hub)


@small_hub
async def test_a_body_over_the_request_limit_is_413_whether_its_length_is_declared_or_not(
    live_hub: LiveHub,
) -> None:
    body = b'{"script": "' + b"x" * 10_000 + b'"}'
    answer = await live_hub.client.post(
        "/jobs", content=body, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 413
    assert answer.json()["detail"] == (
        "the request body (10,014 bytes) is over the hub's limit limits.request_bytes = 8,192 bytes"
    )

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(20):
            yield b" " * 1000

    answer = await live_hub.client.post(
        "/jobs", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 413
    assert "limits.request_bytes = 8,192 bytes" in answer.json()["detail"]
    await no_jobs(live_hub)


@small_hub
async def test_a_blob_over_its_limit_is_refused_and_leaves_no_partial_file(
    live_hub: LiveHub,
) -> None:
    data = b"z" * 2000
    digest = "a" * 64

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(data), 100):
            yield data[start : start + 100]

    for content in (data, chunks()):
        answer = await live_hub.client.put(f"/blobs/{digest}", content=content)
        assert answer.status_code == 413, answer.text
        assert "over the hub's limit max_blob_bytes = 1,000" in answer.json()["detail"]
    assert (await live_hub.client.head(f"/blobs/{digest}")).status_code == 404
    root = live_hub.hub.blobs.root
    assert [p for p in root.rglob("*") if p.is_file()] == [], "a partial upload was left"


@small_hub
async def test_a_map_over_the_item_limit_fails_its_job_naming_the_limit(
    live_hub: LiveHub,
) -> None:
    script = (
        "Job:Many()\n{\n"
        "IntCollection:slept = Grid.ForEach(i in Int.Range(0, 6)) => Compute.Sleep(1);\n}\n"
    )
    answer = await live_hub.client.post("/jobs", json={"script": script})
    assert answer.status_code == 201, answer.text
    job = await wait_for_end(live_hub, answer.json()["id"])
    assert job["status"] == "failed"
    assert "the number of items is 6, over the hub's limit limits.map_items = 5" in job["error"]


async def wait_for_end(live: LiveHub, job_id: str) -> dict[str, Any]:
    for _ in range(200):  # bounded: 10 s
        job: dict[str, Any] = (await live.client.get(f"/jobs/{job_id}")).json()
        if JobStatus(job["status"]).ended:
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} did not end: {job}")


# --------------------------------------------------------------- malformed


HOSTILE_NAMES = ["../../etc/passwd", "/etc/passwd", "..\\..\\boot.ini", "..", "a\x00b", "\x1b[2J"]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
async def test_a_file_named_to_escape_its_folder_is_refused_at_the_door(
    live_hub: LiveHub, name: str
) -> None:
    answer = await live_hub.client.post("/jobs", json={"script": DONE, "files": {"f": blob(name)}})
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"]
    assert "body.files.f" in detail and "name" in detail, detail
    await no_jobs(live_hub)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"{", "JSON decode error"),
        (b"\x00\xff", "JSON decode error"),
        (b"[]", "body: Input should be a valid dictionary"),
        (b'{"script": 7}', "body.script: Input should be a valid string"),
        (b'{"script": "", "extra": 1}', "body.extra: Extra inputs are not permitted"),
        (b'{"script": "", "filename": "job\\u0007.wit"}', "NUL or control character"),
        (b'{"script": "", "files": {"f": {"sha256": "../x", "size": -1}}}', "sha256"),
        (b'{"script": "Job:A()\\n{\\n\\ud800\\n}"}', "body.script: Value error, not text"),
        (b'{"script": "", "parameters": {"s": "\\udc00"}}', "body.parameters.s: Value error"),
        (b'{"script": "", "parameters": {"\\udc00": "1"}}', "lone surrogate"),
    ],
)
async def test_a_malformed_request_is_422_with_a_reason(
    live_hub: LiveHub, content: bytes, reason: str
) -> None:
    answer = await live_hub.client.post(
        "/jobs", content=content, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 422
    assert reason in answer.json()["detail"]
    await no_jobs(live_hub)


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/jobs?limit=-1", {}),
        ("/jobs?limit=100000000000000000000000", {}),
        ("/jobs?limit=x", {}),
        ("/jobs/{job}/events?after=-5", {}),
        ("/jobs/{job}/events?after=99999999999999999999999", {}),
        ("/blobs/..%2F..%2Fetc%2Fpasswd", {}),
        ("/plugins/..%2F..%2Fetc/passwd/bundle", {}),
        ("/jobs/{job}/events", {"Last-Event-ID": "²".encode()}),
        ("/jobs/{job}/events", {"Last-Event-ID": "9" * 40}),
    ],
)
async def test_odd_parameters_get_a_4xx_or_an_answer_never_a_500(
    live_hub: LiveHub, path: str, headers: dict[str, str | bytes]
) -> None:
    job = (await live_hub.client.post("/jobs", json={"script": DONE})).json()["id"]
    await wait_for_end(live_hub, job)
    answer = await live_hub.client.get(path.format(job=job), headers=headers)
    assert answer.status_code < 500, answer.text
    if answer.status_code >= 400:
        assert answer.json()["detail"]


async def test_a_defect_answers_500_with_an_error_id_and_logs_the_traceback(
    live_hub: LiveHub, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(limit: int) -> list[Any]:
        raise RuntimeError("the store fell over")

    monkeypatch.setattr(live_hub.hub.service.store, "list_jobs", broken)
    with caplog.at_level(logging.ERROR, logger="witengine.hub.http_errors"):
        answer = await live_hub.client.get("/jobs")
    assert answer.status_code == 500
    detail = answer.json()["detail"]
    found = re.fullmatch(
        r"internal error (err_[0-9a-f]{12}); the hub's log has the details", detail
    )
    assert found, detail
    assert "the store fell over" not in detail  # nothing of the inside reaches the client
    [record] = [r for r in caplog.records if found.group(1) in r.getMessage()]
    assert record.exc_info is not None and "the store fell over" in str(record.exc_info[1])
    monkeypatch.undo()
    assert (await live_hub.client.get("/jobs")).status_code == 200


# -------------------------------------------------------------- node links


def root(live: LiveHub) -> str:
    return live.url.removesuffix("/api/v1")


async def closed_with(link: websockets.ClientConnection) -> tuple[int, str]:
    """Read until the hub closes the link: its close code and reason."""
    with pytest.raises(websockets.ConnectionClosed) as closed:
        for _ in range(100):  # bounded: a few messages at most come before the close
            await asyncio.wait_for(link.recv(), 10)
    assert closed.value.rcvd is not None, "the link dropped without a close frame"
    return closed.value.rcvd.code, closed.value.rcvd.reason


@small_hub
@pytest.mark.parametrize(
    ("frames", "code", "reason"),
    [
        ([b"\x00binary"], 1008, "valid hello: the hub reads JSON text frames only"),
        (["not json"], 1008, "the first message must be a valid hello"),
        (["hello", "{"], 1008, "invalid message: "),
        (["hello", '{"kind": "results", "batch_id": 1}'], 1008, "invalid message: results"),
        (["hello", '{"kind": "launch"}'], 1008, "invalid message: "),
        (  # a result is an array: its fields are named all the same
            ["hello", '{"kind": "results", "batch_id": "b", "results": [["m", -1, 1, true]]}'],
            1008,
            "invalid message: results.results.0.index: Input should be greater than or equal to 0",
        ),
        (
            ["hello", '{"kind": "results", "batch_id": "b", "results": [["m", 0, 1, true, 1, 2]]}'],
            1008,
            "invalid message: results.results.0.error: Input should be a valid string",
        ),
        (["hello", b"\x00binary"], 1003, "the hub reads JSON text frames only"),
        (["hello", "x" * 20_000], 1009, ""),
    ],
)
async def test_a_node_link_sending_garbage_is_closed_with_a_reason(
    live_hub: LiveHub, frames: list[str | bytes], code: int, reason: str
) -> None:
    node = FakeNode(root(live_hub), "garbage")
    credential, _ = await enrolled_by_admin(root(live_hub), live_hub.token, "garbage")
    async with node_link(root(live_hub), credential) as link:
        for frame in frames:
            await link.send(node.hello().model_dump_json() if frame == "hello" else frame)
        closed = await closed_with(link)
    assert closed[0] == code and reason in closed[1], closed
    assert (await live_hub.client.get("/health")).status_code == 200


async def test_results_acknowledged_before_a_malformed_message_are_kept(
    live_hub: LiveHub,
) -> None:
    """A node sends two results, hears them acknowledged, then garbage: the hub closes its link,
    keeps the two, and another node finishes the rest (which it would not redo)."""
    script = (
        "Job:Sleepy()\n{\n"
        "IntCollection:slept = Grid.ForEach(i in Int.Range(0, 6)) => Compute.Sleep(i);\n}\n"
    )
    job = (await live_hub.client.post("/jobs", json={"script": script})).json()["id"]
    node = FakeNode(root(live_hub), "first")
    credential, _ = await enrolled_by_admin(root(live_hub), live_hub.token, "first")
    async with node_link(root(live_hub), credential) as link:
        await link.send(node.hello().model_dump_json())
        Welcome.model_validate_json(await asyncio.wait_for(link.recv(), 10))
        assign = await next_of(link, Assign)
        mine = assign.tasks[:2]
        results = [
            TaskResult(
                map_id=t.map_id, index=t.index, attempt=t.attempt, ok=True, value=1000 + t.index
            )
            for t in mine
        ]
        await link.send(Results(batch_id=assign.batch_id, results=results).model_dump_json())
        ack = await next_of(link, HubMessage)
        await link.send("{not json")
        code, reason = await closed_with(link)
    assert code == 1008 and reason.startswith("invalid message"), (code, reason, ack)
    rest = FakeNode(root(live_hub), "second", token=live_hub.token, item_seconds=0.001)
    running = asyncio.create_task(rest.run())
    try:
        finished = await wait_for_end(live_hub, job)
    finally:
        running.cancel()
    assert finished["status"] == "completed", finished
    slept = finished["variables"]["slept"]
    for task in mine:
        assert slept[task.index] == 1000 + task.index  # the acknowledged values, not redone
    assert sorted(slept[i] for i in range(6) if i not in {t.index for t in mine}) == sorted(
        i for i in range(6) if i not in {t.index for t in mine}
    )


async def next_of(link: websockets.ClientConnection, kind: Any) -> Any:
    """The next message of `kind` from the hub (an Ack when `kind` is HubMessage: any)."""
    for _ in range(50):  # bounded
        message = _HUB_MESSAGE.validate_json(await asyncio.wait_for(link.recv(), 10))
        if kind is HubMessage or isinstance(message, kind):
            if kind is HubMessage and message.kind != "ack":
                continue
            return message
    raise AssertionError(f"no {kind} from the hub")


async def test_a_defect_while_handling_a_node_message_closes_only_that_link(
    live_hub: LiveHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(node_id: str, message: Any) -> None:
        raise RuntimeError("dispatcher defect")

    node = FakeNode(root(live_hub), "victim")
    credential, _ = await enrolled_by_admin(root(live_hub), live_hub.token, "victim")
    async with node_link(root(live_hub), credential) as link:
        await link.send(node.hello().model_dump_json())
        Welcome.model_validate_json(await asyncio.wait_for(link.recv(), 10))
        monkeypatch.setattr(live_hub.hub.dispatcher, "receive", broken)
        await link.send('{"kind": "heartbeat"}')
        code, reason = await closed_with(link)
    assert code == 1011 and re.fullmatch(r"internal error err_[0-9a-f]{12} in the hub", reason)
    monkeypatch.undo()
    assert (await live_hub.client.get("/health")).status_code == 200
    async with httpx.AsyncClient(base_url=live_hub.url) as anonymous:
        assert (await anonymous.get("/health")).status_code == 200
