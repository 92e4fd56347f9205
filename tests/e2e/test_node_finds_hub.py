"""Found over mDNS: a node started without `--hub` finds its hub and works (`wit hub --tls`
advertising on 127.0.0.1, `wit node --token JOIN` with no address: its join token pins the hub's
certificate, so it takes that hub's advert and no other), and a job runs on it; a command given
no hub finds it too and says which, and with two hubs answering lists both and asks for --hub,
as does a node pinned to no hub. Real processes; skipped, with the reason, where multicast does
not loop back on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest

from witengine.testing.multicast import multicast_on_loopback
from witengine.testing.processes import ProcessFarm, free_port, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

SCRIPT = """Job:Doubles(Int:n, String:ledger)
{
    IntCollection:doubled = Grid.ForEach(i in Int.Range(0, n)) => Testing.Record(i, ledger);
}
"""


def test_a_node_started_without_a_hub_address_finds_its_hub_over_mdns_and_runs_a_job(
    tmp_path: Path,
) -> None:
    reason = multicast_on_loopback()
    if reason is not None:
        pytest.skip(f"mDNS discovery cannot be tried here: {reason}")
    farm = ProcessFarm(tmp_path, free_port(), tls=True, advertise=True)
    farm.start_hub()
    try:
        farm.start_node("a", discover=True)
        node = farm.nodes["a"]
        connected = f"connected to {farm.url} as node_"
        # The hub lists the node once it has said hello, a moment before the node has read the
        # hub's welcome and logged that it is connected: wait for both.
        wait_until(
            lambda: (farm.online() and connected in farm.log("a")) or node.poll() is not None,
            60,
            "node a to connect",
        )
        log = farm.log("a")
        assert farm.online() == ["a"], f"node a exited ({node.returncode}): {log}"
        assert "looking for a hub on the local network" in log
        assert connected in log
        ledger = tmp_path / "ledger.txt"
        job = farm.wait_done(farm.submit(SCRIPT, {"n": "12", "ledger": str(ledger)}), 60)
        assert job["status"] == "completed", job["error"]
        assert job["variables"]["doubled"] == [2 * i for i in range(12)]  # a is the only node
    finally:
        farm.stop()


def test_a_command_given_no_hub_finds_it_over_mdns_and_says_which(tmp_path: Path) -> None:
    import subprocess
    import sys

    reason = multicast_on_loopback()
    if reason is not None:
        pytest.skip(f"mDNS discovery cannot be tried here: {reason}")
    farm = ProcessFarm(tmp_path, free_port(), advertise=True)
    farm.start_hub()
    try:
        env = {k: v for k, v in farm.env.items() if k != "WIT_HUB"}
        listed = subprocess.run(
            [sys.executable, "-m", "witengine", "jobs", "--json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
    finally:
        farm.stop()
    # Other hubs may be advertised on this machine (other test runs): then the command lists
    # them all, ours among them, and asks for --hub.
    if listed.returncode == 0:
        assert listed.stderr.startswith("wit: using the hub witengine hub on ")
        assert f"at {farm.url} (found over mDNS)" in listed.stderr
        assert listed.stdout.strip() == "[]"
    else:
        assert listed.returncode == 2
        assert "hubs answered on the local network; pass --hub URL" in listed.stderr
        assert f"\n  {farm.url}  witengine hub on " in listed.stderr


def test_a_command_given_no_hub_lists_the_hubs_that_answer_and_asks_for_one(
    tmp_path: Path,
) -> None:
    import subprocess
    import sys

    reason = multicast_on_loopback()
    if reason is not None:
        pytest.skip(f"mDNS discovery cannot be tried here: {reason}")
    farms = [ProcessFarm(tmp_path / name, free_port(), advertise=True) for name in "ab"]
    try:
        for farm in farms:  # two hubs of one name on one machine: both are announced
            farm.root.mkdir()
            farm.start_hub()
        env = {k: v for k, v in farms[0].env.items() if k not in ("WIT_HUB", "WIT_TOKEN")}
        unpinned = ("node", "--cache-dir", str(tmp_path / "node"), "--discover-seconds", "5")
        listed, node = (
            subprocess.run(
                [sys.executable, "-m", "witengine", *args],
                capture_output=True,
                text=True,
                env=env,
                timeout=60,
            )
            for args in (("jobs",), unpinned)
        )
    finally:
        for farm in farms:
            farm.stop()
    for answer in (listed, node):  # a node with no token nor pin could join either: it asks too
        assert answer.returncode == 2, answer.stderr
        assert "hubs answered on the local network; pass --hub URL (or set WIT_HUB)" in (
            answer.stderr
        )
        for farm in farms:
            assert f"\n  {farm.url}  witengine hub on " in answer.stderr
    assert listed.stdout == ""
