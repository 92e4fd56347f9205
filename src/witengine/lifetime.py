"""Child processes that end with the process that started them."""

from __future__ import annotations

import signal
import sys


def die_with_parent() -> None:
    """Runs in a child before it starts (`preexec_fn`): on Linux it gets SIGTERM when its parent
    dies, even by SIGKILL, so nothing it was started for outlives the parent (an embedded farm's
    hub and nodes, a node's worker processes). Elsewhere it does nothing."""
    if sys.platform == "linux":
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGTERM)
