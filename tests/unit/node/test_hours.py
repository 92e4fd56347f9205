"""Windows read from their written form, and reckoned in real time across midnight and across
daylight-saving changes (Europe/Berlin and America/New_York, from the tz database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from witengine.node.hours import HoursError, instant, parse_window, standing, week_shares

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
OFFICE = (parse_window("Mon-Fri 20:00-08:00"), parse_window("Sat-Sun"))


@pytest.mark.parametrize(
    ("written", "text", "days", "start", "end"),
    [
        ("Mon-Fri 20:00-08:00", "Mon-Fri 20:00-08:00", {0, 1, 2, 3, 4}, 1200, 480),
        ("Sat-Sun", "Sat-Sun", {5, 6}, 0, 1440),
        ("sat-sun", "Sat-Sun", {5, 6}, 0, 1440),
        ("Saturday", "Sat", {5}, 0, 1440),
        ("Fri-Mon 22:00-06:00", "Fri-Mon 22:00-06:00", {4, 5, 6, 0}, 1320, 360),
        ("Mon,Wed 12:00-14:00", "Mon,Wed 12:00-14:00", {0, 2}, 720, 840),
        ("20:00-08:00", "20:00-08:00", set(range(7)), 1200, 480),
        ("Mon 22:00-24:00", "Mon 22:00-24:00", {0}, 1320, 1440),
        ("9:30-17:00", "09:30-17:00", set(range(7)), 570, 1020),
        ("00:00-24:00", "Mon-Sun", set(range(7)), 0, 1440),
    ],
)
def test_a_window_is_read_from_days_and_times(
    written: str, text: str, days: set[int], start: int, end: int
) -> None:
    window = parse_window(written)
    assert (window.text, window.days, window.start, window.end) == (text, days, start, end)


@pytest.mark.parametrize(
    ("written", "named"),
    [
        ("Funday", "'Funday' in 'Funday' is not a day"),
        ("Mon 25:00-08:00", "25:00 in 'Mon 25:00-08:00' is not a time of day"),
        ("Mon 08:61-09:00", "08:61 in 'Mon 08:61-09:00' is not a time of day"),
        ("Mon 24:30-08:00", "24:30 in 'Mon 24:30-08:00' is not a time of day"),
        ("Mon 08:00-08:00", "opens and closes at the same time"),
        ("Mon-Fri 8-17", "cannot read the times '8-17'"),
        ("Mon--Fri", "cannot read the days 'Mon--Fri'"),
        ("", "cannot read the window ''"),
        ("*", "cannot read the window '*'"),
    ],
)
def test_an_impossible_window_is_refused_with_the_valid_forms(written: str, named: str) -> None:
    with pytest.raises(HoursError) as refused:
        parse_window(written)
    assert named in str(refused.value)
    assert "days are Mon Tue Wed Thu Fri Sat Sun, times 00:00 to 24:00" in str(refused.value)


def berlin(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=BERLIN)  # type: ignore[misc]


def test_the_office_at_night_is_open_from_friday_evening_to_monday_morning() -> None:
    friday_night = standing(OFFICE, berlin(2026, 12, 4, 21, 0))
    assert friday_night.open
    assert friday_night.closes == berlin(2026, 12, 7, 8, 0)


@pytest.mark.parametrize(
    ("moment", "is_open", "closes", "opens"),
    [
        # Tuesday 23:00: the night that started at 20:00 closes on Wednesday at 08:00.
        ((2026, 12, 8, 23, 0), True, (2026, 12, 9, 8, 0), None),
        # Wednesday 03:00: the same night, past midnight.
        ((2026, 12, 9, 3, 0), True, (2026, 12, 9, 8, 0), None),
        # Wednesday noon: closed, opens at 20:00.
        ((2026, 12, 9, 12, 0), False, None, (2026, 12, 9, 20, 0)),
        # Monday 07:59: still Sunday's spell (Sat-Sun runs into Monday's morning hours).
        ((2026, 12, 7, 7, 59), True, (2026, 12, 7, 8, 0), None),
        # Monday 08:00 sharp: closed.
        ((2026, 12, 7, 8, 0), False, None, (2026, 12, 7, 20, 0)),
    ],
)
def test_windows_cross_midnight(
    moment: tuple[int, ...],
    is_open: bool,
    closes: tuple[int, ...] | None,
    opens: tuple[int, ...] | None,
) -> None:
    found = standing(OFFICE, berlin(*moment))
    assert found.open is is_open
    assert found.closes == (berlin(*closes) if closes else None)
    assert found.opens == (berlin(*opens) if opens else None)


def test_a_night_is_an_hour_shorter_when_the_clocks_go_forward_in_it() -> None:
    # Berlin: Sunday 29 March 2026, 02:00 CET becomes 03:00 CEST.
    nights = (parse_window("20:00-08:00"),)
    evening = berlin(2026, 3, 28, 20, 0)
    closes = standing(nights, evening).closes
    assert closes is not None
    assert closes - evening.astimezone(UTC) == timedelta(hours=11)
    assert closes.astimezone(BERLIN).hour == 8


def test_a_night_is_an_hour_longer_when_the_clocks_go_back_in_it() -> None:
    # New York: Sunday 1 November 2026, 02:00 EDT becomes 01:00 EST.
    nights = (parse_window("20:00-08:00"),)
    evening = datetime(2026, 10, 31, 20, 0, tzinfo=NEW_YORK)
    closes = standing(nights, evening).closes
    assert closes is not None
    assert closes - evening.astimezone(UTC) == timedelta(hours=13)


def test_a_window_ending_at_a_time_the_clock_skips_ends_when_the_clock_jumps() -> None:
    # 02:30 does not exist in Berlin on 29 March 2026: the clock jumps from 02:00 to 03:00 CEST.
    jump = instant(datetime(2026, 3, 29, 2, 30), BERLIN)
    assert jump == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    window = (parse_window("Sun 00:00-02:30"),)
    assert standing(window, berlin(2026, 3, 29, 1, 59)).closes == jump
    assert not standing(window, jump.astimezone(BERLIN)).open


def test_a_time_the_clock_shows_twice_stands_for_its_first_showing() -> None:
    # 02:30 shows twice in Berlin on 25 October 2026: first in CEST (00:30 UTC).
    first = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert instant(datetime(2026, 10, 25, 2, 30), BERLIN) == first


def test_hours_that_cover_every_moment_have_no_end() -> None:
    always = standing((parse_window("Mon-Sun"),), berlin(2026, 12, 9, 12, 0))
    assert always.open
    assert always.closes is None


def test_the_week_gives_each_utc_hour_the_share_its_windows_leave_open() -> None:
    shares = week_shares(OFFICE, BERLIN, berlin(2026, 12, 9, 12, 0))
    assert len(shares) == 168
    # Monday 00:00 UTC is 01:00 in Berlin in winter: open until 07:00 UTC, again from 19:00.
    assert shares[:24] == [1.0] * 7 + [0.0] * 12 + [1.0] * 5
    assert sum(shares) == 108  # 5 weekdays of 12 hours and a weekend of 48


def test_the_week_splits_hours_that_a_window_opens_inside() -> None:
    kolkata = ZoneInfo("Asia/Kolkata")  # UTC+05:30
    shares = week_shares((parse_window("Mon 09:00-10:00"),), kolkata, berlin(2026, 12, 9, 12, 0))
    # 09:00 to 10:00 in Kolkata is 03:30 to 04:30 UTC on Monday.
    assert shares[3] == shares[4] == 0.5
    assert sum(shares) == 1.0
