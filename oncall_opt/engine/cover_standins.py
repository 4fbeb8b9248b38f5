"""STAND-INS, to be replaced: minimal versions of `change_rules.check_cover` and
`analytics.person_burden` behind the same signatures, for finding cover (`cover.py`) while
those modules are built on other branches. `check_cover` here knows only two rules (one
person on two layers at once, and away days); `person_burden` counts pages as notifications
of kind `page` sent to the person for the team's incidents."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from oncall_opt.engine import final
from oncall_opt.engine.overrides import away_days
from oncall_opt.engine.store import Store, Transaction
from oncall_opt.engine.users import get_user


@dataclass(frozen=True)
class Broken:
    rule: str  # "two-layers" | "rest" | "in-a-row" | "away"
    message: str


def check_cover(
    source: Store | Transaction,
    team_id: int,
    user_id: int,
    layer: int,
    start: datetime,
    end: datetime,
) -> list[Broken]:
    person = get_user(source, user_id)
    broken = []
    away = away_days(source, person, start, end)
    if away:
        days = ", ".join(day.isoformat() for day in away)
        broken.append(Broken("away", f"{person.full_name} is marked away then ({days})"))
    for segment in final.segments(source, team_id, start, end):
        if segment.layer != layer and segment.user.id == user_id:
            broken.append(
                Broken("two-layers", f"{person.full_name} is on call in layer {segment.layer} then")
            )
            break
    return broken


@dataclass(frozen=True)
class PersonBurden:
    user_id: int
    pages: int
    night_pages: int
    weekend_pages: int
    hours_on_call: float


def person_burden(
    source: Store | Transaction, team_id: int, start: datetime, end: datetime
) -> dict[int, PersonBurden]:
    members = [
        r["user_id"]
        for r in source.rows("SELECT user_id FROM team_members WHERE team_id = ?", [team_id])
    ]
    zones = {
        r["id"]: r["time_zone"]
        for r in source.rows("SELECT id, time_zone FROM users")
        if r["id"] in members
    }
    sent = source.rows(
        "SELECT n.user_id, n.sent_at FROM notifications n JOIN incidents i ON i.id = n.incident_id "
        "JOIN services s ON s.id = i.service_id WHERE n.kind = 'page' AND s.team_id = ? "
        "AND n.sent_at >= ? AND n.sent_at < ?",
        [team_id, start, end],
    )
    counts = {user_id: [0, 0, 0] for user_id in members}
    for row in sent:
        if row["user_id"] not in counts:
            continue
        local = row["sent_at"].astimezone(ZoneInfo(zones.get(row["user_id"]) or "UTC"))
        mine = counts[row["user_id"]]
        mine[0] += 1
        mine[1] += local.hour >= 22 or local.hour < 7
        mine[2] += local.weekday() >= 5
    hours = dict.fromkeys(members, 0.0)
    for segment in final.segments(source, team_id, start, end):
        if segment.user.id in hours:
            hours[segment.user.id] += segment.hours
    return {
        user_id: PersonBurden(user_id, c[0], c[1], c[2], hours[user_id])
        for user_id, c in counts.items()
    }
