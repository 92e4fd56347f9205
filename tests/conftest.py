"""`make test` runs the suite as two pytest sessions side by side (scripts/test.sh): the `pure`
tests (tests/unit: no processes, nothing timed against the machine's load) beside every other one
(farms of processes, Blender, the browser, the CLI), which mostly wait on the processes they start
and so run in two pytest-xdist workers, a module's tests together in one, in order
(`--dist loadfile`), so a farm a module shares is started once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

PURE = pytest.mark.pure
_UNIT = Path(__file__).parent / "unit"


def pytest_itemcollected(item: pytest.Item) -> None:
    heavy = ("measures_cpu", "slow", "blender", "browser")
    if _UNIT in item.path.parents and not any(item.get_closest_marker(m) for m in heavy):
        item.add_marker(PURE)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Any]:
    """A throw-away PostgreSQL server for the session (witengine.testing.postgres); skipped,
    with the reason, where none can be made (PostgreSQL not installed)."""
    from witengine.testing.postgres import ThrowawayCluster, unavailable

    reason = unavailable()
    if reason is not None:
        pytest.skip(reason)
    cluster = ThrowawayCluster().start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def postgres_url(postgres_cluster: Any) -> Iterator[str]:
    """The URL of a database of the test's own, holding the store's tables and nothing else."""
    name = postgres_cluster.database()
    try:
        yield postgres_cluster.url(name)
    finally:
        postgres_cluster.release(name)
