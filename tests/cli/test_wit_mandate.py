"""`wit mandate` as a user runs it, against a real hub process on 127.0.0.1: a seller's and a
buyer's mandates made with the accounts' keys, listed in words and in JSON, paused, resumed and
removed; bad input exits 2 naming what is wrong, and nothing is made; another account's key is
refused by the hub (exit 1, in its words)."""

from __future__ import annotations

import json

import pytest

from witengine.testing.processes import ProcessFarm

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def test_mandates_are_made_listed_paused_resumed_and_removed(farm: ProcessFarm) -> None:
    for name in ("ann", "studio"):
        assert farm.wit("account", "create", name).returncode == 0
    sell = farm.wit(
        "mandate", "add", "sell", "3", "--activity", "render", "--hours", "22-06",
        "--node", "gpu-box", "--account", "ann",
    )  # fmt: skip
    assert sell.returncode == 0, sell.stderr
    assert sell.stdout.startswith("mandate man_")
    assert "ann sells render at 3.000 a unit or more (22-06, node gpu-box)" in sell.stdout
    selling = sell.stdout.split()[1].rstrip(":")
    buy = farm.wit(
        "mandate", "add", "buy", "4", "--activity", "render", "--daily", "500",
        "--account", "studio", "--json",
    )  # fmt: skip
    assert buy.returncode == 0, buy.stderr
    buying = json.loads(buy.stdout)
    assert buying == {
        **buying,
        "side": "buy",
        "activity": "render",
        "price": 4000,
        "daily": 500_000,
        "spent_today": 0,
    }
    listed = farm.wit("mandate", "list").stdout.splitlines()
    assert len(listed) == 2 and listed[0].startswith(selling)
    assert "studio buys render at up to 4.000 a unit (500.000 credits a UTC day)" in listed[1]

    paused = farm.wit("mandate", "pause", selling, "--account", "ann")
    assert paused.returncode == 0 and paused.stdout.rstrip().endswith("[paused]"), paused.stdout
    only = json.loads(farm.wit("mandate", "list", "--account", "ann", "--json").stdout)
    assert [(m["id"], m["state"]) for m in only] == [(selling, "paused")]
    resumed = farm.wit("mandate", "resume", selling, "--account", "ann")
    assert resumed.returncode == 0 and "[paused]" not in resumed.stdout

    foreign = farm.wit("mandate", "remove", selling, "--account", "studio")
    assert foreign.returncode == 1 and "only its key may remove it" in foreign.stderr
    removed = farm.wit("mandate", "remove", selling, "--account", "ann")
    assert removed.returncode == 0 and removed.stdout.strip() == f"mandate {selling} withdrawn"
    assert [m["id"] for m in json.loads(farm.wit("mandate", "list", "--json").stdout)] == [
        buying["id"]
    ]


def test_bad_mandates_exit_2_saying_what_is_wrong(farm: ProcessFarm) -> None:
    assert farm.wit("account", "create", "bea").returncode == 0
    cases = (
        (("buy", "4", "--hours", "22-06"), "hours are a sell mandate's"),
        (("sell", "3"), "a sell mandate names the activity"),
        (("hold", "3", "--activity", "render"), "side"),
        (("buy", "1.2345"), "price '1.2345'"),
        (("buy", "4", "--daily", "-5"), "--daily"),
        (("sell", "3", "--activity", "render", "--hours", "25-06"), "hours"),
    )
    for args, why in cases:
        refused = farm.wit("mandate", "add", *args, "--account", "bea")
        assert refused.returncode == 2 and why in refused.stderr, (args, refused.stderr)
    assert json.loads(farm.wit("mandate", "list", "--account", "bea", "--json").stdout) == []
    (farm.root / "job.wit").write_text("Job:J() { }\n")
    local = farm.wit("run", "job.wit", "--account", "bea", "--local")
    assert local.returncode == 2, local.stderr
    assert "--account buys work on a hub's exchange" in local.stderr
