"""`make test` runs the suite as two pytest sessions side by side (scripts/test.sh), one per core:
the `pure` tests (tests/unit: no processes, nothing timed against the machine's load) beside
every other one (farms of processes, Blender, the browser, the CLI), which run one after another
as before."""

from __future__ import annotations

from pathlib import Path

import pytest

PURE = pytest.mark.pure
_UNIT = Path(__file__).parent / "unit"


def pytest_itemcollected(item: pytest.Item) -> None:
    heavy = ("measures_cpu", "slow", "blender", "browser")
    if _UNIT in item.path.parents and not any(item.get_closest_marker(m) for m in heavy):
        item.add_marker(PURE)
