"""A node's hours: the weekly windows in which its owner lets it work, read and reckoned.

A window is days and times: `"Mon-Fri 20:00-08:00"`, `"Sat-Sun"` (whole days),
`"Mon,Wed 12:00-14:00"`, `"20:00-08:00"` (every day). As in BOINC's preferences, a window gives
each of its days the hours from its start to its end, and when the end comes before the start,
the hours after the start and those before the end: `"Mon-Fri 20:00-08:00"` is open on those
days until 08:00 and again from 20:00. Windows that touch make one spell, so a night crosses
midnight when both its days are listed, and `["Mon-Fri 20:00-08:00", "Sat-Sun"]` (the office
at night) is every hour but 08:00 to 20:00 on weekdays.

Times are wall-clock times in the machine's time zone; the instants they stand for are reckoned
with `zoneinfo` on real aware datetimes, so a night is an hour shorter when the clocks go forward
inside it and an hour longer when they go back. A time the clock skips (02:30 on the spring
change in Europe) stands for the instant the clock jumps; a time it shows twice, for its first
showing.

Pure: every function takes the moment it is asked about; nothing here reads the clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MINUTES_A_DAY = 24 * 60
_WINDOW = re.compile(r"^\s*(?:(?P<days>[A-Za-z][A-Za-z,\s-]*?)\s*)?(?P<times>\d.*)?$")
_TIMES = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")
VALID = (
    "a window is days and times: 'Mon-Fri 20:00-08:00', 'Sat-Sun', 'Mon,Wed 12:00-14:00' or "
    "'20:00-08:00' (every day); days are Mon Tue Wed Thu Fri Sat Sun, times 00:00 to 24:00"
)


class HoursError(ValueError):
    """A window that cannot be read; the message says what is wrong and what is valid."""


@dataclass(frozen=True)
class Window:
    """One weekly window: on each of `days`, open from `start` to `end` (minutes after
    midnight); when `end` comes before `start`, open before `end` and after `start`."""

    text: str  # as written, normalised ("Mon-Fri 20:00-08:00")
    days: frozenset[int]  # weekdays it is open on, Monday 0
    start: int  # minutes after midnight, 0 to 1439
    end: int  # minutes after midnight, 0 to 1440, not `start`

    def pieces(self) -> tuple[tuple[int, int], ...]:
        """The spans (minutes after midnight, from and to) it is open on each of its days."""
        if self.start < self.end:
            return ((self.start, self.end),)
        return tuple(span for span in ((0, self.end), (self.start, _MINUTES_A_DAY)) if span[1])


def parse_window(text: str) -> Window:
    """One window from its written form; `HoursError` names what is wrong."""
    match = _WINDOW.match(text)
    if not text.strip() or match is None:
        raise HoursError(f"cannot read the window {text!r}: {VALID}")
    days = _parse_days(text, match.group("days")) if match.group("days") else frozenset(range(7))
    if match.group("times"):
        start, end = _parse_times(text, match.group("times").strip())
    else:
        start, end = 0, _MINUTES_A_DAY
    return Window(_normal_text(days, start, end), days, start, end)


def _parse_days(text: str, written: str) -> frozenset[int]:
    days: set[int] = set()
    for part in written.replace(" ", "").split(","):
        ends = part.split("-")
        if len(ends) not in (1, 2) or not all(ends):
            raise HoursError(f"cannot read the days {part!r} in {text!r}: {VALID}")
        first, last = (_day(text, end) for end in (ends[0], ends[-1]))
        # A range may wrap round the week: "Fri-Mon" is Friday to Monday.
        days.update((first + step) % 7 for step in range((last - first) % 7 + 1))
    return frozenset(days)


def _day(text: str, name: str) -> int:
    lowered = name.lower()
    for index, full in enumerate(_FULL_DAYS):
        if lowered in (full, full[:3]):
            return index
    raise HoursError(f"{name!r} in {text!r} is not a day: {VALID}")


def _parse_times(text: str, written: str) -> tuple[int, int]:
    match = _TIMES.match(written)
    if match is None:
        raise HoursError(f"cannot read the times {written!r} in {text!r}: {VALID}")
    hour_from, minute_from, hour_to, minute_to = (int(group) for group in match.groups())
    for hour, minute in ((hour_from, minute_from), (hour_to, minute_to)):
        if hour > 24 or minute > 59 or (hour == 24 and minute):
            raise HoursError(f"{hour:02}:{minute:02} in {text!r} is not a time of day: {VALID}")
    start = (hour_from * 60 + minute_from) % _MINUTES_A_DAY
    end = hour_to * 60 + minute_to
    if end % _MINUTES_A_DAY == start and (start, end) != (0, _MINUTES_A_DAY):
        raise HoursError(f"the window {text!r} opens and closes at the same time: {VALID}")
    return start, end


def _normal_text(days: frozenset[int], start: int, end: int) -> str:
    written = _days_text(days)
    if start == 0 and end == _MINUTES_A_DAY:
        return written or "Mon-Sun"
    times = f"{start // 60:02}:{start % 60:02}-{end // 60:02}:{end % 60:02}"
    return f"{written} {times}" if written else times


def _days_text(days: frozenset[int]) -> str:
    if len(days) == 7:
        return ""
    runs: list[list[int]] = []
    for day in sorted(days):
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    # A run that reaches Sunday and one that starts on Monday are one run across the week's end.
    if len(runs) > 1 and runs[0][0] == 0 and runs[-1][-1] == 6:
        runs = [runs[-1] + runs[0], *runs[1:-1]]
    return ",".join(
        DAYS[run[0]] if len(run) == 1 else f"{DAYS[run[0]]}-{DAYS[run[-1]]}" for run in runs
    )


# ------------------------------------------------------------------ reckoning


@dataclass(frozen=True)
class Spell:
    """An open spell in real time, in UTC: one window's showing, or several that touch, merged."""

    start: datetime
    end: datetime


