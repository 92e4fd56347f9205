"""The exchange's fee: the share of each settlement's price that goes to `exchange:fees`.

A rate is kept in basis points (hundredths of a percent) so that the split of a price in
milli-credits is exact integer arithmetic: the fee is the price times the rate rounded down, and
the seller has the rest, so the escrow's debit equals the seller's and the fee account's credits.
"""

from __future__ import annotations

WHOLE = 10_000  # basis points in 100 %
HIGHEST = 5_000  # 50 %: a fee above half the price would leave the seller the lesser share


def parse_fee(text: str) -> int:
    """`2%`, `0.5%`, `0.02` or `0` as basis points (200, 50, 200, 0); ValueError saying why
    when it is not a rate from 0 to 50 % in whole hundredths of a percent."""
    raw = text.strip()
    percent = raw.endswith("%")
    number = raw.removesuffix("%").strip()
    try:
        value = float(number)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a rate: give a percentage (2%) or a fraction (0.02)"
        ) from None
    points = value * 100 if percent else value * WHOLE
    if not 0 <= points <= HIGHEST:
        raise ValueError(f"{text!r} is outside 0% to 50%")
    if abs(points - round(points)) > 1e-6:
        raise ValueError(f"{text!r} is finer than a hundredth of a percent")
    return round(points)


def split(price: int, points: int) -> tuple[int, int]:
    """A price in milli-credits as (the seller's part, the exchange's fee); they sum to it."""
    fee = price * points // WHOLE
    return price - fee, fee


def shown(points: int) -> str:
    """Basis points as a percentage: 200 -> '2%', 250 -> '2.5%'."""
    return f"{points / 100:g}%"
