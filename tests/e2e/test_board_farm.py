"""The blackboard on a real farm (a hub and a node, real processes on loopback): jobs claiming
one key from many branches at once have exactly one winner; clients racing to create one key
have exactly one winner; the stream has every change, in order, and resumes; a viewer's write
and a node's write to another node's key are refused with 403, its own key taken."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from witengine.node.enrol import load_credential
from witengine.testing.processes import ProcessFarm, free_port, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

CLAIMS = """Job:Claims(String:who)
{
Parallel.ForEach(i in Int.Range(0, 50))
{
If(Board.Claim("lock", Format("{0}/{1}", who, i)))
{
Board.Set(Format("winners/{0}/{1}", who, i), true);
}
}
Object:holder = Board.Get("lock");
}
"""


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessFarm]:
    farm = ProcessFarm(tmp_path_factory.mktemp("board"), free_port())
    try:
        farm.start_hub()
        farm.start_node("n1", "--no-bench")
        wait_until(lambda: farm.online() == ["n1"], 60, "the node to connect")
        yield farm
    finally:
        farm.stop()


def changes(farm: ProcessFarm, since: int = 0, prefix: str = "") -> list[dict[str, Any]]:
    """The stream's changes so far (follow=false), checking each event's id is its number."""
    answer = farm.api(
        "GET", "/board-changes", params={"since": since, "prefix": prefix, "follow": "false"}
    )
    assert answer.status_code == 200, answer.text
    found, event_id = [], None
    for line in answer.text.splitlines():
        if line.startswith("id: "):
            event_id = int(line.removeprefix("id: "))
        elif line.startswith("data: "):
            change = json.loads(line.removeprefix("data: "))
            assert change["seq"] == event_id
            found.append(change)
    return found


def test_jobs_claiming_one_key_from_fifty_branches_each_have_one_winner(farm: ProcessFarm) -> None:
    jobs = [farm.submit(CLAIMS, {"who": f"job{n}"}) for n in range(3)]
    done = [farm.wait_done(job_id, 120) for job_id in jobs]
    assert [d["status"] for d in done] == ["completed"] * 3, [d["error"] for d in done]
    history = farm.api("GET", "/board/lock/history").json()
    assert len(history) == 1 and history[0]["writer"] in {f"job {j}" for j in jobs}
    holder = history[0]["value"]
    assert {d["variables"]["holder"] for d in done} == {holder}
    winners = farm.api("GET", "/board", params={"prefix": "winners/"}).json()
    assert [w["key"] for w in winners] == [f"winners/{holder}"]
    streamed = [c for c in changes(farm) if c["key"] == "lock" or c["key"].startswith("winners/")]
    assert [(c["key"], c["version"]) for c in streamed] == [
        ("lock", 1),
        (f"winners/{holder}", 1),
    ]


def test_clients_racing_to_create_one_key_have_one_winner(farm: ProcessFarm) -> None:
    def create(n: int) -> int:
        return farm.api(
            "PUT", "/board/race", json={"value": n}, headers={"If-None-Match": "*"}, timeout=30
        ).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        codes = sorted(pool.map(create, range(40)))
    assert codes == [200] + [412] * 39
    assert len(farm.api("GET", "/board/race/history").json()) == 1


def test_the_stream_has_every_change_in_order_and_resumes_where_asked(farm: ProcessFarm) -> None:
    for n in range(5):
        farm.api("PUT", "/board/stream/k", json={"value": n})
    farm.api("DELETE", "/board/stream/k")
    found = changes(farm, prefix="stream/")
    assert [(c["version"], c["value"], c["deleted"]) for c in found] == [
        *[(n + 1, n, False) for n in range(5)],
        (6, None, True),
    ]
    seqs = [c["seq"] for c in found]
    assert seqs == sorted(seqs)
    assert [c["seq"] for c in changes(farm, since=seqs[2], prefix="stream/")] == seqs[3:]
    every = changes(farm)
    assert [c["seq"] for c in every] == sorted(c["seq"] for c in every)


def test_a_viewers_write_and_a_nodes_write_to_another_nodes_key_are_refused(
    farm: ProcessFarm,
) -> None:
    viewer = farm.api("POST", "/tokens", json={"role": "viewer"}).json()["token"]
    as_viewer = {"Authorization": f"Bearer {viewer}"}
    refused = farm.api("PUT", "/board/shared", json={"value": 1}, headers=as_viewer)
    assert refused.status_code == 403
    credential = load_credential(farm.root / "n1" / "credential.json")
    assert credential is not None and credential.node_id is not None
    as_node = {"Authorization": f"Bearer {credential.token}"}
    own = f"/board/nodes/{credential.node_id}/plan"
    taken = farm.api("PUT", own, json={"value": {"frames": [1, 2]}}, headers=as_node)
    assert taken.status_code == 200 and taken.json()["writer"] == f"node {credential.node_id}"
    other = farm.api("PUT", "/board/nodes/node_else/plan", json={"value": 1}, headers=as_node)
    assert other.status_code == 403
    assert "a node writes only its own keys" in other.json()["detail"]
    hubs = farm.api("PUT", "/board/farm/rates", json={"value": 1}, headers=as_node)
    assert hubs.status_code == 403
    assert farm.api("GET", "/board/shared").status_code == 404


def test_the_hub_publishes_each_jobs_plan_what_each_node_does_and_its_speeds(
    farm: ProcessFarm,
) -> None:
    credential = load_credential(farm.root / "n1" / "credential.json")
    assert credential is not None
    node = credential.node_id
    job_id = farm.submit(
        "Job:Slow()\n{\n"
        "IntCollection:slept = Grid.ForEach(i in Int.Range(0, 2)) => Compute.Sleep(4000);\n}\n",
        {},
    )

    def published(key: str) -> dict[str, Any] | None:
        answer = farm.api("GET", f"/board/{key}")
        return answer.json() if answer.status_code == 200 else None

    plan = wait_until(lambda: published(f"farm/jobs/{job_id}/plan"), 30, "the job's plan")
    assert plan["writer"] == "hub"
    (planned,) = plan["value"]["maps"].values()
    assert planned["activity"] == "Compute.Sleep"
    assert planned["nodes"][node]["name"] == "n1" and planned["nodes"][node]["items"]
    doing = published(f"farm/nodes/{node}")
    assert doing is not None and doing["value"]["name"] == "n1"
    assert doing["value"]["running"][0]["job"] == job_id
    assert farm.wait_done(job_id, 60)["status"] == "completed"

    def withdrawn() -> bool:
        return farm.api("GET", f"/board/farm/jobs/{job_id}/plan").status_code == 404

    wait_until(withdrawn, 30, "the ended job's plan to be withdrawn")

    def measured() -> dict[str, Any] | None:
        speeds = published(f"farm/rates/{node}")
        return speeds if speeds and "Compute.Sleep" in speeds["value"]["activities"] else None

    speeds = wait_until(measured, 30, "the node's measured speed")
    assert speeds["value"]["activities"]["Compute.Sleep"]["measured_items_per_second"] > 0
    history = farm.api("GET", f"/board/farm/jobs/{job_id}/plan/history").json()
    assert history[0]["deleted"] and not history[-1]["deleted"]
