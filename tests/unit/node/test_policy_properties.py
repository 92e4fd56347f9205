"""Properties of the owner policy over many made-up weeks and owners (hypothesis): the windows
agree with a plain reading of the local clock away from daylight-saving changes, open and close
where they say, and fill the week's hours with what they leave open; the governor never flaps
faster than its rules allow, whatever the owner does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from witengine.node.hours import Window, parse_window, spells, standing, week_shares
from witengine.node.policy import Action, Governor, Observation, Policy

ZONES = [ZoneInfo(name) for name in ("Europe/Berlin", "America/New_York", "Australia/Lord_Howe")]
SECOND = timedelta(seconds=1)

days = st.sets(st.integers(0, 6), min_size=1).map(
    lambda chosen: ",".join(("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")[d] for d in chosen)
)
times = st.integers(0, 23 * 4 + 3).map(lambda q: f"{q // 4:02}:{q % 4 * 15:02}")
window_texts = st.one_of(
    days,
    st.builds(lambda d, a, b: f"{d} {a}-{b}", days, times, times).filter(
        lambda text: text.split()[-1].split("-")[0] != text.split()[-1].split("-")[1]
    ),
)
windows = st.lists(window_texts, min_size=1, max_size=3).map(
    lambda texts: tuple(parse_window(text) for text in texts)
)
moments = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)
)


def read_off_the_clock(found: tuple[Window, ...], local: datetime) -> bool:
    minute = local.hour * 60 + local.minute + local.second / 60
    return any(
        local.weekday() in window.days and start <= minute < end
        for window in found
        for start, end in window.pieces()
    )


def far_from_a_change(moment: datetime, zone: ZoneInfo) -> bool:
    offsets = {(moment + timedelta(hours=h)).astimezone(zone).utcoffset() for h in (-26, 0, 26)}
    return len(offsets) == 1


@settings(max_examples=150, deadline=None)
@given(windows, moments, st.sampled_from(ZONES))
def test_windows_agree_with_the_local_clock_away_from_daylight_saving_changes(
    found: tuple[Window, ...], moment: datetime, zone: ZoneInfo
) -> None:
    assume(far_from_a_change(moment, zone))
    local = moment.astimezone(zone)
    assert standing(found, local).open is read_off_the_clock(found, local)


@settings(max_examples=150, deadline=None)
@given(windows, moments, st.sampled_from(ZONES))
def test_a_window_closes_and_opens_where_it_says(
    found: tuple[Window, ...], moment: datetime, zone: ZoneInfo
) -> None:
    local = moment.astimezone(zone)
    where = standing(found, local)
    if where.open and where.closes is not None:
        assert where.closes > local
        assert standing(found, where.closes.astimezone(zone)).open is False
        if where.closes - SECOND >= local:
            assert standing(found, (where.closes - SECOND).astimezone(zone)).open
    if not where.open:
        assert where.opens is not None
        assert where.opens > local
        assert standing(found, where.opens.astimezone(zone)).open
        if where.opens - SECOND >= local:
            assert not standing(found, (where.opens - SECOND).astimezone(zone)).open


@settings(max_examples=60, deadline=None)
@given(windows, moments, st.sampled_from(ZONES))
def test_the_week_s_shares_add_up_to_the_open_hours(
    found: tuple[Window, ...], moment: datetime, zone: ZoneInfo
) -> None:
    shares = week_shares(found, zone, moment)
    monday = datetime.combine(
        moment.date() - timedelta(days=moment.weekday()), datetime.min.time(), UTC
    )
    end = monday + timedelta(days=7)
    first, last = monday.astimezone(zone).date(), end.astimezone(zone).date()
    open_seconds = sum(
        max(timedelta(0), min(spell.end, end) - max(spell.start, monday)).total_seconds()
        for spell in spells(found, zone, first - timedelta(days=2), last + timedelta(days=1))
    )
    assert all(0 <= share <= 1 for share in shares)
    assert abs(sum(shares) * 3600 - open_seconds) < 1


# An owner: a list of (seconds to wait, whether they touch the machine then).
owners = st.lists(st.tuples(st.floats(0.25, 400), st.booleans()), min_size=1, max_size=60)


@settings(max_examples=150, deadline=None)
@given(owners)
def test_the_governor_never_moves_faster_than_its_rules(story: list[tuple[float, bool]]) -> None:
    policy = Policy(idle_after=900, resume_after=300, vacate_after=600)
    governor = Governor(policy)
    start = datetime(2026, 12, 9, 12, 0, tzinfo=ZONES[0])
    now, last_input = 0.0, -1000.0
    action, since, started_at = None, 0.0, 0.0
    for wait, touch in story:
        now += wait
        if touch:
            last_input = now
        idle = now - last_input
        seen = Observation(start + timedelta(seconds=now), now, idle, 0.0, False)
        decided = governor.decide(seen).action
        if action is Action.RUN and touch:
            assert decided is Action.SUSPEND  # input while it runs: suspended at this look
        if decided is not action:
            if decided is Action.RUN:
                # Work starts after idle-after, resumes after resume-after: never sooner.
                assert idle >= (
                    policy.resume_after if action is Action.SUSPEND else policy.idle_after
                )
                started_at = now
            if decided is Action.SUSPEND:
                assert action is Action.RUN
                assert last_input > started_at - 1  # only input since it started stops it
            if decided is Action.VACATE and action is Action.SUSPEND:
                assert now - since >= policy.vacate_after
            action, since = decided, now
        if action is Action.SUSPEND:
            assert now - since < policy.vacate_after + 400  # vacated at the first look past it
