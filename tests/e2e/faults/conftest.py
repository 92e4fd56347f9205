"""Fixtures of the fault-injection suite: a hub of real processes on 127.0.0.1, and the local
reference run its results are compared with (see faultcheck.py for the checks)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from faultcheck import LEDGER, run_locally

from witengine.testing.processes import ProcessFarm, free_port


@pytest.fixture
def farm(tmp_path: Path) -> Iterator[ProcessFarm]:
    farm = ProcessFarm(tmp_path, free_port())
    farm.start_hub()
    try:
        yield farm
    finally:
        farm.stop()


@pytest.fixture(scope="session")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Callable[[int], list[int]]:
    """`reference(n)`: the Ledger job's `doubled` for n items, from a local run (cached)."""
    cache: dict[int, list[int]] = {}

    def doubled(n: int) -> list[int]:
        if n not in cache:
            folder = tmp_path_factory.mktemp("reference")
            parameters = {"n": str(n), "ledger": str(folder / "ledger.txt"), "ms": "0"}
            result = run_locally(LEDGER, parameters, folder / "blobs")
            cache[n] = result.variables["doubled"]
            assert len(cache[n]) == n
        return cache[n]

    return doubled
