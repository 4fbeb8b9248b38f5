"""Incidents: triggered, acknowledged, resolved; assigned to whoever is on call.

Every change and the Slack message it causes are written in one transaction (see notify.py).
A trigger with a dedup key that matches an open incident counts against it instead of opening
another; once that incident is resolved, the same key opens a new one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from . import notify
from .errors import ConflictError, InvalidRequestError, NotFoundError
from .schedules import PRIMARY, scheduled_at
from .store import Store, Transaction
from .users import User, get_user, users_by_id

TRIGGERED, ACKNOWLEDGED, RESOLVED = "triggered", "acknowledged", "resolved"
STATUS_FILTERS = {
    "unacknowledged": [TRIGGERED],  # the seed's GET /incidents
    TRIGGERED: [TRIGGERED],
    ACKNOWLEDGED: [ACKNOWLEDGED],
    RESOLVED: [RESOLVED],
    "open": [TRIGGERED, ACKNOWLEDGED],
    "all": [TRIGGERED, ACKNOWLEDGED, RESOLVED],
}
COLUMNS = (
    "id, body, dedup_key, status, trigger_count, created_at, last_triggered_at, "
    "assigned_user_id, acknowledged_at, acknowledged_by, resolved_at, resolved_by, "
    "last_reminded_at, escalated_at, escalated_to"
)


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


def incidents_from_rows(source: Store | Transaction, rows: list[dict[str, Any]]) -> list[Incident]:
    ids = set()
    for row in rows:
        for key in ("assigned_user_id", "acknowledged_by", "resolved_by", "escalated_to"):
            if row[key] is not None:
                ids.add(row[key])
    people = users_by_id(source, ids)
    return [
        Incident(
            id=r["id"],
            body=r["body"],
            status=r["status"],
            created_at=r["created_at"],
            last_triggered_at=r["last_triggered_at"],
            trigger_count=r["trigger_count"],
            dedup_key=r["dedup_key"],
            assignee=people.get(r["assigned_user_id"]),
            acknowledged_at=r["acknowledged_at"],
            acknowledged_by=people.get(r["acknowledged_by"]),
            resolved_at=r["resolved_at"],
            resolved_by=people.get(r["resolved_by"]),
            last_reminded_at=r["last_reminded_at"],
            escalated_at=r["escalated_at"],
            escalated_to=people.get(r["escalated_to"]),
        )
        for r in rows
    ]


def _one(tx: Store | Transaction, incident_id: int) -> Incident:
    rows = tx.rows(f"SELECT {COLUMNS} FROM incidents WHERE id = ?", [incident_id])
    if not rows:
        raise NotFoundError(f"no incident with id {incident_id}")
    return incidents_from_rows(tx, rows)[0]


def trigger(
    store: Store, body: str, now: datetime, dedup_key: str | None = None
) -> tuple[Incident, bool]:
    """Open an incident assigned to whoever is on call now (or unassigned), or count the
    trigger against the open incident with the same dedup key. Returns (incident, created)."""
    body = (body or "").strip()
    if not body:
        raise InvalidRequestError("Body", "must not be empty")
    dedup_key = (dedup_key or "").strip() or None

    def work(tx: Transaction) -> tuple[Incident, bool]:
        if dedup_key is not None:
            rows = tx.rows(
                f"UPDATE incidents SET trigger_count = trigger_count + 1, last_triggered_at = ? "
                f"WHERE dedup_key = ? AND status <> ? RETURNING {COLUMNS}",
                [now, dedup_key, RESOLVED],
            )
            if rows:
                return incidents_from_rows(tx, rows)[0], False
        on_call = scheduled_at(tx, now, PRIMARY)
        rows = tx.rows(
            f"INSERT INTO incidents (body, dedup_key, created_at, last_triggered_at, "
            f"assigned_user_id) VALUES (?, ?, ?, ?, ?) RETURNING {COLUMNS}",
            [body, dedup_key, now, now, on_call.user.id if on_call else None],
        )
        incident = incidents_from_rows(tx, rows)[0]
        notify.enqueue(tx, "created", notify.created(incident), now, [incident.id])
        return incident, True

    return store.write(work)


def get_incident(store: Store, incident_id: int) -> Incident:
    return _one(store, incident_id)


def list_incidents(
    store: Store, status: str = "unacknowledged", assignee_id: int | None = None
) -> list[Incident]:
    if status not in STATUS_FILTERS:
        raise InvalidRequestError("Status", f"must be one of {', '.join(STATUS_FILTERS)}")
    statuses = STATUS_FILTERS[status]
    sql = f"SELECT {COLUMNS} FROM incidents WHERE status IN ({', '.join('?' for _ in statuses)})"
    params: list[Any] = list(statuses)
    if assignee_id is not None:
        sql += " AND assigned_user_id = ?"
        params.append(assignee_id)
    return incidents_from_rows(store, store.rows(sql + " ORDER BY id", params))


def acknowledge(
    store: Store, incident_id: int, now: datetime, by_user_id: int | None = None
) -> Incident:
    """Acknowledge a triggered incident, assigned or not; `by_user_id` records who."""

    def work(tx: Transaction) -> Incident:
        if by_user_id is not None:
            get_user(tx, by_user_id)
        rows = tx.rows(
            f"UPDATE incidents SET status = ?, acknowledged_at = ?, acknowledged_by = ? "
            f"WHERE id = ? AND status = ? RETURNING {COLUMNS}",
            [ACKNOWLEDGED, now, by_user_id, incident_id, TRIGGERED],
        )
        if not rows:
            current = _one(tx, incident_id)  # NotFoundError when it does not exist
            raise ConflictError(f"incident {incident_id} is already {current.status}")
        incident = incidents_from_rows(tx, rows)[0]
        notify.enqueue(tx, "acknowledged", notify.acknowledged(incident), now, [incident.id])
        return incident

    return store.write(work)


def assign(store: Store, incident_id: int, user_id: int, now: datetime) -> Incident:
    """Hand an open incident to `user_id`; an unknown user changes nothing (NotFoundError)."""

    def work(tx: Transaction) -> Incident:
        get_user(tx, user_id)
        rows = tx.rows(
            f"UPDATE incidents SET assigned_user_id = ? WHERE id = ? AND status <> ? "
            f"RETURNING {COLUMNS}",
            [user_id, incident_id, RESOLVED],
        )
        if not rows:
            _one(tx, incident_id)
            raise ConflictError(f"incident {incident_id} is resolved")
        incident = incidents_from_rows(tx, rows)[0]
        notify.enqueue(tx, "assigned", notify.assigned(incident), now, [incident.id])
        return incident

    return store.write(work)


def resolve(
    store: Store, incident_id: int, now: datetime, by_user_id: int | None = None
) -> Incident:
    """Resolve an open incident (acknowledging it too if it was not)."""

    def work(tx: Transaction) -> Incident:
        if by_user_id is not None:
            get_user(tx, by_user_id)
        rows = tx.rows(
            f"UPDATE incidents SET status = ?, resolved_at = ?, resolved_by = ?, "
            f"acknowledged_at = coalesce(acknowledged_at, ?), "
            f"acknowledged_by = coalesce(acknowledged_by, ?) "
            f"WHERE id = ? AND status <> ? RETURNING {COLUMNS}",
            [RESOLVED, now, by_user_id, now, by_user_id, incident_id, RESOLVED],
        )
        if not rows:
            _one(tx, incident_id)
            raise ConflictError(f"incident {incident_id} is already resolved")
        incident = incidents_from_rows(tx, rows)[0]
        notify.enqueue(tx, "resolved", notify.resolved(incident), now, [incident.id])
        return incident

    return store.write(work)
