"""The job folder routes on a live hub (ASGI, no sockets): `GET /resources` lists the waiting
job files that watchers recorded on the blackboard and who could run them; `POST /folders/take`
asks a file's watcher to run it now (on a named node) or fail it, refusing a file that does not
wait, a name that waits in two folders, a node that does not exist, and viewers."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from witengine.folders.records import FileRecord, FileState, file_key, take_key
from witengine.security.tokens import Role

if TYPE_CHECKING:
    from tests.unit.hub.conftest import LiveHub

pytestmark = pytest.mark.timeout(60)

RIB = FileRecord("renders", "shot.rib", "d1", FileState.WAITING, ("prman",), "no node has prman")


async def record(hub: LiveHub, item: FileRecord) -> None:
    answer = await hub.client.put(
        f"/board/{file_key(item.folder, item.file)}", json={"value": item.to_json()}
    )
    assert answer.status_code == 200, answer.text


async def test_resources_list_the_waiting_files_and_the_nodes_none_of_which_has_prman(
    live_hub: LiveHub,
) -> None:
    await record(live_hub, RIB)
    await record(live_hub, FileRecord("renders", "old.py", "d2", FileState.DONE, ("python",)))
    answer = await live_hub.client.get("/resources")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["waiting"] == [
        {
            "folder": "renders",
            "file": "shot.rib",
            "state": "waiting",
            "needs": ["prman"],
            "reason": "no node has prman",
            "job": None,
            "nodes": [],
        }
    ]
    assert all(node["could_run"] == [] for node in body["nodes"])


async def test_take_writes_the_request_its_watcher_reads(live_hub: LiveHub) -> None:
    await record(live_hub, RIB)
    answer = await live_hub.client.post("/folders/take", json={"file": "renders/shot.rib"})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"folder": "renders", "file": "shot.rib", "node": None, "fail": False}
    request = await live_hub.client.get(f"/board/{take_key('renders', 'shot.rib')}")
    assert request.json()["value"] == {"node": None, "fail": False}


async def test_take_refuses_what_it_cannot_do_saying_why(live_hub: LiveHub) -> None:
    await record(live_hub, RIB)
    await record(live_hub, FileRecord("stills", "shot.rib", "d3", FileState.WAITING))
    missing = await live_hub.client.post("/folders/take", json={"file": "none.rib"})
    assert missing.status_code == 404 and "no waiting job file 'none.rib'" in missing.text
    twice = await live_hub.client.post("/folders/take", json={"file": "shot.rib"})
    assert twice.status_code == 409 and "renders/shot.rib, stills/shot.rib" in twice.text
    nobody = await live_hub.client.post(
        "/folders/take", json={"file": "stills/shot.rib", "node": "nobody"}
    )
    assert nobody.status_code == 404 and "no node named 'nobody'" in nobody.text
    viewer = live_hub.headers(live_hub.issue(Role.VIEWER))
    refused = await live_hub.client.post(
        "/folders/take", json={"file": "stills/shot.rib"}, headers=viewer
    )
    assert refused.status_code == 403
    assert (await live_hub.client.get("/resources", headers=viewer)).status_code == 200
