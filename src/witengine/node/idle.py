"""Idle sources: how long since the owner last touched the machine, one way per kind of machine.

Every source answers `idle_seconds()`: seconds since the last keyboard or mouse input, or None
when it sees no desktop (no display, no session, not this platform), which the policy counts as
idle. A source never raises: a bus that is gone, a display that closed or a file that vanished
make it answer None (or, for a file, the time since the node started) until they come back.

- `x11`: the X server's screen-saver extension (python-xlib), to the millisecond.
- `logind`: systemd-logind's IdleHint and IdleSinceHint of the graphical sessions, over D-Bus
  (jeepney). The desktop sets the hint (GNOME after its screen-blank delay), so this source says
  0 until then: behind it a node starts that much later than idle-after.
- `terminals`: the last input on the terminals of logged-in users (the access time of /dev/tty*
  and /dev/pts/*), as HTCondor reads keyboard idle.
- `windows`: `GetLastInputInfo`. A service in session 0 does not see the desktop's input: run
  the node in the owner's session (a scheduled task at logon), or use `file:PATH`.
- `macos`: IOKit's `HIDIdleTime`, read with `ioreg`.
- `file:PATH`: the file's modification time is the last input (a screen-lock hook or a test
  touches it). A missing file counts as input when the source was made (the node started): the
  node waits idle-after from its start rather than taking an unknown for idle.
- `none`: never any input (a dedicated machine with the policy's hours and load rules).
- `auto`: on Linux the freshest of x11 (or, with no reachable display, logind) and terminals;
  on Windows and macOS their own; None where none of them sees anything.

Platform code is imported only on its platform; the parsing each needs is a pure function here,
tested everywhere.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import psutil

from witengine.clock import wall_time
from witengine.node.policy import IDLE_SOURCES
from witengine.node.probe import Run, run_command

WallClock = Callable[[], float]
Users = Callable[[], Sequence[Any]]  # psutil.users(): each with a `terminal` name
RECONNECT_SECONDS = 30.0  # how often a source whose display or bus was missing tries again
# The node looks four times a second from its event loop: a bus that does not answer must not
# hold it up for long (a second's silence from logind counts as no desktop, until it answers).
BUS_TIMEOUT = 0.5
IOREG_EVERY = 0.5  # seconds between two runs of ioreg (a process each): input is still seen in 1 s


class IdleSource(Protocol):
    """Where the policy learns how long the machine has gone without input."""

    def idle_seconds(self) -> float | None:
        """Seconds since the last input; None: no desktop (counts as idle)."""
        ...


class NoInput:
    """`none`: a machine nobody sits at."""

    def idle_seconds(self) -> float | None:
        return None


class FileIdle:
    """`file:PATH`: the file's modification time is the last input."""

    def __init__(self, path: Path, wall: WallClock = wall_time) -> None:
        self.path = path
        self._wall = wall
        self._started = wall()  # a missing file: input when the node started

    def idle_seconds(self) -> float | None:
        try:
            touched = self.path.stat().st_mtime
        except OSError:
            touched = self._started
        return max(0.0, self._wall() - touched)


class TerminalIdle:
    """`terminals`: the last input on logged-in users' terminals (their device's access time)."""

    def __init__(
        self, dev: Path = Path("/dev"), users: Users = psutil.users, wall: WallClock = wall_time
    ) -> None:
        self.dev = dev
        self._users = users
        self._wall = wall

    def idle_seconds(self) -> float | None:
        try:
            terminals = {str(user.terminal) for user in self._users() if user.terminal}
        except (OSError, psutil.Error):
            return None
        touched: list[float] = []
        for terminal in terminals:
            # utmp names terminals relative to /dev ("pts/3", "tty2"); X displays (":0") and
            # anything that climbs out of the folder are not terminals.
            if terminal.startswith((":", "/", ".")) or ".." in terminal:
                continue
            with contextlib.suppress(OSError):
                touched.append((self.dev / terminal).stat().st_atime)
        if not touched:
            return None
        return max(0.0, self._wall() - max(touched))


