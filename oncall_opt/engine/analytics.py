"""On-call analytics: who carries the pages, not only the hours.

Over a window [start, end) of at most `MAX_DAYS` days, for one team:

- a *page* is one notification of an incident of the team's services (`notifications`, kind
  `page`) that went out: status `sent` or `delivered`, counted at its `sent_at`. Queued,
  cancelled (acknowledged or resolved first) and failed ones reached nobody and do not count.
  One page per notification: a person whose rules send an e-mail at once and an SMS after 5
  minutes was interrupted twice;
- a page is a *night page* when it was sent between 22:00 and 07:00 on the wall clock of the
  person paged (users.time_zone, UTC when unset), and a *weekend page* on their Saturday or
  Sunday: a night that crosses midnight, or a day of 23 or 25 hours, reads as they lived it;
- *hours on call* are the team's final schedule (published shifts with overrides on top,
  `final.segments`) within the window, per layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from oncall_opt.engine.final import segments
from oncall_opt.engine.paging.notifications import DELIVERED, SENT
from oncall_opt.engine.store import Store, Transaction
from oncall_opt.engine.teams import get_team
from oncall_opt.engine.users import users_by_id
from oncall_opt.errors import InvalidRequestError

MAX_DAYS = 400  # a year and a bit: every query below is bounded by the window
NIGHT_STARTS, NIGHT_ENDS = 22, 7  # hours of the person's own clock
PAGE_WENT_OUT = (SENT, DELIVERED)


def check_window(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """[start, end) in UTC; an InvalidRequestError names Start or End when it has no offset,
    ends before it starts or spans more than `MAX_DAYS` days."""
    for name, value in (("Start", start), ("End", end)):
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidRequestError(name, "needs a time zone offset (RFC 3339: ...T00:00:00Z)")
    if end <= start:
        raise InvalidRequestError("End", "must be after Start")
    if end - start > timedelta(days=MAX_DAYS):
        raise InvalidRequestError("End", f"must be at most {MAX_DAYS} days after Start")
    return start.astimezone(UTC), end.astimezone(UTC)


def zone_of(name: str | None) -> ZoneInfo:
    """The IANA zone `name`, UTC when unset or unknown (a name stored before it was checked)."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return ZoneInfo("UTC")


def is_night(at: datetime, zone: ZoneInfo) -> bool:
    hour = at.astimezone(zone).hour
    return hour >= NIGHT_STARTS or hour < NIGHT_ENDS


def is_weekend(at: datetime, zone: ZoneInfo) -> bool:
    return at.astimezone(zone).weekday() >= 5


@dataclass(frozen=True)
class SentPage:
    """One page that went out: to whom, for which incident of which service, when."""

    user_id: int
    incident_id: int
    service_id: int
    sent_at: datetime


def sent_pages(
    source: Store | Transaction, team_id: int, start: datetime, end: datetime
) -> list[SentPage]:
    """The pages of the team's incidents sent in [start, end), in the order they went out."""
    marks = ", ".join("?" for _ in PAGE_WENT_OUT)
    rows = source.rows(
        "SELECT n.user_id, n.incident_id, i.service_id, n.sent_at FROM notifications n "
        "JOIN incidents i ON i.id = n.incident_id JOIN services s ON s.id = i.service_id "
        f"WHERE n.kind = 'page' AND n.status IN ({marks}) AND n.sent_at >= ? "
        "AND n.sent_at < ? AND s.team_id = ? ORDER BY n.sent_at, n.id",
        [*PAGE_WENT_OUT, start, end, team_id],
    )
    return [
        SentPage(r["user_id"], r["incident_id"], r["service_id"], r["sent_at"].astimezone(UTC))
        for r in rows
    ]


@dataclass(frozen=True)
class PersonBurden:
    user_id: int
    pages: int  # notifications for incidents sent to the person in [start, end)
    night_pages: int  # of those, sent 22:00-07:00 in the person's time zone
    weekend_pages: int  # of those, sent on a Saturday or Sunday in the person's zone
    hours_on_call: float  # on the team's final schedule, all layers, within [start, end)


def person_burden(
    source: Store | Transaction, team_id: int, start: datetime, end: datetime
) -> dict[int, PersonBurden]:
    """Every current member of the team, zeros included (pages counted for the team's incidents
    only: incidents on the team's services)."""
    start, end = check_window(start, end)
    team = get_team(source, team_id)
    people = users_by_id(source, set(team.member_ids))
    pages = {user_id: [0, 0, 0] for user_id in people}
    for page in sent_pages(source, team_id, start, end):
        if page.user_id not in people:
            continue
        zone = zone_of(people[page.user_id].time_zone)
        counts = pages[page.user_id]
        counts[0] += 1
        counts[1] += is_night(page.sent_at, zone)
        counts[2] += is_weekend(page.sent_at, zone)
    hours = dict.fromkeys(people, 0.0)
    for segment in segments(source, team_id, start, end):
        if segment.user.id in hours:
            hours[segment.user.id] += segment.hours
    return {
        user_id: PersonBurden(user_id, *pages[user_id], hours_on_call=hours[user_id])
        for user_id in sorted(people)
    }
