"""The watcher's shell on a live hub in this loop, with a FakeClock: a file is taken only once
its size and modification time have held for the settle time; a file no node can run is
recorded on the blackboard as waiting, saying why; a .wit with an error is taken at once and
lands in failed/NAME/ with error.txt naming its line; an admin's take --fail fails a waiting
file unrun."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from witengine.client import HubAccess
from witengine.folders.records import FileRecord, FileState, file_key, take_key
from witengine.folders.rules import declared_rules
from witengine.folders.watcher import Watcher, WatchSettings, folder_label
from witengine.plugins.registry import build_library, discover
from witengine.testing.clock import FakeClock

if TYPE_CHECKING:
    from tests.unit.hub.conftest import LiveHub

pytestmark = pytest.mark.timeout(60)


def watcher(live_hub: LiveHub, folder: Path, clock: FakeClock) -> Watcher:
    plugins = discover({})
    access = HubAccess(live_hub.url.removesuffix("/api/v1"), token=live_hub.token)
    for name in ("running", "done", "failed"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    return Watcher(
        access,
        folder,
        library=build_library(plugins),
        plugin_rules=declared_rules(plugins),
        settings=WatchSettings(settle_seconds=2.0),
        clock=clock,
    )


async def record(live_hub: LiveHub, folder: Path, name: str) -> FileRecord | None:
    answer = await live_hub.client.get(f"/board/{file_key(folder_label(folder), name)}")
    return FileRecord.from_json(answer.json()["value"]) if answer.status_code == 200 else None


async def test_a_file_is_taken_only_once_unchanged_for_the_settle_time_and_waits_for_a_node(
    live_hub: LiveHub, tmp_path: Path
) -> None:
    folder = tmp_path / "renders"
    clock = FakeClock(100.0)
    watching = watcher(live_hub, folder, clock)
    script = folder / "stats.py"
    async with watching.access.client() as client, asyncio.TaskGroup() as group:
        script.write_text("print('half')")
        await watching.look(client, group)
        clock.advance(1.5)
        script.write_text("print('half, then whole')\n")
        os.utime(script, ns=(1, 2))
        await watching.look(client, group)
        clock.advance(1.9)
        await watching.look(client, group)
        assert await record(live_hub, folder, "stats.py") is None, "taken before it settled"
        clock.advance(0.1)
        await watching.look(client, group)
    found = await record(live_hub, folder, "stats.py")
    assert found is not None and found.state is FileState.WAITING
    assert found.needs == ("python",) and found.reason == "no node is connected"
    assert script.exists(), "a file no node can run stays where it was dropped"


async def test_a_wit_file_with_an_error_fails_at_once_naming_its_line(
    live_hub: LiveHub, tmp_path: Path
) -> None:
    folder = tmp_path / "renders"
    clock = FakeClock(100.0)
    watching = watcher(live_hub, folder, clock)
    (folder / "typo.wit").write_text("Job:Typo()\n{\n    Int:x = Compute.IsPrme(7);\n}\n")
    async with watching.access.client() as client, asyncio.TaskGroup() as group:
        await watching.look(client, group)
        clock.advance(2.0)
        await watching.look(client, group)
    error = (folder / "failed" / "typo" / "error.txt").read_text()
    assert error.startswith("typo.wit:3:13: unknown activity 'Compute.IsPrme'"), error
    assert (folder / "failed" / "typo" / "typo.wit").exists()
    found = await record(live_hub, folder, "typo.wit")
    assert found is not None and found.state is FileState.FAILED


async def test_an_admin_fails_a_waiting_file_and_it_moves_to_failed_unrun(
    live_hub: LiveHub, tmp_path: Path
) -> None:
    folder = tmp_path / "renders"
    clock = FakeClock(100.0)
    watching = watcher(live_hub, folder, clock)
    (folder / "shot.rib").write_text('Display "shot.tif" "file" "rgba"\n')
    async with watching.access.client() as client, asyncio.TaskGroup() as group:
        await watching.look(client, group)
        clock.advance(2.0)
        await watching.look(client, group)
        key = take_key(folder_label(folder), "shot.rib")
        await live_hub.client.put(f"/board/{key}", json={"value": {"node": None, "fail": True}})
        await watching.look(client, group)
    assert "failed by an admin" in (folder / "failed" / "shot" / "error.txt").read_text()
    assert (await live_hub.client.get(f"/board/{key}")).status_code == 404, "request removed"


async def test_a_look_that_fails_unexpectedly_is_logged_and_the_watching_goes_on(
    live_hub: LiveHub, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    plugins = discover({})
    watching = Watcher(
        HubAccess(live_hub.url.removesuffix("/api/v1"), token=live_hub.token),
        tmp_path / "renders",
        library=build_library(plugins),
        plugin_rules=declared_rules(plugins),
        settings=WatchSettings(poll_seconds=0.01),
    )
    looks = 0
    looked_again = asyncio.Event()

    async def look(*_: object) -> None:
        nonlocal looks
        looks += 1
        if looks == 1:
            raise RuntimeError("a bug in one look")
        looked_again.set()

    watching.look = look  # type: ignore[method-assign,assignment]
    running = asyncio.create_task(watching.run())
    await asyncio.wait_for(looked_again.wait(), 10)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert "a look failed" in caplog.text and "a bug in one look" in caplog.text
