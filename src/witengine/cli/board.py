"""`wit board`: read and write the hub's blackboard: get, set, delete, list, history, watch.

A value is JSON (`wit board set shots/12 '{"node": "box"}'`), or text with `--text`;
`--if-version N` writes only at that version and `--create` only a key with no value (compare-
and-set: the hub answers 412 otherwise, and the command exits 1 saying what the key holds).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from witengine.cli.exits import usage
from witengine.cli.farm import (
    FingerprintOption,
    HubOption,
    InsecureOption,
    TokenOption,
    ask_hub,
)

if TYPE_CHECKING:
    from witengine.client import HubClient

board_app = typer.Typer(
    name="board",
    help="Read and write the hub's blackboard: keys with versions, history and a stream of "
    "changes.",
    no_args_is_help=True,
    add_completion=False,
)

KeyArgument = Annotated[str, typer.Argument(help="The key, such as shots/12 or nodes/ID/plan.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the hub's answer as JSON.")]
IfVersionOption = Annotated[
    int | None,
    typer.Option(
        "--if-version",
        metavar="N",
        min=1,
        help="Only if the key is at version N now (compare-and-set); else exit 1.",
        show_default=False,
    ),
]


def _said(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


@board_app.command()
def get(
    key: KeyArgument,
    hub: HubOption = None,
    token: TokenOption = None,
    fingerprint: FingerprintOption = None,
    insecure: InsecureOption = False,
    as_json: JsonOption = False,
) -> None:
    """Print a key's value as JSON (--json: with its version, who wrote it and when)."""

    found = ask_hub(
        "board", hub, fingerprint, insecure, token, lambda client: client.board_get(key)
    )
    print(json.dumps(found.model_dump() if as_json else found.value, ensure_ascii=False, indent=2))


@board_app.command("set")
def set_key(
    key: KeyArgument,
    value: Annotated[str, typer.Argument(help="The value: JSON, or text with --text.")],
    text: Annotated[bool, typer.Option("--text", help="Take VALUE as text, not JSON.")] = False,
    if_version: IfVersionOption = None,
    create: Annotated[
        bool, typer.Option("--create", help="Only if the key has no value; else exit 1.")
    ] = False,
    hub: HubOption = None,
    token: TokenOption = None,
    fingerprint: FingerprintOption = None,
    insecure: InsecureOption = False,
) -> None:
    """Write a key's next version."""
    if text:
        parsed: Any = value
    else:
        try:
            parsed = json.loads(value)
        except ValueError as error:
            raise usage(
                "board set", f"VALUE is not JSON ({error}); give --text to write it as text"
            ) from None
    if create and if_version is not None:
        raise usage("board set", "give --create or --if-version, not both")

    written = ask_hub(
        "board",
        hub,
        fingerprint,
        insecure,
        token,
        lambda client: client.board_set(key, parsed, if_version=if_version, create=create),
    )
    print(f"{written.key}: version {written.version}")


@board_app.command()
def delete(
    key: KeyArgument,
    if_version: IfVersionOption = None,
    hub: HubOption = None,
    token: TokenOption = None,
    fingerprint: FingerprintOption = None,
    insecure: InsecureOption = False,
) -> None:
    """Delete a key (a version too: its history keeps it)."""

    gone = ask_hub(
        "board",
        hub,
        fingerprint,
        insecure,
        token,
        lambda client: client.board_delete(key, if_version=if_version),
    )
    print(f"{gone.key}: deleted, version {gone.version}")


@board_app.command("list")
def list_keys(
    prefix: Annotated[str, typer.Argument(help="Only keys that start with this.")] = "",
    hub: HubOption = None,
    token: TokenOption = None,
    fingerprint: FingerprintOption = None,
    insecure: InsecureOption = False,
    as_json: JsonOption = False,
) -> None:
    """List the keys with a value, by name: version, value, who wrote it and when."""

    found = ask_hub(
        "board", hub, fingerprint, insecure, token, lambda client: client.board_list(prefix)
    )
    if as_json:
        print(json.dumps([v.model_dump() for v in found], ensure_ascii=False))
        return
    from rich.console import Console

    from witengine.cli.views import board_table

    Console().print(board_table(found, "the blackboard" + (f" under {prefix}" if prefix else "")))


@board_app.command()
def history(
    key: KeyArgument,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 100,
    hub: HubOption = None,
    token: TokenOption = None,
    fingerprint: FingerprintOption = None,
    insecure: InsecureOption = False,
    as_json: JsonOption = False,
) -> None:
    """A key's kept versions, newest first, deletions among them."""

    found = ask_hub(
        "board", hub, fingerprint, insecure, token, lambda client: client.board_history(key, limit)
    )
    if as_json:
        print(json.dumps([v.model_dump() for v in found], ensure_ascii=False))
        return
    from rich.console import Console

    from witengine.cli.views import board_table

    Console().print(board_table(found, f"history of {key}"))


@board_app.command()
def watch(
    prefix: Annotated[str, typer.Argument(help="Only keys that start with this.")] = "",
    since: Annotated[
        int, typer.Option("--since", min=0, help="Start after this change's number.")
    ] = 0,
    follow: Annotated[
        bool, typer.Option("--follow/--no-follow", help="Go on with new changes as they come.")
    ] = True,
    hub: HubOption = None,
    token: TokenOption = None,
    fingerprint: FingerprintOption = None,
    insecure: InsecureOption = False,
    as_json: JsonOption = False,
) -> None:
    """Print every change after --since, a line each, then each new one until Ctrl-C."""

    async def stream(client: HubClient) -> None:
        async for change in client.board_changes(since, prefix, follow=follow):
            if as_json:
                print(json.dumps(change.model_dump(), ensure_ascii=False), flush=True)
            else:
                print(_change_line(change), flush=True)

    try:
        ask_hub("board", hub, fingerprint, insecure, token, stream)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


def _change_line(change: Any) -> str:
    """`12 shots/4 v3 = {"node": "box"} (admin tok_…)`: a change, for people."""
    what = "deleted" if change.deleted else f"= {_said(change.value)}"
    return f"{change.seq} {change.key} v{change.version} {what} ({change.writer})"
