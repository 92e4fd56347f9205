"""Amounts of credits as people write and read them, and as the ledger keeps them: whole
milli-credits (1 credit = 1000), never floats. Used by the hub's ledger, the CLI and the node's
owner console alike."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

MILLI = 1000  # milli-credits a credit


def credits(amount: int) -> str:
    """Milli-credits as credits with three decimals: 2500 -> '2.500'."""
    sign = "-" if amount < 0 else ""
    whole, milli = divmod(abs(amount), MILLI)
    return f"{sign}{whole}.{milli:03d}"


def signed_credits(amount: int) -> str:
    """Milli-credits as a movement on a statement: +2.500, -1.000."""
    return ("+" if amount > 0 else "") + credits(amount)


def parse_credits(text: str) -> int:
    """Milli-credits of an amount in credits: '2.5' -> 2500; ValueError when it is not one."""
    try:
        amount = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f"{text!r} is not an amount of credits (such as 10 or 2.5)") from None
    milli = amount * MILLI
    if not amount.is_finite() or milli != milli.to_integral_value():
        raise ValueError(f"{text!r}: credits have at most three decimals")
    if milli <= 0:
        raise ValueError(f"{text!r}: an amount is more than zero")
    return int(milli)
