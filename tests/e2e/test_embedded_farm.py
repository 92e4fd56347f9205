"""The embedded farm of `wit run`: a real hub and real nodes, started at once on a socket the farm
opened itself, and what it says when a part of it does not come up."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import psutil
import pytest

from witengine import embedded
from witengine.client import HubClient, HubError
from witengine.embedded import FarmError, embedded_farm, prepare_hub

pytestmark = pytest.mark.slow


def test_the_hub_and_its_nodes_start_together_and_all_stop_with_the_block(
    tmp_path: Path,
) -> None:
    async def go() -> tuple[str, list[str], list[int]]:
        async with embedded_farm(2, tmp_path / "farm", wait=False) as farm:
            processes = [farm.hub.pid, *(node.pid for node in farm.nodes)]

            async def job() -> tuple[str, list[str]]:
                # Sent at once: it waits in the farm's socket until the hub serves.
                async with HubClient(farm.url, token=farm.token) as client:
                    status = (await client.health())["status"]
                    for _ in range(600):
                        nodes = await client.nodes()
                        if sum(n.state != "offline" for n in nodes) == 2:
                            return status, sorted(n.name for n in nodes)
                        await asyncio.sleep(0.05)
                raise AssertionError("the nodes never came online")

            status, names = await farm.run(job())
        return status, names, processes

    status, names, processes = asyncio.run(go())
    assert status == "ok"
    assert names == ["local-1", "local-2"]
    assert not [pid for pid in processes if psutil.pid_exists(pid) and not zombie(pid)]


def zombie(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_a_hub_that_ends_at_its_start_is_the_error_named_with_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = embedded._python_command

    def failing_hub(*args: str) -> list[str]:
        if args[0] == "hub":
            return [
                sys.executable,
                "-c",
                "import sys; print('no hub today', file=sys.stderr); sys.exit(3)",
            ]
        return real(*args)

    monkeypatch.setattr(embedded, "_python_command", failing_hub)

    async def go() -> None:
        async with (
            embedded_farm(1, tmp_path / "farm", wait=False) as farm,
            HubClient(farm.url, token=farm.token) as client,
        ):
            await farm.run(client.health())  # the hub never answers it

    with pytest.raises(FarmError) as caught:
        asyncio.run(go())
    log = tmp_path / "farm" / "hub" / "hub.log"
    assert str(caught.value) == f"the hub did not start; see {log}"
    assert "no hub today" in log.read_text()


def test_a_node_that_ends_before_it_connects_is_named_with_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = embedded.start_node

    async def bad_node(*args: object, **options: object) -> asyncio.subprocess.Process:
        options["extra"] = ("--threads", "many")  # not a number: `wit node` exits 2
        return await real(*args, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(embedded, "start_node", bad_node)

    async def go() -> None:
        async with embedded_farm(1, tmp_path / "farm"):
            pass

    with pytest.raises(FarmError) as caught:
        asyncio.run(go())
    log = tmp_path / "farm" / "node-1.log"
    assert str(caught.value) == (f"node local-1 ended (exit code 2) before it connected; see {log}")
    assert "--threads" in log.read_text()


def test_work_that_fails_on_its_own_is_its_own_error_not_the_farms(tmp_path: Path) -> None:
    async def go() -> None:
        async with embedded_farm(1, tmp_path / "farm", wait=False) as farm:

            async def bad_request() -> None:
                async with HubClient(farm.url, token="not a token") as client:
                    await client.nodes()

            await farm.run(bad_request())

    with pytest.raises(HubError) as caught:
        asyncio.run(go())
    assert caught.value.status == 401


def test_a_folder_that_holds_a_hub_already_is_refused(tmp_path: Path) -> None:
    prepare_hub(tmp_path)
    with pytest.raises(FarmError, match="holds a hub already"):
        prepare_hub(tmp_path)
    assert (tmp_path / "admin.token").stat().st_mode & 0o077 == 0


def test_a_folder_the_hub_cannot_have_is_a_farm_error(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("in the way of the hub's folder")
    with pytest.raises(FarmError, match=f"cannot make the hub's folder {blocked / 'hub'}"):
        prepare_hub(blocked / "hub")
