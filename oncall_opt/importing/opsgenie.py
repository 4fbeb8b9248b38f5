"""Reading an Opsgenie account through its REST API (`/v2/...`) with httpx: users and their
contacts, teams with their members and routing rules, schedules (their rotations for the report,
their final timeline for the window, overrides applied), escalations and integrations.

The key is OPSGENIE_API_KEY (an API integration's key, sent as `Authorization: GenieKey ...`),
the address OPSGENIE_API_URL (default https://api.opsgenie.com; https://api.eu.opsgenie.com for
an EU account), both from the environment or the secrets file, a private CA OPSGENIE_API_CA.
Lists come a page at a time (`data`, with the next page's address in `paging.next`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from oncall_opt.importing.http_source import JsonApi, checked_url, required_token, setting
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

TOKEN_ENV = "OPSGENIE_API_KEY"
URL_ENV = "OPSGENIE_API_URL"
CA_ENV = "OPSGENIE_API_CA"
DEFAULT_URL = "https://api.opsgenie.com"
PAGE = 100  # Opsgenie's largest page
_CONTACT_KINDS = {"email": "email", "sms": "sms", "voice": "voice"}
_ALERTMANAGER_TYPES = {"Prometheus", "Grafana", "Alertmanager"}
_MINUTES = {"minutes": 1, "hours": 60, "days": 1440}


class OpsgenieSource:
    name = "Opsgenie"

    def __init__(self, environ: Mapping[str, str] | None = None):
        env = os.environ if environ is None else environ
        key = required_token(env, TOKEN_ENV, "an Opsgenie API key")
        url = checked_url(URL_ENV, setting(env, URL_ENV) or DEFAULT_URL)
        self.api = JsonApi(self.name, url, {"Authorization": f"GenieKey {key}"}, TOKEN_ENV,
                           env.get(CA_ENV))  # fmt: skip

    def close(self) -> None:
        self.api.close()

    def all_of(self, path: str, **params: Any) -> Iterator[dict]:
        """Every item of a list, following `paging.next` page by page."""
        page = self.api.get(path, {"limit": PAGE, **params})
        while True:
            yield from page.get("data") or []
            following = (page.get("paging") or {}).get("next")
            if not following:
                return
            page = self.api.get(following)

    def read(self, start: datetime, end: datetime) -> SourceAccount:
        account = SourceAccount(self.name)
        for user in self.all_of("/v2/users"):
            contacts = self.api.get(f"/v2/users/{user['id']}/contacts").get("data") or []
            account.people.append(_person(user, contacts, account))
        routing: dict[str, list[dict]] = {}
        for team in self.all_of("/v2/teams"):
            members = self.api.get(f"/v2/teams/{team['id']}").get("data", {}).get("members")
            keys = [m["user"]["id"] for m in members or []]
            account.teams.append(Team(team["id"], team["name"], keys))
            routing[team["id"]] = self.api.get(f"/v2/teams/{team['id']}/routing-rules")["data"]
        for schedule in self.all_of("/v2/schedules", expand="rotation"):
            account.rosters.append(self._roster(schedule, start, end, account))
        account.policies = [_policy(e, account) for e in self.all_of("/v2/escalations")]
        for integration in self.all_of("/v2/integrations"):
            account.services.append(_service(integration, routing, account))
        return account

    def _roster(self, schedule: dict, start: datetime, end: datetime, account) -> Roster:
        team = (schedule.get("ownerTeam") or {}).get("id")
        zone = schedule.get("timezone") or "UTC"
        layers = [_describe_rotation(r) for r in schedule.get("rotations") or []]
        roster = Roster(schedule["id"], schedule["name"], team, zone, layers)
        days = (end - start).days + 1
        timeline = self.api.get(
            f"/v2/schedules/{schedule['id']}/timeline",
            {"identifierType": "id", "interval": days, "intervalUnit": "days",
             "date": start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")},
        )["data"]  # fmt: skip
        overrides = 0
        for rotation in (timeline.get("finalTimeline") or {}).get("rotations") or []:
            for period in rotation.get("periods") or []:
                recipient = period.get("recipient") or {}
                begin, finish = _parse(period["startDate"]), _parse(period["endDate"])
                if recipient.get("type") != "user":
                    if recipient.get("type") not in (None, "none"):
                        account.note(
                            f"schedule '{roster.name}': a {recipient.get('type')} on call from "
                            f"{period['startDate']}", "left out: we put people on call"
                        )  # fmt: skip
                    continue
                overrides += period.get("type") == "override"
                if begin < end and start < finish:
                    roster.stretches.append(Stretch(begin, finish, recipient["id"]))
        if overrides:
            account.note(
                f"schedule '{roster.name}': {overrides} override period(s)",
                "included in the published shifts (they show as the person's shifts, not as "
                "overrides covering someone)",
            )
        return roster


def _person(user: dict, contacts: list[dict], account: SourceAccount) -> Person:
    email = user.get("username") or ""
    person = Person(
        user["id"],
        user.get("fullName") or email,
        email,
        time_zone=user.get("timeZone"),
        admin=(user.get("role") or {}).get("name") in ("Admin", "Owner"),
    )
    for contact in contacts:
        kind = _CONTACT_KINDS.get(contact.get("method", ""))
        if kind is None:
            account.note(f"{person.name}'s {contact.get('method')} contact",
                         "not added: we page through the ntfy app, not Opsgenie's")  # fmt: skip
            continue
        address = str(contact.get("to", ""))
        if kind in ("sms", "voice"):
            address = "+" + address.replace("-", "").lstrip("+")
        person.contacts.append(Contact(kind, address, f"Opsgenie {kind}"))
    if email and not any(c.address.casefold() == email.casefold() for c in person.contacts):
        person.contacts.insert(0, Contact("email", email, "Opsgenie login"))
    return person


def _describe_rotation(rotation: dict) -> str:
    people = len([p for p in rotation.get("participants") or [] if p.get("type") == "user"])
    text = (f"rotation '{rotation.get('name')}': {people} people take {rotation.get('type')} "
            f"turns of {rotation.get('length', 1)} from {rotation.get('startDate')}")  # fmt: skip
    if rotation.get("timeRestriction"):
        text += f", restricted ({rotation['timeRestriction'].get('type')})"
    return text


def _minutes(delay: dict | None) -> int:
    delay = delay or {}
    return int(delay.get("timeAmount") or 0) * _MINUTES.get(delay.get("timeUnit", "minutes"), 1)


def _policy(escalation: dict, account: SourceAccount) -> Policy:
    policy = Policy(escalation["id"], escalation["name"])
    # Opsgenie counts each rule's delay from the alert; ours, from the step before. Rules with
    # the same delay page together: one step.
    at = 0
    for rule in sorted(escalation.get("rules") or [], key=lambda r: _minutes(r.get("delay"))):
        delay = _minutes(rule.get("delay"))
        recipient = rule.get("recipient") or {}
        kind = recipient.get("type")
        where = f"escalation '{escalation['name']}', rule after {delay} min"
        if rule.get("notifyType") not in (None, "default"):
            account.note(f"{where} ({rule['notifyType']})", "pages everyone it names at once")
        if rule.get("condition") == "if-not-closed":
            account.note(f"{where} (if not closed)", "escalates until someone acknowledges")
        if kind not in ("schedule", "user"):
            account.note(f"{where}: {kind} '{recipient.get('name', recipient.get('id'))}'",
                         "left out: a step here pages a schedule's layer or a person")  # fmt: skip
            continue
        target = Target("roster" if kind == "schedule" else "person", recipient["id"])
        if policy.steps and delay == at:
            policy.steps[-1].targets.append(target)
        else:
            policy.steps.append(Step(delay - at, [target]))
            at = delay
    repeat = escalation.get("repeat") or {}
    policy.repeat = int(repeat.get("count") or 0)
    policy.repeat_after_minutes = int(repeat.get("waitInterval") or 0) or 15
    return policy


def _service(integration: dict, routing: dict[str, list[dict]], account) -> Service:
    team = integration.get("teamId") or (integration.get("ownerTeam") or {}).get("id")
    rules = routing.get(team or "", [])
    default = next((r for r in rules if r.get("isDefault")), None)
    notify = (default or {}).get("notify") or {}
    policy = notify.get("id") if notify.get("type") == "escalation" else None
    service = Service(integration["id"], integration["name"], team, policy)
    if notify.get("type") == "schedule":
        account.note(f"integration '{integration['name']}': its team's default rule pages a "
                     "schedule", "the service uses the Default policy: make one that pages "
                     "that schedule's layer")  # fmt: skip
    for rule in rules:
        if rule is not default:
            account.note(
                f"team routing rule '{rule.get('name')}'",
                "all alerts follow the team's default rule (one policy a service)",
            )
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
    return service


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
