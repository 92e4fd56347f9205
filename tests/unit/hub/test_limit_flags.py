"""`wit hub --limit NAME=VALUE`: names, whole numbers and byte units."""

from __future__ import annotations

import pytest

from witengine.hub.limits import Limits, parse_limit, with_limits


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("script_chars=2000000", ("script_chars", 2_000_000)),
        ("map_items = 5_000_000", ("map_items", 5_000_000)),
        ("request_bytes=64MiB", ("request_bytes", 64 * 1024**2)),
        ("request_bytes=64 mb", ("request_bytes", 64 * 1000**2)),
        ("max_blob_bytes=2TiB", ("max_blob_bytes", 2 * 1024**4)),
        ("node_message_bytes=1,048,576", ("node_message_bytes", 1024**2)),
    ],
)
def test_a_limit_is_a_name_and_a_whole_number_with_a_byte_unit_for_sizes(
    text: str, expected: tuple[str, int]
) -> None:
    assert parse_limit(text) == expected


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("script_chars", "'script_chars' is not NAME=VALUE"),
        ("script_chars=2k", "script_chars must be a whole number, not '2k'"),
        ("request_bytes=1.5GiB", "request_bytes must be a whole number (or with a unit: 64MiB"),
        ("request_bytes=2XB", "request_bytes must be a whole number (or with a unit"),
        ("max_blob_bytes=9999999999TiB", "max_blob_bytes must be from 1 to 9,223,372,036,"),
    ],
)
def test_a_bad_limit_says_what_is_wrong(text: str, said: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_limit(text)
    assert str(caught.value).startswith(said), caught.value


def test_limits_apply_in_order_and_the_rest_keep_their_defaults() -> None:
    limits, blob = with_limits(
        Limits(), 50, ["map_items=10", "max_blob_bytes=1KiB", "map_items=20"]
    )
    assert (limits.map_items, blob) == (20, 1024)
    assert limits.script_chars == Limits().script_chars
