"""Starting a node as a new user does, with real processes on loopback: before its hub, with the
wrong token, with the wrong scheme, and enrolling again from the same cache folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from witengine.embedded import prepare_hub
from witengine.security.tokens import Role, make_token
from witengine.testing.processes import ProcessFarm, free_port, wait_until

pytestmark = pytest.mark.slow


def wit(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "witengine", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_a_node_started_before_its_hub_keeps_trying_to_enrol(tmp_path: Path) -> None:
    farm = ProcessFarm(tmp_path, free_port())
    try:
        _, join = prepare_hub(tmp_path / "hub")  # the hub's folder and a join token, no hub yet
        farm.start_node("early", "--token", join)
        wait_until(lambda: "retrying in" in farm.log("early"), 60, "the node to say it tries again")
        assert farm.nodes["early"].poll() is None, farm.log("early")  # still there, waiting
        farm.start_hub()
        wait_until(lambda: farm.online() == ["early"], 60, "the node to enrol and connect")
    finally:
        farm.stop()


def node_tokens(farm: ProcessFarm, node_id: str) -> list[dict[str, object]]:
    tokens = farm.api("GET", "/tokens").json()
    return [t for t in tokens if t["node_id"] == node_id]


def test_a_node_enrolling_again_from_its_folder_keeps_its_id(tmp_path: Path) -> None:
    farm = ProcessFarm(tmp_path, free_port())
    try:
        farm.start_hub()
        farm.start_node("studio")
        wait_until(lambda: farm.online() == ["studio"], 60, "the node to join")
        (node,) = farm.api("GET", "/nodes").json()
        (first,) = node_tokens(farm, node["id"])
        # The admin revokes its credential: the node stops, saying to enrol it again with a
        # join token, and its user does so, from the same cache folder.
        assert farm.api("POST", f"/tokens/{first['id']}/revoke").status_code == 200
        stopped = farm.nodes["studio"]
        wait_until(lambda: stopped.poll() is not None, 60, "the refused node to stop")
        assert "enrol it again with a new join token" in farm.log("studio")
        farm.start_node("studio")  # with a join token, as it says

        def enrolled_again() -> bool:
            return len(node_tokens(farm, node["id"])) == 2 and farm.online() == ["studio"]

        wait_until(enrolled_again, 60, "the node to enrol again")
        nodes = farm.api("GET", "/nodes").json()
        assert [(n["id"], n["name"]) for n in nodes] == [(node["id"], "studio")]  # one node
        tokens = node_tokens(farm, node["id"])
        assert [t["revoked_at"] is not None for t in tokens].count(False) == 1
    finally:
        farm.stop()


@pytest.mark.parametrize("role", [Role.ADMIN, Role.SUBMITTER, Role.VIEWER])
def test_a_node_refuses_a_token_that_is_not_a_join_token(tmp_path: Path, role: Role) -> None:
    token = make_token(role).text
    done = wit(
        "node", "--hub", "http://127.0.0.1:9", "--cache-dir", str(tmp_path), "--token", token
    )
    assert done.returncode == 2
    article = "an" if role is Role.ADMIN else "a"
    assert done.stderr.strip().splitlines()[-1] == (
        f"wit node: --token: this is {article} {role.value} token, which a node cannot use; a "
        "node needs a join token, made on the hub's machine with `wit token create --role "
        "node`: it presents it once, to enrol, and keeps its own credential"
    )


@pytest.mark.parametrize("tls", [True, False])
def test_the_wrong_scheme_is_named_with_the_one_the_hub_speaks(tmp_path: Path, tls: bool) -> None:
    farm = ProcessFarm(tmp_path, free_port(), tls=tls)
    try:
        farm.start_hub()
        wrong = f"{'http' if tls else 'https'}://127.0.0.1:{farm.port}"
        right = f"{'https' if tls else 'http'}://127.0.0.1:{farm.port}"
        said = (
            f"the hub at {wrong} speaks TLS: use {right}, with its certificate's fingerprint"
            if tls
            else f"the hub at {wrong} speaks plain HTTP, not TLS: use {right} (or start the "
            "hub with --tls)"
        )
        done = wit("jobs", "--hub", wrong, env=farm.env)
        assert done.returncode == 1
        assert said in done.stderr, done.stderr
        fingerprint = ["--fingerprint", farm.fingerprint] if farm.fingerprint else []
        cache = str(tmp_path / "node")
        join = farm.join_token()
        done = wit("node", "--hub", wrong, "--cache-dir", cache, "--token", join, *fingerprint)
        assert done.returncode == 2
        assert said in done.stderr, done.stderr
    finally:
        farm.stop()
