"""`wit node install-service`: the systemd unit, scheduled task and launchd agent it writes or
prints, the node's flags it carries (and the token it never puts on a command line), the files
it writes into a folder given for the test, and the systemctl commands it would run (recorded,
never run: no test enables a unit on the machine it runs on). One real process prints a unit."""

from __future__ import annotations

import os
import plistlib
import shlex
import shutil
import stat
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from collections.abc import Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner

from witengine.cli.app import app
from witengine.cli.service import ServiceFailed, install_systemd, systemd_running
from witengine.cli.service_files import (
    UNIT,
    Service,
    launchd_agent,
    launchd_instructions,
    systemd_quote,
    systemd_unit,
    windows_instructions,
    windows_task,
)
from witengine.security.tokens import Role, make_token

TOKEN = make_token(Role.JOIN).text
SERVICE = Service(
    ("/opt/wit/bin/wit",),
    ("--hub", "https://hub.example:7310", "--name", "desk 12", "--slots", "2"),
)


def unit_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


class Systemctl:
    """Records the commands it is given; answers each with `status`."""

    def __init__(self, status: int = 0) -> None:
        self.status = status
        self.commands: list[list[str]] = []

    def __call__(self, command: Sequence[str]) -> int:
        self.commands.append(list(command))
        return self.status


def test_a_user_unit_runs_the_node_at_the_lowest_priority_and_restarts_it_on_failure() -> None:
    lines = unit_lines(systemd_unit(SERVICE))
    assert lines[0] == "[Unit]"
    assert (
        'ExecStart=/opt/wit/bin/wit node --hub https://hub.example:7310 --name "desk 12" --slots 2'
    ) in lines
    for line in ("Restart=on-failure", "Nice=19", "WantedBy=default.target", "KillMode=mixed"):
        assert line in lines
    assert "RestartPreventExitStatus=2" in lines, "a bad flag or policy is not retried forever"
    assert not [line for line in lines if line.startswith(("User=", "EnvironmentFile="))]
    assert "loginctl enable-linger" in systemd_unit(SERVICE)


def test_a_node_that_looks_for_its_hub_is_started_again_even_after_finding_none() -> None:
    service = Service(SERVICE.program, ("--name", "desk"), discovers=True)
    lines = unit_lines(systemd_unit(service))
    assert "Restart=on-failure" in lines
    assert not [line for line in lines if line.startswith("RestartPreventExitStatus")]


def test_a_system_unit_runs_as_its_user_after_the_network_from_boot() -> None:
    service = Service(SERVICE.program, SERVICE.arguments, system=True, user="render")
    lines = unit_lines(systemd_unit(service))
    for line in ("User=render", "After=network-online.target", "WantedBy=multi-user.target"):
        assert line in lines
    assert "systemctl enable --now" in systemd_unit(service)


