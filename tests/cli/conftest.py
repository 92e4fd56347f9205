"""A real hub process on 127.0.0.1 for the modules that run `wit` against one (`farm.wit(...)`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from witengine.testing.processes import ProcessFarm, free_port


@pytest.fixture(scope="module")
def farm(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ProcessFarm]:
    """One hub a module, started before its first test and stopped after its last."""
    farm = ProcessFarm(
        tmp_path_factory.mktemp(request.module.__name__.rpartition(".")[2]), free_port()
    )
    try:
        farm.start_hub()
        yield farm
    finally:
        farm.stop()
