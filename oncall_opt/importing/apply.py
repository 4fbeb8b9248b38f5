"""Make what a source account holds in our daemon, through its HTTP API (the daemon owns the
database): plan every object against what is already there, then, unless it is a dry run,
create what is missing.

Matching makes a second run create nothing: people by an email contact method (else by their
full name), teams, escalation policies and services by name. A team's shifts in the window are
replaced only when they differ from the source's final schedule. Everything runs through one
code path; a dry run answers each write with a placeholder id instead of calling the daemon,
so what it lists is what a real run would do.
"""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from oncall_opt.client import ApiError, Client
from oncall_opt.errors import OncallOptError
from oncall_opt.importing.source import (
    Person,
    Policy,
    Roster,
    Service,
    SourceAccount,
    Stretch,
    Team,
    Unmapped,
)

LAYER_NAMES = {1: "primary", 2: "secondary"}
MAX_REPEATS, MAX_DELAY_MINUTES = 9, 7 * 24 * 60  # the daemon's limits on a policy
_HANDLE_BAD = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class Action:
    kind: str  # "person", "contact", "team", "shifts", "policy", "service"
    name: str
    done: str  # "create", "exists", "update"
    detail: str = ""


@dataclass
class IntegrationUrl:
    service: str
    integration: str
    url: str
    routing_key: str | None  # the key to paste where the sender wants one (Events API)


@dataclass
class ImportReport:
    source: str
    dry_run: bool
    window: tuple[datetime, datetime]
    actions: list[Action] = field(default_factory=list)
    unmapped: list[Unmapped] = field(default_factory=list)
    urls: list[IntegrationUrl] = field(default_factory=list)

    @property
    def created(self) -> list[Action]:
        return [a for a in self.actions if a.done in ("create", "update")]

    def text(self) -> str:
        start, end = (moment.strftime("%Y-%m-%d %H:%M UTC") for moment in self.window)
        would = "would " if self.dry_run else ""
        lines = [f"Import from {self.source}, schedules from {start} to {end}"]
        if self.dry_run:
            lines[0] += " (dry run: nothing is written)"
        verbs = {"create": f"{would}create", "update": f"{would}update", "exists": "exists"}
        for action in self.actions:
            detail = f": {action.detail}" if action.detail else ""
            lines.append(f"  {verbs[action.done]:<16} {action.kind:<8} {action.name}{detail}")
        if self.unmapped:
            lines.append("Not carried over as it is (what was done instead):")
            lines += [f"  - {u.what}: {u.instead}" for u in self.unmapped]
        if self.urls:
            lines.append("Point each monitoring source at its new URL:")
            for url in self.urls:
                key = f"  (routing key {url.routing_key})" if url.routing_key else ""
                lines.append(f"  {url.service} / {url.integration}: {url.url}{key}")
        lines.append(self.summary())
        return "\n".join(lines)

    def summary(self) -> str:
        if not self.created:
            return "nothing new: everything was already imported"
        parts = []
        for done, said in (("create", "created"), ("update", "brought up to date")):
            counts: dict[str, int] = defaultdict(int)
            for action in self.actions:
                if action.done == done:
                    counts[action.kind] += 1
            if counts:
                would = "would be " if self.dry_run else ""
                made = ", ".join(f"{n} {kind}" for kind, n in counts.items())
                parts.append(f"{would}{said}: {made}")
        return "; ".join(parts)


class ImportIncomplete(OncallOptError):
    """The daemon refused or failed half-way: `report` is what was done until then."""

    def __init__(self, report: ImportReport, error: ApiError):
        self.report, self.error = report, error
        super().__init__(f"the oncall daemon answered {error.status}: {error.message}")


def import_account(
    api: Client,
    account: SourceAccount,
    start: datetime,
    end: datetime,
    dry_run: bool,
    public_url: str | None = None,
) -> ImportReport:
    """Plan `account` against the daemon `api` talks to and, unless `dry_run`, make it. Alert
    URLs in the report start with `public_url` (the daemon as senders reach it; default the
    address `api` uses)."""
    run = _Run(api, account, ImportReport(account.source, dry_run, (start, end)), dry_run)
    run.public_url = (public_url or api.base_url).rstrip("/")
    try:
        run.people()
        run.teams()
        run.rosters(start, end)
        run.policies()
        run.services()
    except ApiError as exc:
        raise ImportIncomplete(run.report, exc) from None
    finally:
        run.report.unmapped[:0] = account.unmapped
    return run.report


