"""Runtime values without a native Python form, their text forms and how any value reads."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from witengine.runtime.values import (
    Color,
    ConversionError,
    ProcessingOptions,
    Strategy,
    format_timespan,
    parse_bool,
    parse_datetime,
    parse_guid,
    parse_timespan,
    to_text,
)

# ---------------------------------------------------------------------------- Color


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("#3366AA", Color(0x33, 0x66, 0xAA)),
        ("#3366aa", Color(0x33, 0x66, 0xAA)),
        ("#36A", Color(0x33, 0x66, 0xAA)),
        ("#11223344", Color(0x11, 0x22, 0x33, 0x44)),
        ("  #FFFFFF ", Color(255, 255, 255)),
        ("red", Color(255, 0, 0)),
        ("Orange", Color(255, 0xA5, 0)),
        (" GREY ", Color(0x80, 0x80, 0x80)),
        ("transparent", Color(0, 0, 0, 0)),
    ],
)
def test_colours_parse_from_hex_and_basic_names(text: str, expected: Color) -> None:
    assert Color.parse(text) == expected


@pytest.mark.parametrize(
    "text", ["", "#", "#12", "#1234", "#12345", "#GGHHII", "3366AA", "reddish"]
)
def test_text_that_is_no_colour_is_refused_with_the_forms_to_use(text: str) -> None:
    with pytest.raises(ConversionError) as caught:
        Color.parse(text)

    assert str(caught.value) == f"'{text}' is not a colour; write #RRGGBB or #RRGGBBAA"


@pytest.mark.parametrize(
    ("colour", "text"),
    [
        (Color(0x33, 0x66, 0xAA), "#3366AA"),
        (Color(1, 2, 3, 4), "#01020304"),
        (Color(0, 0, 0), "#000000"),
    ],
)
def test_a_colour_reads_as_hex_with_alpha_only_when_not_opaque(colour: Color, text: str) -> None:
    assert str(colour) == text
    assert Color.parse(text) == colour


# ---------------------------------------------------------------- ProcessingOptions


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("Adaptive", Strategy.ADAPTIVE),
        ("balanced", Strategy.BALANCED),
        (" QUEUED ", Strategy.QUEUED),
    ],
)
def test_processing_options_take_a_strategy_in_any_case(strategy: str, expected: Strategy) -> None:
    assert ProcessingOptions.make(strategy) == ProcessingOptions(expected, None)
    assert ProcessingOptions.make(strategy, 3) == ProcessingOptions(expected, 3)


def test_processing_options_default_to_adaptive_on_every_node() -> None:
    assert ProcessingOptions() == ProcessingOptions(Strategy.ADAPTIVE, None)


def test_an_unknown_strategy_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ConversionError) as caught:
        ProcessingOptions.make("Static")

    assert str(caught.value) == 'unknown strategy \'Static\'; use "Adaptive", "Balanced", "Queued"'


@pytest.mark.parametrize("max_nodes", [0, -1])
def test_max_nodes_must_be_at_least_one(max_nodes: int) -> None:
    with pytest.raises(ConversionError, match=f"^maxNodes must be at least 1, got {max_nodes}$"):
        ProcessingOptions.make("Queued", max_nodes)


@pytest.mark.parametrize(
    ("text", "pools"),
    [
        ("volunteers", ("volunteers",)),
        (" volunteers , default,volunteers ", ("volunteers", "default")),
        ("farm-2.b_c", ("farm-2.b_c",)),
    ],
)
def test_pools_are_read_from_a_list_of_names_each_once(text: str, pools: tuple[str, ...]) -> None:
    assert ProcessingOptions.make("Queued", None, text).pools == pools


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "pools names no pool"),
        (" , ", "pools names no pool"),
        ("my pool", "'my pool' is not a pool's name"),
        ("-x", "'-x' is not a pool's name"),
        ("a" * 41, "is not a pool's name"),
    ],
)
def test_a_list_of_pools_that_names_none_or_a_bad_name_is_refused(text: str, error: str) -> None:
    with pytest.raises(ConversionError, match=error):
        ProcessingOptions.make("Queued", None, text)


# ------------------------------------------------------------------------- TimeSpan


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0:01:30", dt.timedelta(seconds=90)),
        ("1:02", dt.timedelta(hours=1, minutes=2)),
        ("12:00:00", dt.timedelta(hours=12)),
        ("1.02:03:04", dt.timedelta(days=1, hours=2, minutes=3, seconds=4)),
        ("-0:00:05", dt.timedelta(seconds=-5)),
        ("0:00:01.5", dt.timedelta(seconds=1.5)),
        ("0:00:00.0000001", dt.timedelta(0)),  # a tick, below Python's microsecond
        ("0:00:00.000001", dt.timedelta(microseconds=1)),
        ("90s", dt.timedelta(seconds=90)),
        ("250ms", dt.timedelta(milliseconds=250)),
        ("1.5h", dt.timedelta(minutes=90)),
        ("2d", dt.timedelta(days=2)),
        ("1h30m", dt.timedelta(minutes=90)),
        ("1h 30m 15s", dt.timedelta(minutes=90, seconds=15)),
        ("  5m ", dt.timedelta(minutes=5)),
    ],
)
def test_time_spans_parse_from_dotnet_form_and_durations(text: str, expected: dt.timedelta) -> None:
    assert parse_timespan(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "90", "5x", "1:2:3:4", "s", "1h-30m", "h1", "0:0:0:"])
def test_text_that_is_no_time_span_is_refused_with_the_forms_to_use(text: str) -> None:
    with pytest.raises(ConversionError) as caught:
        parse_timespan(text)

    assert str(caught.value) == f"'{text}' is not a time span; write h:mm:ss (0:01:30) or 90s"


@pytest.mark.parametrize(
    ("span", "text"),
    [
        (dt.timedelta(0), "00:00:00"),
        (dt.timedelta(seconds=90), "00:01:30"),
        (dt.timedelta(hours=25), "1.01:00:00"),
        (dt.timedelta(days=3, seconds=5), "3.00:00:05"),
        (dt.timedelta(seconds=-5), "-00:00:05"),
        (dt.timedelta(seconds=1.5), "00:00:01.5000000"),
        (dt.timedelta(microseconds=1), "00:00:00.0000010"),
    ],
)
def test_time_spans_read_in_the_dotnet_constant_format(span: dt.timedelta, text: str) -> None:
    assert format_timespan(span) == text


@settings(deadline=None)  # a loaded machine must not fail a pure test
@given(st.timedeltas(min_value=dt.timedelta(days=-9999), max_value=dt.timedelta(days=9999)))
def test_a_time_span_survives_its_text(span: dt.timedelta) -> None:
    assert parse_timespan(format_timespan(span)) == span


# --------------------------------------------------------------- DateTime, Guid, Bool


def test_date_times_parse_from_iso_8601() -> None:
    assert parse_datetime("2026-11-23T08:30:00") == dt.datetime(2026, 11, 23, 8, 30)
    assert parse_datetime(" 2026-11-23 ") == dt.datetime(2026, 11, 23)
    assert parse_datetime("2026-11-23T08:30:00Z") == dt.datetime(2026, 11, 23, 8, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize("text", ["", "yesterday", "2026-13-01", "23/11/2026"])
def test_text_that_is_no_date_is_refused_with_an_example(text: str) -> None:
    with pytest.raises(ConversionError) as caught:
        parse_datetime(text)

    assert str(caught.value) == f"'{text}' is not a date and time; write 2026-11-23T08:30:00"


def test_guids_parse_and_bad_ones_are_refused() -> None:
    value = uuid.UUID("12345678-1234-5678-1234-567812345678")

    assert parse_guid(" 12345678-1234-5678-1234-567812345678 ") == value
    assert parse_guid("{12345678-1234-5678-1234-567812345678}") == value
    with pytest.raises(ConversionError, match=r"^'1234' is not a Guid$"):
        parse_guid("1234")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        *[("true", True), ("True", True), (" YES ", True), ("1", True)],
        *[("false", False), ("FALSE", False), ("no", False), ("0", False)],
    ],
)
def test_bools_parse_from_common_words(text: str, expected: bool) -> None:
    assert parse_bool(text) is expected


@pytest.mark.parametrize("text", ["", "maybe", "2", "t"])
def test_text_that_is_no_bool_is_refused(text: str) -> None:
    with pytest.raises(ConversionError) as caught:
        parse_bool(text)

    assert str(caught.value) == f"'{text}' is not a Bool; write true or false"


# -------------------------------------------------------------------------- to_text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "null"),
        (True, "true"),
        (False, "false"),
        (42, "42"),
        (-7, "-7"),
        (3.0, "3"),
        (2.5, "2.5"),
        (-0.25, "-0.25"),
        (1e16, "1e+16"),
        (float("inf"), "inf"),
        ("text", "text"),
        ("", ""),
        (dt.timedelta(seconds=90), "00:01:30"),
        (dt.datetime(2026, 11, 23, 8, 30), "2026-11-23T08:30:00"),
        ([1, "a", None, [True]], "[1, a, null, [true]]"),
        ([], "[]"),
        ((1, 2.0, "x"), "(1, 2, x)"),
        (Color(255, 0, 0), "#FF0000"),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
        (
            ProcessingOptions(),
            "ProcessingOptions(strategy=<Strategy.ADAPTIVE: 'Adaptive'>, max_nodes=None, "
            "pools=None)",
        ),
    ],
)
def test_values_read_as_text(value: Any, text: str) -> None:
    assert to_text(value) == text
