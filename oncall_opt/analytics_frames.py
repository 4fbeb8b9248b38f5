"""On-call analytics as pandas DataFrames, for notebooks (and the console's charts): the answer
of `GET /teams/{id}/analytics`, fetched through the client, one table per view.

    import oncall_opt as oo
    seen = oo.team_analytics("Payments", "2026-01-01T00:00:00Z", "2026-04-01T00:00:00Z")
    seen.people          # one row per person: pages, night and weekend pages, times, hours
    seen.person_months   # one row per person and month: a person's burden over months
    seen.hour_of_week    # 7 x 24 pages, Monday first, on the team's clock

The daemon's address and token come from the environment (`Client.from_environment`) unless a
`client` is given. What each column counts is the README's "Analytics: who carries the pages".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from oncall_opt.client import Client

# Column name -> how it is read from one figures object of the answer.
_COLUMNS = {
    "incidents": lambda f: f["Incidents"],
    "pages": lambda f: f["Pages"],
    "night_pages": lambda f: f["NightPages"],
    "weekend_pages": lambda f: f["WeekendPages"],
    "ack_median_min": lambda f: f["TimeToAcknowledge"]["MedianMinutes"],
    "ack_p90_min": lambda f: f["TimeToAcknowledge"]["P90Minutes"],
    "resolve_median_min": lambda f: f["TimeToResolve"]["MedianMinutes"],
    "resolve_p90_min": lambda f: f["TimeToResolve"]["P90Minutes"],
    "resolved_without_ack": lambda f: f["ResolvedWithoutAcknowledgement"],
    "escalated_past_first_step": lambda f: f["EscalatedPastFirstStep"],
    "hours_on_call": lambda f: f["HoursOnCall"],
}
FIGURES = list(_COLUMNS)


def _figures(f: dict[str, Any], layers: list[str]) -> dict[str, Any]:
    row = {name: read(f) for name, read in _COLUMNS.items()}
    for layer in layers:
        row[f"hours_layer_{layer}"] = f["HoursByLayer"].get(layer, 0.0)
    return row


def _name(user: dict[str, Any]) -> str:
    return f"{user['FirstName']} {user['LastName']}".strip()


@dataclass(frozen=True)
class TeamAnalytics:
    answer: dict[str, Any]  # the API's JSON, as it came
    team: pd.DataFrame  # one row: the team's totals
    services: pd.DataFrame  # one row per service
    people: pd.DataFrame  # one row per person
    months: pd.DataFrame  # one row per month (YYYY-MM, the team's clock)
    person_months: pd.DataFrame  # one row per person and month
    hour_of_week: pd.DataFrame  # pages: rows Mon..Sun, columns hours 0..23

    @property
    def time_zone(self) -> str:
        return self.answer["TimeZone"]


def frames(answer: dict[str, Any]) -> TeamAnalytics:
    """The tables of one `GET /teams/{id}/analytics` answer."""
    layers = sorted(
        {
            layer
            for f in [answer["Team"], *answer["People"], *answer["Months"]]
            for layer in f["HoursByLayer"]
        },
        key=int,
    )
    columns = [*FIGURES, *(f"hours_layer_{layer}" for layer in layers)]
    team = pd.DataFrame([{"team": answer["TeamName"], **_figures(answer["Team"], layers)}])
    services = pd.DataFrame(
        [
            {"service_id": s["ServiceId"], "service": s["Name"], **_figures(s, layers)}
            for s in answer["Services"]
        ],
        columns=["service_id", "service", *columns],
    )
    people = pd.DataFrame(
        [
            {"user_id": p["User"]["Id"], "person": _name(p["User"]), "member": p["Member"],
             "time_zone": p["User"]["TimeZone"] or "UTC", **_figures(p, layers)}
            for p in answer["People"]
        ],
        columns=["user_id", "person", "member", "time_zone", *columns],
    )  # fmt: skip
    months = pd.DataFrame(
        [{"month": m["Month"], **_figures(m, layers)} for m in answer["Months"]],
        columns=["month", *columns],
    )
    person_months = pd.DataFrame(
        [
            {"user_id": p["User"]["Id"], "person": _name(p["User"]), "month": m["Month"],
             **_figures(m, layers)}
            for p in answer["People"]
            for m in p["Months"]
        ],
        columns=["user_id", "person", "month", *columns],
    )  # fmt: skip
    week = answer["PagesByHourOfWeek"]
    hour_of_week = pd.DataFrame(week["Counts"], index=week["Days"], columns=range(24))
    return TeamAnalytics(answer, team, services, people, months, person_months, hour_of_week)


def team_analytics(
    team: int | str,
    start: datetime | str,
    end: datetime | str,
    client: Client | None = None,
) -> TeamAnalytics:
    """The team's analytics over [start, end) (at most 400 days) as DataFrames; `team` is its
    id or its name. Reads through `client`, else a client for this machine's daemon
    (ONCALL_API_URL and the token from the environment)."""
    own = client is None
    api = Client.from_environment() if client is None else client
    try:
        if isinstance(team, str):
            found = [t for t in api.list_teams() if t["Name"] == team]
            if not found:
                raise ValueError(f"no team named {team!r}")
            team = found[0]["Id"]
        return frames(api.team_analytics(team, start, end))
    finally:
        if own:
            api.close()
