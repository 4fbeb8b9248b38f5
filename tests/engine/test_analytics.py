"""On-call analytics from a fixed incident history (tests/engine/analytics_history.py) made
through the real engine under the fake clock, on DuckDB and PostgreSQL. Every expected figure
is worked out by hand here from the history's timeline."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from analytics_history import WINDOW, History, build, utc

from oncall_opt.engine.analytics import PersonBurden, person_burden
from oncall_opt.errors import InvalidRequestError


@pytest.fixture
def history(store, mail) -> History:
    return build(store, mail.settings())


def test_person_burden_counts_pages_sent_nights_and_weekends_in_each_persons_zone(store, history):
    h = history
    got = person_burden(store, h.team_id, *WINDOW)
    # Ana: I1 20:30Z (Berlin Fri 21:30); I2 22:50Z (Fri 23:50 night) and 23:00Z (Sat 00:00,
    # night and weekend); I3 04:30Z, 04:40Z (Sat 05:30, 05:40: night, weekend); I5 00:30Z,
    # 00:40Z (Sun 01:30, 01:40 CET: night, weekend); I4 05:30Z (Sun 07:30 CEST: weekend only);
    # I6 12:00Z (Mon 14:00). Her second e-mails for I1, I4 and I6 were cancelled: 9 pages.
    # Primary 96 hours less Chloé's 6-hour override.
    assert got[h.ana] == PersonBurden(h.ana, pages=9, night_pages=6, weekend_pages=6,
                                      hours_on_call=90.0)  # fmt: skip
    # Ben: I2 23:05Z (New York Fri 19:05), I5 00:45Z (Sat 20:45: weekend); I7's page at
    # 00:05Z on the 31st is after the window. Secondary all 96 hours of the window.
    assert got[h.ben] == PersonBurden(h.ben, 2, 0, 1, 96.0)
    # Chloé: I7 23:50Z Monday (UTC: night); Ops' page to her is not Payments'; her Ops shift
    # is not Payments' hours, the 6-hour override is.
    assert got[h.chloe] == PersonBurden(h.chloe, 1, 1, 0, 6.0)
    assert list(got) == sorted([h.ana, h.ben, h.chloe])


def test_person_burden_over_a_shorter_window_and_with_nobody_paged(store, history):
    h = history
    saturday = person_burden(store, h.team_id, utc(2026, 3, 28), utc(2026, 3, 29))
    # Only I3's two pages fall on Saturday UTC (I2's 23:00Z page is Friday 23:00 UTC).
    assert saturday[h.ana] == PersonBurden(h.ana, 2, 2, 2, 24.0)
    assert saturday[h.ben] == PersonBurden(h.ben, 0, 0, 0, 24.0)
    assert saturday[h.chloe] == PersonBurden(h.chloe, 0, 0, 0, 0.0)
    # Ops: Chloé alone, her one Ops page at Sunday 10:00Z, on call 96 hours.
    ops = person_burden(store, h.other_team_id, *WINDOW)
    assert ops == {h.chloe: PersonBurden(h.chloe, 1, 0, 1, 96.0)}


@pytest.mark.parametrize(
    ("start", "end", "field", "problem"),
    [
        (utc(2026, 3, 2), utc(2026, 3, 1), "End", "must be after Start"),
        (utc(2026, 3, 1), utc(2026, 3, 1), "End", "must be after Start"),
        (utc(2025, 1, 1), utc(2025, 1, 1) + timedelta(days=401), "End", "at most 400 days"),
        (datetime(2026, 3, 1), utc(2026, 3, 2), "Start", "offset"),
        (utc(2026, 3, 1), datetime(2026, 3, 2), "End", "offset"),
    ],
)
def test_a_window_that_is_backwards_too_long_or_without_offset_is_refused(
    store, start, end, field, problem
):
    with pytest.raises(InvalidRequestError) as refused:
        person_burden(store, 1, start, end)
    assert refused.value.field == field and problem in str(refused.value)


def test_400_days_exactly_is_allowed(store):
    start = utc(2025, 1, 1)
    assert person_burden(store, 1, start, start + timedelta(days=400)) == {}
