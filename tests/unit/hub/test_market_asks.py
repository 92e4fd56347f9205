"""Which of a seller's standing offers covers a map: an ask (or an active sell mandate) for the
map's activity or its plugin, within its hours (the hub's local time; a window past midnight
wraps) and for a map of at least its minimum work; the cheapest, the older at one price."""

from __future__ import annotations

import time

import pytest

from witengine.hub.exchange.market import Market, in_hours
from witengine.hub.store.market import MandateSide, MandateState
from witengine.hub.store.memory import MemoryStore


def local(hour: int, minute: int = 0) -> float:
    """A wall time (seconds since the epoch) at this hour of a day, in the hub's local time."""
    return time.mktime((2026, 6, 10, hour, minute, 0, 0, 0, -1))


@pytest.mark.parametrize(
    ("hours", "at", "within"),
    [
        ("", (12, 0), True),
        ("22-06", (23, 0), True),
        ("22-06", (5, 59), True),
        ("22-06", (6, 0), False),
        ("22-06", (12, 0), False),
        ("08:30-17:00", (8, 30), True),
        ("08:30-17:00", (8, 29), False),
        ("08:30-17:00", (17, 0), False),
    ],
)
def test_hours_are_a_window_of_the_day_that_may_wrap_past_midnight(
    hours: str, at: tuple[int, int], within: bool
) -> None:
    assert in_hours(hours, at[0] * 3600 + at[1] * 60) is within


class Clock:
    def __init__(self, wall: float) -> None:
        self.wall = wall

    def __call__(self) -> float:
        return self.wall


def test_an_ask_covers_its_activity_or_plugin_within_its_hours_and_minimum_work() -> None:
    clock = Clock(local(23))
    market = Market(MemoryStore(), clock)
    night = market.add_ask("cat", "Compute.Work", 1000, hours="22-06", min_work=5.0)
    assert market.ask_for("cat", "Compute.Work", "compute", 5.0) == night
    assert market.ask_for("cat", "Compute.Work", "compute", 4.9) is None  # below its minimum
    assert market.ask_for("cat", "Render.Frame", "blender", 50.0) is None  # not its activity
    assert market.ask_for("dan", "Compute.Work", "compute", 50.0) is None  # not its account
    clock.wall = local(12)
    assert market.ask_for("cat", "Compute.Work", "compute", 50.0) is None  # outside its hours
    always = market.add_ask("cat", "compute", 3000)  # the plugin's every activity, any hour
    assert market.ask_for("cat", "Compute.Work", "compute", 1.0) == always
    clock.wall = local(2)
    assert market.ask_for("cat", "Compute.Work", "compute", 50.0) == night  # the cheaper


def test_at_one_price_the_older_ask_covers_the_map() -> None:
    clock = Clock(local(12))
    market = Market(MemoryStore(), clock)
    older = market.add_ask("cat", "Compute.Work", 1000)
    clock.wall += 1
    market.add_ask("cat", "Compute.Work", 1000)
    assert market.ask_for("cat", "Compute.Work", "compute", 1.0) == older


def test_a_sell_mandate_sells_nights_only_while_active() -> None:
    clock = Clock(local(23))
    market = Market(MemoryStore(), clock)
    mandate = market.add_mandate("cat", MandateSide.SELL, "blender", 3000, hours="20-08")
    covering = market.ask_for("cat", "Render.Frame", "blender", 1.0)
    assert covering is not None and (covering.id, covering.price) == (mandate.id, 3000)
    clock.wall = local(14)
    assert market.ask_for("cat", "Render.Frame", "blender", 1.0) is None  # by day
    clock.wall = local(23)
    assert market.set_mandate_state(mandate.id, MandateState.PAUSED)
    assert market.ask_for("cat", "Render.Frame", "blender", 1.0) is None  # paused
