"""`wit node`'s owner policy as a user meets it: `--show-policy` printing the policy and what
the node would do now, a bad policy file stopping the node with exit code 2 before it connects,
and max-cores and max-memory capping what the node advertises and gives a batch."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from witengine.cli.policy_options import capped, describe
from witengine.node.hours import parse_window
from witengine.node.policy import Action, Decision, Observation, Policy
from witengine.protocol import Capabilities

GIB = 1024**3


def wit(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "witengine", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "WIT_CACHE_DIR": str(cwd / "cache")},
    )


@pytest.mark.slow
def test_show_policy_prints_the_policy_and_what_the_node_would_do(tmp_path: Path) -> None:
    (tmp_path / "active").touch()  # the owner just touched the machine
    (tmp_path / "office.toml").write_text(
        f'hours = "Mon-Sun"\nidle-after = "15m"\nmax-load = 1000\n'
        f'idle-source = "file:{tmp_path}/active"\n',
        encoding="utf-8",
    )
    shown = wit(
        "node", "--show-policy", "--policy", "office.toml", "--max-cores", "2", cwd=tmp_path
    )
    assert shown.returncode == 0, shown.stderr
    assert "owner policy (from office.toml; flags override the file):" in shown.stdout
    assert "  hours         Mon-Sun\n" in shown.stdout
    assert "  max-cores     2\n" in shown.stdout
    assert re.search(r"\n  last input    \d+ s ago \(file:.*/active\)\n", shown.stdout)
    assert "the node would not take work (unavailable): in use: input" in shown.stdout
    assert "works after 15m without input" in shown.stdout


@pytest.mark.slow
def test_show_policy_without_a_policy_says_the_node_always_works(tmp_path: Path) -> None:
    shown = wit("node", "--show-policy", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("no owner policy: this node works whenever it runs")


@pytest.mark.slow
def test_a_bad_policy_file_stops_the_node_before_it_connects(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text(
        'idle-after = "15m"\nhours = ["Mon-Fri 20:00-08:00", "Funday"]\n', encoding="utf-8"
    )
    with socket.create_server(("127.0.0.1", 0)) as hub:
        hub.settimeout(0.5)
        port = hub.getsockname()[1]
        stopped = wit(
            "node", "--policy", "bad.toml", "--hub", f"http://127.0.0.1:{port}", cwd=tmp_path
        )
        with pytest.raises(TimeoutError):
            hub.accept()  # nobody knocked
    assert stopped.returncode == 2
    assert stopped.stderr.strip() == (
        "wit node: bad.toml, line 2: hours: 'Funday' in 'Funday' is not a day: a window is days "
        "and times: 'Mon-Fri 20:00-08:00', 'Sat-Sun', 'Mon,Wed 12:00-14:00' or '20:00-08:00' "
        "(every day); days are Mon Tue Wed Thu Fri Sat Sun, times 00:00 to 24:00"
    )


@pytest.mark.slow
def test_a_bad_policy_flag_stops_the_node_with_exit_code_2(tmp_path: Path) -> None:
    stopped = wit("node", "--max-memory", "4 gigs", "--hub", "http://127.0.0.1:9", cwd=tmp_path)
    assert stopped.returncode == 2
    assert "wit node: --max-memory: cannot read the size '4 gigs'" in stopped.stderr


MACHINE = Capabilities(os="Linux", arch="x86_64", cores=8, ram_bytes=16 * GIB)


def test_max_cores_and_max_memory_cap_the_capabilities_and_the_threads() -> None:
    policy = Policy(max_cores=2, max_memory=4 * GIB)
    advertised, threads = capped(policy, MACHINE, None, 1)
    assert (advertised.cores, advertised.ram_bytes, threads) == (2, 4 * GIB, 2)
    assert capped(policy, MACHINE, 6, 1)[1] == 2  # --threads cannot pass max-cores
    assert capped(policy, MACHINE, None, 2)[1] == 1


def test_without_a_policy_the_whole_machine_is_advertised() -> None:
    assert capped(None, MACHINE, None, 2) == (MACHINE, 4)
    assert capped(None, MACHINE, 3, 2) == (MACHINE, 3)


def test_the_report_says_what_the_machine_looks_like_and_why() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    policy = Policy(hours=(parse_window("Mon-Fri 20:00-08:00"),))
    seen = Observation(datetime(2026, 12, 9, 21, 0, tzinfo=berlin), 0.0, 4000.0, 0.04, False)
    report = describe(policy, None, seen, Decision(Action.RUN, "", 11 * 3600))
    assert "owner policy (from the flags; flags override the file):" in report
    assert "this machine now (Wed 2026-12-09 21:00, Europe/Berlin):" in report
    assert "  last input    66 min ago (auto)" in report
    assert "  others load   0.04 per core" in report
    assert "  power         mains" in report
    assert report.endswith("the node would take work now (its window closes: about 11 h left)")
