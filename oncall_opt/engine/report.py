"""The fairness report: who carried how much of a team's on-call time, from the final schedule
(overrides included), so that covering for others is counted and can be paid back in the next
plan.

Per person over [start, end):
- hours on call per layer;
- weekend hours: on call on a Saturday or Sunday of the person's own time zone (UTC without);
- night hours: on call between 22:00 and 07:00 of their own time zone;
- covered: override hours in which they stood in for someone's roster shift; given away: roster
  hours of theirs that someone else's override covered;
- incidents received: incidents of the team's services created in the range and assigned to
  them.

Hours are exact instants in UTC, split at local midnights, 07:00 and 22:00 made timezone-aware
in the person's zone, so a day of 23 or 25 hours counts what it really lasted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from oncall_opt.engine.final import OVERRIDE, Segment, segments
from oncall_opt.engine.records import User
from oncall_opt.engine.store import Store
from oncall_opt.engine.teams import get_team
from oncall_opt.engine.users import users_by_id

NIGHT_STARTS, NIGHT_ENDS = time(22), time(7)


@dataclass
class PersonReport:
    user: User
    hours_by_layer: dict[int, float] = field(default_factory=dict)
    weekend_hours: float = 0.0
    night_hours: float = 0.0
    covered_hours: float = 0.0
    given_away_hours: float = 0.0
    incidents: int = 0

    @property
    def hours(self) -> float:
        return sum(self.hours_by_layer.values())


def _local(day: date, at: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def _overlap(a: datetime, b: datetime, c: datetime, d: datetime) -> float:
    return max(0.0, (min(b, d) - max(a, c)).total_seconds())


def local_hours(start: datetime, end: datetime, zone_name: str | None) -> tuple[float, float]:
    """(weekend hours, night hours) of [start, end) in the zone's local time."""
    zone = ZoneInfo(zone_name or "UTC")
    weekend = night = 0.0
    day = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date()
    while day <= last:
        midnight, next_midnight = (
            _local(day, time(0), zone),
            _local(day + timedelta(1), time(0), zone),
        )
        if day.weekday() >= 5:
            weekend += _overlap(start, end, midnight, next_midnight)
        night += _overlap(start, end, midnight, _local(day, NIGHT_ENDS, zone))
        night += _overlap(start, end, _local(day, NIGHT_STARTS, zone), next_midnight)
        day += timedelta(days=1)
    return weekend / 3600, night / 3600


def team_report(store: Store, team_id: int, start: datetime, end: datetime) -> list[PersonReport]:
    """The report for the team's members (and anyone else who was on call for it), by name."""
    team = get_team(store, team_id)
    found: list[Segment] = segments(store, team_id, start, end)
    people = users_by_id(store, set(team.member_ids) | {s.user.id for s in found})
    reports = {user_id: PersonReport(user) for user_id, user in people.items()}
    for segment in found:
        person = reports[segment.user.id]
        person.hours_by_layer[segment.layer] = (
            person.hours_by_layer.get(segment.layer, 0.0) + segment.hours
        )
        weekend, night = local_hours(segment.start, segment.end, segment.user.time_zone)
        person.weekend_hours += weekend
        person.night_hours += night
        if segment.source == OVERRIDE and segment.covers and segment.covers.id != segment.user.id:
            person.covered_hours += segment.hours
            if segment.covers.id in reports:
                reports[segment.covers.id].given_away_hours += segment.hours
    for row in store.rows(
        "SELECT assigned_user_id, count(*) AS n FROM incidents WHERE created_at >= ? "
        "AND created_at < ? AND assigned_user_id IS NOT NULL AND service_id IN "
        "(SELECT id FROM services WHERE team_id = ?) GROUP BY assigned_user_id",
        [start, end, team_id],
    ):
        if row["assigned_user_id"] in reports:
            reports[row["assigned_user_id"]].incidents = row["n"]
    return sorted(reports.values(), key=lambda r: (r.user.full_name.lower(), r.user.id))


def history(
    store: Store, team_id: int, start: datetime, end: datetime, slot_hours: float
) -> dict[str, dict[str, int]]:
    """The input.json `history` for a plan starting at `end`: per person, the primary shifts
    (and weekend shifts) they worked in [start, end), as on-call hours divided by the slot's
    length, rounded. Covering for someone counts for the one who covered."""
    hours: dict[int, float] = {}
    weekend: dict[int, float] = {}
    for s in segments(store, team_id, start, end, [1]):
        hours[s.user.id] = hours.get(s.user.id, 0.0) + s.hours
        weekend[s.user.id] = (
            weekend.get(s.user.id, 0.0) + local_hours(s.start, s.end, s.user.time_zone)[0]
        )
    return {
        str(user_id): {
            "shifts": round(worked / slot_hours),
            "weekend_shifts": round(weekend[user_id] / slot_hours),
        }
        for user_id, worked in sorted(hours.items())
        if round(worked / slot_hours)
    }
