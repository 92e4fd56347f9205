"""`wit watch` (job folders, against a running hub), `wit resources` and `wit take`: asking the
network what it has and which job files could run where. The logic is in witengine.folders."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from witengine.cli.farm import (
    FingerprintOption,
    HubOption,
    InsecureOption,
    TokenOption,
    hub_access,
    open_hub,
)
from witengine.cli.folder_options import JobsOption, PollOption, SettleOption


def watch(
    folders: Annotated[list[Path], typer.Argument(help="Folders to watch for job files.")],
    hub: HubOption = None,
    settle: SettleOption = 2.0,
    poll: PollOption = 1.0,
    jobs: JobsOption = 4,
    fingerprint: FingerprintOption = None,
    token: TokenOption = None,
    insecure: InsecureOption = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run the job files dropped into FOLDERS on a hub, until stopped (docs/studio.md).

    NAME.wit (with NAME.params), NAME.blend, NAME.py, NAME.rib and plugins' extensions; results
    land in FOLDER/done/NAME/, failures in FOLDER/failed/NAME/ with error.txt.
    """
    import logging

    from witengine.cli.folder_options import watch_settings
    from witengine.folders.watcher import watch as watch_folders

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    missing = [str(f) for f in folders if not f.is_dir()]
    if missing:
        print(f"wit watch: not a folder: {', '.join(missing)}", file=sys.stderr)
        raise typer.Exit(2)
    access = hub_access(hub, fingerprint, insecure, token)
    print(f"watching {', '.join(str(f) for f in folders)} for {access.url}", file=sys.stderr)
    try:
        asyncio.run(watch_folders(access, folders, watch_settings(settle, poll, jobs)))
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


async def _farm(client: Any) -> tuple[list[Any], list[Any]]:
    from witengine.folders.resources import file_records

    nodes = await client.nodes()
    values = await client.board_list("folders/", limit=10_000)
    records = file_records((v.key, v.value) for v in values if not v.deleted)
    return nodes, records


def resources(
    jobs: Annotated[
        bool, typer.Option("--jobs", help="List the waiting job files and who could run each.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    hub: HubOption = None,
    fingerprint: FingerprintOption = None,
    token: TokenOption = None,
    insecure: InsecureOption = False,
) -> None:
    """Every node with its hardware, its tools and the waiting job files it could run; with
    --jobs, the waiting job files of every watched folder and the nodes that could run each."""
    import json

    from witengine.folders.resources import by_node, waiting

    async def ask() -> tuple[list[Any], list[Any]]:
        async with open_hub(hub, fingerprint, insecure, token) as client:
            return await _farm(client)

    nodes, records = _call(ask())
    files = waiting(records, nodes)
    if as_json:
        data: Any
        if jobs:
            data = [{**f.record.to_json(), "nodes": list(f.nodes)} for f in files]
        else:
            could = by_node(files, nodes)
            data = [
                {
                    "name": n.name,
                    "state": n.state.value,
                    "capabilities": n.capabilities.model_dump(),
                    "could_run": could[n.name],
                }
                for n in nodes
            ]
        print(json.dumps(data, indent=2))
        return
    from rich.console import Console

    from witengine.cli.views import resources_table, waiting_table

    console = Console()
    if jobs:
        console.print(waiting_table(files))
    else:
        console.print(resources_table(nodes, by_node(files, nodes)))


def take(
    file: Annotated[str, typer.Argument(help="A waiting job file: NAME.EXT, FOLDER/NAME.EXT.")],
    node: Annotated[
        str | None, typer.Option("--node", help="Run it on this node (by name).")
    ] = None,
    fail: Annotated[
        bool, typer.Option("--fail", help="Fail it instead: it moves to failed/ unrun.")
    ] = False,
    hub: HubOption = None,
    fingerprint: FingerprintOption = None,
    token: TokenOption = None,
    insecure: InsecureOption = False,
) -> None:
    """Run one waiting job file now (on the node --node names), or fail it (--fail)."""
    from witengine.folders.records import FileState, take_key
    from witengine.folders.resources import find

    if node is not None and fail:
        print("wit take: --node runs the file, --fail fails it: give one", file=sys.stderr)
        raise typer.Exit(2)

    async def ask() -> str:
        async with open_hub(hub, fingerprint, insecure, token) as client:
            nodes, records = await _farm(client)
            found = [r for r in find(records, file) if r.state is FileState.WAITING]
            if not found:
                return f"no waiting job file {file!r} (see wit resources --jobs)"
            if len(found) > 1:
                places = ", ".join(f"{r.folder}/{r.file}" for r in found)
                return f"{file!r} waits in several folders ({places}): name it FOLDER/NAME.EXT"
            if node is not None and node not in {n.name for n in nodes}:
                return f"no node named {node!r} (see wit nodes)"
            record = found[0]
            value = {"node": node, "fail": fail}
            await client.board_set(take_key(record.folder, record.file), value)
            done = "to fail" if fail else (f"to run on {node}" if node else "to run now")
            print(f"{record.folder}/{record.file}: asked {done}", file=sys.stderr)
            return ""

    problem = _call(ask())
    if problem:
        print(f"wit take: {problem}", file=sys.stderr)
        raise typer.Exit(1)


def _call(coroutine: Any) -> Any:
    from witengine.client import HubError

    try:
        return asyncio.run(coroutine)
    except HubError as error:
        print(f"wit: {error}", file=sys.stderr)
        raise typer.Exit(1) from None
