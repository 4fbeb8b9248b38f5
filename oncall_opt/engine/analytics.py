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

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import MAXYEAR, UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from oncall_opt.engine.final import segments
from oncall_opt.engine.paging.notifications import DELIVERED, SENT
from oncall_opt.engine.records import User
from oncall_opt.engine.store import Store, Transaction
from oncall_opt.engine.teams import Team, get_team
from oncall_opt.engine.users import users_by_id
from oncall_opt.errors import InvalidRequestError

MAX_DAYS = 400  # a year and a bit: every query below is bounded by the window
# A day inside either end of the calendar, so that every zone's clock can read the window
EARLIEST, LATEST = datetime(1, 1, 2, tzinfo=UTC), datetime(9999, 12, 30, tzinfo=UTC)
NIGHT_STARTS, NIGHT_ENDS = 22, 7  # hours of the person's own clock
PAGE_WENT_OUT = (SENT, DELIVERED)


def check_window(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """[start, end) in UTC; an InvalidRequestError names Start or End when it has no offset,
    ends before it starts, spans more than `MAX_DAYS` days or reaches the calendar's first
    or last day (which some zones' clocks cannot read)."""
    for name, value in (("Start", start), ("End", end)):
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidRequestError(name, "needs a time zone offset (RFC 3339: ...T00:00:00Z)")
        if not EARLIEST <= value <= LATEST:
            raise InvalidRequestError(
                name, f"must be within the calendar, {EARLIEST:%Y-%m-%d} to {LATEST:%Y-%m-%d}"
            )
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


# ----- the team's analytics ---------------------------------------------------------------------
# Incident figures are for the incidents of the team's services *opened* in the window, with
# what became of them since (an acknowledgement or escalation just after the window counts).


def percentile(values: Sequence[float], p: float) -> float | None:
    """The nearest-rank percentile: the smallest value with at least p% of the values at or
    below it (sorted[ceil(p/100 * n) - 1]); None without values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def median(values: Sequence[float]) -> float | None:
    """The middle value, the mean of the two middle ones for an even count; None without."""
    return statistics.median(values) if values else None


@dataclass(frozen=True)
class Durations:
    """Minutes from an incident's opening to something (its first acknowledgement, its
    resolution): how many, the median and the 90th percentile (nearest rank)."""

    count: int
    median_minutes: float | None
    p90_minutes: float | None

    @classmethod
    def of(cls, minutes: Sequence[float]) -> Durations:
        return cls(len(minutes), median(minutes), percentile(minutes, 90))


@dataclass(frozen=True)
class Figures:
    """One row of the analytics: for the team, a service, a person or a month."""

    incidents: int = 0
    pages: int = 0
    night_pages: int = 0  # 22:00-07:00 in the paged person's zone
    weekend_pages: int = 0  # Saturday or Sunday in the paged person's zone
    to_acknowledge: Durations = Durations(0, None, None)
    to_resolve: Durations = Durations(0, None, None)
    resolved_without_acknowledgement: int = 0
    escalated_past_first_step: int = 0
    hours_by_layer: dict[int, float] = field(default_factory=dict)

    @property
    def hours_on_call(self) -> float:
        return sum(self.hours_by_layer.values())


@dataclass
class _Tally:
    incidents: int = 0
    pages: int = 0
    night_pages: int = 0
    weekend_pages: int = 0
    to_acknowledge: list[float] = field(default_factory=list)
    to_resolve: list[float] = field(default_factory=list)
    resolved_without_acknowledgement: int = 0
    escalated_past_first_step: int = 0
    hours_by_layer: dict[int, float] = field(default_factory=dict)

    def add_incident(self, incident: _Incident, escalations: bool = True) -> None:
        self.incidents += 1
        if incident.to_acknowledge is not None:
            self.to_acknowledge.append(incident.to_acknowledge)
        if incident.to_resolve is not None:
            self.to_resolve.append(incident.to_resolve)
            if incident.to_acknowledge is None:
                self.resolved_without_acknowledgement += 1
        if escalations:
            self.escalated_past_first_step += incident.escalated_past_first_step

    def add_page(self, night: bool, weekend: bool) -> None:
        self.pages += 1
        self.night_pages += night
        self.weekend_pages += weekend

    def add_hours(self, layer: int, hours: float) -> None:
        self.hours_by_layer[layer] = self.hours_by_layer.get(layer, 0.0) + hours

    def figures(self) -> Figures:
        return Figures(
            self.incidents,
            self.pages,
            self.night_pages,
            self.weekend_pages,
            Durations.of(self.to_acknowledge),
            Durations.of(self.to_resolve),
            self.resolved_without_acknowledgement,
            self.escalated_past_first_step,
            dict(sorted(self.hours_by_layer.items())),
        )


@dataclass(frozen=True)
class _Incident:
    id: int
    service_id: int
    assignee_id: int | None
    opened_at: datetime
    to_acknowledge: float | None  # minutes to its first real acknowledgement (or snooze)
    to_resolve: float | None  # minutes to its resolution, None while open
    escalated_past_first_step: bool
    first_paged: frozenset[int]  # whom its step 1 paged (read for the escalated ones only)


# An escalation past the first step: an `escalated` timeline entry of step 2 or later (the job's
# or by hand: "step 2: paging Ben (...)"), even one that found nobody to page.
_PAST_FIRST_STEP = (
    "l.kind = 'escalated' AND l.message LIKE 'step %' AND l.message NOT LIKE 'step 1:%'"
)


def _incidents(
    source: Store | Transaction, team_id: int, start: datetime, end: datetime
) -> list[_Incident]:
    """The team's incidents opened in [start, end), with what their timelines say.

    An acknowledgement is an `acknowledged` or `snoozed` entry of the timeline: resolving
    writes neither (and leaves acknowledged_at empty; rows from before issue 22, where resolving
    filled it, read right too), so a resolution is never taken for an acknowledgement. The
    people an incident's step 1 paged are its `paged`/`escalated` entries of step 1 naming
    someone."""
    opened = (
        "FROM incidents i JOIN services s ON s.id = i.service_id WHERE s.team_id = ? "
        "AND i.created_at >= ? AND i.created_at < ?"
    )
    window = [team_id, start, end]
    # Durations as seconds from the database: one timestamp a row to read, not three.
    rows = source.rows(
        "SELECT i.id, i.service_id, i.assigned_user_id, i.created_at, "
        "extract(epoch FROM ((SELECT min(l.logged_at) FROM incident_log l "
        "WHERE l.incident_id = i.id AND l.kind IN ('acknowledged', 'snoozed')) - i.created_at)) "
        "AS to_acknowledge, CASE WHEN i.status = 'resolved' THEN "
        "extract(epoch FROM (i.resolved_at - i.created_at)) END AS to_resolve, "
        f"EXISTS (SELECT 1 FROM incident_log l WHERE l.incident_id = i.id AND {_PAST_FIRST_STEP}) "
        f"AS escalated {opened} ORDER BY i.id",
        window,
    )
    first_paged: dict[int, set[int]] = {}
    if any(r["escalated"] for r in rows):
        for entry in source.rows(
            "SELECT DISTINCT l.incident_id, l.user_id FROM incident_log l WHERE l.kind IN "
            "('paged', 'escalated') AND l.message LIKE 'step 1:%' AND l.user_id IS NOT NULL "
            f"AND l.incident_id IN (SELECT i.id {opened}) AND l.incident_id IN (SELECT "
            f"l.incident_id FROM incident_log l WHERE {_PAST_FIRST_STEP})",
            window,
        ):
            first_paged.setdefault(entry["incident_id"], set()).add(entry["user_id"])
    return [
        _Incident(
            r["id"],
            r["service_id"],
            r["assigned_user_id"],
            r["created_at"],
            None if r["to_acknowledge"] is None else float(r["to_acknowledge"]) / 60,
            None if r["to_resolve"] is None else float(r["to_resolve"]) / 60,
            bool(r["escalated"]),
            frozenset(first_paged.get(r["id"], ())),
        )
        for r in rows
    ]


@dataclass(frozen=True)
class PersonFigures:
    user: User
    member: bool  # a current member (else someone paged or on call for the team in the window)
    figures: Figures


@dataclass(frozen=True)
class Analytics:
    """A team's analytics over [start, end). Months and hours of the week are on the team's
    clock (`time_zone`: the zone of the roster it last published, UTC before any); nights and
    weekends on the paged person's.

    Per person, the incident figures are those of the incidents assigned to them (the first
    person paged, unless handed on), `escalated_past_first_step` counts the incidents their
    step 1 paged that went on to step 2 or later."""

    team_id: int
    team_name: str
    start: datetime
    end: datetime
    time_zone: str
    team: Figures
    services: list[tuple[int, str, Figures]]
    people: list[PersonFigures]
    months: list[tuple[str, Figures]]  # "2026-03", in order, every month the window touches
    person_months: dict[int, list[tuple[str, Figures]]]  # by user id, the same months
    pages_by_hour_of_week: list[list[int]]  # [weekday: Monday 0][hour 0-23], team's clock


def team_zone(team: Team) -> str:
    """The team's clock: the TimeZone of the roster it last published, else UTC."""
    name = (team.roster_rules or {}).get("TimeZone")
    return name if isinstance(name, str) and zone_of(name).key == name else "UTC"


