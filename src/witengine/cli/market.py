"""`wit ask` and `wit trades`: a seller's standing offers on the hub's exchange, and the trades
made under it.

`wit ask add ACTIVITY PRICE --account NAME` offers the account's nodes for an activity (or a
plugin, for all of its activities) at PRICE credits a work unit, signed with the account's
key; `wit ask remove ID --account NAME` withdraws one, signed the same way. Prices are given
in credits (up to three decimals); `--json` answers in milli-credits.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Annotated

import typer

from witengine.cli.accounts import JsonOption, load_key, parse_price
from witengine.cli.farm import FingerprintOption, HubOption, InsecureOption, TokenOption, ask_hub

ask_app = typer.Typer(
    name="ask",
    help="Standing offers of an account's nodes on the hub's exchange: add, list, remove.",
    no_args_is_help=True,
    add_completion=False,
)
AccountOption = Annotated[
    str, typer.Option("--account", help="The account whose nodes sell, and whose key signs.")
]


def _credits(milli: int) -> str:
    from witengine.hub.store.ledger import credits

    return credits(milli)


@ask_app.command("add")
def add(
    activity: Annotated[
        str, typer.Argument(help="An activity (Compute.Work) or a plugin (render) to sell.")
    ],
    price: Annotated[str, typer.Argument(help="Credits a work unit, such as 2 or 0.5.")],
    account: AccountOption,
    hours: Annotated[
        str, typer.Option(help='Only within these hours, hub time: "22-06", "08:30-17:00".')
    ] = "",
    min_work: Annotated[
        float, typer.Option("--min-work", min=0, help="Only maps of at least this many units.")
    ] = 0.0,
    hub: HubOption = None,
    token: TokenOption = None,
    fingerprint: FingerprintOption = None,
    insecure: InsecureOption = False,
    as_json: JsonOption = False,
) -> None:
    """Offer the account's nodes for an activity at a price a work unit (signed)."""
    from pydantic import ValidationError

    from witengine.protocol.exchange import NewAsk

    try:
        ask = NewAsk(activity=activity, price=parse_price(price), hours=hours, min_work=min_work)
    except (ValueError, ValidationError) as error:
        print(f"wit ask add: {_first_error(error)}", file=sys.stderr)
        raise typer.Exit(2) from None
    key = load_key(account, "ask add")
    made = ask_hub(
        "ask add", hub, fingerprint, insecure, token, lambda client: client.add_ask(key, ask)
    )
    if as_json:
        print(made.model_dump_json())
        return
    when = f" ({made.hours})" if made.hours else ""
    print(f"ask {made.id}: {account} sells {activity} at {_credits(made.price)} a unit{when}")


def _first_error(error: Exception) -> str:
    from pydantic import ValidationError

    if isinstance(error, ValidationError):
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return f"{where}: {first['msg']}"
    return str(error)


@ask_app.command("list")
def list_asks(
    account: Annotated[str | None, typer.Option(help="One account's asks only.")] = None,
    hub: HubOption = None,
    token: TokenOption = None,
    fingerprint: FingerprintOption = None,
    insecure: InsecureOption = False,
    as_json: JsonOption = False,
) -> None:
    """Every standing ask, oldest first."""
    asks = ask_hub("ask list", hub, fingerprint, insecure, token, lambda c: c.asks(account))
    if as_json:
        print(json.dumps([a.model_dump(mode="json") for a in asks]))
        return
    for ask in asks:
        extras = " ".join(
            filter(None, (ask.hours, f"min {ask.min_work:g} units" if ask.min_work else ""))
        )
        print(f"{ask.id}  {ask.account:<14} {ask.activity:<20} {_credits(ask.price):>10}  {extras}")


@ask_app.command("remove")
def remove(
    ask_id: Annotated[str, typer.Argument(help="The ask's id, as wit ask list shows it.")],
    account: AccountOption,
    hub: HubOption = None,
    token: TokenOption = None,
    fingerprint: FingerprintOption = None,
    insecure: InsecureOption = False,
) -> None:
    """Withdraw an ask (signed by the account that made it)."""
    key = load_key(account, "ask remove")
    ask_hub("ask remove", hub, fingerprint, insecure, token, lambda c: c.remove_ask(key, ask_id))
    print(f"ask {ask_id} withdrawn")


def trades(
    job: Annotated[str | None, typer.Option("--job", help="One job's trades.")] = None,
    account: Annotated[
        str | None, typer.Option("--account", help="One account's trades, sold or bought.")
    ] = None,
    trade: Annotated[
        str | None, typer.Option("--trade", help="One trade, with its phases and times.")
    ] = None,
    hub: HubOption = None,
    token: TokenOption = None,
    fingerprint: FingerprintOption = None,
    insecure: InsecureOption = False,
    as_json: JsonOption = False,
) -> None:
    """Trades on the hub's exchange, newest first: each batch sold to a job, at what price,
    what was accepted and paid (or one trade's timeline with --trade)."""
    if trade is not None:
        found = ask_hub("trades", hub, fingerprint, insecure, token, lambda c: c.trade(trade))
        if as_json:
            print(found.model_dump_json())
            return
        print(
            f"trade {found.id}: {found.seller} ({found.node_name}) to {found.buyer}, job "
            f"{found.job_id}, {found.items} item(s) at {_credits(found.price)} a unit; "
            f"{found.accepted} accepted, {found.rejected} rejected, {_credits(found.paid)} paid"
        )
        for phase in found.phases:
            at = datetime.fromtimestamp(phase.at).strftime("%H:%M:%S.%f")[:-3]
            print(f"  {at}  {phase.phase:<18} {phase.detail}")
        return
    lines = ask_hub("trades", hub, fingerprint, insecure, token, lambda c: c.trades(job, account))
    if as_json:
        print(json.dumps([t.model_dump(mode="json") for t in lines]))
        return
    for t in lines:
        print(
            f"{t.id}  {t.job_id}  {t.seller:>10} -> {t.buyer:<10} {t.items:>4} item(s) at "
            f"{_credits(t.price):>8}  accepted {t.accepted:>4}  paid {_credits(t.paid):>10}  "
            f"{t.state}"
        )
