"""What a day marked "away" blocks, by a team's choice (the team setting `AwayMeans`).

A day is a calendar day in the roster's time zone, but shifts run from handoff to handoff: with
24-hour shifts handing off at 09:00, the whole of Tuesday overlaps two shifts (Monday 09:00 to
Tuesday 09:00 and Tuesday 09:00 to Wednesday 09:00). A team says which it means:

- `day`: the whole local day, 00:00 to 24:00: every shift overlapping it (the safe default);
- `shift-start`: that day's shifts, from its handoff to the next day's handoff;
- `working-hours`: 09:00 to 17:00 of that day (`WORKING_HOURS`).

`away_span` gives the span blocked; `blocked` the shifts of a grid it blocks (for showing).
"""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime, time, timedelta

AWAY_MEANS = ("day", "shift-start", "working-hours")
WORKING_HOURS = (time(9, 0), time(17, 0))


def away_span(
    day: date, zone: zoneinfo.ZoneInfo, handoff: time, away_means: str = "day"
) -> tuple[datetime, datetime]:
    """The span [start, end) a day marked away blocks, as aware local datetimes."""
    if away_means == "day":
        return _at(day, time(0), zone), _at(day + timedelta(days=1), time(0), zone)
    if away_means == "shift-start":
        return _at(day, handoff, zone), _at(day + timedelta(days=1), handoff, zone)
    if away_means == "working-hours":
        return _at(day, WORKING_HOURS[0], zone), _at(day, WORKING_HOURS[1], zone)
    raise ValueError(f"away_means must be one of {', '.join(AWAY_MEANS)}, not {away_means!r}")


def blocked(
    span: tuple[datetime, datetime], first: datetime, length: timedelta, slots: int
) -> list[tuple[datetime, datetime]]:
    """The shifts of the grid (`slots` of `length` from `first`, wall-clock arithmetic as the
    planner's grid) that overlap `span`."""
    start, end = span
    found = []
    for k in range(slots):
        s = first + k * length
        e = s + length
        if s < end and e > start:
            found.append((s, e))
        elif s >= end:
            break
    return found


def _at(day: date, moment: time, zone: zoneinfo.ZoneInfo) -> datetime:
    return datetime.combine(day, moment, tzinfo=zone)