@pytest.mark.parametrize(
    ("word", "written"),
    [
        ("--slots", "--slots"),
        ("desk 12", '"desk 12"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("50%", "50%%"),
        ("$HOME/x", "$$HOME/x"),
        ("C:\\x", '"C:\\\\x"'),
        ("", '""'),
    ],
)
def test_exec_start_words_are_quoted_as_systemd_reads_them(word: str, written: str) -> None:
    assert systemd_quote(word) == written


def test_installing_writes_the_unit_and_the_token_apart_then_enables_it(tmp_path: Path) -> None:
    env = tmp_path / "config" / "witengine" / f"{UNIT}.env"
    service = Service(SERVICE.program, SERVICE.arguments, environment_file=env)
    systemctl = Systemctl()
    done = install_systemd(service, tmp_path / "units", token=TOKEN, run=systemctl)
    unit = (tmp_path / "units" / f"{UNIT}.service").read_text()
    assert unit == systemd_unit(service)
    assert f"EnvironmentFile=-{env}" in unit_lines(unit)
    assert TOKEN not in unit
    assert env.read_text() == f"WIT_TOKEN={TOKEN}\n"
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    assert systemctl.commands == [
        ["systemctl", "--user", "daemon-reload"],
        ["systemctl", "--user", "enable", "--now", f"{UNIT}.service"],
    ]
    assert done[-1] == f"ran systemctl --user enable --now {UNIT}.service"


def test_a_system_unit_is_enabled_with_the_system_manager_and_can_be_left_disabled(
    tmp_path: Path,
) -> None:
    service = Service(SERVICE.program, SERVICE.arguments, system=True, user="render")
    systemctl = Systemctl()
    install_systemd(service, tmp_path, run=systemctl)
    assert systemctl.commands[1] == ["systemctl", "enable", "--now", f"{UNIT}.service"]
    quiet = Systemctl()
    install_systemd(service, tmp_path / "other", enable=False, run=quiet)
    assert (tmp_path / "other" / f"{UNIT}.service").exists()
    assert quiet.commands == []


def test_a_failing_systemctl_stops_the_install_naming_the_command(tmp_path: Path) -> None:
    with pytest.raises(ServiceFailed, match=r"systemctl --user daemon-reload failed \(exit"):
        install_systemd(SERVICE, tmp_path, run=Systemctl(status=1))


def test_the_windows_task_starts_the_node_at_logon_at_the_lowest_priority() -> None:
    text = windows_task(SERVICE)
    assert 'schtasks /Create /TN "witengine node" /XML' in windows_instructions(SERVICE)
    namespace = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}
    # It declares UTF-16, as it is to be saved; parsed here from text.
    task = ElementTree.fromstring(text.partition("?>")[2])
    assert task.find("t:Triggers/t:LogonTrigger", namespace) is not None
    assert task.findtext("t:Settings/t:Priority", namespaces=namespace) == "10"
    assert task.find("t:Settings/t:RestartOnFailure", namespace) is not None
    assert task.findtext("t:Actions/t:Exec/t:Command", namespaces=namespace) == "/opt/wit/bin/wit"
    arguments = task.findtext("t:Actions/t:Exec/t:Arguments", namespaces=namespace)
    assert arguments == 'node --hub https://hub.example:7310 --name "desk 12" --slots 2'


def test_the_launchd_agent_runs_the_node_in_the_background_and_again_when_it_fails() -> None:
    text = launchd_agent(Service(SERVICE.program, SERVICE.arguments, home="/Users/ann"))
    assert "launchctl bootstrap gui/$(id -u)" in launchd_instructions(SERVICE)
    agent = plistlib.loads(text.encode())
    assert agent["ProgramArguments"] == ["/opt/wit/bin/wit", "node", *SERVICE.arguments]
    assert agent["KeepAlive"] == {"SuccessfulExit": False}
    assert (agent["Nice"], agent["ProcessType"], agent["RunAtLoad"]) == (19, "Background", True)
    assert agent["StandardErrorPath"] == "/Users/ann/Library/Logs/witengine-node.log"


def exec_start(output: str) -> list[str]:
    (line,) = [x for x in output.splitlines() if x.startswith("ExecStart=")]
    return shlex.split(line.removeprefix("ExecStart="))


def test_the_nodes_flags_are_carried_from_before_and_after_and_paths_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WIT_HUB", raising=False)
    monkeypatch.delenv("WIT_TOKEN", raising=False)
    arguments = ["node", "--hub", "http://hub:7310", "--slots", "3", "install-service", "--print"]
    arguments += ["--cache-dir", "work/cache", "--no-bench", "--trust-key", "~/a.pem"]
    arguments += ["--slots", "4", "--token", TOKEN, "--platform", "linux"]
    arguments += ["--policy", "night.toml", "--hours", "Mon-Fri 20:00-08:00", "--hours", "Sat-Sun"]
    arguments += ["--idle-source", "file:lock/touched", "--show-policy"]
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 0, result.output
    assert TOKEN not in result.stdout
    words = exec_start(result.stdout)
    assert words[1:] == [
        "node",
        "--hub",
        "http://hub:7310",
        "--slots",
        "4",
        "--cache-dir",
        str(tmp_path / "work" / "cache"),
        "--trust-key",
        str(Path.home() / "a.pem"),
        "--no-bench",
        "--policy",
        str(tmp_path / "night.toml"),
        "--hours",
        "Mon-Fri 20:00-08:00",
        "--hours",
        "Sat-Sun",
        "--idle-source",
        f"file:{tmp_path / 'lock' / 'touched'}",
    ]
    assert "--show-policy" not in words, "a question, not a way to run"
    assert "EnvironmentFile=-" in result.stdout
    assert "WIT_TOKEN" in result.stderr, "the person is told where the token would go"


