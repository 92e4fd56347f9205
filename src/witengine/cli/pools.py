"""`wit pools`: the hub's pools of nodes and their trust tiers; list, add, change a tier.

Admins only. A node's pool is set with `wit nodes --pool POOL NODE`, or by the join token that
enrolled it (`wit token create --role node --pool POOL`); a job says which pools it may use
(`wit run --pools`, or ProcessingOptions' pools).
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated

import typer

from witengine.cli.farm import FingerprintOption, HubOption, InsecureOption, TokenOption, ask_hub

pools_app = typer.Typer(
    name="pools",
    help="List the hub's pools of nodes and their trust tiers; add one, change a tier.",
    add_completion=False,
)


class Tier(StrEnum):
    TRUSTED = "trusted"
    UNTRUSTED = "untrusted"


PoolArgument = Annotated[str, typer.Argument(help="The pool's name, such as volunteers.")]


@pools_app.callback(invoke_without_command=True)
def pools(
    context: typer.Context,
    hub: HubOption = None,
    token: TokenOption = None,
    fingerprint: FingerprintOption = None,
    insecure: InsecureOption = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List the pools: name, tier and how many nodes each holds."""
    if context.invoked_subcommand is not None:
        return

    found = ask_hub("pools", hub, fingerprint, insecure, token, lambda client: client.pools())
    if as_json:
        print(json.dumps([p.model_dump(mode="json") for p in found]))
        return
    from rich.console import Console

    from witengine.cli.views import pools_table

    Console().print(pools_table(found))


@pools_app.command()
def add(
    name: PoolArgument,
    tier: Annotated[
        Tier, typer.Option(help="trusted: results count as they come; untrusted: verified.")
    ] = Tier.UNTRUSTED,
    hub: HubOption = None,
    token: TokenOption = None,
    fingerprint: FingerprintOption = None,
    insecure: InsecureOption = False,
) -> None:
    """Add a pool (untrusted unless --tier trusted)."""

    made = ask_hub(
        "pools", hub, fingerprint, insecure, token, lambda client: client.add_pool(name, tier.value)
    )
    print(
        f"added pool {made.name} ({made.tier.value}); move nodes in with wit nodes --pool "
        f"{made.name} NODE; enrol new ones with wit token create --role node --pool {made.name}"
    )


@pools_app.command("tier")
def change_tier(
    name: PoolArgument,
    tier: Annotated[Tier, typer.Argument(help="trusted or untrusted.")],
    hub: HubOption = None,
    token: TokenOption = None,
    fingerprint: FingerprintOption = None,
    insecure: InsecureOption = False,
) -> None:
    """Change a pool's tier; its connected nodes change with it at once."""

    changed = ask_hub(
        "pools",
        hub,
        fingerprint,
        insecure,
        token,
        lambda client: client.change_pool(name, tier.value),
    )
    print(f"pool {changed.name} is {changed.tier.value} ({changed.nodes} node(s))")
