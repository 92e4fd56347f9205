"""A render bought on the exchange, with real processes and real Blender on 127.0.0.1: a hub
with a 2% exchange fee, two sellers' nodes (accounts `cheap` and `dear`, asking for rendering
at different prices) and a buyer whose signed job bids between them for a tiny animation. The
cheap node renders every frame; each frame agrees with a local render of it; what the buyer
paid is the trades' price for the accepted work, the cheap seller has it less the fee, the dear
one nothing, the escrow is empty and the ledger verifies.

Run just this with `pytest -m blender`; without Blender it is skipped, saying so.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from witengine.hub.comparing import PluginComparer
from witengine.plugins.registry import build_library
from witengine.plugins.render import plugin as render_plugin
from witengine.plugins.render import render_frame
from witengine.plugins.render.blender import _WARM
from witengine.plugins.render.types import Frame, Scene
from witengine.runtime.blobs import LocalBlobStore
from witengine.runtime.context import ActivityContext
from witengine.security.accounts import AccountKey
from witengine.security.signing import sign_request
from witengine.testing.processes import ProcessFarm, free_port, wait_until
from witengine.testing.scenes import make_sample_scene

pytestmark = [
    pytest.mark.blender,
    pytest.mark.slow,
    pytest.mark.timeout(300),
    pytest.mark.skipif(
        shutil.which("blender") is None,
        reason="blender not installed (scripts/bootstrap.sh blender)",
    ),
]
ACTIVITY = "Renderer.RenderFrame"
FRAMES = 4
SCRIPT = """\
Job:Film(FrameCollection:frames)
{
    ImageCollection:images = Grid.ForEach(frame in frames, ProcessingOptions("Queued"))
        => Renderer.RenderFrame(frame);
}
"""
CHEAP, DEAR, BID = 1000, 3000, 2000  # milli-credits a work unit
FEE = 2  # percent of each settlement to the exchange's fee account
GRANT = 100_000_000


@pytest.fixture(scope="module", autouse=True)
def no_blender_left() -> Iterator[None]:
    yield
    _WARM.close()  # the serving Blender this process keeps for the reference renders


def signed(key: AccountKey, account: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """The request's content and headers, signed by the account's key."""
    content = json.dumps(body).encode()
    headers = sign_request(key.private, account, "POST", f"/api/v1{path}", content, time.time())
    return {"content": content, "headers": {**headers, "content-type": "application/json"}}


def balance(farm: ProcessFarm, name: str) -> int:
    return int(farm.api("GET", f"/accounts/{name}/balance").json()["balance"])


@pytest.fixture
def farm(tmp_path: Path) -> Iterator[ProcessFarm]:
    farm = ProcessFarm(tmp_path, free_port())
    try:
        farm.hub_args = (*farm.hub_args, "--exchange-fee", f"{FEE}%")
        farm.start_hub()
        yield farm
    finally:
        farm.stop()


async def test_a_render_bought_between_two_asks_goes_to_the_cheap_node(
    farm: ProcessFarm, tmp_path: Path
) -> None:
    keys = {name: AccountKey.make(name) for name in ("cheap", "dear", "buyer")}
    for name, key in keys.items():
        made = farm.api("POST", "/accounts", json={"name": name, "public_key": key.public_key})
        assert made.status_code == 201, made.text
    assert farm.api("POST", "/accounts/buyer/grant", json={"amount": GRANT}).status_code == 200
    for seller, price in (("cheap", CHEAP), ("dear", DEAR)):
        ask = {"activity": ACTIVITY, "price": price}
        answer = farm.api("POST", "/asks", **signed(keys[seller], seller, "/asks", ask))
        assert answer.status_code == 201, answer.text
        token = farm.api("POST", "/tokens", json={"role": "node", "owner": seller})
        assert token.status_code == 201, token.text
        farm.start_node(
            f"{seller}-node", "--token", token.json()["token"], "--threads", "1", "--slots", "1"
        )
    wait_until(lambda: {"cheap-node", "dear-node"} <= set(farm.online()), 120, "the nodes")

    scene_file = make_sample_scene(
        tmp_path / "film.blend", frames=FRAMES, width=64, height=36, samples=4
    )
    data = scene_file.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    stored = farm.api("PUT", f"/blobs/{digest}", content=data, timeout=30)
    assert stored.status_code in (200, 201, 204), stored.text
    job_body = {
        "script": SCRIPT,
        "filename": "film.wit",
        "files": {"frames": [{"sha256": digest, "size": len(data), "name": scene_file.name}]},
        "parameters": {"frames": f"film.blend@1-{FRAMES}"},
        "bid": {"price": BID, "deadline": None},
    }
    before = balance(farm, "buyer")
    answer = farm.api(
        "POST", "/jobs", timeout=30, **signed(keys["buyer"], "buyer", "/jobs", job_body)
    )
    assert answer.status_code == 201, answer.text
    job = farm.wait_done(answer.json()["id"], 240)
    assert job["status"] == "completed", job["error"]

    # Every frame the buyer got, fetched from the hub, against a local render of it.
    blobs = LocalBlobStore(tmp_path / "blobs")
    comparer = PluginComparer(build_library([render_plugin]), blobs)
    scene = Scene.from_value(blobs.put_file(scene_file))
    (tmp_path / "work").mkdir()
    here = ActivityContext(blobs, tmp_path / "work", threads=1)
    images = job["variables"]["images"]
    assert [image["frame"] for image in images] == list(range(1, FRAMES + 1))
    for image in images:
        fetched = farm.api("GET", f"/blobs/{image['sha256']}", timeout=30)
        assert fetched.status_code == 200
        blobs.put_bytes(fetched.content)
        local = render_frame(here, Frame(scene, image["frame"]))
        assert await comparer.agree(ACTIVITY, local.to_json(), image), image

    # The cheap node sold every frame at its ask; the buyer paid that for the accepted work.
    trades = farm.api("GET", "/trades", params={"job": job["id"]}).json()
    assert trades and {t["seller"] for t in trades} == {"cheap"}
    assert {t["price"] for t in trades} == {CHEAP}
    assert sum(t["accepted"] for t in trades) == FRAMES
    paid = sum(t["paid"] for t in trades)
    assert paid > 0
    assert balance(farm, "buyer") == before - paid  # the rest of the escrow refunded
    fees = balance(farm, "exchange:fees")
    assert balance(farm, "cheap") == paid - fees and 0 < fees <= paid * FEE // 100
    assert balance(farm, "dear") == 0
    assert balance(farm, f"escrow:{job['id']}") == 0
    verdict = farm.api("GET", "/ledger/verify").json()
    assert verdict["ok"], verdict