class _Run:
    def __init__(self, api: Client, account: SourceAccount, report: ImportReport, dry: bool):
        self.api, self.account, self.report, self.dry = api, account, report, dry
        self._placeholders = itertools.count(-1, -1)
        self.user_of: dict[str, int] = {}  # source person key -> our user id
        self.team_of: dict[str, int] = {}  # source team key -> our team id
        self.layer_of: dict[str, tuple[int, int]] = {}  # source roster key -> (team, layer)
        self.policy_of: dict[str, int] = {}
        self.team_names: dict[int, str] = {}
        self.public_url = api.base_url
        # by name; a dry run adds the teams it would make, so that later steps find them
        self.teams_here = {t["Name"].casefold(): t for t in api.list_teams()}

    def _write(self, call, *args: Any, **kwargs: Any) -> dict:
        """A write to the daemon, or in a dry run an answer with a placeholder id."""
        if self.dry:
            return {"Id": next(self._placeholders)}
        return call(*args, **kwargs)

    def _act(self, kind: str, name: str, done: str, detail: str = "") -> None:
        self.report.actions.append(Action(kind, name, done, detail))

    def _note(self, what: str, instead: str) -> None:
        if Unmapped(what, instead) not in self.report.unmapped:
            self.report.unmapped.append(Unmapped(what, instead))

    # ----- people and their contact methods ------------------------------------------------
    def people(self) -> None:
        users = self.api.list_users()
        methods = {u["Id"]: self.api.contact_methods(u["Id"]) for u in users}
        by_email: dict[str, int] = {}
        for user_id, answer in methods.items():
            for method in answer["Items"]:
                if method["Type"] == "email":
                    by_email.setdefault(method["Address"].casefold(), user_id)
        by_name: dict[str, list[int]] = defaultdict(list)
        for user in users:
            by_name[f"{user['FirstName']} {user['LastName']}".casefold()].append(user["Id"])
        handles = {u["SlackHandle"].casefold() for u in users}
        available = next(iter(methods.values()), {}).get("Available")
        by_handle = {u["SlackHandle"].casefold(): u["Id"] for u in users}
        for person in self.account.people:
            found = by_email.get(person.email.casefold()) if person.email else None
            if found is None and person.handle_hint:
                found = by_handle.get(_handle(person.handle_hint).casefold())
            name = " ".join(_names(person)).casefold()
            if found is None and len(by_name.get(name, [])) == 1:
                found = by_name[name][0]
            if found is not None:
                self.user_of[person.key] = found
                self._act("person", _label(person), "exists", f"user {found}")
                have = {(m["Type"], m["Address"].casefold()) for m in methods[found]["Items"]}
            else:
                handle = _free_handle(person, handles)
                handles.add(handle.casefold())
                self.user_of[person.key] = self._create_user(person, handle)
                have = set()
            for contact in person.contacts:
                if (contact.kind, contact.address.casefold()) in have:
                    continue
                self._add_contact(person, contact, available)

    def _create_user(self, person: Person, handle: str) -> int:
        first, last = _names(person)
        role = "admin" if person.admin else "member"
        fields = {"time_zone": person.time_zone, "role": role, "team_ids": []}
        try:
            user = self._write(self.api.create_user, first, last, handle, **fields)
        except ApiError as exc:
            if "TimeZone" not in exc.message:
                raise
            self._note(f"{_label(person)}'s time zone '{person.time_zone}'", "left unset")
            user = self._write(self.api.create_user, first, last, handle, role=role, team_ids=[])
        self._act("person", _label(person), "create", f"@{handle}, {role}")
        return user["Id"]

    def _add_contact(self, person: Person, contact, available: dict | None) -> None:
        what = f"{_label(person)}'s {contact.kind} {contact.address}"
        missing = (available or {}).get(contact.kind)
        detail = "marked verified"
        if available is None:  # a daemon with nobody on it yet does not say what it can send
            detail += f" (if this daemon can send {contact.kind})"
        if missing:
            self._note(what, f"not added: this daemon needs {missing} for {contact.kind}")
            return
        try:
            method = self._write(
                self.api.add_contact_method,
                self.user_of[person.key],
                contact.kind,
                contact.address,
                contact.label,
            )
            # The source already pages them there: vouch for it as an admin would, so that
            # pages reach them from the first day instead of after everyone types a code.
            self._write(self.api.verify_contact_method, method["Id"], verified=True)
        except ApiError as exc:
            self._note(what, f"not added: {exc.message}")
            return
        self._act("contact", what, "create", detail)

    # ----- teams ---------------------------------------------------------------------------
    def teams(self) -> None:
        for team in self.account.teams:
            self._team(team, self.teams_here)

    def _team(self, team: Team, existing: dict[str, dict]) -> int:
        members = sorted({self.user_of[k] for k in team.member_keys if k in self.user_of})
        found = existing.get(team.name.casefold())
        if found is None:
            made = self._write(self.api.create_team, team.name, members)
            existing[team.name.casefold()] = {**made, "Name": team.name, "UserIds": members}
            self._act("team", team.name, "create", f"{len(members)} member(s)")
            self.team_of[team.key] = made["Id"]
            self.team_names[made["Id"]] = team.name
            return made["Id"]
        self.team_of[team.key] = found["Id"]
        self.team_names[found["Id"]] = found["Name"]
        missing = [m for m in members if m not in found["UserIds"]]
        if missing:
            everyone = sorted({*found["UserIds"], *members})
            if found["Id"] > 0:
                self._write(self.api.set_team_members, found["Id"], everyone)
            found["UserIds"] = everyone
            self._act("team", team.name, "update", f"{len(missing)} member(s) added")
        else:
            self._act("team", team.name, "exists", f"team {found['Id']}")
        return found["Id"]

    # ----- schedules: each becomes a layer of a team, its final schedule published shifts --
    def rosters(self, start: datetime, end: datetime) -> None:
        used: dict[int, int] = defaultdict(int)
        layers: dict[int, dict[int, tuple[Roster, list[Stretch]]]] = defaultdict(dict)
        for roster in self.account.rosters:
            team_id = self.team_of.get(roster.team_key) if roster.team_key else None
            if team_id is not None and used[team_id] >= 2:
                self._note(
                    f"schedule '{roster.name}'",
                    "its team already has a primary and a secondary schedule (we have two "
                    f"layers a team): imported as the primary of a team of its own, "
                    f"'{roster.name}'",
                )
                team_id = None
            if team_id is None:
                people = sorted({s.person_key for s in roster.stretches})
                name = roster.name
                if used[self.teams_here.get(name.casefold(), {}).get("Id", 0)] >= 2:
                    name = f"{roster.name} ({roster.key})"  # that team's two layers are taken
                team_id = self._team(Team(f"schedule:{roster.key}", name, people), self.teams_here)
            used[team_id] += 1
            layer = used[team_id]
            self.layer_of[roster.key] = (team_id, layer)
            stretches = self._one_at_a_time(roster, start, end)
            layers[team_id][layer] = (roster, stretches)
            for description in roster.layers:
                self._note(
                    f"schedule '{roster.name}', {description}",
                    "we keep shifts, not rotation rules: its final schedule (overrides "
                    "included) is published as shifts for the window",
                )
        for team_id, by_layer in layers.items():
            self._publish(team_id, by_layer, start, end)

    def _one_at_a_time(self, roster: Roster, start: datetime, end: datetime) -> list[Stretch]:
        """The roster's stretches inside the window; where the source has two people on call at
        once the earlier stays (we page one person a layer), and that is reported."""
        kept: list[Stretch] = []
        clipped = 0
        for s in sorted(roster.stretches, key=lambda s: (s.start, s.end)):
            if s.person_key not in self.user_of:
                self._note(f"schedule '{roster.name}': a shift of unknown user {s.person_key}",
                           "left out")  # fmt: skip
                continue
            begin, finish = max(s.start, start), min(s.end, end)
            if kept and begin < kept[-1].end:
                clipped += 1
                begin = kept[-1].end
            if begin < finish:
                kept.append(Stretch(begin, finish, s.person_key))
        if clipped:
            self._note(
                f"schedule '{roster.name}': {clipped} shift(s) overlapping another",
                "we page one person at a time per layer: each starts when the one before ends",
            )
        return kept

    def _publish(self, team_id: int, by_layer: dict, start: datetime, end: datetime) -> None:
        wanted = {
            layer: _merged([(s.start, s.end, self.user_of[s.person_key]) for s in stretches])
            for layer, (_, stretches) in by_layer.items()
        }
        names = " + ".join(
            f"'{roster.name}' as {LAYER_NAMES[layer]}"
            for layer, (roster, _) in sorted(by_layer.items())
        )
        count = sum(len(v) for v in wanted.values())
        published = {
            layer: _merged(_shifts_in(self.api, team_id, layer, start, end)) if team_id > 0 else []
            for layer in wanted
        }
        if published == wanted:
            self._act("shifts", names, "exists", f"{count} shift(s) already published")
            return
        zone = by_layer[min(by_layer)][0].time_zone
        output = {
            key: [_override(s, e, user, zone) for s, e, user in wanted.get(layer, [])]
            for key, layer in (("overrides", 1), ("secondary_overrides", 2))
            if layer in wanted
        }
        output.setdefault("overrides", [])
        # The daemon remembers the team's time zone and handoff from the first override (the
        # planner starts from them): lead with a stretch that starts at a real handoff, not at
        # the window's edge.
        primary = output["overrides"]
        handoff = next((n for n, o in enumerate(primary) if _parse(o["start"]) > start), None)
        if handoff is not None:
            primary.insert(0, primary.pop(handoff))
        self._write(self.api.publish, output, start=start, end=end, team_id=team_id, freeze_hours=0)
        done = "update" if any(published.values()) else "create"
        self._act(
            "shifts",
            names,
            done,
            f"{count} shift(s) published in team '{self.team_names[team_id]}'",
        )

    # ----- escalation policies -------------------------------------------------------------
    def policies(self) -> None:
        existing = {p["Name"].casefold(): p for p in self.api.list_policies()}
        for policy in self.account.policies:
            steps = self._steps(policy)
            repeat = min(policy.repeat, MAX_REPEATS)
            after = min(max(policy.repeat_after_minutes, 1), MAX_DELAY_MINUTES)
            found = existing.get(policy.name.casefold())
            if found is not None:
                self.policy_of[policy.key] = found["Id"]
                same = _shape(found["Steps"]) == _shape(steps) and found["Repeat"] == repeat
                detail = "" if same else ": it differs from the source's and is left as it is"
                self._act("policy", policy.name, "exists", f"policy {found['Id']}{detail}")
                continue
            if not steps:
                self._note(
                    f"escalation policy '{policy.name}'",
                    "not created: none of its steps pages anyone we could import",
                )
                continue
            if repeat < policy.repeat:
                self._note(f"escalation policy '{policy.name}': repeats {policy.repeat} times",
                           f"repeats {MAX_REPEATS} times, our most")  # fmt: skip
            made = self._write(self.api.create_policy, policy.name, steps, repeat, after)
            self.policy_of[policy.key] = made["Id"]
            self._act("policy", policy.name, "create",
                      f"{len(steps)} step(s), repeat {repeat}")  # fmt: skip

    def _steps(self, policy: Policy) -> list[dict]:
        steps: list[dict] = []
        carried = 0  # a step left out passes its wait on to the next
        for number, step in enumerate(policy.steps, start=1):
            targets = []
            for target in step.targets:
                if target.kind == "roster" and target.key in self.layer_of:
                    team_id, layer = self.layer_of[target.key]
                    targets.append({"Type": "layer", "TeamId": team_id, "Layer": layer})
                elif target.kind == "person" and target.key in self.user_of:
                    targets.append({"Type": "user", "UserId": self.user_of[target.key]})
                else:
                    self._note(f"escalation policy '{policy.name}', step {number}: "
                               f"{target.kind} {target.key}", "left out: not imported")  # fmt: skip
            delay = min(carried + step.delay_minutes, MAX_DELAY_MINUTES)
            if not targets:
                carried = delay
                continue
            carried = 0
            steps.append({"DelayMinutes": delay, "Targets": targets})
        return steps

    # ----- services and their integrations -------------------------------------------------
    def services(self) -> None:
        existing = {s["Name"].casefold(): s for s in self.api.list_services()}
        for service in self.account.services:
            self._service(service, existing)

    def _service(self, service: Service, existing: dict[str, dict]) -> None:
        found = existing.get(service.name.casefold())
        if found is not None:
            self._act("service", service.name, "exists",
                      f"service {found['Id']}; its integration key is not shown again "
                      "(rotate it to see a new one)")  # fmt: skip
            for integration in service.integrations:
                self.report.urls.append(
                    IntegrationUrl(service.name, integration.name,
                                   _url(self.public_url, integration.kind, "<its key>"),
                                   "<its key>" if integration.kind == "events" else None)
                )  # fmt: skip
            return
        team_id = self.team_of.get(service.team_key or "") or self._team_paged_by(service) or 1
        fields: dict[str, Any] = {}
        if service.policy_key in self.policy_of:
            fields["EscalationPolicyId"] = self.policy_of[service.policy_key]
        elif service.policy_key:
            self._note(f"service '{service.name}': its escalation policy",
                       "was not imported: the service uses the Default policy")  # fmt: skip
        if service.ack_timeout_minutes:
            fields["AckTimeoutMinutes"] = service.ack_timeout_minutes
        if service.auto_resolve_minutes:
            fields["AutoResolveMinutes"] = service.auto_resolve_minutes
        made = self._write(self.api.create_service, service.name, team_id, **fields)
        key = made.get("IntegrationKey") or "<key shown by the real run>"
        team = self.team_names.get(team_id, "Default")
        self._act("service", service.name, "create", f"team '{team}'")
        for integration in service.integrations:
            routing = key if integration.kind == "events" else None
            url = _url(self.public_url, integration.kind, key)
            self.report.urls.append(IntegrationUrl(service.name, integration.name, url, routing))

    def _team_paged_by(self, service: Service) -> int | None:
        """A service the source put in no team belongs to the team its policy pages first."""
        policy = next((p for p in self.account.policies if p.key == service.policy_key), None)
        for step in policy.steps if policy else []:
            for target in step.targets:
                if target.kind == "roster" and target.key in self.layer_of:
                    return self.layer_of[target.key][0]
        return None


