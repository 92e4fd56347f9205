"""Pools and trust tiers as an admin uses them, with real processes on loopback: `wit pools add`
makes an untrusted pool, `wit token create --role node --pool --owner` a join token whose node
joins it, `wit nodes` shows each node's pool, tier and owner; a job that names no pools runs on
the trusted node only, one run with `wit run --pools` on the pool's node; an unknown pool is
refused naming it; `wit nodes --pool` and `wit pools tier` change a node's place and a tier,
and every change is in the audit log."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from witengine.testing.processes import ProcessFarm, free_port, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

SCRIPT = (
    "Job:Hashes(Int:n = 16)\n{\n"
    "    StringCollection:hashes = Grid.ForEach(i in Int.Range(0, n))\n"
    '        => Compute.Hash(Format("{0}", i));\n'
    "}\n"
)


def wit(farm: ProcessFarm, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "witengine", *args],
        env={**farm.env, "WIT_HUB": farm.url, "COLUMNS": "200"},
        cwd=farm.root,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessFarm]:
    farm = ProcessFarm(tmp_path_factory.mktemp("pools"), free_port())
    try:
        farm.start_hub()
        added = wit(farm, "pools", "add", "volunteers")
        assert added.returncode == 0, added.stderr
        made = wit(
            farm, "token", "create", "--role", "node", "--pool", "volunteers", "--owner", "ada"
        )
        assert made.returncode == 0, made.stderr
        assert "its nodes join pool volunteers" in made.stderr
        # A second volunteer, of another owner, checks the first one's results.
        other = wit(
            farm, "token", "create", "--role", "node", "--pool", "volunteers", "--owner", "bob"
        )
        assert other.returncode == 0, other.stderr
        farm.start_node("studio")
        farm.start_node("volunteer", "--token", made.stdout.strip().splitlines()[-1])
        farm.start_node("checker", "--token", other.stdout.strip().splitlines()[-1])
        everyone = ["checker", "studio", "volunteer"]
        wait_until(lambda: farm.online() == everyone, 60, "the nodes to connect")
        yield farm
    finally:
        farm.stop()


def nodes(farm: ProcessFarm) -> dict[str, dict[str, Any]]:
    return {node["name"]: node for node in farm.api("GET", "/nodes").json()}


def done(farm: ProcessFarm) -> dict[str, int]:
    """Items done since the hub started: by the studio's node, and by the volunteers'."""
    found = nodes(farm)
    volunteers = found["volunteer"]["done"] + found["checker"]["done"]
    return {"studio": found["studio"]["done"], "volunteers": volunteers}


def test_wit_nodes_and_wit_pools_show_each_nodes_pool_tier_and_owner(farm: ProcessFarm) -> None:
    listed = json.loads(wit(farm, "nodes", "--json").stdout)
    placed = {n["name"]: (n["pool"], n["tier"], n["owner"]) for n in listed}
    assert placed == {
        "studio": ("default", "trusted", ""),
        "volunteer": ("volunteers", "untrusted", "ada"),
        "checker": ("volunteers", "untrusted", "bob"),
    }
    table = wit(farm, "nodes").stdout
    assert "volunteers (untrusted)" in table and "ada" in table
    pools = json.loads(wit(farm, "pools", "--json").stdout)
    assert [(p["name"], p["tier"], p["nodes"], p["builtin"]) for p in pools] == [
        ("default", "trusted", 1, True),
        ("volunteers", "untrusted", 2, False),
    ]


def test_bad_pools_are_refused_naming_them(farm: ProcessFarm) -> None:
    unknown = wit(farm, "token", "create", "--role", "node", "--pool", "nowhere")
    assert unknown.returncode == 1 and "no pool named 'nowhere'" in unknown.stderr
    twice = farm.api("POST", "/pools", json={"name": "volunteers"})
    assert twice.status_code == 409 and "pool 'volunteers' exists" in twice.json()["detail"]
    default = farm.api("PATCH", "/pools/default", json={"tier": "untrusted"})
    assert default.status_code == 409
    assert "the default pool is always trusted" in default.json()["detail"]
    assert farm.api("PATCH", "/pools/nowhere", json={"tier": "trusted"}).status_code == 404
    assert farm.api("POST", "/nodes/node_nope/place", json={"pool": "default"}).status_code == 404
    submitted = farm.api(
        "POST", "/jobs", json={"script": SCRIPT, "filename": "h.wit", "pools": ["nowhere"]}
    )
    assert submitted.status_code == 400
    assert "no pool named 'nowhere'" in submitted.json()["detail"]
    misnamed = farm.api("POST", "/pools", json={"name": "two words"})
    assert misnamed.status_code == 422


def test_a_job_runs_on_trusted_nodes_unless_it_names_the_pools_it_may_use(
    farm: ProcessFarm,
) -> None:
    before = done(farm)
    plain = farm.wait_done(farm.submit(SCRIPT, {}), 60)
    assert plain["status"] == "completed", plain["error"]
    after = done(farm)
    assert after["volunteers"] == before["volunteers"], "untrusted nodes ran a job naming no pools"
    assert after["studio"] == before["studio"] + 16
    script = farm.root / "hashes.wit"
    script.write_text(SCRIPT)
    ran = wit(farm, "run", str(script), "--pools", "volunteers", "--json")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert json.loads(ran.stdout)["variables"] == plain["variables"]
    last = done(farm)
    assert last["volunteers"] >= after["volunteers"] + 16  # each item by both, when checked
    assert last["studio"] == after["studio"], "a node outside the job's pools ran its work"
    # A map's own ProcessingOptions name its pools, in place of the job's.
    mapped = SCRIPT.replace(
        "Int.Range(0, n))", 'Int.Range(0, n), ProcessingOptions("Queued", 4, "volunteers"))'
    )
    in_script = farm.wait_done(farm.submit(mapped, {}), 60)
    assert in_script["status"] == "completed", in_script["error"]
    final = done(farm)
    assert final["volunteers"] >= last["volunteers"] + 16 and final["studio"] == last["studio"]
    unknown = farm.wait_done(farm.submit(mapped.replace('"volunteers"', '"nowhere"'), {}), 60)
    assert unknown["status"] == "failed"
    assert "the job names pool(s) 'nowhere', which the hub does not have" in unknown["error"]


def test_moving_a_node_and_changing_a_tier_show_at_once_and_are_audited(
    farm: ProcessFarm,
) -> None:
    moved = wit(farm, "nodes", "--pool", "default", "--owner", "", "volunteer")
    assert moved.returncode == 0, moved.stderr
    assert "is in pool default (trusted), owner (itself)" in moved.stdout
    assert nodes(farm)["volunteer"]["pool"] == "default"
    node_id = nodes(farm)["volunteer"]["id"]
    back = farm.api("POST", f"/nodes/{node_id}/place", json={"pool": "volunteers", "owner": "ada"})
    assert back.status_code == 200 and back.json()["tier"] == "untrusted"
    changed = wit(farm, "pools", "tier", "volunteers", "trusted")
    assert changed.returncode == 0 and "pool volunteers is trusted (2 node(s))" in changed.stdout
    assert nodes(farm)["volunteer"]["tier"] == "trusted"
    lonely = wit(farm, "nodes", "--pool", "volunteers")
    assert lonely.returncode == 2 and "wit nodes --pool POOL NODE" in lonely.stderr
    lines = farm.api("GET", "/audit", params={"limit": 500}).json()
    said = [(line["action"], line["outcome"], line["target"]) for line in lines]
    assert ("pool.add", "ok", "volunteers (untrusted)") in said
    assert any(a == "token.create" and "pool volunteers, owner ada" in t for a, _, t in said)
    assert any(a == "node.enrol" and "in pool volunteers, owner ada" in t for a, _, t in said)
    assert any(
        a == "node.place" and "volunteers, owner ada -> default, owner (itself)" in t
        for a, _, t in said
    )
    assert ("pool.tier", "ok", "volunteers: untrusted -> trusted") in said
    assert any(a == "pool.tier" and o == "refused: the default pool" for a, o, _ in said)
