"""`wit node --status-port`: a page whose address is taken stops the node before it connects,
saying so (exit 2, which a service does not restart)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

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
