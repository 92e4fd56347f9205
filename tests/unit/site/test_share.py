"""A site offers its parent its nodes at night only (`--parent-share nights`): available in the
office's nights and weekends, unavailable by day, saying until when and why."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from witengine.protocol.states import Availability
from witengine.site.share import ParentShare, parent_share

WEDNESDAY = datetime(2026, 12, 9, tzinfo=UTC)  # a Wednesday


def test_a_share_without_hours_is_always_available() -> None:
    assert ParentShare(0.5).status(WEDNESDAY).availability is Availability.AVAILABLE


def test_by_day_a_site_of_nights_is_unavailable_until_the_evening() -> None:
    status = parent_share("nights").status(WEDNESDAY.replace(hour=12))
    assert status.availability is Availability.UNAVAILABLE
    assert "Wed 20:00" in status.reason
    assert len(status.week) == 168


@pytest.mark.parametrize(
    ("moment", "seconds"),
    [
        (WEDNESDAY.replace(hour=22), 10 * 3600),  # until Thursday 08:00
        (WEDNESDAY.replace(hour=5), 3 * 3600),  # until 08:00 the same morning
        (datetime(2026, 12, 12, 12, tzinfo=UTC), (36 + 8) * 3600),  # Saturday to Monday 08:00
    ],
)
def test_at_night_a_site_of_nights_is_available_until_the_morning(
    moment: datetime, seconds: float
) -> None:
    status = parent_share("50% nights").status(moment)
    assert status.availability is Availability.AVAILABLE
    assert status.window_seconds == pytest.approx(seconds)
    assert status.policy == {"parent-share": "50% in Mon-Fri 20:00-08:00, Sat-Sun"}
