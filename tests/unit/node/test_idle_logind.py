"""The logind source over a real D-Bus: a private dbus-daemon, and on it a stand-in for
systemd-logind (jeepney answering ListSessions and the sessions' properties as logind does), so
that the source's calls, signatures and unpacking are those it makes to the real one. Skipped
where dbus-daemon is not installed."""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from witengine.node.idle import LOGIND, LogindIdle

pytestmark = pytest.mark.skipif(shutil.which("dbus-daemon") is None, reason="no dbus-daemon")

jeepney = pytest.importorskip("jeepney")

SESSIONS = {
    "/org/freedesktop/login1/session/_31": {
        "Type": ("s", "x11"),
        "Class": ("s", "user"),
        "IdleHint": ("b", True),
        "IdleSinceHint": ("t", 900_000_000),  # microseconds since the epoch: at 900 s
    },
    "/org/freedesktop/login1/session/c2": {
        "Type": ("s", "tty"),
        "Class": ("s", "user"),
        "IdleHint": ("b", False),
        "IdleSinceHint": ("t", 0),
    },
}


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[str]:
    config = tmp_path / "bus.conf"
    config.write_text(
        f"""<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={tmp_path}/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
""",
        encoding="utf-8",
    )
    daemon = subprocess.Popen(
        ["dbus-daemon", "--config-file", str(config), "--nofork", "--print-address"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert daemon.stdout is not None
        yield daemon.stdout.readline().strip()
    finally:
        daemon.terminate()
        daemon.wait(10)
        if daemon.stdout is not None:
            daemon.stdout.close()


def serve_logind(address: str, ready: threading.Event, stop: threading.Event) -> None:
    from jeepney import MessageType, new_method_return
    from jeepney.bus_messages import message_bus
    from jeepney.io.blocking import open_dbus_connection
    from jeepney.low_level import HeaderFields

    with open_dbus_connection(bus=address) as connection:
        connection.send_and_get_reply(message_bus.RequestName(LOGIND), timeout=5)
        ready.set()
        while not stop.is_set():
            try:
                call = connection.receive(timeout=0.1)
            except TimeoutError:
                continue
            if call.header.message_type != MessageType.method_call:
                continue
            member = call.header.fields[HeaderFields.member]
            if member == "ListSessions":
                listed = [(path.rsplit("/", 1)[1], 1000, "ann", "seat0", path) for path in SESSIONS]
                connection.send(new_method_return(call, "a(susso)", (listed,)))
            elif member == "GetAll":
                path = call.header.fields[HeaderFields.path]
                properties: dict[str, Any] = SESSIONS[path]
                connection.send(new_method_return(call, "a{sv}", (properties,)))


def test_logind_over_a_real_bus_gives_the_desktop_session_s_idle_time(bus: str) -> None:
    ready, stop = threading.Event(), threading.Event()
    server = threading.Thread(target=serve_logind, args=(bus, ready, stop), daemon=True)
    server.start()
    try:
        assert ready.wait(10)
        source = LogindIdle(bus=bus, wall=lambda: 1000.0)
        assert source.idle_seconds() == 100.0  # the x11 session; the tty one is not a desktop
        assert source.idle_seconds() == 100.0  # on the same connection
        source.close()
    finally:
        stop.set()
        server.join(10)


def test_logind_gone_from_the_bus_is_no_desktop(bus: str) -> None:
    assert LogindIdle(bus=bus, wall=lambda: 1000.0).idle_seconds() is None
