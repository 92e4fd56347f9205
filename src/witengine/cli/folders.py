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


def resources(
    jobs: Annotated[
        bool, typer.Option("--jobs", help="List the waiting job files and who could run each.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the hub's answer as JSON.")
    ] = False,
    hub: HubOption = None,
    fingerprint: FingerprintOption = None,
    token: TokenOption = None,
    insecure: InsecureOption = False,
) -> None:
    """Every node with its hardware, its tools and the waiting job files it could run; with
    --jobs, the waiting job files of every watched folder and the nodes that could run each."""

    async def ask() -> Any:
        async with open_hub(hub, fingerprint, insecure, token) as client:
            return await client.resources()

    found = _call(ask(), "wit resources")
    if as_json:
        import json

        data = found.waiting if jobs else found.nodes
        print(json.dumps([item.model_dump(mode="json") for item in data], indent=2))
        return
    from rich.console import Console

    from witengine.cli.views import resources_table, waiting_table

    console = Console()
    console.print(waiting_table(found.waiting) if jobs else resources_table(found.nodes))


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
    from witengine.protocol.folders import TakeFile

    if node is not None and fail:
        print("wit take: --node runs the file, --fail fails it: give one", file=sys.stderr)
        raise typer.Exit(2)

    async def ask() -> Any:
        async with open_hub(hub, fingerprint, insecure, token) as client:
            return await client.take(TakeFile(file=file, node=node, fail=fail))

    taken = _call(ask(), "wit take")
    done = "to fail" if fail else (f"to run on {node}" if node else "to run now")
    print(f"{taken.folder}/{taken.file}: asked {done}", file=sys.stderr)


def _call(coroutine: Any, command: str) -> Any:
    from witengine.client import HubError

    try:
        return asyncio.run(coroutine)
    except HubError as error:
        print(f"{command}: {error}", file=sys.stderr)
        raise typer.Exit(1) from None
