"""`wit ask`, `wit mandate` and `wit trades`: a seller's standing offers on the hub's exchange,
the accounts' standing rules that sell and buy by themselves, and the trades made under them.

`wit ask add ACTIVITY PRICE --account NAME` offers the account's nodes for an activity (or a
plugin, for all of its activities) at PRICE credits a work unit, signed with the account's
key; `wit ask remove ID --account NAME` withdraws one, signed the same way. `wit mandate add
sell|buy PRICE --account NAME` makes a standing rule (`pause`, `resume`, `remove` it by its
id, signed the same way). Prices are given in credits (up to three decimals); `--json`
answers in milli-credits.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from witengine.cli.accounts import JsonOption, load_key, parse_price, zero_or_credits
from witengine.cli.exits import usage
from witengine.cli.farm import FingerprintOption, HubOption, InsecureOption, TokenOption, ask_hub
from witengine.credits import credits

if TYPE_CHECKING:
    from witengine.protocol.exchange import MandateInfo

ask_app = typer.Typer(
    name="ask",
    help="Standing offers of an account's nodes on the hub's exchange: add, list, remove.",
    no_args_is_help=True,
    add_completion=False,
)
AccountOption = Annotated[
    str, typer.Option("--account", help="The account whose nodes sell, and whose key signs.")
]


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

    from witengine.protocol.base import first_problem
    from witengine.protocol.exchange import NewAsk

    try:
        ask = NewAsk(activity=activity, price=parse_price(price), hours=hours, min_work=min_work)
    except (ValueError, ValidationError) as error:
        raise usage("ask add", first_problem(error)) from None
    key = load_key(account, "ask add")
    made = ask_hub(
        "ask add", hub, fingerprint, insecure, token, lambda client: client.add_ask(key, ask)
    )
    if as_json:
        print(made.model_dump_json())
        return
    when = f" ({made.hours})" if made.hours else ""
    print(f"ask {made.id}: {account} sells {activity} at {credits(made.price)} a unit{when}")


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
        print(f"{ask.id}  {ask.account:<14} {ask.activity:<20} {credits(ask.price):>10}  {extras}")


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
            f"{found.job_id}, {found.items} item(s) at {credits(found.price)} a unit; "
            f"{found.accepted} accepted, {found.rejected} rejected, {credits(found.paid)} paid"
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
            f"{credits(t.price):>8}  accepted {t.accepted:>4}  paid {credits(t.paid):>10}  "
            f"{t.state}"
        )


# ---------------------------------------------------------------------------- mandates

mandate_app = typer.Typer(
    name="mandate",
    help="Standing rules that trade by themselves on the hub's exchange: a seller's keeps an "
    "ask in force, a buyer's bids for the account's jobs up to a daily budget.",
    no_args_is_help=True,
    add_completion=False,
)
MandateAccountOption = Annotated[
    str, typer.Option("--account", help="The account whose mandate it is, and whose key signs.")
]
MandateIdArgument = Annotated[str, typer.Argument(help="The mandate's id (wit mandate list).")]


@mandate_app.command("add")
def add_mandate(
    side: Annotated[str, typer.Argument(help="sell or buy.")],
    price: Annotated[
        str,
        typer.Argument(help="Credits a work unit: the least to sell at, or the most to pay."),
    ],
    account: MandateAccountOption,
    activity: Annotated[
        str,
        typer.Option(
            help="An activity (Compute.Work) or a plugin (render); a buy mandate without it "
            "buys any activity."
        ),
    ] = "",
    hours: Annotated[
        str, typer.Option(help='sell: only within these hours, hub time: "22-06".')
    ] = "",
    node: Annotated[
        str, typer.Option(help="sell: only this node of the account (its name on the hub).")
    ] = "",
    daily: Annotated[
        str,
        typer.Option(help="buy: the most to spend under it a UTC day, in credits (0: no limit)."),
    ] = "0",
    hub: HubOption = None,
    token: TokenOption = None,
    fingerprint: FingerprintOption = None,
    insecure: InsecureOption = False,
    as_json: JsonOption = False,
) -> None:
    """Make a mandate of the account (signed with its key)."""
    from pydantic import ValidationError

    from witengine.protocol.base import first_problem
    from witengine.protocol.exchange import NewMandate

    try:
        rule = NewMandate(
            side=side,  # type: ignore[arg-type]  # checked by the model
            activity=activity,
            price=parse_price(price),
            hours=hours,
            node=node,
            daily=_daily(daily),
        )
    except (ValueError, ValidationError) as error:
        raise usage("mandate add", first_problem(error)) from None
    key = load_key(account, "mandate add")
    made = ask_hub(
        "mandate add", hub, fingerprint, insecure, token, lambda c: c.add_mandate(key, rule)
    )
    if as_json:
        print(made.model_dump_json())
        return
    print(f"mandate {made.id}: {_rule(made)}")


def _daily(text: str) -> int:
    """Milli-credits of --daily ('0': no limit); ValueError naming the option otherwise."""
    try:
        return zero_or_credits(text)
    except ValueError as error:
        raise ValueError(f"--daily: {error}") from None


def _rule(mandate: MandateInfo) -> str:
    """A mandate in words: "ann sells render at 3.000 a unit or more (22-06, node gpu)"."""
    what = mandate.activity or "any activity"
    if mandate.side == "sell":
        extras = ", ".join(
            filter(None, (mandate.hours, f"node {mandate.node}" if mandate.node else ""))
        )
        rule = f"{mandate.account} sells {what} at {credits(mandate.price)} a unit or more"
    else:
        budget = f"{credits(mandate.daily)} credits a UTC day" if mandate.daily else ""
        spent = f"{credits(mandate.spent_today)} spent today" if mandate.spent_today else ""
        extras = ", ".join(filter(None, (budget, spent)))
        rule = f"{mandate.account} buys {what} at up to {credits(mandate.price)} a unit"
    paused = " [paused]" if mandate.state == "paused" else ""
    return rule + (f" ({extras})" if extras else "") + paused


@mandate_app.command("list")
def list_mandates(
    account: Annotated[str | None, typer.Option(help="One account's mandates only.")] = None,
    hub: HubOption = None,
    token: TokenOption = None,
    fingerprint: FingerprintOption = None,
    insecure: InsecureOption = False,
    as_json: JsonOption = False,
) -> None:
    """Every mandate, oldest first."""
    found = ask_hub(
        "mandate list", hub, fingerprint, insecure, token, lambda c: c.mandates(account)
    )
    if as_json:
        print(json.dumps([m.model_dump(mode="json") for m in found]))
        return
    for mandate in found:
        print(f"{mandate.id}  {_rule(mandate)}")


def _change(
    action: str,
    mandate_id: str,
    account: str,
    hub: str | None,
    token: str | None,
    fingerprint: str | None,
    insecure: bool,
) -> None:
    key = load_key(account, f"mandate {action}")
    changed = ask_hub(
        f"mandate {action}",
        hub,
        fingerprint,
        insecure,
        token,
        lambda c: c.change_mandate(key, mandate_id, action),
    )
    print(f"mandate {changed.id}: {_rule(changed)}")


def _changing(action: str, summary: str) -> Callable[..., None]:
    """The command that asks the hub to `action` a mandate (pause, resume), `summary` its help."""

    def command(
        mandate_id: MandateIdArgument,
        account: MandateAccountOption,
        hub: HubOption = None,
        token: TokenOption = None,
        fingerprint: FingerprintOption = None,
        insecure: InsecureOption = False,
    ) -> None:
        _change(action, mandate_id, account, hub, token, fingerprint, insecure)

    command.__doc__ = summary
    return command


mandate_app.command("pause")(_changing("pause", "Stop a mandate trading, keeping it (signed)."))
mandate_app.command("resume")(_changing("resume", "Let a paused mandate trade again (signed)."))


@mandate_app.command("remove")
def remove_mandate(
    mandate_id: MandateIdArgument,
    account: MandateAccountOption,
    hub: HubOption = None,
    token: TokenOption = None,
    fingerprint: FingerprintOption = None,
    insecure: InsecureOption = False,
) -> None:
    """Withdraw a mandate (signed): it trades no more."""
    key = load_key(account, "mandate remove")
    ask_hub(
        "mandate remove",
        hub,
        fingerprint,
        insecure,
        token,
        lambda c: c.remove_mandate(key, mandate_id),
    )
    print(f"mandate {mandate_id} withdrawn")