def spells(windows: tuple[Window, ...], tz: tzinfo, first: date, last: date) -> list[Spell]:
    """The open spells of the windows on the local days `first` to `last`, merged, in order."""
    shown: list[Spell] = []
    day = first
    while day <= last:
        midnight = datetime.combine(day, time())
        for window in windows:
            if day.weekday() in window.days:
                for start, end in window.pieces():
                    opens = instant(midnight + timedelta(minutes=start), tz)
                    shown.append(Spell(opens, instant(midnight + timedelta(minutes=end), tz)))
        day += timedelta(days=1)
    shown.sort(key=lambda spell: spell.start)
    merged: list[Spell] = []
    for spell in shown:
        if merged and spell.start <= merged[-1].end:
            if spell.end > merged[-1].end:
                merged[-1] = Spell(merged[-1].start, spell.end)
        else:
            merged.append(spell)
    return merged


def instant(wall: datetime, tz: tzinfo) -> datetime:
    """The first real instant (UTC) at which the clock in `tz` shows `wall` or later."""
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) == wall:
        return first  # shown once, or the first of two showings
    # The clock skips `wall`: fold=0 read it with the offset before the jump (an instant after
    # the jump), fold=1 with the offset after (one before it). The jump, on a whole second, lies
    # between: find it by halving.
    before = int(wall.replace(tzinfo=tz, fold=1).timestamp())
    after = int(first.timestamp())
    while after - before > 1:
        middle = (before + after) // 2
        if datetime.fromtimestamp(middle, tz).replace(tzinfo=None) >= wall:
            after = middle
        else:
            before = middle
    return datetime.fromtimestamp(after, UTC)


@dataclass(frozen=True)
class Standing:
    """Where a moment stands in the windows: open or not, and when that changes."""

    open: bool
    closes: datetime | None  # when the open spell around it ends (None: no end in sight)
    opens: datetime | None  # when the next spell opens, if closed


def standing(windows: tuple[Window, ...], now: datetime) -> Standing:
    """Whether the windows are open at the aware moment `now` (in its own time zone)."""
    tz = now.tzinfo
    assert tz is not None, "the windows are reckoned on aware datetimes"
    moment = now.astimezone(UTC)
    local = now.date()
    # The days from two before to eight after cover this moment and the next opening; a spell
    # that reaches the last of them has no end in sight.
    found = spells(windows, tz, local - timedelta(days=2), local + timedelta(days=8))
    horizon = max((spell.end for spell in found), default=moment)
    for spell in found:
        if spell.start <= moment < spell.end:
            return Standing(True, None if spell.end >= horizon else spell.end, None)
        if spell.start > moment:
            return Standing(False, None, spell.start)
    return Standing(False, None, None)


def week_shares(windows: tuple[Window, ...], tz: tzinfo, at: datetime) -> list[float]:
    """The share (0 to 1) of each hour of the UTC week around `at` that the windows leave open:
    168 numbers, Monday 00:00 UTC first."""
    moment = at.astimezone(UTC)
    monday = datetime.combine(moment.date() - timedelta(days=moment.weekday()), time(), UTC)
    end = monday + timedelta(hours=168)
    local_first = monday.astimezone(tz).date() - timedelta(days=2)
    found = spells(windows, tz, local_first, end.astimezone(tz).date() + timedelta(days=1))
    shares = [0.0] * 168
    for spell in found:
        start, stop = max(spell.start, monday), min(spell.end, end)
        while start < stop:
            hour = int((start - monday).total_seconds() // 3600)
            hour_end = min(monday + timedelta(hours=hour + 1), stop)
            shares[hour] += (hour_end - start).total_seconds() / 3600
            start = hour_end
    return [min(1.0, round(share, 6)) for share in shares]
