"""What an importer reads from another on-call system, in words that belong to neither side:
people, teams, rosters (a schedule's final on-call stretches for the window), escalation
policies, services with their integrations, and what could not be carried over.

Every importer (one module per source) fills a `SourceAccount` through the small interface
`Source`; `oncall_opt.importing.apply` then plans and makes the same through the daemon's API.
Keys are the source's own ids, so an object is referred to the way the source does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

ContactKind = Literal["email", "sms", "voice", "push", "slack"]
IntegrationKind = Literal["events", "alertmanager"]


@dataclass(frozen=True)
class Contact:
    kind: ContactKind
    address: str
    label: str = ""


@dataclass
class Person:
    key: str
    name: str
    email: str
    time_zone: str | None = None
    admin: bool = False
    handle_hint: str = ""  # the source's username, when it has one
    contacts: list[Contact] = field(default_factory=list)


@dataclass
class Team:
    key: str
    name: str
    member_keys: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Stretch:
    """Someone on call from `start` to `end` on the source's final schedule."""

    start: datetime
    end: datetime
    person_key: str


@dataclass
class Roster:
    """A source schedule: how it is built (`layers`, in words, for the report) and its final
    schedule in the window, overrides included."""

    key: str
    name: str
    team_key: str | None
    time_zone: str
    layers: list[str] = field(default_factory=list)
    stretches: list[Stretch] = field(default_factory=list)


@dataclass(frozen=True)
class Target:
    kind: Literal["roster", "person"]
    key: str


@dataclass
class Step:
    delay_minutes: int  # after the step before (the first: after the trigger)
    targets: list[Target] = field(default_factory=list)


@dataclass
class Policy:
    key: str
    name: str
    steps: list[Step] = field(default_factory=list)
    repeat: int = 0
    repeat_after_minutes: int = 15


@dataclass(frozen=True)
class Integration:
    name: str
    kind: IntegrationKind


@dataclass
class Service:
    key: str
    name: str
    team_key: str | None
    policy_key: str | None
    integrations: list[Integration] = field(default_factory=list)
    ack_timeout_minutes: int | None = None
    auto_resolve_minutes: int | None = None


@dataclass(frozen=True)
class Unmapped:
    """Something we have no equivalent for: `what` names it as the source does, `instead`
    says what the import did."""

    what: str
    instead: str


@dataclass
class SourceAccount:
    source: str  # "PagerDuty", "Grafana OnCall"
    people: list[Person] = field(default_factory=list)
    teams: list[Team] = field(default_factory=list)
    rosters: list[Roster] = field(default_factory=list)
    policies: list[Policy] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)
    unmapped: list[Unmapped] = field(default_factory=list)

    def note(self, what: str, instead: str) -> None:
        if Unmapped(what, instead) not in self.unmapped:
            self.unmapped.append(Unmapped(what, instead))


class Source(Protocol):
    """One system to move from: reads the whole account, final schedules for [start, end)."""

    name: str

    def read(self, start: datetime, end: datetime) -> SourceAccount: ...
