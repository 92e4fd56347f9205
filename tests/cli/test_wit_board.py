"""`wit board` as a user runs it, against a real hub process: set (JSON, --text, --create,
--if-version), get, list, history, delete, watch; refusals exit 1 saying why."""

from __future__ import annotations

import json
import subprocess

import pytest

from witengine.testing.processes import ProcessFarm

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def board(
    farm: ProcessFarm, *args: str, token: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`wit board ARGS` as the admin, or with `token`."""
    return farm.wit("board", *args, env=None if token is None else {"WIT_TOKEN": token})


def test_set_takes_json_or_text_and_get_prints_the_value(farm: ProcessFarm) -> None:
    done = board(farm, "set", "cli/plan", '{"node": "box", "frames": [1, 2]}')
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "cli/plan: version 1"
    assert board(farm, "set", "cli/note", "not json", "--text").returncode == 0
    got = board(farm, "get", "cli/plan")
    assert json.loads(got.stdout) == {"node": "box", "frames": [1, 2]}
    assert json.loads(board(farm, "get", "cli/note").stdout) == "not json"
    full = json.loads(board(farm, "get", "cli/plan", "--json").stdout)
    assert full["version"] == 1 and full["writer"].startswith("admin tok_")
    bad = board(farm, "set", "cli/x", "{oops")
    assert bad.returncode == 2 and "--text" in bad.stderr


def test_list_and_history_show_each_value_as_the_json_it_is(farm: ProcessFarm) -> None:
    board(farm, "set", "cli/shots/010", '{"artist": "Sally"}')
    board(farm, "set", "cli/shots/020", "claimed by Marvin", "--text")
    for listing in (board(farm, "list", "cli/shots/"), board(farm, "history", "cli/shots/010")):
        assert listing.returncode == 0, listing.stderr
        assert '{"artist": "Sally"}' in listing.stdout, listing.stdout
        assert '\\"' not in listing.stdout, "a value quoted twice"
    assert '"claimed by Marvin"' in board(farm, "list", "cli/shots/").stdout


def test_compare_and_set_exits_1_naming_the_version_the_key_is_at(farm: ProcessFarm) -> None:
    assert board(farm, "set", "cli/lock", "1", "--create").returncode == 0
    again = board(farm, "set", "cli/lock", "2", "--create")
    assert again.returncode == 1
    assert "wit board: key 'cli/lock' has a value already (version 1)" in again.stderr
    assert board(farm, "set", "cli/lock", "3", "--if-version", "1").returncode == 0
    late = board(farm, "set", "cli/lock", "4", "--if-version", "1")
    assert late.returncode == 1 and "is at version 2, not at version 1" in late.stderr


def test_list_history_delete_and_watch(farm: ProcessFarm) -> None:
    for value in ("1", "2"):
        board(farm, "set", "cli/h/k", value)
    board(farm, "set", "cli/h/other", '"x"')
    assert board(farm, "delete", "cli/h/k", "--if-version", "1").returncode == 1
    gone = board(farm, "delete", "cli/h/k")
    assert gone.returncode == 0 and gone.stdout.strip() == "cli/h/k: deleted, version 3"
    listed = board(farm, "list", "cli/h/")
    assert "cli/h/other" in listed.stdout and "cli/h/k" not in listed.stdout
    history = json.loads(board(farm, "history", "cli/h/k", "--json").stdout)
    assert [(v["version"], v["deleted"]) for v in history] == [(3, True), (2, False), (1, False)]
    assert "(deleted)" in board(farm, "history", "cli/h/k").stdout
    watched = board(farm, "watch", "cli/h/", "--no-follow")
    lines = watched.stdout.splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == [
        "cli/h/k v1 = 1 (" + lines[0].split("(", 1)[1],
        "cli/h/k v2 = 2 (" + lines[1].split("(", 1)[1],
        'cli/h/other v1 = "x" (' + lines[2].split("(", 1)[1],
        "cli/h/k v3 deleted (" + lines[3].split("(", 1)[1],
    ]
    since = int(lines[1].split()[0])
    later = board(farm, "watch", "cli/h/", "--no-follow", "--since", str(since), "--json")
    assert [json.loads(line)["key"] for line in later.stdout.splitlines()] == [
        "cli/h/other",
        "cli/h/k",
    ]


def test_a_viewer_reads_and_is_refused_a_write(farm: ProcessFarm) -> None:
    made = farm.api("POST", "/tokens", json={"role": "viewer"})
    viewer = made.json()["token"]
    board(farm, "set", "cli/v", "1")
    assert board(farm, "get", "cli/v", token=viewer).returncode == 0
    refused = board(farm, "set", "cli/v", "2", token=viewer)
    assert refused.returncode == 1
    assert "a viewer token may not use PUT /api/v1/board/" in refused.stderr
