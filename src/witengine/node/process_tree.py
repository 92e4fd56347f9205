"""A batch's process tree, stopped, continued and killed whole, for the owner policy.

A batch process leads its own process group (the runner starts it in a new session), and what it
starts (Blender) is in that group: one signal to the group reaches them all. A descendant that
left the group (its own session or group) is found through psutil and signalled on its own, so
nothing of the batch keeps running while it is stopped, or lives on once it is killed.

It only sends signals: it never waits, and a process already gone is no error.
"""

from __future__ import annotations

import contextlib
import os
import signal

import psutil


def _outside(leader: int) -> list[psutil.Process]:
    """The leader's descendants that are not in its process group."""
    try:
        descendants = psutil.Process(leader).children(recursive=True)
    except psutil.Error:
        return []
    found = []
    for process in descendants:
        with contextlib.suppress(OSError):
            if os.getpgid(process.pid) != leader:
                found.append(process)
    return found


def _signal_group(leader: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(leader, sig)


def _signal_each(processes: list[psutil.Process], sig: int) -> None:
    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.send_signal(sig)


def stop(leader: int) -> None:
    """Freeze the tree (SIGSTOP): the group first, so that it starts nothing new meanwhile."""
    _signal_group(leader, signal.SIGSTOP)
    _signal_each(_outside(leader), signal.SIGSTOP)


def resume(leader: int) -> None:
    """Thaw the tree (SIGCONT) where it stopped."""
    _signal_each(_outside(leader), signal.SIGCONT)
    _signal_group(leader, signal.SIGCONT)


def kill(leader: int) -> None:
    """Kill the tree (SIGKILL), then continue it: a stopped process dies only once it runs."""
    outside = _outside(leader)  # found before the leader dies and they move to init
    for sig in (signal.SIGKILL, signal.SIGCONT):
        _signal_group(leader, sig)
        _signal_each(outside, sig)
