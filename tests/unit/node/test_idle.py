"""Idle sources: a file's modification time and fake terminals in a temporary folder, for real;
X11 and logind where this machine has neither (they must answer None, not fail); the Windows
and macOS readings through the pure functions that parse them."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from witengine.node.idle import (
    FileIdle,
    FirstOf,
    Freshest,
    LogindIdle,
    MacIdle,
    NoInput,
    TerminalIdle,
    X11Idle,
    desktop_idle,
    hid_idle_seconds,
    idle_source,
    tick_idle,
)

NO_BUS = "unix:path=/nonexistent/witengine-test-bus"


class Fixed:
    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds

    def idle_seconds(self) -> float | None:
        return self.seconds


def test_a_file_s_modification_time_is_the_last_input(tmp_path: Path) -> None:
    marker = tmp_path / "active"
    marker.touch()
    os.utime(marker, (900.0, 900.0))
    assert FileIdle(marker, wall=lambda: 1000.0).idle_seconds() == 100.0


def test_touching_the_file_makes_the_machine_busy_at_once(tmp_path: Path) -> None:
    marker = tmp_path / "active"
    marker.touch()
    os.utime(marker, (0.0, 0.0))
    source = FileIdle(marker)
    assert (source.idle_seconds() or 0) > 3600
    marker.touch()
    assert (source.idle_seconds() or 0) < 5


def test_a_missing_file_counts_as_input_when_the_source_was_made(tmp_path: Path) -> None:
    times = iter([500.0, 530.0, 560.0])
    source = FileIdle(tmp_path / "never-touched", wall=lambda: next(times))
    assert source.idle_seconds() == 30.0
    assert source.idle_seconds() == 60.0


def fake_terminals(folder: Path, **atimes: float) -> None:
    for name, atime in atimes.items():
        device = folder / name.replace("_", "/")
        device.parent.mkdir(parents=True, exist_ok=True)
        device.touch()
        os.utime(device, (atime, 0.0))


def logged_in(*terminals: str | None) -> Any:
    return lambda: [SimpleNamespace(name="owner", terminal=terminal) for terminal in terminals]


def test_terminals_give_the_last_input_of_any_logged_in_user(tmp_path: Path) -> None:
    fake_terminals(tmp_path, pts_3=700.0, tty2=950.0, pts_9=999.0)
    users = logged_in("pts/3", "tty2", ":0", None)  # pts/9 belongs to nobody logged in
    source = TerminalIdle(tmp_path, users, wall=lambda: 1000.0)
    assert source.idle_seconds() == 50.0


def test_terminals_ignore_names_that_climb_out_of_the_folder(tmp_path: Path) -> None:
    (tmp_path / "dev").mkdir()
    fake_terminals(tmp_path, secret=999.0)
    source = TerminalIdle(tmp_path / "dev", logged_in("../secret", "/etc/passwd"), lambda: 1e3)
    assert source.idle_seconds() is None


def test_no_one_logged_in_on_a_terminal_is_no_desktop(tmp_path: Path) -> None:
    assert TerminalIdle(tmp_path, logged_in(), lambda: 1000.0).idle_seconds() is None
    assert TerminalIdle(tmp_path, logged_in("pts/0"), lambda: 1000.0).idle_seconds() is None


def test_x11_without_a_display_sees_no_desktop() -> None:
    assert X11Idle(environ={}).idle_seconds() is None
    assert X11Idle(display=":97").idle_seconds() is None  # no such server here


def test_logind_without_a_bus_sees_no_desktop() -> None:
    assert LogindIdle(bus=NO_BUS).idle_seconds() is None


@pytest.mark.parametrize(
    ("sessions", "idle"),
    [
        ([], None),
        ([{"Type": "tty", "IdleHint": True, "IdleSinceHint": 1}], None),
        ([{"Type": "wayland", "IdleHint": False}], 0.0),
        ([{"Type": "x11", "IdleHint": True, "IdleSinceHint": 400_000_000}], 600.0),
        (
            [
                {"Type": "x11", "Class": "greeter", "IdleHint": False},
                {"Type": "wayland", "IdleHint": True, "IdleSinceHint": 900_000_000},
            ],
            100.0,
        ),
        (
            [
                {"Type": "x11", "IdleHint": True, "IdleSinceHint": 400_000_000},
                {"Type": "wayland", "IdleHint": True, "IdleSinceHint": 900_000_000},
            ],
            100.0,
        ),
    ],
)
def test_logind_sessions_give_the_least_idle_desktop(
    sessions: list[dict[str, Any]], idle: float | None
) -> None:
    assert desktop_idle(sessions, now=1000.0) == idle


def test_windows_ticks_wrap_every_49_days() -> None:
    assert tick_idle(5_000, 2_000) == 3.0
    assert tick_idle(500, 0xFFFFFFFF - 499) == 1.0


IOREG = """\
+-o IOHIDSystem  <class IOHIDSystem, id 0x100000452, registered, matched, active, busy 0>
    {
      "HIDIdleTime" = 12345678901
      "HIDParameters" = {"HIDMouseAcceleration"=45056}
    }
"""


def test_macos_idle_time_is_read_from_ioreg() -> None:
    assert hid_idle_seconds(IOREG) == pytest.approx(12.345678901)
    assert hid_idle_seconds("") is None
    assert MacIdle(run=lambda command, timeout: IOREG).idle_seconds() == pytest.approx(12.3456789)
    assert MacIdle(run=lambda command, timeout: None).idle_seconds() is None


def test_ioreg_runs_at_most_twice_a_second_and_idle_grows_between() -> None:
    runs: list[float] = []
    now = [100.0]

    def ioreg(command: object, timeout: float) -> str:
        runs.append(now[0])
        return IOREG

    source = MacIdle(run=ioreg, wall=lambda: now[0])
    assert source.idle_seconds() == pytest.approx(12.345678901)
    now[0] += 0.25
    assert source.idle_seconds() == pytest.approx(12.595678901)
    now[0] += 0.25
    source.idle_seconds()
    assert runs == [100.0, 100.5]


def test_the_freshest_input_wins_and_no_desktop_anywhere_is_none() -> None:
    assert Freshest(Fixed(None), Fixed(30.0), Fixed(5.0)).idle_seconds() == 5.0
    assert Freshest(Fixed(None), NoInput()).idle_seconds() is None
    assert FirstOf(Fixed(None), Fixed(30.0), Fixed(5.0)).idle_seconds() == 30.0


def test_auto_on_a_machine_without_display_bus_or_terminals_sees_no_desktop() -> None:
    source = idle_source("auto", platform="linux", environ={}, users=logged_in(), bus=NO_BUS)
    assert source.idle_seconds() is None


def test_auto_on_linux_takes_the_freshest_of_the_desktop_and_the_terminals(tmp_path: Path) -> None:
    fake_terminals(tmp_path, pts_1=990.0)
    source = idle_source(
        "auto", environ={}, dev=tmp_path, users=logged_in("pts/1"), bus=NO_BUS, wall=lambda: 1e3
    )
    assert source.idle_seconds() == 10.0


def test_named_sources_are_made_and_unknown_names_refused(tmp_path: Path) -> None:
    assert isinstance(idle_source(f"file:{tmp_path}/a"), FileIdle)
    assert idle_source("none").idle_seconds() is None
    assert isinstance(idle_source("terminals"), TerminalIdle)
    with pytest.raises(ValueError, match="unknown idle source 'mouse'"):
        idle_source("mouse")
