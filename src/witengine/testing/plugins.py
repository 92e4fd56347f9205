"""A plugin for tests of the farm: activities whose every execution leaves a trace.

`Testing.Record(item, ledger)` appends one line per execution to a ledger file as it starts,
and one to `LEDGER.done` as it returns, so a test can count how many times each item really ran,
across processes and restarts, and tell when it had finished. `Testing.Bytes`
makes a distinct file per item, to fill a blob store. Load it with
`WIT_PLUGINS=witengine.testing.plugins:plugin` on the hub and the nodes.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from witengine import __version__
from witengine.plugins.api import ActivityContext, Blob, Int, Plugin

plugin = Plugin("testing", version=__version__, summary="activities for farm tests")


@plugin.activity("Testing.Record")
def record(item: Int, ledger: str, ms: Int = 0) -> Int:
    """Append `item pid` to the ledger, wait ms milliseconds, append it to LEDGER.done, return
    item * 2."""
    line = f"{item} {os.getpid()}\n".encode()
    _append(Path(ledger), line)
    if ms:
        time.sleep(ms / 1000)
    _append(Path(f"{ledger}.done"), line)
    return item * 2


def _append(path: Path, line: bytes) -> None:
    """One line at the end of the file, in one write: lines of processes side by side stay
    whole."""
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(descriptor, line)
    finally:
        os.close(descriptor)


@plugin.activity("Testing.Bytes")
def some_bytes(context: ActivityContext, item: Int, size: Int) -> Blob:
    """A file of `size` bytes that only this item makes (to fill a disk with distinct blobs)."""
    seed = hashlib.sha256(str(item).encode()).digest()
    return context.save_bytes((seed * (size // len(seed) + 1))[:size], f"item-{item}.bin")


@plugin.activity("Testing.Crash")
def crash(item: Int) -> Int:
    """Kill the process running it (to test that a crashing activity costs only its batch)."""
    os._exit(3)


@plugin.activity("Testing.CrashAt")
def crash_at(item: Int, at: Int) -> Int:
    """Return item * 2, except for item `at`, which kills the process running it (to test what a
    node makes of the items of a batch finished before such a crash)."""
    if item == at:
        os._exit(3)
    return item * 2


@plugin.activity("Testing.Chatty")
def chatty(item: Int) -> Int:
    """Print to stdout, as careless plugin code does; return item * 2."""
    print(f"working on {item}")
    return item * 2
