"""Slot grids: shift lengths and time zones, including daylight-saving changes."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

import oncall_opt as oo

BERLIN = ZoneInfo("Europe/Berlin")


def weekly_berlin_year() -> dict:
    """A weekly rotation handing off Mondays 09:00 Berlin time, across both 2027 DST changes."""
    return {
        "schedule_start": "2027-01-04T09:00:00+01:00",
        "schedule_end": "2027-12-27T09:00:00+01:00",
        "shift": {"length": "P7D", "time_zone": "Europe/Berlin"},
        "users": [{"id": f"u{i}", "name": f"User {i}"} for i in range(5)],
    }


def test_weekly_berlin_roster_keeps_handoffs_at_local_nine_across_dst():
    roster = oo.solve(oo.load_problem(weekly_berlin_year()))
    overrides = roster.to_output()["overrides"]
    assert len(overrides) == 52
    lengths = set()
    for override in overrides:
        start = datetime.fromisoformat(override["start"])
        end = datetime.fromisoformat(override["end"])
        assert override["time_zone"] == "Europe/Berlin"
        for instant in (start, end):
            local = instant.astimezone(BERLIN)
            assert (local.weekday(), local.hour, local.minute) == (0, 9, 0)
            assert instant.utcoffset() == local.utcoffset()  # written in Berlin's offset then
        lengths.add(end - start)
    # 28 March and 31 October 2027 are the changes: those weeks are an hour short and long.
    assert lengths == {timedelta(days=7), timedelta(days=7, hours=-1), timedelta(days=7, hours=1)}
    assert overrides[11]["start"] == "2027-03-22T09:00:00+01:00"
    assert overrides[11]["end"] == "2027-03-29T09:00:00+02:00"
    for previous, following in itertools.pairwise(overrides):
        assert previous["end"] == following["start"]


@pytest.mark.parametrize(
    ("day", "hours"), [("2027-03-27", 23), ("2027-10-30", 25), ("2027-06-01", 24)]
)
def test_daily_slot_lasts_23_or_25_hours_on_change_days(day, hours):
    doc = {
        "schedule_start": f"{day}T09:00:00+01:00",
        "schedule_end": f"{day}T09:00:00+01:00",
        "shift": {"time_zone": "Europe/Berlin"},
        "users": [{"id": "a"}],
    }
    if day == "2027-06-01":
        doc["schedule_start"] = doc["schedule_end"] = f"{day}T09:00:00+02:00"
    grid = oo.load_problem(doc).grid
    assert len(grid) == 1
    assert grid.ends[0] - grid.starts[0] == timedelta(hours=hours)


def test_twelve_hour_shifts_and_the_end_slot_included():
    doc = {
        "schedule_start": "2027-01-04T08:00:00Z",
        "schedule_end": "2027-01-06T08:00:00Z",
        "shift": {"length": "PT12H"},
        "users": [{"id": "a"}, {"id": "b"}],
    }
    grid = oo.load_problem(doc).grid
    assert len(grid) == 5  # 08, 20, 08, 20, and the slot starting at the end instant
    assert [s.hour for s in grid.starts] == [8, 20, 8, 20, 8]


def test_without_a_zone_the_starts_offset_is_kept_and_time_zone_is_utc():
    doc = {
        "schedule_start": "2027-03-27T00:00:00-06:00",
        "schedule_end": "2027-03-29T00:00:00-06:00",
        "users": [{"id": "a", "type": "user_reference"}],
    }
    output = oo.solve(oo.load_problem(doc)).to_output()
    assert [o["start"] for o in output["overrides"]] == [
        "2027-03-27T00:00:00-06:00",
        "2027-03-28T00:00:00-06:00",
        "2027-03-29T00:00:00-06:00",
    ]
    assert output["overrides"][0] == {
        "start": "2027-03-27T00:00:00-06:00",
        "end": "2027-03-28T00:00:00-06:00",
        "user": {"id": "a", "type": "user_reference"},
        "time_zone": "UTC",
    }


def test_weekend_slots_are_read_in_the_schedule_zone():
    doc = {
        "schedule_start": "2027-01-08T23:30:00+00:00",  # Friday 23:30 UTC = Saturday in Berlin
        "schedule_end": "2027-01-10T23:30:00+00:00",
        "shift": {"time_zone": "Europe/Berlin"},
        "users": [{"id": "a"}],
    }
    assert oo.load_problem(doc).grid.is_weekend == (True, True, False)
