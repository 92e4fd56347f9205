"""`wit account` and `wit ledger`: exchange accounts and the credit ledger.

`wit account create NAME` makes the account's Ed25519 key pair in this user's config folder
(`accounts/NAME.key`, mode 600; with --passphrase, encrypted) and registers its public key with
the hub: active at once with an admin's token or an `account` token, pending until `wit account
approve NAME` with any other. Amounts are given in credits (up to three decimals) and kept in
milli-credits; `--json` answers in milli-credits.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from witengine.cli.exits import usage
from witengine.cli.farm import FingerprintOption, HubOption, InsecureOption, TokenOption, ask_hub
from witengine.credits import credits, parse_credits, signed_credits

if TYPE_CHECKING:
    from witengine.security.accounts import AccountKey

account_app = typer.Typer(
    name="account",
    help="Exchange accounts: make one, approve one, grant credits, see a balance, pay.",
    no_args_is_help=True,
    add_completion=False,
)
ledger_app = typer.Typer(
    name="ledger",
    help="The credit ledger: its transactions, an account's statement, and its check.",
    add_completion=False,
)
PASSPHRASE_VARIABLE = "WIT_ACCOUNT_PASSPHRASE"
NameArgument = Annotated[str, typer.Argument(help="The account's name, such as alice.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Answer in JSON (milli-credits).")]


def zero_or_credits(text: str) -> int:
    """Milli-credits of an amount in credits that may be zero ('0.5' -> 500, '0' -> 0);
    ValueError when it is not one."""
    return 0 if text.strip() in ("0", "0.0") else parse_credits(text)


def parse_price(text: str) -> int:
    """Milli-credits a work unit of a price in credits ('0.5' -> 500; zero is a price);
    ValueError when it is not one."""
    try:
        return zero_or_credits(text)
    except ValueError as error:
        raise ValueError(f"price {text!r}: credits a work unit, zero or more ({error})") from None


def _key_path(name: str) -> Any:
    from witengine.security.accounts import key_path
    from witengine.settings import Settings

    return key_path(Settings.from_env().config_dir, name)


def load_key(name: str, command: str) -> AccountKey:
    """The account's key from this user's config folder, its passphrase from
    WIT_ACCOUNT_PASSPHRASE or asked for."""
    from witengine.security.accounts import AccountKey, AccountKeyError

    path = _key_path(name)
    passphrase = None
    if AccountKey.encrypted(path):
        passphrase = os.environ.get(PASSPHRASE_VARIABLE) or typer.prompt(
            f"passphrase of account {name}", hide_input=True
        )
    try:
        return AccountKey.load(name, path, passphrase)
    except AccountKeyError as error:
        raise usage(command, str(error)) from None


@account_app.command()
def create(
    name: NameArgument,
    passphrase: Annotated[
        bool,
        typer.Option(
            "--passphrase",
            help="Encrypt the private key with a passphrase (asked for, or "
            f"${PASSPHRASE_VARIABLE}).",
        ),
    ] = False,
    hub: HubOption = None,
    token: TokenOption = None,
    fingerprint: FingerprintOption = None,
    insecure: InsecureOption = False,
) -> None:
    """Make an account's key pair here and register its public key with the hub."""
    from witengine.security.accounts import AccountKey, AccountKeyError, check_account_name

    try:
        check_account_name(name)
    except AccountKeyError as error:
        raise usage("account create", str(error)) from None
    path = _key_path(name)
    if path.exists():
        key = load_key(name, "account create")
        print(f"using the key of account {name} kept in {path}", file=sys.stderr)
    else:
        secret = os.environ.get(PASSPHRASE_VARIABLE) or None
        if passphrase and secret is None:
            secret = typer.prompt("passphrase", hide_input=True, confirmation_prompt=True)
        key = AccountKey.make(name)
        key.save(path, secret if passphrase else None)
        sealed = ", encrypted with its passphrase" if passphrase else ""
        print(f"made the key of account {name} in {path} (mode 600{sealed})", file=sys.stderr)

    made = ask_hub(
        "account create",
        hub,
        fingerprint,
        insecure,
        token,
        lambda client: client.register_account(name, key.public_key),
    )
    if made.state == "active":
        print(f"account {made.name} is active ({made.fingerprint})")
    else:
        print(
            f"account {made.name} is pending ({made.fingerprint}): an admin approves it with "
            f"wit account approve {made.name}"
        )


@account_app.command()
def approve(
    name: NameArgument,
    hub: HubOption = None,
    token: TokenOption = None,
    fingerprint: FingerprintOption = None,
    insecure: InsecureOption = False,
) -> None:
    """Approve a pending account (admins only)."""

    done = ask_hub(
        "account approve",
        hub,
        fingerprint,
        insecure,
        token,
        lambda client: client.approve_account(name),
    )
    print(f"account {done.name} is {done.state} ({done.fingerprint})")


