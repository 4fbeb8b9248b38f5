"""The records the engine hands out: plain, immutable values read from the store. They live
apart from the modules that read and write them, so that every module (the outbox's message
texts among them) can name them without importing another's logic."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class User:
    id: int
    first_name: str
    last_name: str
    slack_handle: str
    time_zone: str | None = None
    role: str = "member"  # admin or member (engine.auth)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


@dataclass(frozen=True)
class Incident:
    id: int
    body: str
    status: str
    created_at: datetime
    last_triggered_at: datetime
    trigger_count: int
    dedup_key: str | None
    assignee: User | None
    acknowledged_at: datetime | None
    acknowledged_by: User | None
    resolved_at: datetime | None
    resolved_by: User | None
    last_reminded_at: datetime | None
    escalated_at: datetime | None
    escalated_to: User | None
    service_id: int = 1
    team_id: int = 1
    urgency: str = "high"  # high: paged through every step; low: step 1 only
    severity: str | None = None  # critical, error, warning or info (Events API v2)
    source: str | None = None  # where the alert came from (a host, "alertmanager"...)
    details: str | None = None  # JSON: custom details, labels, links from the integration
    escalation_step: int = 0  # steps of the policy paged in this round
    next_escalation_at: datetime | None = None
    retrigger_at: datetime | None = None  # snoozed or acknowledged until: then triggered again

    @property
    def acknowledged(self) -> bool:
        return self.acknowledged_at is not None