def _label(person: Person) -> str:
    return f"{person.name} <{person.email}>" if person.email else person.name


def _names(person: Person) -> tuple[str, str]:
    """First and last name as we store them; a source with one name (a username) gets "-" as
    the last, which our users must have."""
    first, _, last = person.name.strip().partition(" ")
    return first or person.key, last.strip() or "-"


def _handle(text: str) -> str:
    return _HANDLE_BAD.sub("-", text).strip("-._")[:60] or "user"


def _free_handle(person: Person, taken: set[str]) -> str:
    """A Slack handle nobody here has: the source's username, else the email's local part."""
    handle = _handle(person.handle_hint or person.email.partition("@")[0] or person.name)
    if handle.casefold() in taken:
        handle = f"{handle}-{_HANDLE_BAD.sub('-', person.key).lower()}"[:80]
    return handle


def _shape(steps: list[dict]) -> list[tuple]:
    """A policy's steps as comparable values, whichever side wrote them."""
    return [(step["DelayMinutes"], sorted(map(_target, step["Targets"]))) for step in steps]


def _target(target: dict) -> tuple:
    return (target["Type"], target.get("TeamId"), target.get("Layer"), target.get("UserId"))


def _merged(shifts: list[tuple[datetime, datetime, int]]) -> list[tuple[datetime, datetime, int]]:
    """Back-to-back stretches of one person as one (that is how the daemon stores them)."""
    merged: list[tuple[datetime, datetime, int]] = []
    for start, end, user in sorted(shifts):
        if merged and merged[-1][2] == user and merged[-1][1] == start:
            merged[-1] = (merged[-1][0], end, user)
        else:
            merged.append((start, end, user))
    return merged


def _shifts_in(api: Client, team_id: int, layer: int, start: datetime, end: datetime) -> list:
    """The team's published shifts in the layer (0: any), cut to the window."""
    found = []
    for shift in api.list_schedules(start, end, layer=layer or None, team_id=team_id):
        begin = max(_parse(shift["Time"]["Start"]), start)
        finish = min(_parse(shift["Time"]["End"]), end)
        if begin < finish:
            found.append((begin, finish, shift["User"]["Id"]))
    return found


def _override(start: datetime, end: datetime, user_id: int, zone: str) -> dict:
    return {
        "start": _stamp(start),
        "end": _stamp(end),
        "user": {"id": str(user_id), "type": "user_reference"},
        "time_zone": zone,
    }


def _url(base: str, kind: str, key: str) -> str:
    if kind == "alertmanager":
        return f"{base}/integrations/alertmanager/{key}"
    return f"{base}/v2/enqueue"


def _stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
