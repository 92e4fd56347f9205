"""A farm of volunteers for the untrusted suite: a real hub with an untrusted pool, honest
nodes of different owners and cheaters (`witengine.testing.cheaters`), all real processes, and
what the hub's API says of them."""

from __future__ import annotations

from typing import Any

from witengine.testing.processes import ProcessFarm, wait_until

POOL = "volunteers"


def open_pool(farm: ProcessFarm) -> None:
    """Give the running hub its untrusted pool."""
    added = farm.api("POST", "/pools", json={"name": POOL, "tier": "untrusted"})
    assert added.status_code == 201, added.text


def volunteer(
    farm: ProcessFarm,
    name: str,
    owner: str,
    *args: str,
    cheat: tuple[str, int] | None = None,
    wait: bool = True,
) -> None:
    """Start a node that joins the untrusted pool for `owner` (as a cheater, with `cheat`), and
    wait until it is online (unless told not to: see `online`)."""
    made = farm.api("POST", "/tokens", json={"role": "node", "pool": POOL, "owner": owner})
    assert made.status_code == 201, made.text
    farm.start_node(name, "--token", made.json()["token"], *args, cheat=cheat)
    if wait:
        online(farm, name)


def online(farm: ProcessFarm, *names: str) -> None:
    """Wait until the nodes are online."""
    wait_until(lambda: set(names) <= set(farm.online()), 60, f"{', '.join(names)} to connect")


def rated(farm: ProcessFarm, activity: str, *names: str) -> None:
    """Wait until the nodes have a benchmark rate for the activity: until then a planned map
    may leave a node out."""

    def have() -> bool:
        nodes = {n["name"]: n for n in farm.api("GET", "/nodes").json()}
        return all(
            any(r["activity"] == activity for r in nodes.get(name, {}).get("rates", []))
            for name in names
        )

    wait_until(have, 60, f"{', '.join(names)} to report a rate for {activity}")


def node_id(farm: ProcessFarm, name: str) -> str:
    found = [n["id"] for n in farm.api("GET", "/nodes").json() if n["name"] == name]
    assert found, f"the hub knows no node {name}"
    return str(found[0])


def reputation(farm: ProcessFarm, name: str) -> dict[str, dict[str, Any]]:
    """The node's record per activity, as GET /nodes/{id}/reputation gives it."""
    answer = farm.api("GET", f"/nodes/{node_id(farm, name)}/reputation")
    assert answer.status_code == 200, answer.text
    return {record["activity"]: record for record in answer.json()}


def submit(farm: ProcessFarm, script: str, parameters: dict[str, str]) -> str:
    """A job allowed on the volunteers' pool."""
    answer = farm.api(
        "POST",
        "/jobs",
        json={"script": script, "filename": "untrusted.wit", "parameters": parameters,
              "pools": [POOL]},
        timeout=30,
    )  # fmt: skip
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])