@account_app.command("list")
def list_accounts(
    hub: HubOption = None,
    token: TokenOption = None,
    fingerprint: FingerprintOption = None,
    insecure: InsecureOption = False,
    as_json: JsonOption = False,
) -> None:
    """Every account: name, state and key fingerprint."""

    found = ask_hub(
        "account list", hub, fingerprint, insecure, token, lambda client: client.accounts()
    )
    if as_json:
        print(json.dumps([a.model_dump(mode="json") for a in found]))
        return
    for account in found:
        print(f"{account.name}\t{account.state}\t{account.fingerprint}")


@account_app.command()
def grant(
    name: NameArgument,
    amount: Annotated[str, typer.Argument(help="Credits to mint, such as 100 or 2.5.")],
    memo: Annotated[str, typer.Option(help="What the grant is for.")] = "",
    hub: HubOption = None,
    token: TokenOption = None,
    fingerprint: FingerprintOption = None,
    insecure: InsecureOption = False,
) -> None:
    """Mint credits into an account (admins only), recorded in the ledger as a grant."""
    try:
        milli = parse_credits(amount)
    except ValueError as error:
        raise usage("account grant", str(error)) from None

    tx = ask_hub(
        "account grant",
        hub,
        fingerprint,
        insecure,
        token,
        lambda client: client.grant(name, milli, memo),
    )
    print(f"granted {credits(milli)} credits to {name} (transaction {tx.seq})")


@account_app.command()
def balance(
    name: NameArgument,
    hub: HubOption = None,
    token: TokenOption = None,
    fingerprint: FingerprintOption = None,
    insecure: InsecureOption = False,
    as_json: JsonOption = False,
) -> None:
    """An account's balance."""

    found = ask_hub(
        "account balance", hub, fingerprint, insecure, token, lambda client: client.balance(name)
    )
    if as_json:
        print(json.dumps(found.model_dump(mode="json")))
        return
    print(f"{found.account}: {found.credits} credits")


@account_app.command()
def transfer(
    name: NameArgument,
    to: Annotated[str, typer.Argument(help="The account paid.")],
    amount: Annotated[str, typer.Argument(help="Credits to pay, such as 10 or 2.5.")],
    memo: Annotated[str, typer.Option(help="What the payment is for.")] = "",
    hub: HubOption = None,
    token: TokenOption = None,
    fingerprint: FingerprintOption = None,
    insecure: InsecureOption = False,
) -> None:
    """Pay another account from NAME, the request signed with NAME's key."""
    try:
        milli = parse_credits(amount)
    except ValueError as error:
        raise usage("account transfer", str(error)) from None
    key = load_key(name, "account transfer")

    tx = ask_hub(
        "account transfer",
        hub,
        fingerprint,
        insecure,
        token,
        lambda client: client.transfer(key, to, milli, memo),
    )
    print(f"paid {credits(milli)} credits from {name} to {to} (transaction {tx.seq})")


@ledger_app.callback(invoke_without_command=True)
def ledger(
    context: typer.Context,
    account: Annotated[
        str | None,
        typer.Option(help="One account's statement, with its balance after each line."),
    ] = None,
    hub: HubOption = None,
    token: TokenOption = None,
    fingerprint: FingerprintOption = None,
    insecure: InsecureOption = False,
    as_json: JsonOption = False,
) -> None:
    """The ledger's transactions, oldest first (or one account's statement)."""
    if context.invoked_subcommand is not None:
        return

    lines = ask_hub(
        "ledger", hub, fingerprint, insecure, token, lambda client: client.ledger(account)
    )
    if as_json:
        print(json.dumps([line.model_dump(mode="json") for line in lines]))
        return
    for line in lines:
        moves = ", ".join(f"{e.account} {signed_credits(e.amount)}" for e in line.entries)
        after = f"  balance {credits(line.balance)}" if line.balance is not None else ""
        memo = f"  ({line.memo})" if line.memo else ""
        print(f"{line.seq:>5}  {line.kind:<8}  {moves}{after}{memo}  by {line.actor}")


@ledger_app.command()
def verify(
    hub: HubOption = None,
    token: TokenOption = None,
    fingerprint: FingerprintOption = None,
    insecure: InsecureOption = False,
    as_json: JsonOption = False,
) -> None:
    """Check the hash chain, every balance and every signed request: exit 0 when all hold,
    1 naming the first bad transaction."""

    verdict = ask_hub(
        "ledger verify", hub, fingerprint, insecure, token, lambda client: client.verify_ledger()
    )
    if as_json:
        print(json.dumps(verdict.model_dump(mode="json")))
    elif verdict.ok:
        print(
            f"the ledger holds: {verdict.transactions} transaction(s) chained, every balance "
            f"matches, {verdict.signed_requests} signed request(s) verify"
        )
    else:
        print(f"wit ledger verify: {verdict.problem}", file=sys.stderr)
    if not verdict.ok:
        raise typer.Exit(1)
