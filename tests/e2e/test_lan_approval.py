"""Joining without a token, with real processes on loopback: a `wit node` given no token by a
hub started with --approve-lan waits as pending (saying so, with its key), shows in `wit nodes`,
runs a job once `wit nodes --approve` let it in, and stops, refused, once `wit nodes --revoke`
put it out, and again when it is started again."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from witengine.security.node_keys import NodeKey, short_fingerprint
from witengine.testing.processes import ProcessFarm, free_port, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]
SCRIPT = (
    "Job:Sum(Int:n = 4)\n{\n"
    "    IntCollection:slept = Grid.ForEach(i in Int.Range(0, n)) => Compute.Sleep(10);\n"
    "}\n"
)


def wit(farm: ProcessFarm, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "witengine", *args, "--hub", farm.url],
        capture_output=True,
        text=True,
        env=farm.env,
        timeout=60,
    )


def asks(farm: ProcessFarm) -> list[tuple[str, str]]:
    return [(a["name"], a["state"]) for a in farm.api("GET", "/join-requests").json()]


def test_a_node_without_a_token_waits_works_once_approved_and_is_refused_once_revoked(
    tmp_path: Path,
) -> None:
    farm = ProcessFarm(
        tmp_path,
        free_port(),
        hub_args=(*ProcessFarm.hub_args, "--approve-lan"),
    )
    try:
        farm.start_hub()
        assert "nodes on the local network may ask to join without a token" in farm.log("hub")
        farm.start_node("desk", "--token", "")
        wait_until(lambda: asks(farm) == [("desk", "pending")], 30, "the node to ask")
        key = short_fingerprint(NodeKey.load_or_make(tmp_path / "desk").fingerprint)
        wait_until(lambda: "waiting for approval on" in farm.log("desk"), 10, "its word")
        assert f"(this node's key {key})" in farm.log("desk")
        assert farm.online() == []

        listing = wit(farm, "nodes")
        assert listing.returncode == 0, listing.stderr
        assert "Waiting for approval" in listing.stdout and key in listing.stdout
        assert "desk" in listing.stdout

        approved = wit(farm, "nodes", "--approve", "desk")
        assert approved.returncode == 0, approved.stderr
        assert approved.stdout.startswith("approved node desk (node_") and key in approved.stdout
        wait_until(lambda: farm.online() == ["desk"], 30, "the approved node to connect")
        job = farm.wait_done(farm.submit(SCRIPT, {}), 30)
        assert job["status"] == "completed", job

        revoked = wit(farm, "nodes", "--revoke", "desk")
        assert revoked.returncode == 0, revoked.stderr
        assert "refused when it asks again" in revoked.stdout
        assert farm.nodes["desk"].wait(30) == 2
        assert "an admin revoked this node (desk, node_" in farm.log("desk")
        assert asks(farm) == [("desk", "revoked")]

        farm.start_node("desk", "--token", "")  # started again: refused again, at once
        assert farm.nodes["desk"].wait(30) == 2
        assert farm.log("desk").count("an admin revoked this node (desk, node_") == 2
    finally:
        farm.stop()


def test_a_node_without_a_token_pins_a_tls_hub_on_first_use_and_says_so(tmp_path: Path) -> None:
    farm = ProcessFarm(
        tmp_path,
        free_port(),
        hub_args=(*ProcessFarm.hub_args, "--approve-lan"),
        tls=True,
    )
    try:
        farm.start_hub()
        assert farm.fingerprint is not None
        farm.start_node("desk", "--token", "")
        wait_until(lambda: "waiting for approval on" in farm.log("desk"), 30, "the node to ask")
        log = farm.log("desk")
        assert f"trusting the certificate {farm.fingerprint} of {farm.url} on first use" in log
        assert f"; the hub's certificate {farm.fingerprint})" in log
        (ask,) = farm.api("GET", "/join-requests").json()
        approved = farm.api("POST", f"/join-requests/{ask['node_id']}/approve")
        assert approved.status_code == 200, approved.text
        wait_until(lambda: farm.online() == ["desk"], 30, "the approved node to connect")
        credential = json.loads((tmp_path / "desk" / "credential.json").read_text())
        assert credential["fingerprint"] == farm.fingerprint and credential["joined"] is True
    finally:
        farm.stop()
