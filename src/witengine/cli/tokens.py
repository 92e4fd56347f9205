"""`wit token create|list|revoke` and `wit audit`: a hub's tokens and audit log.

Through the hub's API with an admin token (`--hub`, or WIT_HUB), or directly on the hub's data
folder (`--data-dir`, or the default folder when no hub is named), which works on the hub's
machine whether the hub runs or not. `wit token create` prints the new token on its last line.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from witengine.cli.farm import (
    DEFAULT_HUB_DATA,
    FingerprintOption,
    HubOption,
    InsecureOption,
    TokenOption,
    default_data_dir,
    open_hub,
)

token_app = typer.Typer(
    name="token",
    help="Make, list and revoke the hub's tokens.",
    no_args_is_help=True,
)


class CreatableRole(StrEnum):
    ADMIN = "admin"
    SUBMITTER = "submitter"
    VIEWER = "viewer"
    NODE = "node"  # a join token, which enrols nodes
    ACCOUNT = "account"  # registers an exchange account, active at once


DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Work directly on this hub data folder instead of through the API "
        f"(default when no --hub is given: $WIT_DATA_DIR, else {DEFAULT_HUB_DATA}).",
        show_default=False,
    ),
]


def _direct(hub: str | None, data_dir: Path | None) -> Path | None:
    """The data folder to work on directly, or None to go through the API."""
    if data_dir is not None:
        return data_dir.expanduser()
    if hub or os.environ.get("WIT_HUB"):
        return None
    return default_data_dir()


def _open_book(data_dir: Path) -> Any:
    from witengine.hub.auth.book import TokenBook
    from witengine.hub.store.sqlite import SqliteStore

    database = data_dir / "hub.sqlite3"
    if not database.exists():
        print(
            f"wit: no hub data in {data_dir} (no hub.sqlite3): pass the hub's --data-dir (or "
            "set WIT_DATA_DIR to it), or --hub URL to go through its API",
            file=sys.stderr,
        )
        raise typer.Exit(2)
    return TokenBook(SqliteStore(database), time.time)


def _when(at: float | None) -> str:
    if at is None:
        return "-"
    return datetime.datetime.fromtimestamp(at, datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _call(coroutine: Any) -> Any:
    from witengine.client import HubError

    try:
        return asyncio.run(coroutine)
    except HubError as error:
        print(f"wit: {error}", file=sys.stderr)
        raise typer.Exit(1) from None


@token_app.command("create")
def create(
    role: Annotated[
        CreatableRole,
        typer.Option(
            help="node: a join token that enrols nodes; account: one that registers exchange "
            "accounts (wit account create); viewer reads; submitter runs jobs; admin does "
            "everything."
        ),
    ],
    ttl: Annotated[
        str | None,
        typer.Option(help="Lifetime, e.g. 8h, 30d [default: join tokens 1d, others never end]."),
    ] = None,
    label: Annotated[
        str, typer.Option(help="What the token is for (shown by wit token list).")
    ] = "",
    uses: Annotated[
        int | None,
        typer.Option(min=1, help="Join and account tokens: how many nodes or accounts it may add."),
    ] = None,
    pool: Annotated[
        str | None,
        typer.Option(
            help="Join tokens: the pool the nodes it enrols join (see wit pools) "
            "[default: default].",
            show_default=False,
        ),
    ] = None,
    owner: Annotated[
        str | None,
        typer.Option(
            help="Join tokens: who owns the nodes it enrols; two nodes of one owner never "
            "check each other's results [default: each node is its own owner].",
            show_default=False,
        ),
    ] = None,
    hub: HubOption = None,
    token: TokenOption = None,
    fingerprint: FingerprintOption = None,
    insecure: InsecureOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """Make a token; it is printed on the last line, and shown nowhere else ever again."""
    from witengine.hub.auth.routes import token_target
    from witengine.security.tokens import Role, TokenError, parse_ttl

    lifetime = ttl if ttl is not None else ("1d" if role is CreatableRole.NODE else None)
    folder = _direct(hub, data_dir)
    try:
        seconds = parse_ttl(lifetime) if lifetime else None
        if (pool is not None or owner is not None) and role is not CreatableRole.NODE:
            raise TokenError("--pool and --owner are for node tokens only (--role node)")
    except TokenError as error:
        print(f"wit token create: {error}", file=sys.stderr)
        raise typer.Exit(2) from None
    if folder is not None:
        from witengine.security.tls import certificate_fingerprint

        book = _open_book(folder)
        kind = Role.JOIN if role is CreatableRole.NODE else Role(role.value)
        try:
            issued = book.issue(
                kind,
                label=label,
                ttl_seconds=seconds,
                max_uses=uses if kind in (Role.JOIN, Role.ACCOUNT) else None,
                fingerprint=certificate_fingerprint(folder) if kind is Role.JOIN else None,
                pool=pool,
                owner=owner,
            )
        except TokenError as error:
            print(f"wit token create: {error}", file=sys.stderr)
            raise typer.Exit(2) from None
        book.audit("token.create", "ok", address="data folder", target=token_target(issued.record))
        token_id, made_role = issued.record.id, kind.value
        expires, text = issued.record.expires_at, issued.text
    else:

        async def make() -> Any:
            async with open_hub(hub, fingerprint, insecure, token) as client:
                return await client.create_token(
                    role.value, ttl=lifetime, label=label, uses=uses, pool=pool, owner=owner
                )

        made = _call(make())
        token_id, made_role, expires, text = made.id, made.role.value, made.expires_at, made.token
    placed = f", its nodes join pool {pool}" if pool else ""
    print(f"{made_role} token {token_id}, expires {_when(expires)}{placed}", file=sys.stderr)
    if made_role == "join":
        print("enrol a node with: wit node --hub URL --token <the token below>", file=sys.stderr)
    sys.stderr.flush()
    print(text, flush=True)


@token_app.command("list")
def list_tokens(
    hub: HubOption = None,
    token: TokenOption = None,
    fingerprint: FingerprintOption = None,
    insecure: InsecureOption = False,
    data_dir: DataDirOption = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List the hub's tokens (never their secrets): role, label, node, expiry, revocation."""
    from witengine.hub.auth.routes import token_info

    folder = _direct(hub, data_dir)
    if folder is not None:
        found = [token_info(t) for t in _open_book(folder).store.list_tokens()]
    else:

        async def fetch() -> Any:
            async with open_hub(hub, fingerprint, insecure, token) as client:
                return await client.tokens()

        found = _call(fetch())
    if as_json:
        print(json.dumps([t.model_dump(mode="json") for t in found]))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Tokens")
    table.add_column("id", no_wrap=True)
    columns = ("role", "label", "node", "pool", "created", "expires", "last used", "revoked")
    for column in columns:
        table.add_column(column)
    for t in found:
        table.add_row(
            t.id,
            t.role.value,
            t.label,
            t.node_id or "",
            " ".join(filter(None, (t.pool, f"({t.owner})" if t.owner else ""))),
            _when(t.created_at),
            _when(t.expires_at),
            _when(t.last_used),
            _when(t.revoked_at) if t.revoked_at else "",
        )
    Console().print(table)


