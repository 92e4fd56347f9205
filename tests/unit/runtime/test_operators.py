"""Operators, members and indexing on runtime values: every rule a script can meet."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from witengine.runtime import operators
from witengine.runtime.blobs import Blob
from witengine.runtime.operators import OperatorError
from witengine.runtime.values import Color

DAY = dt.datetime(2026, 11, 23, 8, 30)
SECOND = dt.timedelta(seconds=1)
ints = st.integers(min_value=-(2**63), max_value=2**63 - 1)


# ------------------------------------------------------------------------------ unary


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        ("!", True, False),
        ("!", False, True),
        ("-", 5, -5),
        ("-", -2.5, 2.5),
        ("-", 0, 0),
        ("-", SECOND, -SECOND),
    ],
)
def test_unary_operators(op: str, value: Any, expected: Any) -> None:
    result = operators.unary(op, value)

    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("op", "value", "message"),
    [
        ("!", 1, "'!' needs true or false, found 1"),
        ("!", None, "'!' needs true or false, found null"),
        ("-", "5", "'-' needs a number, found 5"),
        ("-", True, "'-' needs a number, found true"),
        ("-", None, "'-' needs a number, found null"),
    ],
)
def test_unary_operators_refuse_values_they_cannot_work_on(
    op: str, value: Any, message: str
) -> None:
    with pytest.raises(OperatorError) as caught:
        operators.unary(op, value)

    assert str(caught.value) == message


# ------------------------------------------------------------------------- arithmetic


@pytest.mark.parametrize(
    ("left", "op", "right", "expected"),
    [
        (2, "+", 3, 5),
        (2, "-", 3, -1),
        (4, "*", 3, 12),
        (2, "+", 0.5, 2.5),
        (1.5, "*", 2, 3.0),
        (2**62, "+", 2**62 - 1, 2**63 - 1),  # whole numbers up to the largest Long
        (-(2**62), "*", 2, -(2**63)),  # and down to the smallest
        # division of whole numbers drops the fraction, toward zero, as in .NET
        (7, "/", 2, 3),
        (-7, "/", 2, -3),
        (7, "/", -2, -3),
        (-7, "/", -2, 3),
        (6, "/", 3, 2),
        (0, "/", 5, 0),
        (7.0, "/", 2, 3.5),
        (7, "/", 2.0, 3.5),
        # the remainder keeps the sign of the left side
        (7, "%", 3, 1),
        (-7, "%", 3, -1),
        (7, "%", -3, 1),
        (-7, "%", -3, -1),
        (6, "%", 3, 0),
        (7.5, "%", 2, 1.5),
        (-7.5, "%", 2, -1.5),
    ],
)
def test_arithmetic(left: Any, op: str, right: Any, expected: Any) -> None:
    result = operators.binary(op, left, right)

    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("left", "op", "right"),
    [(2**62, "*", 2), (2**63 - 1, "+", 1), (-(2**63), "-", 1), (-(2**63), "/", -1)],
)
def test_whole_numbers_past_a_long_are_an_error_not_a_growing_number(
    left: int, op: str, right: int
) -> None:
    # A number that could grow without bound (x = x * x in a loop) would take the hub's memory
    # and time; .NET's checked arithmetic refuses it the same way.
    with pytest.raises(OperatorError, match="is past the range of Long"):
        operators.binary(op, left, right)


def test_negating_the_smallest_long_is_an_error() -> None:
    with pytest.raises(OperatorError, match="is past the range of Long"):
        operators.unary("-", -(2**63))


@settings(deadline=None)  # a loaded machine must not fail a pure test
@given(ints, ints.filter(lambda n: n != 0))
def test_whole_division_and_remainder_fit_together_like_dotnet(left: int, right: int) -> None:
    quotient = operators.binary("/", left, right)
    remainder = operators.binary("%", left, right)

    assert quotient * right + remainder == left
    assert abs(remainder) < abs(right)
    assert remainder == 0 or (remainder > 0) == (left > 0)


@pytest.mark.parametrize(
    ("left", "op", "right"),
    [(1, "/", 0), (1, "%", 0), (1.5, "/", 0), (1, "/", 0.0), (2.5, "%", 0.0), (0, "/", 0)],
)
def test_dividing_by_zero_is_an_error_for_whole_and_decimal_numbers(
    left: Any, op: str, right: Any
) -> None:
    with pytest.raises(
        OperatorError, match=f"^division by zero in .* {'%' if op == '%' else '/'} 0$"
    ):
        operators.binary(op, left, right)


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        ("a", "b", "ab"),
        ("n = ", 3, "n = 3"),
        (3, " items", "3 items"),
        ("x", 2.0, "x2"),
        ("x", 2.5, "x2.5"),
        ("flag ", True, "flag true"),
        ("value ", None, "value null"),
        (None, "!", "null!"),
        ("list ", [1, "a"], "list [1, a]"),
        ("took ", SECOND * 90, "took 00:01:30"),
        ("colour ", Color(255, 0, 0), "colour #FF0000"),
    ],
)
def test_plus_with_text_on_either_side_joins_text(left: Any, right: Any, expected: str) -> None:
    assert operators.binary("+", left, right) == expected


@pytest.mark.parametrize(
    ("left", "op", "right", "message"),
    [
        (True, "+", 1, "'+' needs numbers, found true and 1"),
        (1, "-", "1", "'-' needs numbers, found 1 and 1"),
        ([1], "+", [2], "'+' needs numbers, found [1] and [2]"),
        (None, "*", 2, "'*' needs numbers, found null and 2"),
        (SECOND, "+", SECOND, "'+' needs numbers, found 00:00:01 and 00:00:01"),
        ("a", "*", 3, "'*' needs numbers, found a and 3"),
        (1, "/", None, "'/' needs numbers, found 1 and null"),
    ],
)
def test_arithmetic_refuses_what_is_not_a_number(
    left: Any, op: str, right: Any, message: str
) -> None:
    with pytest.raises(OperatorError) as caught:
        operators.binary(op, left, right)

    assert str(caught.value) == message


# ------------------------------------------------------------------------ comparison


@pytest.mark.parametrize(
    ("left", "right", "equal"),
    [
        (1, 1, True),
        (1, 1.0, True),
        (1, 2, False),
        ("a", "a", True),
        ("a", "A", False),
        (None, None, True),
        (None, 0, False),
        (0, None, False),
        ("", None, False),
        (True, True, True),
        (True, 1, False),  # a Bool is never a number
        (0, False, False),
        ([1, 2], [1, 2], True),
        ((1, "a"), (1, "a"), True),
        (Color(1, 2, 3), Color(1, 2, 3), True),
        (Color(1, 2, 3), Color(1, 2, 3, 0), False),
        ("1", 1, False),
        (uuid.UUID(int=5), uuid.UUID(int=5), True),
    ],
)
def test_equality(left: Any, right: Any, equal: bool) -> None:
    assert operators.binary("==", left, right) is equal
    assert operators.binary("!=", left, right) is (not equal)
    assert operators.binary("==", right, left) is equal


@pytest.mark.parametrize(
    ("left", "right"),
    [
        (1, 2),
        (1, 1.5),
        (-3.5, -3),
        ("abc", "abd"),
        ("B", "a"),
        (DAY, DAY + SECOND),
        (SECOND, 2 * SECOND),
        # one date with a time zone, one without: ordered by their clock readings, as in .NET
        (dt.datetime(2026, 1, 1, 8, 0), dt.datetime(2026, 1, 1, 9, 0, tzinfo=dt.UTC)),
        (dt.datetime(2026, 1, 1, 8, 0, tzinfo=dt.UTC), dt.datetime(2026, 1, 1, 9, 0)),
    ],
)
def test_ordering_of_numbers_texts_dates_and_time_spans(left: Any, right: Any) -> None:
    assert operators.binary("<", left, right) is True
    assert operators.binary("<=", left, right) is True
    assert operators.binary(">", left, right) is False
    assert operators.binary(">=", left, right) is False
    assert operators.binary(">", right, left) is True
    assert operators.binary("<=", left, left) is True
    assert operators.binary(">=", left, left) is True
    assert operators.binary("<", left, left) is False


@pytest.mark.parametrize(
    ("left", "right", "message"),
    [
        (1, "2", "cannot order 1 and 2 with '<'"),
        (True, False, "cannot order true and false with '<'"),
        (None, 1, "cannot order null and 1 with '<'"),
        (DAY, SECOND, f"cannot order {DAY.isoformat()} and 00:00:01 with '<'"),
        ([1], [2], "cannot order [1] and [2] with '<'"),
        (Color(0, 0, 0), Color(1, 1, 1), "cannot order #000000 and #010101 with '<'"),
    ],
)
def test_ordering_refuses_values_of_different_kinds(left: Any, right: Any, message: str) -> None:
    with pytest.raises(OperatorError) as caught:
        operators.binary("<", left, right)

    assert str(caught.value) == message


# --------------------------------------------------------------------------- members


@pytest.mark.parametrize(
    ("value", "name", "expected"),
    [
        ((1, "a", True), "Item1", 1),
        ((1, "a", True), "Item3", True),
        (tuple(range(12)), "Item12", 11),
        ([1, 2, 3], "Count", 3),
        ([], "Count", 0),
        ("hello", "Length", 5),
        ("", "Length", 0),
        (dt.timedelta(minutes=1, milliseconds=500), "TotalSeconds", 60.5),
        (Color(1, 2, 3, 4), "R", 1),
        (Color(1, 2, 3, 4), "A", 4),
        (Blob("ab" * 32, 7, "x.txt"), "Size", 7),
        (Blob("ab" * 32, 7, "x.txt"), "Name", "x.txt"),
        (Blob("ab" * 32, 7, "x.txt"), "Sha256", "ab" * 32),
    ],
)
def test_members(value: Any, name: str, expected: Any) -> None:
    assert operators.member(value, name) == expected


@pytest.mark.parametrize(
    ("value", "name", "message"),
    [
        (None, "Count", "cannot read 'Count' of null"),
        ((1, 2), "Item3", "this Tuple has 2 items, so no Item3"),
        ((1, 2), "Item0", "(1, 2) has no member 'Item0'"),
        ([1], "Item1", "[1] has no member 'Item1'"),
        ("abc", "Count", "abc has no member 'Count'"),
        (5, "Length", "5 has no member 'Length'"),
        (Color(0, 0, 0), "_NAMES", "#000000 has no member '_NAMES'"),
        (Color(0, 0, 0), "__class__", "#000000 has no member '__class__'"),
        # Python methods of a value are not members: a script sees data, never code
        (Color(0, 0, 0), "Parse", "#000000 has no member 'Parse'"),
        ("abc", "Upper", "abc has no member 'Upper'"),
        ((1, 2), "Count", "(1, 2) has no member 'Count'"),
    ],
)
def test_unknown_members_are_errors(value: Any, name: str, message: str) -> None:
    with pytest.raises(OperatorError) as caught:
        operators.member(value, name)

    assert str(caught.value) == message


# -------------------------------------------------------------------------- indexing


@pytest.mark.parametrize(
    ("value", "position", "expected"),
    [
        ([10, 20, 30], 0, 10),
        ([10, 20, 30], 2, 30),
        ("hello", 1, "e"),
        ((1, "a"), 1, "a"),
        ([[1, 2], [3]], 1, [3]),
    ],
)
def test_indexing(value: Any, position: int, expected: Any) -> None:
    assert operators.index(value, position) == expected


@pytest.mark.parametrize(
    ("value", "position", "message"),
    [
        ([1, 2], 2, "index 2 is outside the collection of 2 items"),
        ([1, 2], -1, "index -1 is outside the collection of 2 items"),  # no counting from the end
        ([], 0, "index 0 is outside the collection of 0 items"),
        ("", 0, "index 0 is outside the collection of 0 items"),
        ([1, 2], 1.0, "an index must be a whole number, found 1"),
        ([1, 2], True, "an index must be a whole number, found true"),
        ([1, 2], None, "an index must be a whole number, found null"),
        ([1, 2], "0", "an index must be a whole number, found 0"),
        (5, 0, "5 cannot be indexed"),
        (None, 0, "null cannot be indexed"),
    ],
)
def test_bad_indexing_is_an_error(value: Any, position: Any, message: str) -> None:
    with pytest.raises(OperatorError) as caught:
        operators.index(value, position)

    assert str(caught.value) == message


def test_float_remainder_is_fmod() -> None:
    assert operators.binary("%", 5.5, -2) == math.fmod(5.5, -2)