def test_a_token_a_node_cannot_use_is_refused_when_typed_and_left_out_when_inherited(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    admin = make_token(Role.ADMIN).text
    arguments = ["node", "--hub", "http://h:7310", "install-service", "--print"]
    typed = CliRunner().invoke(app, [*arguments, "--token", admin])
    assert typed.exit_code == 2
    assert "this is an admin token, which a node cannot use" in typed.output
    monkeypatch.setenv("WIT_TOKEN", admin)  # what `wit run` and the others read
    inherited = CliRunner().invoke(app, arguments)
    assert inherited.exit_code == 0, inherited.output
    assert "WIT_TOKEN is left out of the service: this is an admin token" in inherited.stderr
    assert "EnvironmentFile" not in inherited.stdout and admin not in inherited.stdout


def test_a_flag_wit_node_does_not_know_is_refused_as_wit_node_refuses_it() -> None:
    result = CliRunner().invoke(app, ["node", "install-service", "--print", "--slotz", "3"])
    assert result.exit_code == 2
    assert "--slotz" in result.output


def test_another_platform_is_printed_with_the_path_of_wit_left_to_fill_in() -> None:
    arguments = ["node", "install-service", "--platform", "windows", "--hub", "https://h:7310"]
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 0, result.output
    assert "<Command>C:\\path\\to\\wit.exe</Command>" in result.stdout
    assert "<Arguments>node --hub https://h:7310</Arguments>" in result.stdout
    assert "where wit" in result.stderr, "what to do with it, apart from the file"


def test_a_system_unit_needs_root_to_be_written(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    result = CliRunner().invoke(app, ["node", "install-service", "--system", "--hub", "http://h"])
    assert result.exit_code == 2
    assert "sudo" in result.output


def test_no_enable_writes_the_unit_and_the_token_and_runs_no_systemctl(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    arguments = ["node", "--hub", "http://h:7310", "--token", TOKEN, "install-service"]
    result = CliRunner().invoke(app, [*arguments, "--no-enable"])
    assert result.exit_code == 0, result.output
    unit = (tmp_path / "systemd" / "user" / f"{UNIT}.service").read_text()
    assert exec_start(unit)[1:] == ["node", "--hub", "http://h:7310"]
    env = tmp_path / "witengine" / f"{UNIT}.env"
    assert f"EnvironmentFile=-{env}" in unit
    assert env.read_text() == f"WIT_TOKEN={TOKEN}\n"
    assert "ran systemctl" not in result.output


def test_without_systemd_running_nothing_is_written_or_enabled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if systemd_running():
        pytest.skip("systemd runs this machine: a test must not enable a unit on it")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    result = CliRunner().invoke(app, ["node", "--hub", "http://h:7310", "install-service"])
    assert result.exit_code == 2
    assert "systemd does not run this machine" in result.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_a_real_wit_process_prints_the_unit_and_writes_nothing(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config"), "WIT_TOKEN": TOKEN}
    node = ["node", "--hub", "http://hub:7310", "--name", "n1"]
    done = subprocess.run(
        [sys.executable, "-m", "witengine", *node, "install-service", "--print"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert exec_start(done.stdout)[1:] == ["node", "--hub", "http://hub:7310", "--name", "n1"]
    assert "RestartPreventExitStatus=2" in done.stdout
    assert TOKEN not in done.stdout
    env_file = tmp_path / "config" / "witengine" / f"{UNIT}.env"
    assert f"EnvironmentFile=-{env_file}" in done.stdout
    assert not (tmp_path / "config").exists(), "--print writes nothing"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
@pytest.mark.parametrize("system", [False, True])
def test_systemd_reads_the_unit_without_a_complaint(tmp_path: Path, system: bool) -> None:
    service = Service(
        (sys.executable, "-m", "witengine"),
        ("--hub", "http://hub:7310", "--name", "desk 12", "--hours", "Mon-Fri 20:00-08:00"),
        system=system,
        user="root" if system else None,
        environment_file=tmp_path / "node.env",
    )
    path = tmp_path / f"{UNIT}.service"
    path.write_text(systemd_unit(service))
    checked = subprocess.run(
        ["systemd-analyze", "--man=no", "verify", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"},
    )
    assert checked.returncode == 0 and checked.stderr == "", checked.stderr


def test_the_nodes_page_flags_are_carried_into_the_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WIT_TOKEN", raising=False)
    arguments = ["node", "--hub", "http://hub:7310", "--status-port", "7420"]
    arguments += ["--status-host", "0.0.0.0", "install-service", "--print", "--platform", "linux"]
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 0, result.output
    words = exec_start(result.stdout)
    assert words[-4:] == ["--status-port", "7420", "--status-host", "0.0.0.0"]
