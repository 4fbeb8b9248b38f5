"""Change events: what changed on a service (a deploy, a config change), from PagerDuty's
Events API v2 change endpoint. They page nobody; a service lists its recent ones, and an
incident the ones on its service in the hour before it opened (`BEFORE_INCIDENT`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from oncall_opt.engine.store import Store, Transaction
from oncall_opt.errors import NotFoundError

BEFORE_INCIDENT = timedelta(hours=1)
MAX_LISTED = 100


@dataclass(frozen=True)
class Change:
    id: int
    service_id: int
    summary: str
    source: str | None
    happened_at: datetime
    details: dict[str, Any] | None
    received_at: datetime


def _of(row: dict[str, Any]) -> Change:
    details = json.loads(row["details"]) if row["details"] else None
    return Change(**{**row, "details": details})


_COLUMNS = "id, service_id, summary, source, happened_at, details, received_at"


def record(
    tx: Transaction,
    service_id: int,
    summary: str,
    source: str | None,
    happened_at: datetime,
    details: dict[str, Any] | None,
    now: datetime,
) -> int:
    encoded = json.dumps(details, ensure_ascii=False) if details else None
    row = tx.row(
        "INSERT INTO changes (service_id, summary, source, happened_at, details, received_at) "
        "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        [service_id, summary, source, happened_at, encoded, now],
    )
    assert row is not None
    return row["id"]


def of_service(store: Store, service_id: int, limit: int = MAX_LISTED) -> list[Change]:
    rows = store.rows(
        f"SELECT {_COLUMNS} FROM changes WHERE service_id = ? "
        "ORDER BY happened_at DESC, id DESC LIMIT ?",
        [service_id, limit],
    )
    return [_of(r) for r in rows]


def before_incident(store: Store, incident_id: int) -> list[Change]:
    """The changes on the incident's service in the hour before it opened (up to its opening),
    newest first."""
    incident = store.row("SELECT service_id, created_at FROM incidents WHERE id = ?", [incident_id])
    if incident is None:
        raise NotFoundError(f"no incident with id {incident_id}")
    rows = store.rows(
        f"SELECT {_COLUMNS} FROM changes WHERE service_id = ? AND happened_at >= ? "
        "AND happened_at <= ? ORDER BY happened_at DESC, id DESC LIMIT ?",
        [incident["service_id"], incident["created_at"] - BEFORE_INCIDENT,
         incident["created_at"], MAX_LISTED],
    )  # fmt: skip
    return [_of(r) for r in rows]