class X11Idle:
    """`x11`: the X server's idle time (MIT-SCREEN-SAVER), for the display in $DISPLAY."""

    def __init__(
        self,
        display: str | None = None,
        environ: Mapping[str, str] = os.environ,
        wall: WallClock = wall_time,
    ) -> None:
        self.display = display if display is not None else environ.get("DISPLAY", "")
        self._wall = wall
        self._connection: Any = None
        self._tried = -RECONNECT_SECONDS

    def idle_seconds(self) -> float | None:
        if not self.display or sys.platform != "linux":
            return None
        if self._connection is None and self._wall() - self._tried >= RECONNECT_SECONDS:
            self._tried = self._wall()
            self._connection = _open_display(self.display)
        if self._connection is None:
            return None
        try:
            info = self._connection.screen().root.screensaver_query_info()
        except Exception:  # the server went away: python-xlib raises several kinds
            self.close()
            return None
        return int(info.idle) / 1000.0

    def close(self) -> None:
        """Close the connection to the display, if open."""
        if self._connection is not None:
            with contextlib.suppress(Exception):
                self._connection.close()
            self._connection = None


def _open_display(name: str) -> Any:
    """A python-xlib connection with the screen-saver extension, or None."""
    try:
        from Xlib import display
        from Xlib.ext import screensaver  # noqa: F401  (registers the request on Display)
    except ImportError:
        return None
    # python-xlib leaves the socket of a failed connection to the garbage collector, which warns.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            connection = display.Display(name)
        except Exception:  # no such display, refused, no authority: all mean none here
            return None
    if not connection.has_extension("MIT-SCREEN-SAVER"):
        connection.close()
        return None
    return connection


LOGIND = "org.freedesktop.login1"
GRAPHICAL = frozenset({"x11", "wayland", "mir"})


class LogindIdle:
    """`logind`: the graphical sessions' IdleHint and IdleSinceHint, over the system bus."""

    def __init__(self, bus: str = "SYSTEM", wall: WallClock = wall_time) -> None:
        self.bus = bus
        self._wall = wall
        self._connection: Any = None
        self._tried = -RECONNECT_SECONDS

    def idle_seconds(self) -> float | None:
        if sys.platform != "linux":
            return None
        if self._connection is None and self._wall() - self._tried >= RECONNECT_SECONDS:
            self._tried = self._wall()
            self._connection = _open_bus(self.bus)
        if self._connection is None:
            return None
        try:
            sessions = self._sessions()
        except Exception:  # the bus closed or logind went away; jeepney raises several kinds
            self.close()
            return None
        return desktop_idle(sessions, self._wall())

    def close(self) -> None:
        """Close the connection to the bus, if open."""
        if self._connection is not None:
            with contextlib.suppress(Exception):
                self._connection.close()
            self._connection = None

    def _sessions(self) -> list[dict[str, Any]]:
        from jeepney import DBusAddress, Properties, new_method_call
        from jeepney.wrappers import unwrap_msg

        manager = DBusAddress(
            "/org/freedesktop/login1", bus_name=LOGIND, interface=f"{LOGIND}.Manager"
        )
        reply = self._connection.send_and_get_reply(
            new_method_call(manager, "ListSessions"), timeout=BUS_TIMEOUT
        )
        found = []
        for _id, _uid, _user, _seat, path in unwrap_msg(reply)[0]:
            session = DBusAddress(path, bus_name=LOGIND, interface=f"{LOGIND}.Session")
            answer = self._connection.send_and_get_reply(Properties(session).get_all(), timeout=1.0)
            found.append({name: value for name, (_kind, value) in unwrap_msg(answer)[0].items()})
        return found


def _open_bus(bus: str) -> Any:
    try:
        from jeepney.io.blocking import open_dbus_connection
    except ImportError:
        return None
    try:
        return open_dbus_connection(bus=bus, auth_timeout=BUS_TIMEOUT)
    except Exception:  # no bus at that address, refused, timed out: none here
        return None


def desktop_idle(sessions: Iterable[Mapping[str, Any]], now: float) -> float | None:
    """Idle seconds from logind's sessions (their D-Bus properties): the least idle graphical
    session's; 0 for one not marked idle; None without a graphical session."""
    idle: list[float] = []
    for session in sessions:
        if session.get("Type") not in GRAPHICAL or session.get("Class", "user") != "user":
            continue
        if not session.get("IdleHint", False):
            idle.append(0.0)
        else:
            since = float(session.get("IdleSinceHint", 0)) / 1_000_000  # microseconds, realtime
            idle.append(max(0.0, now - since) if since else 0.0)
    return min(idle) if idle else None


