"""A long-lived process's garbage collector: what it loaded is frozen out of the passes, and it
collects after GC_ALLOCATIONS new objects (a hub or node with a map in memory spent 13 to 20 % of
its CPU in collections at Python's 700). Checked in a child process: the settings are global."""

from __future__ import annotations

import json
import subprocess
import sys

from witengine.lifetime import GC_ALLOCATIONS

CHILD = """
import gc, json
from witengine.lifetime import collect_garbage_rarely
before = gc.get_threshold()
collect_garbage_rarely()
print(json.dumps({"before": before, "after": gc.get_threshold(), "frozen": gc.get_freeze_count()}))
"""


def test_a_long_lived_process_collects_garbage_rarely_and_not_what_it_loaded() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, check=True, timeout=60
    )
    seen = json.loads(done.stdout)
    assert seen["before"][0] < GC_ALLOCATIONS  # Python's own, for contrast
    assert seen["after"] == [GC_ALLOCATIONS, 10, 10]
    assert seen["frozen"] > 10_000  # the modules, classes and functions it had loaded