@token_app.command("revoke")
def revoke(
    token_id: Annotated[str, typer.Argument(help="The token's id (tok_…), from wit token list.")],
    hub: HubOption = None,
    token: TokenOption = None,
    fingerprint: FingerprintOption = None,
    insecure: InsecureOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """Revoke a token at once (through the API, a node using it is disconnected at once)."""
    folder = _direct(hub, data_dir)
    if folder is not None:
        book = _open_book(folder)
        if book.store.get_token(token_id) is None:
            print(f"wit token revoke: no token {token_id}", file=sys.stderr)
            raise typer.Exit(1)
        done = book.revoke(token_id)
        book.audit(
            "token.revoke",
            "ok" if done else "already revoked",
            address="data folder",
            target=token_id,
        )
    else:

        async def act() -> Any:
            async with open_hub(hub, fingerprint, insecure, token) as client:
                return await client.revoke_token(token_id)

        _call(act())
    print(f"{token_id}: revoked")


def audit(
    limit: Annotated[int, typer.Option(min=1, help="How many lines, newest first.")] = 50,
    hub: HubOption = None,
    token: TokenOption = None,
    fingerprint: FingerprintOption = None,
    insecure: InsecureOption = False,
    data_dir: DataDirOption = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show the hub's audit log: enrolments, tokens made, revoked and refused, plugin fetches,
    job submissions and cancellations."""
    from witengine.hub.auth.routes import audit_line

    folder = _direct(hub, data_dir)
    if folder is not None:
        records = _open_book(folder).store.audit(limit)
        lines = [audit_line(r) for r in records]
    else:

        async def fetch() -> Any:
            async with open_hub(hub, fingerprint, insecure, token) as client:
                return await client.audit(limit)

        lines = _call(fetch())
    if as_json:
        print(json.dumps([line.model_dump() for line in lines]))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Audit log")
    for column in ("#", "time", "action", "outcome", "actor", "address", "target"):
        table.add_column(column)
    for line in lines:
        actor = f"{line.actor_id} ({line.actor_role})" if line.actor_role else line.actor_id or ""
        table.add_row(
            str(line.seq),
            _when(line.at),
            line.action,
            line.outcome,
            actor,
            line.address,
            line.target,
        )
    Console().print(table)
