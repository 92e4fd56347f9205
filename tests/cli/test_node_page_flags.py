"""`wit node --status-port`: a page whose address is taken stops the node before it connects,
saying so (exit 2, which a service does not restart); so does `--account` naming an account
whose key is not on this machine, or whose passphrase is wrong."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from witengine.security.accounts import AccountKey, key_path

pytestmark = pytest.mark.timeout(60)


def test_a_taken_page_port_stops_the_node_naming_it(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        command = [sys.executable, "-m", "witengine", "node", "--hub", "http://127.0.0.1:9"]
        command += ["--cache-dir", str(tmp_path / "node"), "--no-bench"]
        command += ["--status-port", str(port)]
        env = {**os.environ, "WIT_CONFIG_DIR": str(tmp_path / "config")}
        env.pop("WIT_TOKEN", None)
        ended = subprocess.run(command, capture_output=True, text=True, timeout=50, env=env)
    assert ended.returncode == 2, ended.stderr
    assert f"wit node: --status-port: cannot listen on 127.0.0.1:{port}: " in ended.stderr


def test_an_account_without_its_key_here_stops_the_node_before_it_looks_for_a_hub(
    tmp_path: Path,
) -> None:
    AccountKey.make("ann").save(key_path(tmp_path / "config", "ann"), "right horse")
    env = {**os.environ, "WIT_CONFIG_DIR": str(tmp_path / "config")}
    env.pop("WIT_TOKEN", None)
    command = [sys.executable, "-m", "witengine", "node", "--hub", "http://127.0.0.1:9"]
    command += ["--cache-dir", str(tmp_path / "node"), "--no-bench", "--account"]
    missing = subprocess.run([*command, "bob"], capture_output=True, text=True, timeout=50, env=env)
    assert missing.returncode == 2, missing.stderr
    assert "wit node --account: no key of account 'bob' in " in missing.stderr
    assert "make one with wit account create bob" in missing.stderr
    env["WIT_ACCOUNT_PASSPHRASE"] = "wrong staple"
    wrong = subprocess.run([*command, "ann"], capture_output=True, text=True, timeout=50, env=env)
    assert wrong.returncode == 2, wrong.stderr
    assert "the key of account 'ann'" in wrong.stderr and "a wrong passphrase" in wrong.stderr
    assert "working for" not in wrong.stderr
