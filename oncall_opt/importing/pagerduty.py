"""Reading a PagerDuty account through REST API v2 with the official client (the connection,
token and error wording of the PagerDuty bridge: `oncall_opt.pagerduty.connection`). The client
follows pages (`list_all`) and waits out 429s.

Endpoints: `GET /users?include[]=contact_methods`, `/teams`, `/teams/{id}/members`,
`/schedules`, `/schedules/{id}?since&until` (layers and the final schedule, overrides applied),
`/schedules/{id}/overrides`, `/escalation_policies`, `/services?include[]=integrations`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

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
from oncall_opt.pagerduty.connection import make_client, overrides_between, reworded
from oncall_opt.times import format_utc

_CONTACT_KINDS = {"email_contact_method": "email", "sms_contact_method": "sms",
                  "phone_contact_method": "voice"}  # fmt: skip
_ALERTMANAGER_VENDORS = ("prometheus", "alertmanager", "grafana")
_EVENTS_TYPE = "events_api_v2_inbound_integration"
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


class PagerDutySource:
    name = "PagerDuty"

    def __init__(self, environ: Mapping[str, str] | None = None):
        self.client = make_client(environ)

    def read(self, start: datetime, end: datetime) -> SourceAccount:
        account = SourceAccount(self.name)
        with reworded("list users"):
            users = list(self.client.list_all("/users", params={"include[]": ["contact_methods"]}))
        account.people = [_person(u, account) for u in users]
        with reworded("list teams"):
            for team in self.client.list_all("/teams"):
                members = self.client.list_all(f"/teams/{team['id']}/members")
                keys = [m["user"]["id"] for m in members]
                account.teams.append(Team(team["id"], team["name"], keys))
        with reworded("list schedules"):
            schedule_ids = [s["id"] for s in self.client.list_all("/schedules")]
        account.rosters = [self._roster(sid, start, end, account) for sid in schedule_ids]
        with reworded("list escalation policies"):
            account.policies = [
                _policy(p, account) for p in self.client.list_all("/escalation_policies")
            ]
        with reworded("list services"):
            services = self.client.list_all("/services", params={"include[]": ["integrations"]})
            account.services = [_service(s, account) for s in services]
        return account

    def _roster(self, schedule_id: str, start: datetime, end: datetime, account) -> Roster:
        params = {"since": format_utc(start), "until": format_utc(end), "time_zone": "UTC"}
        with reworded(f"read schedule {schedule_id}"):
            schedule = self.client.rget(f"/schedules/{schedule_id}", params=params)
        overrides = overrides_between(self.client, schedule_id, start, end)
        teams = schedule.get("teams") or []
        roster = Roster(
            schedule_id,
            schedule["name"],
            teams[0]["id"] if teams else None,
            schedule.get("time_zone") or "UTC",
            layers=[
                _describe_layer(layer, schedule.get("time_zone") or "UTC")
                for layer in schedule.get("schedule_layers") or []
            ],
        )
        entries = (schedule.get("final_schedule") or {}).get("rendered_schedule_entries") or []
        for entry in entries:
            if entry.get("user"):
                roster.stretches.append(
                    Stretch(_parse(entry["start"]), _parse(entry["end"]), entry["user"]["id"])
                )
        if overrides:
            account.note(
                f"schedule '{roster.name}': {len(overrides)} override(s) in the window",
                "included in the published shifts (they show as the person's shifts, not as "
                "overrides covering someone)",
            )
        return roster


def _person(user: dict, account: SourceAccount) -> Person:
    person = Person(
        user["id"],
        user.get("name") or user.get("summary") or user["id"],
        user.get("email") or "",
        time_zone=user.get("time_zone"),
        admin=user.get("role") in ("admin", "owner"),
    )
    for method in user.get("contact_methods") or []:
        kind = _CONTACT_KINDS.get(method.get("type", ""))
        label = method.get("label") or ""
        if kind is None or "address" not in method:
            what = f"{person.name}'s {method.get('type', 'contact method')} '{label}'"
            account.note(what, "not added: we page through the ntfy app, not PagerDuty's")
            continue
        address = str(method["address"])
        if kind in ("sms", "voice"):
            address = f"+{method.get('country_code', '')}{address}".replace("++", "+")
        if kind == "email" and address.casefold() == person.email.casefold():
            label = label or "PagerDuty login"
        person.contacts.append(Contact(kind, address, label))
    if person.email and not any(c.address.casefold() == person.email.casefold()
                                for c in person.contacts):  # fmt: skip
        person.contacts.insert(0, Contact("email", person.email, "PagerDuty login"))
    return person


def _describe_layer(layer: dict, zone: str) -> str:
    seconds = int(layer.get("rotation_turn_length_seconds") or 0)
    length = (
        f"{seconds // 86400} d" if seconds and seconds % 86400 == 0 else f"{seconds / 3600:g} h"
    )
    people = len(layer.get("users") or [])
    text = (f"layer '{layer.get('name', '?')}': {people} people take turns of {length} from "
            f"{layer.get('rotation_virtual_start', '?')}")  # fmt: skip
    restrictions = [_describe_restriction(r, zone) for r in layer.get("restrictions") or []]
    if restrictions:
        text += ", on call only " + " and ".join(restrictions)
    if layer.get("end"):
        text += f", until {layer['end']}"
    return text


def _describe_restriction(restriction: dict, zone: str) -> str:
    hours = int(restriction.get("duration_seconds") or 0) / 3600
    at = str(restriction.get("start_time_of_day", "00:00:00"))[:5]
    if restriction.get("type") == "weekly_restriction":
        day = _DAYS[(int(restriction.get("start_day_of_week") or 1) - 1) % 7]
        return f"from {day} {at} ({zone}) for {hours:g} h each week"
    return f"from {at} ({zone}) for {hours:g} h each day"


def _policy(policy: dict, account: SourceAccount) -> Policy:
    rules = policy.get("escalation_rules") or []
    steps = []
    for number, rule in enumerate(rules):
        # PagerDuty's delay is the wait after a rule before the next; ours the wait before a step.
        delay = 0 if number == 0 else int(rules[number - 1].get("escalation_delay_in_minutes", 0))
        targets = []
        for target in rule.get("targets") or []:
            kind = target.get("type", "").removesuffix("_reference")
            if kind in ("schedule", "user"):
                targets.append(Target("roster" if kind == "schedule" else "person", target["id"]))
            else:
                account.note(f"escalation policy '{policy['name']}': target {target.get('id')}",
                             f"left out: a {kind} target has no equivalent here")  # fmt: skip
        steps.append(Step(delay, targets))
    last = int(rules[-1].get("escalation_delay_in_minutes", 15)) if rules else 15
    return Policy(policy["id"], policy["name"], steps, int(policy.get("num_loops") or 0), last)


def _service(service: dict, account: SourceAccount) -> Service:
    teams = service.get("teams") or []
    minutes = {
        key: int(service[key]) // 60 if service.get(key) else None
        for key in ("acknowledgement_timeout", "auto_resolve_timeout")
    }
    found = Service(
        service["id"],
        service["name"],
        teams[0]["id"] if teams else None,
        (service.get("escalation_policy") or {}).get("id"),
        ack_timeout_minutes=minutes["acknowledgement_timeout"],
        auto_resolve_minutes=minutes["auto_resolve_timeout"],
    )
    for integration in service.get("integrations") or []:
        name = integration.get("name") or integration.get("summary") or integration["id"]
        vendor = ((integration.get("vendor") or {}).get("summary") or "").casefold()
        kind = integration.get("type", "")
        if any(v in vendor for v in _ALERTMANAGER_VENDORS):
            found.integrations.append(Integration(name, "alertmanager"))
        else:
            found.integrations.append(Integration(name, "events"))
            if kind != _EVENTS_TYPE:
                account.note(
                    f"service '{service['name']}': integration '{name}' ({kind})",
                    "no such integration here: its sender should use the service's Events API "
                    "v2 URL (listed below)",
                )
    urgency = (service.get("incident_urgency_rule") or {}).get("type")
    if urgency and urgency != "constant":
        account.note(f"service '{service['name']}': urgency by support hours",
                     "every alert is high urgency unless the sender says its severity")  # fmt: skip
    return found


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