def _month(at: datetime, zone: ZoneInfo) -> str:
    local = at.astimezone(zone)
    return f"{local.year:04d}-{local.month:02d}"


def _month_starts(start: datetime, end: datetime, zone: ZoneInfo) -> list[tuple[str, datetime]]:
    """Each month the window touches, with the instant it starts on the zone's clock."""
    local = start.astimezone(zone)
    year, month = local.year, local.month
    found = []
    while year <= MAXYEAR:
        try:
            begins = datetime(year, month, 1, tzinfo=zone).astimezone(UTC)
        except OverflowError:  # the year 1's first month, east of UTC: it began before UTC's
            begins = start
        if begins >= end:
            return found
        found.append((f"{year:04d}-{month:02d}", begins))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return found


def team_analytics(
    source: Store | Transaction, team_id: int, start: datetime, end: datetime
) -> Analytics:
    """Incidents, pages (night, weekend), times to acknowledge and resolve, escalations past
    the first step and hours on call, for the team, each service, each person and each month
    of [start, end) (see the module's docstring for what each counts)."""
    start, end = check_window(start, end)
    team = get_team(source, team_id)
    zone_name = team_zone(team)
    zone = ZoneInfo(zone_name)
    months = _month_starts(start, end, zone)
    opened = _incidents(source, team_id, start, end)
    pages = sent_pages(source, team_id, start, end)
    on_call = segments(source, team_id, start, end)
    people = users_by_id(
        source,
        set(team.member_ids)
        | {p.user_id for p in pages}
        | {s.user.id for s in on_call}
        | {i.assignee_id for i in opened if i.assignee_id is not None},
    )
    service_names = {
        r["id"]: r["name"]
        for r in source.rows("SELECT id, name FROM services WHERE team_id = ?", [team_id])
    }

    whole, by_service = _Tally(), {service_id: _Tally() for service_id in service_names}
    by_person = {user_id: _Tally() for user_id in people}
    by_month = {month: _Tally() for month, _ in months}
    by_person_month = {(u, m): _Tally() for u in people for m, _ in months}
    week = [[0] * 24 for _ in range(7)]

    for incident in opened:
        month = _month(incident.opened_at, zone)
        tallies = [whole, by_service.setdefault(incident.service_id, _Tally()), by_month[month]]
        if incident.assignee_id in by_person:
            tallies += [by_person[incident.assignee_id],
                        by_person_month[(incident.assignee_id, month)]]  # fmt: skip
        for tally in tallies[:3]:  # a person's escalations are those their step 1 did not stop
            tally.add_incident(incident)
        for tally in tallies[3:]:
            tally.add_incident(incident, escalations=False)
        if incident.escalated_past_first_step:
            for user_id in incident.first_paged & people.keys():
                by_person[user_id].escalated_past_first_step += 1
                by_person_month[(user_id, month)].escalated_past_first_step += 1
    for page in pages:
        person = people.get(page.user_id)  # None: a person deleted since
        theirs = page.sent_at.astimezone(zone_of(person.time_zone if person else None))
        night = theirs.hour >= NIGHT_STARTS or theirs.hour < NIGHT_ENDS
        weekend = theirs.weekday() >= 5
        local = page.sent_at.astimezone(zone)
        month = f"{local.year:04d}-{local.month:02d}"
        tallies = [whole, by_service.setdefault(page.service_id, _Tally()), by_month[month]]
        if person is not None:
            tallies += [by_person[page.user_id], by_person_month[(page.user_id, month)]]
        for tally in tallies:
            tally.add_page(night, weekend)
        week[local.weekday()][local.hour] += 1
    bounds = [begins for _, begins in months[1:]] + [end]
    for segment in on_call:
        for (month, begins), ends in zip(months, bounds, strict=True):
            hours = max(0.0, (min(segment.end, ends) - max(segment.start, begins)).total_seconds())
            if hours:
                for tally in (whole, by_month[month], by_person[segment.user.id],
                              by_person_month[(segment.user.id, month)]):  # fmt: skip
                    tally.add_hours(segment.layer, hours / 3600)

    services = [
        (service_id, service_names.get(service_id, f"service {service_id}"), tally.figures())
        for service_id, tally in sorted(
            by_service.items(), key=lambda kv: (service_names.get(kv[0], "").lower(), kv[0])
        )
    ]
    members = set(team.member_ids)
    shown = [
        user_id
        for user_id, tally in by_person.items()
        if user_id in members or tally.pages or tally.incidents or tally.hours_by_layer
    ]
    shown.sort(key=lambda u: (people[u].full_name.lower(), u))
    return Analytics(
        team_id=team.id,
        team_name=team.name,
        start=start,
        end=end,
        time_zone=zone_name,
        team=whole.figures(),
        services=services,
        people=[PersonFigures(people[u], u in members, by_person[u].figures()) for u in shown],
        months=[(month, by_month[month].figures()) for month, _ in months],
        person_months={
            u: [(month, by_person_month[(u, month)].figures()) for month, _ in months]
            for u in shown
        },
        pages_by_hour_of_week=week,
    )
