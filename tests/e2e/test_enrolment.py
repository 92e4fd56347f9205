"""The whole trust path with real processes on loopback: `wit hub` makes its admin token,
`wit token create --role node` prints a join token on its last line, `wit node --token` enrols
with it (and restarts without it), and `wit run --hub --token` runs a job on that node; a node
started without a credential is refused (the hub was started without --approve-lan) with a
message saying what to do."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from witengine.testing.processes import ProcessFarm, free_port, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def wit(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "witengine", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
    )


def test_a_node_enrols_with_a_join_token_and_runs_a_job_submitted_with_a_token(
    tmp_path: Path,
) -> None:
    farm = ProcessFarm(tmp_path, free_port())
    try:
        farm.start_hub()
        assert "admin token (also in" in farm.log("hub")
        admin = farm.token
        assert admin is not None and (tmp_path / "hub" / "admin.token").stat().st_mode & 0o077 == 0
        # No token from the environment, nor from the hub's admin.token: not from this user's
        # default folder, nor from the one the hub noted (as on another machine).
        env = {
            **{k: v for k, v in farm.env.items() if k != "WIT_TOKEN"},
            "HOME": str(tmp_path),
            "WIT_CONFIG_DIR": str(tmp_path / "elsewhere"),
        }
        made = wit(
            "token",
            "create",
            "--role",
            "node",
            "--hub",
            farm.url,
            "--token",
            admin,
            env=env,
            cwd=tmp_path,
        )
        assert made.returncode == 0, made.stderr
        join = made.stdout.strip().splitlines()[-1]
        assert join.startswith("wit-join.tok_")
        farm.start_node("alpha", "--token", join)
        wait_until(lambda: farm.online() == ["alpha"], 60, "the node to enrol and connect")
        credential = tmp_path / "alpha" / "credential.json"
        assert credential.stat().st_mode & 0o077 == 0
        # A restart needs no token: the node uses the credential it keeps.
        farm.kill_node("alpha")
        farm.start_node("alpha", "--token", "")
        wait_until(lambda: farm.online() == ["alpha"], 60, "the node to come back")
        script = tmp_path / "sum.wit"
        script.write_text(
            "Job:Sum(Int:n = 6)\n{\n"
            "    IntCollection:slept = Grid.ForEach(i in Int.Range(0, n)) => Compute.Sleep(10);\n"
            "}\n"
        )
        without = wit("run", str(script), "--hub", farm.url, "--json", env=env, cwd=tmp_path)
        assert without.returncode != 0 and "no token" in without.stdout + without.stderr
        ran = wit(
            "run",
            str(script),
            "--hub",
            farm.url,
            "--token",
            admin,
            "--json",
            env=env,
            cwd=tmp_path,
        )
        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert '"completed"' in ran.stdout
        audit = wit("audit", "--hub", farm.url, "--token", admin, "--json", env=env, cwd=tmp_path)
        actions = {line["action"] for line in json.loads(audit.stdout)}
        assert {"token.create", "node.enrol", "job.submit"} <= actions
        # A node with neither credential nor join token is told what to do, and stops.
        lost = wit(
            "node",
            "--hub",
            farm.url,
            "--cache-dir",
            str(tmp_path / "stray"),
            "--token",
            "",
            env=env,
            cwd=tmp_path,
        )
        assert lost.returncode == 2
        assert "this hub takes new nodes with a join token only" in lost.stderr
    finally:
        farm.stop()


def test_wit_token_create_on_a_data_folder_prints_the_token_on_its_last_line(
    tmp_path: Path,
) -> None:
    from witengine.hub.auth.book import TokenBook
    from witengine.hub.store.sqlite import SqliteStore

    SqliteStore(tmp_path / "hub.sqlite3").close()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    made = wit(
        "token",
        "create",
        "--role",
        "submitter",
        "--ttl",
        "8h",
        "--label",
        "ci",
        "--data-dir",
        str(tmp_path),
        env=env,
        cwd=tmp_path,
    )
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip().splitlines()[-1]
    store = SqliteStore(tmp_path / "hub.sqlite3")
    try:
        principal = TokenBook(store, lambda: 0.0).verify(token)
        assert principal.role.value == "submitter" and principal.label == "ci"
        record = store.get_token(principal.token_id)
        assert record is not None and record.expires_at is not None
        assert 8 * 3600 - 60 < record.expires_at - record.created_at < 8 * 3600 + 60
    finally:
        store.close()
    revoked = wit(
        "token", "revoke", principal.token_id, "--data-dir", str(tmp_path), env=env, cwd=tmp_path
    )
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    bad = wit(
        "token",
        "create",
        "--role",
        "viewer",
        "--ttl",
        "soon",
        "--data-dir",
        str(tmp_path),
        env=env,
        cwd=tmp_path,
    )
    assert bad.returncode == 2 and "--ttl 'soon'" in bad.stderr
