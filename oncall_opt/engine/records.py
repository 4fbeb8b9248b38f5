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

    @property
    def acknowledged(self) -> bool:
        return self.acknowledged_at is not None
