"""Job routes over real HTTP on 127.0.0.1: submit (stored before the answer), list, get, results,
cancel, pause, resume, events; script and parameter errors as 4xx a user can act on; OpenAPI."""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING

import pytest

from witengine.protocol.states import JobStatus, NodeState

if TYPE_CHECKING:
    from tests.unit.hub.conftest import LiveHub

SUM = """\
Job:Sum(Int:a, Int:b = 2)
{
    Int:total = a + b;
    Trace(Format("total {0}", total));
}
"""

# Needs a node to run Compute.IsPrime; the test hub has none, so the job stays running.
WAITS = """\
Job:Wait(Long:n = 6)
{
    BoolCollection:flags = Grid.ForEach(x in Long.Range(2, n)) => Compute.IsPrime(x);
}
"""

BROKEN = """\
Job:Broken(Int:a)
{
    Int:x = a +;
}
"""

ENDED = {status for status in JobStatus if status.ended}


async def test_a_submitted_job_is_in_the_database_when_the_hub_answers(live_hub: LiveHub) -> None:
    job = await live_hub.submit(SUM, a="40")
    assert job["id"].startswith("job_") and job["name"] == "Sum"
    # Another connection to the hub's SQLite file, as after a crash: the job is already there.
    raw = sqlite3.connect(live_hub.hub.settings.data_dir / "hub.sqlite3")
    try:
        rows = raw.execute("SELECT name, script, parameters FROM jobs WHERE id = ?", (job["id"],))
        assert rows.fetchall() == [("Sum", SUM, '{"a":"40"}')]
    finally:
        raw.close()


async def test_a_finished_job_shows_its_results_and_events(live_hub: LiveHub) -> None:
    job = await live_hub.submit(SUM, a="40")
    done = await live_hub.wait_for(job["id"], ENDED)
    assert done["status"] == "completed", done["error"]
    assert done["variables"] == {"total": 42}
    assert done["types"]["total"] == "Int"
    assert done["parameters"] == {"a": "40"} and done["script"] == SUM
    assert done["started_at"] <= done["finished_at"]
    events = await live_hub.client.get(f"/jobs/{job['id']}/events")
    assert events.status_code == 200
    data = [
        json.loads(line.removeprefix("data: "))
        for line in events.text.splitlines()
        if line.startswith("data: ")
    ]
    assert any("total 42" in json.dumps(event) for event in data), data


async def test_jobs_are_listed_newest_first(live_hub: LiveHub) -> None:
    first = await live_hub.submit(SUM, a="1")
    second = await live_hub.submit(SUM, a="2")
    listed = (await live_hub.client.get("/jobs")).json()
    assert [j["id"] for j in listed] == [second["id"], first["id"]]
    assert [j["id"] for j in (await live_hub.client.get("/jobs?limit=1")).json()] == [second["id"]]


async def test_a_running_job_pauses_resumes_and_cancels(live_hub: LiveHub) -> None:
    job = await live_hub.submit(WAITS)
    await live_hub.wait_for(job["id"], {"running"})
    paused = await live_hub.client.post(f"/jobs/{job['id']}/pause")
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    again = await live_hub.client.post(f"/jobs/{job['id']}/resume")
    assert again.status_code == 200 and again.json()["status"] == "running"
    twice = await live_hub.client.post(f"/jobs/{job['id']}/resume")
    assert twice.status_code == 409
    assert twice.json()["detail"] == f"cannot resume job {job['id']}: it is running"
    cancelled = await live_hub.client.post(f"/jobs/{job['id']}/cancel")
    assert cancelled.status_code == 200
    ended = await live_hub.wait_for(job["id"], ENDED)
    assert ended["status"] == "cancelled"
    late = await live_hub.client.post(f"/jobs/{job['id']}/cancel")
    assert late.status_code == 409
    assert late.json()["detail"] == f"cannot cancel job {job['id']}: it is cancelled"


async def test_a_script_error_is_refused_with_its_location_and_nothing_stored(
    live_hub: LiveHub,
) -> None:
    response = await live_hub.client.post(
        "/jobs", json={"script": BROKEN, "filename": "broken.wit", "parameters": {"a": "1"}}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["detail"].startswith("the script has 1 error(s)\nbroken.wit:3:")
    (diagnostic,) = body["diagnostics"]
    assert (diagnostic["file"], diagnostic["line"]) == ("broken.wit", 3)
    assert diagnostic["column"] >= 13 and diagnostic["message"]
    assert f"broken.wit:3:{diagnostic['column']}: {diagnostic['message']}" in body["detail"]
    assert (await live_hub.client.get("/jobs")).json() == []


async def test_checking_a_script_reports_the_same_error_without_running_it(
    live_hub: LiveHub,
) -> None:
    broken = await live_hub.client.post("/check", json={"script": BROKEN, "filename": "b.wit"})
    assert broken.status_code == 400 and broken.json()["diagnostics"][0]["line"] == 3
    good = await live_hub.client.post("/check", json={"script": SUM})
    assert good.status_code == 200
    assert good.json() == {
        "name": "Sum",
        "parameters": [{"name": "a", "type": "Int"}, {"name": "b", "type": "Int"}],
    }
    assert (await live_hub.client.get("/jobs")).json() == []


@pytest.mark.parametrize(
    ("parameters", "reason"),
    [
        ({"a": "forty"}, "parameter 'a' (Int): "),
        ({"a": "1", "b": "2.5"}, "parameter 'b' (Int): "),
        ({"a": "1", "c": "3"}, "unknown parameter 'c'; Sum takes Int:a, Int:b"),
        ({}, "missing parameter: a=<Int>"),
    ],
)
async def test_a_bad_parameter_is_refused_naming_it(
    live_hub: LiveHub, parameters: dict[str, str], reason: str
) -> None:
    response = await live_hub.client.post("/jobs", json={"script": SUM, "parameters": parameters})
    assert response.status_code == 400, response.text
    assert reason in response.json()["detail"]
    assert (await live_hub.client.get("/jobs")).json() == []


async def test_a_file_parameter_that_was_never_uploaded_is_refused(live_hub: LiveHub) -> None:
    script = "Job:Read(Blob:input)\n{\n    String:text = Compute.ReadText(input);\n}\n"
    missing = {"sha256": "e" * 64, "size": 3, "name": "in.txt"}
    response = await live_hub.client.post(
        "/jobs", json={"script": script, "files": {"input": missing}}
    )
    assert response.status_code == 400, response.text
    assert "in.txt" in response.json()["detail"]
    assert "was not uploaded" in response.json()["detail"]


async def test_a_malformed_request_is_a_422_naming_the_field(live_hub: LiveHub) -> None:
    response = await live_hub.client.post("/jobs", json={"parameters": {"a": 1}})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail.startswith("invalid request: ")
    assert "body.script" in detail


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/jobs/job_nope"),
        ("GET", "/jobs/job_nope/events"),
        ("GET", "/jobs/job_nope/items"),
        ("POST", "/jobs/job_nope/cancel"),
        ("POST", "/jobs/job_nope/pause"),
        ("POST", "/jobs/job_nope/resume"),
    ],
)
async def test_an_unknown_job_is_a_404(live_hub: LiveHub, method: str, path: str) -> None:
    response = await live_hub.client.request(method, path)
    assert response.status_code == 404
    assert response.json() == {"detail": "no job job_nope"}