class WindowsIdle:
    """`windows`: GetLastInputInfo against GetTickCount."""

    def idle_seconds(self) -> float | None:
        return _windows_idle()


if sys.platform == "win32":
    import ctypes

    class _LastInputInfo(ctypes.Structure):
        _fields_ = [("cbSize", ctypes.c_uint), ("dwTime", ctypes.c_uint32)]

    def _windows_idle() -> float | None:
        info = _LastInputInfo()
        info.cbSize = ctypes.sizeof(info)
        if not ctypes.windll.user32.GetLastInputInfo(ctypes.byref(info)):
            return None
        ticks = ctypes.windll.kernel32.GetTickCount
        ticks.restype = ctypes.c_uint32
        return tick_idle(int(ticks()), int(info.dwTime))

else:

    def _windows_idle() -> float | None:
        return None


def tick_idle(now_ticks: int, last_input_ticks: int) -> float:
    """Seconds between two GetTickCount readings (milliseconds that wrap every 49.7 days)."""
    return ((now_ticks - last_input_ticks) & 0xFFFFFFFF) / 1000.0


class MacIdle:
    """`macos`: HIDIdleTime from `ioreg -c IOHIDSystem`."""

    def __init__(self, run: Run = run_command, wall: WallClock = wall_time) -> None:
        self._run = run
        self._wall = wall
        self._read: tuple[float, float | None] | None = None  # when, and what it said

    def idle_seconds(self) -> float | None:
        now = self._wall()
        if self._read is not None and 0 <= now - self._read[0] < IOREG_EVERY:
            seconds = self._read[1]
            return None if seconds is None else seconds + now - self._read[0]
        # Elsewhere there is no ioreg: the command fails and the source sees no desktop.
        output = self._run(["ioreg", "-c", "IOHIDSystem", "-d", "4"], 2.0) or ""
        self._read = (now, hid_idle_seconds(output))
        return self._read[1]


_HID_IDLE = re.compile(r'"HIDIdleTime"\s*=\s*(\d+)')


def hid_idle_seconds(ioreg_output: str) -> float | None:
    """HIDIdleTime (nanoseconds) from ioreg's output, in seconds; None when it is not there."""
    match = _HID_IDLE.search(ioreg_output)
    return int(match.group(1)) / 1e9 if match else None


class FirstOf:
    """The first of several sources that sees a desktop (x11, then logind)."""

    def __init__(self, *sources: IdleSource) -> None:
        self.sources = sources

    def idle_seconds(self) -> float | None:
        for source in self.sources:
            seconds = source.idle_seconds()
            if seconds is not None:
                return seconds
        return None


class Freshest:
    """The most recent input any of several sources saw; None when none sees a desktop."""

    def __init__(self, *sources: IdleSource) -> None:
        self.sources = sources

    def idle_seconds(self) -> float | None:
        seen = [
            seconds for source in self.sources if (seconds := source.idle_seconds()) is not None
        ]
        return min(seen) if seen else None


def idle_source(
    name: str,
    *,
    platform: str = sys.platform,
    environ: Mapping[str, str] = os.environ,
    dev: Path = Path("/dev"),
    users: Users = psutil.users,
    bus: str = "SYSTEM",
    wall: WallClock = wall_time,
) -> IdleSource:
    """The source a policy's `idle-source` names (policy.IDLE_SOURCES, or `file:PATH`)."""
    if name.startswith("file:"):
        return FileIdle(Path(name.removeprefix("file:")).expanduser(), wall)
    if name not in IDLE_SOURCES:
        raise ValueError(f"unknown idle source {name!r}")
    named: dict[str, Callable[[], IdleSource]] = {
        "none": NoInput,
        "x11": lambda: X11Idle(environ=environ, wall=wall),
        "logind": lambda: LogindIdle(bus, wall),
        "terminals": lambda: TerminalIdle(dev, users, wall),
        "windows": WindowsIdle,
        "macos": MacIdle,
    }
    if name != "auto":
        return named[name]()
    if platform == "win32":
        return WindowsIdle()
    if platform == "darwin":
        return MacIdle()
    return Freshest(FirstOf(named["x11"](), named["logind"]()), named["terminals"]())
