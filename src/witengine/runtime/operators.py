"""What the operators, members and indexing of the expression grammar do to runtime values.

Arithmetic follows the .NET platform Wit comes from: `/` on two whole numbers divides and drops
the fraction (toward zero), `%` keeps the sign of the left side, `+` with a String on either side
joins text. Dividing by zero is an error, for whole and decimal numbers alike.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

from witengine.errors import WitError
from witengine.lang.expressions import LONG_MAX
from witengine.runtime.budget import join_texts
from witengine.runtime.values import to_text

LONG_MIN = -LONG_MAX - 1
_ITEM = re.compile(r"Item([1-9][0-9]*)")


class OperatorError(WitError):
    """An operator met values it cannot work on."""


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def unary(op: str, value: Any) -> Any:
    if op == "!":
        if not isinstance(value, bool):
            raise OperatorError(f"'!' needs true or false, found {to_text(value)}")
        return not value
    if _whole(value):
        return _within_long(-value, op, 0, value)
    if _is_number(value) or isinstance(value, dt.timedelta):
        return -value
    raise OperatorError(f"'-' needs a number, found {to_text(value)}")


def binary(op: str, left: Any, right: Any) -> Any:
    if op == "==":
        return _equal(left, right)
    if op == "!=":
        return not _equal(left, right)
    if op in ("<", "<=", ">", ">="):
        return _order(op, left, right)
    if op == "+" and (isinstance(left, str) or isinstance(right, str)):
        return join_texts(to_text(left), to_text(right))
    if not (_is_number(left) and _is_number(right)):
        raise OperatorError(f"'{op}' needs numbers, found {to_text(left)} and {to_text(right)}")
    if op == "+":
        return _within_long(left + right, op, left, right)
    if op == "-":
        return _within_long(left - right, op, left, right)
    if op == "*":
        return _within_long(left * right, op, left, right)
    if right == 0:
        raise OperatorError(f"division by zero in {to_text(left)} {op} {to_text(right)}")
    if op == "/":
        if _whole(left) and _whole(right):
            quotient = abs(left) // abs(right)
            return _within_long(
                quotient if (left >= 0) == (right >= 0) else -quotient, op, left, right
            )
        return left / right
    if op == "%":
        if _whole(left) and _whole(right):
            remainder = abs(left) % abs(right)
            return remainder if left >= 0 else -remainder
        return math.fmod(left, right)
    raise OperatorError(f"unknown operator '{op}'")


def _within_long(result: Any, op: str, left: Any, right: Any) -> Any:
    """`result`, unless whole numbers went past what a Long holds (as .NET's checked arithmetic
    would say; a number that grew without bound would also stall the hub)."""
    if type(result) is int and not LONG_MIN <= result <= LONG_MAX:
        raise OperatorError(
            f"{to_text(left)} {op} {to_text(right)} is past the range of Long "
            f"({LONG_MIN:,} to {LONG_MAX:,})"
        )
    return result


def _equal(left: Any, right: Any) -> bool:
    if isinstance(left, bool) != isinstance(right, bool):
        return False
    return bool(left == right)


def _order(op: str, left: Any, right: Any) -> bool:
    comparable = (_is_number(left) and _is_number(right)) or (
        type(left) is type(right) and isinstance(left, str | dt.datetime | dt.timedelta)
    )
    if not comparable:
        raise OperatorError(f"cannot order {to_text(left)} and {to_text(right)} with '{op}'")
    if isinstance(left, dt.datetime) and (left.tzinfo is None) != (right.tzinfo is None):
        # As .NET orders DateTimes by their ticks whatever their kind: the clock readings.
        left, right = left.replace(tzinfo=None), right.replace(tzinfo=None)
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    return bool(left >= right)


def member(value: Any, name: str) -> Any:
    """`value.name`: ItemN of a tuple, Count of a collection, Length of text, a type's member."""
    if value is None:
        raise OperatorError(f"cannot read '{name}' of null")
    match = _ITEM.fullmatch(name)
    if isinstance(value, tuple) and match:
        position = int(match.group(1))
        if position > len(value):
            raise OperatorError(f"this Tuple has {len(value)} items, so no {name}")
        return value[position - 1]
    if isinstance(value, list) and name == "Count":
        return len(value)
    if isinstance(value, str) and name == "Length":
        return len(value)
    if isinstance(value, dt.timedelta) and name == "TotalSeconds":
        return value.total_seconds()
    attribute = _snake(name)
    for candidate in (name, attribute):
        if hasattr(value, candidate) and not candidate.startswith("_"):
            found = getattr(value, candidate)
            if not callable(found):  # a value's data, never a Python method of it
                return found
    raise OperatorError(f"{to_text(value)} has no member '{name}'")


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def index(value: Any, position: Any) -> Any:
    if not _whole(position):
        raise OperatorError(f"an index must be a whole number, found {to_text(position)}")
    if isinstance(value, list | str | tuple):
        if not 0 <= position < len(value):
            raise OperatorError(f"index {position} is outside the collection of {len(value)} items")
        return value[position]
    raise OperatorError(f"{to_text(value)} cannot be indexed")
