"""Reading a Grafana OnCall organisation through its public API (`/api/v1/...`) with httpx:
users, teams, schedules (their final shifts, overrides applied, and their on-call shifts for
the report), escalation chains and their policies, integrations and their routes.

The address is GRAFANA_ONCALL_API_URL (the "API URL" Grafana OnCall's settings show, e.g.
https://oncall.example.com, or the Grafana Cloud one ending in /oncall), the token
GRAFANA_ONCALL_API_TOKEN, both from the environment or the secrets file, a private CA
GRAFANA_ONCALL_API_CA. The token goes in the `Authorization` header, never into a message.
Lists come a page at a time (`results`, with the next page's address in `next`); a 429 is
waited out as its Retry-After says (httpx retries only failed connections, and no library we
use does this for httpx).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from oncall_opt.errors import ConfigError
from oncall_opt.importing.http_source import (
    JsonApi,
    checked_url,
    required_token,
    setting,
)
from oncall_opt.importing.source import (
    Contact,
    Integration,
    Person,
    Policy,
    Roster,
    Service,
    SourceAccount,
    Step,
    Stretch,
    Target,
    Team,
)

TOKEN_ENV = "GRAFANA_ONCALL_API_TOKEN"
URL_ENV = "GRAFANA_ONCALL_API_URL"
CA_ENV = "GRAFANA_ONCALL_API_CA"
# Grafana OnCall repeats a chain at most this many times (its "repeat escalation" step).
GRAFANA_REPEATS = 5
_ALERTMANAGER_TYPES = {"alertmanager", "grafana_alerting", "grafana", "legacy_alertmanager",
                       "legacy_grafana_alerting"}  # fmt: skip
_NOT_HERE = {
    "resolve": "left out: nothing resolves an incident by itself here",
    "notify_whole_channel": "left out: the team's Slack channel hears of every incident anyway",
    "notify_user_group": "left out: we page people, layers or teams' rosters, not Slack groups",
    "trigger_webhook": "left out: outgoing webhooks are per person here (a webhook contact method)",
    "notify_if_time_from_to": "left out: every step pages at any hour",
    "notify_if_num_alerts_in_window": "left out: every step pages on the first alert",
    "declare_incident": "left out: there is no separate incident declaration here",
}


def base_url_from(environ: Mapping[str, str]) -> str:
    url = setting(environ, URL_ENV).rstrip("/").removesuffix("/api/v1")
    if not url:
        raise ConfigError(f"{URL_ENV} is not set: the API URL Grafana OnCall's settings show")
    return checked_url(URL_ENV, url)


class GrafanaOnCallSource:
    name = "Grafana OnCall"

    def __init__(self, environ: Mapping[str, str] | None = None):
        env = os.environ if environ is None else environ
        token = required_token(env, TOKEN_ENV, "a Grafana OnCall API token")
        self.api = JsonApi(self.name, f"{base_url_from(env)}/api/v1/", {"Authorization": token},
                           TOKEN_ENV, env.get(CA_ENV))  # fmt: skip

    def close(self) -> None:
        self.api.close()

    def all_of(self, path: str, **params: Any) -> Iterator[dict]:
        """Every item of a list, following `next` page by page."""
        page = self.api.get(path, params or None)
        while True:
            yield from page.get("results") or []
            if not page.get("next"):
                return
            page = self.api.get(page["next"])

    # ----- the account ---------------------------------------------------------------------
    def read(self, start: datetime, end: datetime) -> SourceAccount:
        account = SourceAccount(self.name)
        users = list(self.all_of("users/"))
        account.people = [_person(u) for u in users]
        if users:
            account.note(
                "people's phone numbers",
                "Grafana OnCall's API does not give them: each person adds their own (sms, "
                "voice) on the console",
            )
        for team in self.all_of("teams/"):
            members = [u["id"] for u in users if team["id"] in (u.get("teams") or [])]
            account.teams.append(Team(team["id"], team["name"], members))
        account.rosters = [self._roster(s, start, end, account) for s in self.all_of("schedules/")]
        for chain in self.all_of("escalation_chains/"):
            steps = list(self.all_of("escalation_policies/", escalation_chain_id=chain["id"]))
            steps.sort(key=lambda s: s.get("position", 0))
            account.policies.append(_policy(chain, steps, users, account))
        for integration in self.all_of("integrations/"):
            routes = list(self.all_of("routes/", integration_id=integration["id"]))
            account.services.append(_service(integration, routes, account))
        return account

    def _roster(self, schedule: dict, start: datetime, end: datetime, account) -> Roster:
        roster = Roster(schedule["id"], schedule["name"], schedule.get("team_id"),
                        schedule.get("time_zone") or "UTC")  # fmt: skip
        params = {"start_date": start.date().isoformat(), "end_date": end.date().isoformat()}
        for shift in self.all_of(f"schedules/{schedule['id']}/final_shifts", **params):
            begin, finish = _parse(shift["shift_start"]), _parse(shift["shift_end"])
            if begin < end and start < finish:
                roster.stretches.append(Stretch(begin, finish, shift["user_pk"]))
        if schedule.get("type") == "ical":
            account.note(
                f"schedule '{roster.name}': an iCal calendar",
                "its final shifts are published; the calendar is not followed after",
            )
        overrides = 0
        for shift in self.all_of("on_call_shifts/", schedule_id=schedule["id"]):
            if shift.get("type") == "override":
                overrides += 1
            else:
                roster.layers.append(_describe_shift(shift, roster.time_zone))
        if overrides:
            account.note(
                f"schedule '{roster.name}': {overrides} override(s)",
                "included in the published shifts (they show as the person's shifts, not as "
                "overrides covering someone)",
            )
        return roster


def _person(user: dict) -> Person:
    username = user.get("username") or user["id"]
    person = Person(
        user["id"],
        user.get("name") or username,
        user.get("email") or "",
        time_zone=user.get("timezone"),
        admin=user.get("role") == "admin",
        handle_hint=username,
    )
    if person.email:
        person.contacts.append(Contact("email", person.email, "Grafana OnCall login"))
    slack = user.get("slack") or []
    for link in [slack] if isinstance(slack, dict) else slack:
        if link.get("user_id"):
            person.contacts.append(Contact("slack", link["user_id"], "Slack"))
    return person


def _describe_shift(shift: dict, zone: str) -> str:
    text = (f"rotation '{shift.get('name', shift.get('id'))}' ({shift.get('type')}, level "
            f"{shift.get('level', 0)}): {_duration(int(shift.get('duration') or 0))} on call "
            f"from {shift.get('start')} {shift.get('time_zone') or zone}")  # fmt: skip
    if shift.get("frequency"):
        unit = {"daily": "day", "weekly": "week", "monthly": "month", "hourly": "hour"}
        every = int(shift.get("interval") or 1)
        name = unit.get(shift["frequency"], shift["frequency"])
        text += f", again every {name}" if every == 1 else f", again every {every} {name}s"
    if shift.get("by_day"):
        text += f" on {','.join(shift['by_day'])}"
    if shift.get("rolling_users"):
        text += f", {len(shift['rolling_users'])} groups of people taking turns"
    return text


def _duration(seconds: int) -> str:
    if seconds and seconds % 86400 == 0:
        return f"{seconds // 86400} d"
    return f"{seconds / 3600:g} h"


def _policy(chain: dict, steps: list[dict], users: list[dict], account) -> Policy:
    policy = Policy(chain["id"], chain["name"])
    pending = 0  # minutes of waiting before the next step that pages someone
    for number, step in enumerate(steps, start=1):
        kind = step.get("type")
        where = f"escalation chain '{chain['name']}', step {number} ({kind})"
        if kind == "wait":
            pending += int(step.get("duration") or 0) // 60
        elif kind in ("notify_persons", "notify_person_next_each_time"):
            people = step.get("persons_to_notify") or step.get("persons_to_notify_next_each_time")
            policy.steps.append(Step(pending, [Target("person", p) for p in people or []]))
            pending = 0
            if kind == "notify_person_next_each_time":
                account.note(where, "pages all of them at once (we have no round robin)")
        elif kind == "notify_on_call_from_schedule":
            target = Target("roster", step.get("notify_on_call_from_schedule") or "")
            policy.steps.append(Step(pending, [target]))
            pending = 0
        elif kind == "notify_team_members":
            team = step.get("notify_to_team_members")
            members = [u["id"] for u in users if team in (u.get("teams") or [])]
            policy.steps.append(Step(pending, [Target("person", m) for m in members]))
            pending = 0
            account.note(where, "pages each of the team's members by name")
        elif kind == "repeat_escalation":
            policy.repeat = GRAFANA_REPEATS
            policy.repeat_after_minutes = max(pending, 1)
            pending = 0
        else:
            account.note(where, _NOT_HERE.get(kind or "", "left out: no equivalent here"))
    return policy


def _service(integration: dict, routes: list[dict], account) -> Service:
    route = integration.get("default_route") or {}
    service = Service(integration["id"], integration["name"], integration.get("team_id"),
                      route.get("escalation_chain_id"))  # fmt: skip
    kind = integration.get("type") or ""
    if kind in _ALERTMANAGER_TYPES:
        service.integrations.append(Integration(integration["name"], "alertmanager"))
    else:
        service.integrations.append(Integration(integration["name"], "events"))
        account.note(
            f"integration '{integration['name']}' ({kind})",
            "no such integration here: its sender should use the service's Events API v2 URL "
            "(PagerDuty's format) or Alertmanager's",
        )
    for other in routes:
        if other.get("is_the_last_route") or other.get("id") == route.get("id"):
            continue
        account.note(
            f"integration '{integration['name']}': route '{other.get('routing_regex')}'",
            "all its alerts follow the default route's escalation chain (one policy a service)",
        )
    return service


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