async def test_the_api_is_described_by_openapi_and_browsable_at_docs(live_hub: LiveHub) -> None:
    root = live_hub.url.removesuffix("/api/v1")
    schema = await live_hub.client.get(f"{root}/openapi.json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in (
        "/api/v1/jobs",
        "/api/v1/jobs/{job_id}",
        "/api/v1/jobs/{job_id}/items",
        "/api/v1/jobs/{job_id}/cancel",
        "/api/v1/jobs/{job_id}/pause",
        "/api/v1/jobs/{job_id}/resume",
        "/api/v1/blobs/{sha256}",
        "/api/v1/nodes",
    ):
        assert path in paths, sorted(paths)
    components = schema.json()["components"]["schemas"]
    assert "ErrorBody" in components
    # The states are enums, defined once: the document lists their values.
    assert components["JobStatus"]["enum"] == [status.value for status in JobStatus]
    assert components["NodeState"]["enum"] == [state.value for state in NodeState]
    for model, field, enum in (
        ("JobSummary", "status", "JobStatus"),
        ("NodeSummary", "state", "NodeState"),
    ):
        assert components[model]["properties"][field] == {"$ref": f"#/components/schemas/{enum}"}
    docs = await live_hub.client.get(f"{root}/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower() and "/openapi.json" in docs.text


async def test_a_defect_in_the_hub_fails_the_job_with_a_message_and_the_hub_goes_on(
    live_hub: LiveHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken_map(*_args: object) -> list[object]:
        raise RuntimeError("the dispatcher broke")

    monkeypatch.setattr(live_hub.hub.dispatcher, "run_map", broken_map)
    job = await live_hub.submit(WAITS)
    done = await live_hub.wait_for(job["id"], ENDED)
    assert done["status"] == "failed"
    assert done["error"] == "internal error in the hub: RuntimeError: the dispatcher broke"
    again = await live_hub.wait_for((await live_hub.submit(SUM, a="1"))["id"], ENDED)
    assert again["status"] == "completed", again["error"]


NAPS = """\
Job:Naps(Int:n = 6)
{
    IntCollection:slept = Grid.ForEach(i in Int.Range(0, n)) => Compute.Sleep(i);
}
"""


async def test_an_ended_jobs_progress_is_still_shown_after_a_hub_restart(
    live_hub: LiveHub,
) -> None:
    from witengine.hub.app import build_hub
    from witengine.hub.routes.jobs import _summary
    from witengine.testing.fake_nodes import FakeNode, running

    root = live_hub.url.removesuffix("/api/v1")
    async with running(FakeNode(root, "n", item_seconds=0.002, token=live_hub.token)):
        job = await live_hub.submit(NAPS)
        done = await live_hub.wait_for(job["id"], ENDED)
    assert done["status"] == "completed", done["error"]
    assert done["progress"] == {"done": 6, "total": 6}
    # A hub started again on the same folder has no run of the job in memory, only its record.
    again = build_hub(live_hub.hub.settings)
    try:
        record = again.store.get_job(job["id"])
        assert record is not None
        shown = _summary(again.service, record).progress
        assert (shown.done, shown.total) == (6, 6)
    finally:
        again.store.close()


async def test_a_5000_digit_integer_is_a_located_400_not_a_500(live_hub: LiveHub) -> None:
    """Issue 15 (hostile input): Python's int() refuses a text of over 4,300 digits, and the hub
    answered 500."""
    script = f"Job:Big()\n{{\n    Object:x = {'9' * 5000};\n}}\n"
    for route in ("/jobs", "/check"):
        response = await live_hub.client.post(route, json={"script": script, "filename": "b.wit"})
        assert response.status_code == 400, route
        (diagnostic,) = response.json()["diagnostics"]
        assert (diagnostic["line"], diagnostic["column"]) == (3, 16)
        assert diagnostic["message"].startswith("integer of 5,000 digits is too large")
    assert (await live_hub.client.get("/jobs")).json() == []
