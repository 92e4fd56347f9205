"""The files that make `wit node` a service, as text: a systemd unit, a Windows scheduled task
(the XML `schtasks /Create /XML` reads) and a macOS launchd agent (a plist), with what to do with
the last two on the machine they are for. Pure functions of a `Service`; writing, enabling and
choosing what goes into a `Service` are `witengine.cli.service`'s.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from xml.sax.saxutils import escape

UNIT = "witengine-node"  # the service's name on every platform
LAUNCHD_LABEL = "org.witengine.node"
WINDOWS_TASK = "witengine node"
# What the node does with a bad flag, a bad policy or a refused credential: starting again
# cannot mend it, so systemd does not restart it (`RestartPreventExitStatus`).
USAGE_EXIT = 2


class Platform(StrEnum):
    LINUX = "linux"
    WINDOWS = "windows"
    MACOS = "macos"


def this_platform() -> Platform:
    if sys.platform == "win32":
        return Platform.WINDOWS
    if sys.platform == "darwin":
        return Platform.MACOS
    return Platform.LINUX


@dataclass(frozen=True)
class Service:
    """A node as a service: what runs, as whom, and where its token is kept."""

    program: tuple[str, ...]  # the `wit` command: its path (or the interpreter and `-m`)
    arguments: tuple[str, ...]  # the node's flags, after `wit node`
    system: bool = False  # a system service (all users, from boot) rather than the user's
    user: str | None = None  # who a system service runs as
    environment_file: Path | None = None  # WIT_TOKEN=… for the node, mode 600; None: no token
    home: str = "~"  # the user's home folder, for the files a launchd agent writes
    # A node given no --hub looks for one over mDNS and exits 2 when none answers (the network
    # may not be up yet at boot): only a node that knows its hub is not restarted after exit 2.
    discovers: bool = False

    @property
    def command(self) -> tuple[str, ...]:
        return (*self.program, "node", *self.arguments)

    @property
    def description(self) -> str:
        return "witengine node: does the work a witengine hub gives it, in its owner's windows"


# ---------------------------------------------------------------------------------- systemd


def systemd_quote(word: str) -> str:
    """One word of an ExecStart= line, as systemd splits and expands it back."""
    word = word.replace("%", "%%").replace("$", "$$")
    if word and not any(c in word for c in " \t\n\"'\\;"):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def systemd_unit(service: Service) -> str:
    """The unit file: the node at the lowest priority, started again when it fails."""
    scope = "--system" if service.system else "--user"
    ctl = "systemctl" if service.system else "systemctl --user"
    journal = "journalctl" if service.system else "journalctl --user"
    lines = [
        f"# {UNIT}.service, written by `wit node install-service {scope}`.",
        f"# Enable and start it: {ctl} daemon-reload && {ctl} enable --now {UNIT}",
        f"# Its log: {journal} -u {UNIT} -f",
    ]
    if not service.system:
        lines.append(
            "# To run it from boot, not only while you are logged in: loginctl enable-linger $USER"
        )
    lines += ["", "[Unit]", f"Description={service.description}"]
    if service.system:
        lines += ["Wants=network-online.target", "After=network-online.target"]
    lines += [
        "",
        "[Service]",
        "Type=simple",
        "ExecStart=" + " ".join(systemd_quote(word) for word in service.command),
    ]
    if service.system and service.user:
        lines.append(f"User={service.user}")
    if service.environment_file is not None:
        lines += [
            "# The node's join token (WIT_TOKEN), kept out of this file: it is needed until the",
            "# node has enrolled and kept its own credential in its cache folder.",
            f"EnvironmentFile=-{service.environment_file}",
        ]
    lines += ["Restart=on-failure", "RestartSec=10"]
    if not service.discovers:
        lines.append(f"RestartPreventExitStatus={USAGE_EXIT}")
    lines += [
        "Nice=19",
        "IOSchedulingClass=idle",
        "# On stop the node ends its batches and tells the hub, which gives their items to",
        "# other nodes at once: only the node is sent SIGTERM, and it is given time for that.",
        "KillMode=mixed",
        "TimeoutStopSec=30",
        "",
        "[Install]",
        f"WantedBy={'multi-user.target' if service.system else 'default.target'}",
    ]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------- Windows


def windows_command_line(words: Iterable[str]) -> str:
    """Words joined as Windows programs split them back (the C runtime's rules)."""
    return subprocess.list2cmdline(list(words))


def windows_task(service: Service) -> str:
    """A scheduled task as `schtasks /Create /XML` reads it: the node at logon (or, for a
    system-wide task, at boot), at the lowest priority, started again when it fails."""
    program, *rest = service.command
    trigger = "BootTrigger" if service.system else "LogonTrigger"
    logon = "Password" if service.system else "InteractiveToken"
    user = f"\n      <UserId>{escape(service.user)}</UserId>" if service.user else ""
    return f"""<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo>
    <Description>{escape(service.description)}</Description>
  </RegistrationInfo>
  <Triggers>
    <{trigger}>
      <Enabled>true</Enabled>
    </{trigger}>
  </Triggers>
  <Principals>
    <Principal id="Author">{user}
      <LogonType>{logon}</LogonType>
      <RunLevel>LeastPrivilege</RunLevel>
    </Principal>
  </Principals>
  <Settings>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
    <IdleSettings>
      <StopOnIdleEnd>false</StopOnIdleEnd>
      <RestartOnIdle>false</RestartOnIdle>
    </IdleSettings>
    <ExecutionTimeLimit>PT0S</ExecutionTimeLimit>
    <RestartOnFailure>
      <Interval>PT1M</Interval>
      <Count>999</Count>
    </RestartOnFailure>
    <Priority>10</Priority>
    <Enabled>true</Enabled>
  </Settings>
  <Actions Context="Author">
    <Exec>
      <Command>{escape(program)}</Command>
      <Arguments>{escape(windows_command_line(rest))}</Arguments>
    </Exec>
  </Actions>
</Task>
"""


# ------------------------------------------------------------------------------------ macOS


def launchd_agent(service: Service) -> str:
    """A launchd agent's plist: the node when the user logs in, at the lowest priority, in the
    background, started again when it fails."""
    arguments = "\n".join(f"    <string>{escape(word)}</string>" for word in service.command)
    user = (
        f"  <key>UserName</key>\n  <string>{escape(service.user)}</string>\n"
        if service.system and service.user
        else ""
    )
    log = f"{service.home}/Library/Logs/{UNIT}.log"
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>Label</key>
  <string>{LAUNCHD_LABEL}</string>
  <key>ProgramArguments</key>
  <array>
{arguments}
  </array>
{user}  <key>RunAtLoad</key>
  <true/>
  <key>KeepAlive</key>
  <dict>
    <key>SuccessfulExit</key>
    <false/>
  </dict>
  <key>ThrottleInterval</key>
  <integer>10</integer>
  <key>ProcessType</key>
  <string>Background</string>
  <key>Nice</key>
  <integer>19</integer>
  <key>LowPriorityIO</key>
  <true/>
  <key>StandardOutPath</key>
  <string>{escape(log)}</string>
  <key>StandardErrorPath</key>
  <string>{escape(log)}</string>
</dict>
</plist>
"""


ENROL_FIRST = (
    "Enrol the node once before (it keeps its own credential; the service carries no token):\n"
    "  wit node --hub URL --token JOIN-TOKEN   (then Ctrl-C once it says it is connected)"
)


def windows_instructions(service: Service) -> str:
    """What to do with the task's XML on the Windows machine."""
    printed = "wit node install-service --print"
    if service.system:
        printed = "wit node install-service --system --print"
    run_as = f" /RU {service.user} /RP *" if service.system and service.user else ""
    return f"""<Command> is the full path of wit.exe on the machine (`where wit` tells it).
Save the task from PowerShell (schtasks reads it as UTF-16):
  {printed} | Out-File -Encoding unicode witengine-node.xml
then register it and start it in a Command Prompt:
  schtasks /Create /TN "{WINDOWS_TASK}" /XML witengine-node.xml{run_as}
  schtasks /Run /TN "{WINDOWS_TASK}"
{ENROL_FIRST}"""


def launchd_instructions(service: Service) -> str:
    """What to do with the plist on the Mac."""
    folder = "/Library/LaunchDaemons" if service.system else "~/Library/LaunchAgents"
    path = f"{folder}/{LAUNCHD_LABEL}.plist"
    domain = "system" if service.system else "gui/$(id -u)"
    sudo = "sudo " if service.system else ""
    return f"""ProgramArguments begin with the full path of wit on the Mac (`which wit` tells it).
Save the plist as {path}, then load it:
  {sudo}launchctl bootstrap {domain} {path}
{ENROL_FIRST}"""
