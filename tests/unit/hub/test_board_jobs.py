"""Jobs on the blackboard (`Board.Get`, `Board.Set`, `Board.Claim`), on a real hub: a claim
raced by many branches and many jobs has exactly one winner; jobs write as themselves, not the
hub's or a node's keys; values keep their Wit types."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # pytest runs without the repository on sys.path
    from tests.unit.hub.conftest import LiveHub

pytestmark = pytest.mark.timeout(60)
ENDED = {"completed", "failed", "cancelled"}

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


async def test_of_many_branches_and_jobs_claiming_one_key_exactly_one_wins(
    live_hub: LiveHub,
) -> None:
    jobs = [await live_hub.submit(CLAIMS, who=f"job{n}") for n in range(4)]
    done = await asyncio.gather(*(live_hub.wait_for(j["id"], ENDED) for j in jobs))
    assert [d["status"] for d in done] == ["completed"] * 4, [d["error"] for d in done]
    history = (await live_hub.client.get("/board/lock/history")).json()
    assert len(history) == 1
    holder = history[0]["value"]
    assert history[0]["writer"] in {f"job {j['id']}" for j in jobs}
    winners = (await live_hub.client.get("/board", params={"prefix": "winners/"})).json()
    assert [w["key"] for w in winners] == [f"winners/{holder}"]
    assert {d["variables"]["holder"] for d in done} == {holder}


async def test_values_keep_their_types_and_a_missing_key_reads_null(live_hub: LiveHub) -> None:
    script = """Job:Values()
{
Board.Set("shots/color", Color("#3366AA"));
Board.Set("shots/list", [1, 2.5, "three", true]);
Long:version = Board.Set("shots/list", [4]);
Object:color = Board.Get("shots/color");
Object:list = Board.Get("shots/list");
Object:missing = Board.Get("shots/none");
Object:outside = Board.Get("outside");
Bool:again = Board.Claim("shots/color", 1);
}
"""
    await live_hub.client.put("/board/outside", json={"value": {"a": [1, None]}})
    job = await live_hub.submit(script)
    done = await live_hub.wait_for(job["id"], ENDED)
    assert done["status"] == "completed", done["error"]
    variables = done["variables"]
    assert variables["version"] == 2 and variables["list"] == [4]
    assert variables["missing"] is None and variables["again"] is False
    assert variables["outside"] == '{"a":[1,null]}'  # a JSON object reads as its text
    assert variables["color"] == {"$type": "Color", "value": "#3366AA"}
    stored = (await live_hub.client.get("/board/shots/color")).json()
    assert stored["value"] == {"$type": "Color", "value": "#3366AA"}


@pytest.mark.parametrize("key", ["farm/rates", "nodes/node_a/plan", "bad//key"])
async def test_a_job_may_not_write_the_hubs_or_a_nodes_keys(live_hub: LiveHub, key: str) -> None:
    job = await live_hub.submit(f'Job:Sneaky()\n{{\nBoard.Set("{key}", 1);\n}}\n')
    done = await live_hub.wait_for(job["id"], ENDED)
    assert done["status"] == "failed"
    assert "Board.Set" in done["error"] and key in done["error"]
    assert (await live_hub.client.get(f"/board/{key}")).status_code in (404, 422)


async def test_a_grid_cannot_distribute_a_board_activity(live_hub: LiveHub) -> None:
    script = (
        "Job:G()\n{\n"
        'BoolCollection:won = Grid.ForEach(i in Int.Range(0, 3)) => Board.Claim("k", i);\n}\n'
    )
    answer = await live_hub.client.post("/check", json={"script": script})
    assert answer.status_code == 400
    assert "'Board.Claim' runs on the hub only" in answer.json()["detail"]
