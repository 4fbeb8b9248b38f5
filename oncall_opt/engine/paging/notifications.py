"""Notifications: one row per message to one contact method (a page, a verification code, a
test), written in the transaction that causes it and delivered by the notify job, so that
none is lost when a provider is down or the daemon stops. Their states:

- `queued`: waiting until `due_at` (a notification rule's delay) and its next attempt;
- `sent`: the provider took it (`provider_id` where it gives one);
- `failed`: refused for good (a bad address), with the provider's reason;
- `cancelled`: no longer wanted (the incident was acknowledged or resolved first, the method
  removed).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from oncall_opt.engine.store import Store, Transaction

QUEUED, SENT, FAILED, CANCELLED = "queued", "sent", "failed", "cancelled"
DELIVERED = "delivered"  # the provider says it reached the person (a text, a call answered)
STATES = (QUEUED, SENT, DELIVERED, FAILED, CANCELLED)
KINDS = ("page", "verify", "test", "cover", "cover-lead")
MAX_BACKOFF = 300.0
# Set once a transaction that queued notifications has committed: the notify job's thread
# wakes for it instead of waiting for its next turn (a page goes out at once).
QUEUED_NOW = threading.Event()
MAX_ATTEMPTS = 10  # a notification still failing after these is given up (failed)
_COLUMNS = (
    "id, kind, incident_id, user_id, contact_method_id, rule_id, body, status, due_at, "
    "next_attempt_at, attempts, last_error, claimed_at, sent_at, provider_id, created_at, "
    "delivered_at, cover_request_id"
)


@dataclass(frozen=True)
class Notification:
    id: int
    kind: str
    incident_id: int | None
    user_id: int
    contact_method_id: int
    rule_id: int | None
    body: str
    status: str
    due_at: datetime
    next_attempt_at: datetime
    attempts: int
    last_error: str | None
    claimed_at: datetime | None
    sent_at: datetime | None
    provider_id: str | None
    created_at: datetime
    delivered_at: datetime | None = None
    cover_request_id: int | None = None  # a cover ask, or the lead told nobody covers it

    def __repr__(self) -> str:  # the body of a verification is its code
        return f"Notification(id={self.id}, kind={self.kind!r}, status={self.status!r})"


def _of(row: dict[str, Any]) -> Notification:
    return Notification(**row)


def queue(
    tx: Transaction,
    kind: str,
    user_id: int,
    method_id: int,
    due: datetime,
    body: str = "",
    incident_id: int | None = None,
    rule_id: int | None = None,
) -> int:
    row = tx.row(
        "INSERT INTO notifications (kind, incident_id, user_id, contact_method_id, rule_id, "
        "body, status, due_at, next_attempt_at, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        [kind, incident_id, user_id, method_id, rule_id, body, QUEUED, due, due, due],
    )
    assert row is not None
    tx.after_commit(QUEUED_NOW.set)
    return row["id"]


# The contact method of a page recorded from history (an import, the demo): the way it went
# is not a method here, as for a method since removed.
UNKNOWN_METHOD = 0


def record_delivered(tx: Transaction, incident_id: int, user_id: int, at: datetime) -> None:
    """A page of an incident that is over, as the tool it comes from knew it: delivered at
    `at` (never sent again: only queued pages are)."""
    tx.execute(
        "INSERT INTO notifications (kind, incident_id, user_id, contact_method_id, status, "
        "due_at, next_attempt_at, sent_at, delivered_at, created_at) "
        "VALUES ('page', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [incident_id, user_id, UNKNOWN_METHOD, DELIVERED, at, at, at, at, at],
    )


def queue_pages(
    tx: Transaction, pages: list[tuple[int, int, int, int, datetime]], now: datetime
) -> None:
    """Queue (incident, user, method, rule, due) pages in one statement."""
    if not pages:
        return
    incidents, users, methods_, rules, dues = (list(c) for c in zip(*pages, strict=True))
    tx.execute(
        "INSERT INTO notifications (kind, incident_id, user_id, contact_method_id, rule_id, "
        "status, due_at, next_attempt_at, created_at) SELECT 'page', unnest(?::BIGINT[]), "
        "unnest(?::BIGINT[]), unnest(?::BIGINT[]), unnest(?::BIGINT[]), ?, "
        "unnest(?::TIMESTAMPTZ[]), unnest(?::TIMESTAMPTZ[]), ?",
        [incidents, users, methods_, rules, QUEUED, dues, dues, now],
    )
    tx.after_commit(QUEUED_NOW.set)


def cancel_pages(tx: Transaction, incident_ids: Sequence[int], why: str) -> None:
    if not incident_ids:
        return
    marks = ", ".join("?" for _ in incident_ids)
    tx.execute(
        f"UPDATE notifications SET status = ?, last_error = ? WHERE kind = 'page' "
        f"AND status = ? AND incident_id IN ({marks})",
        [CANCELLED, why, QUEUED, *incident_ids],
    )


def cancel_queued_for_method(tx: Transaction, method_id: int, now: datetime) -> None:
    tx.execute(
        "UPDATE notifications SET status = ?, last_error = ?, body = '' "
        "WHERE contact_method_id = ? AND status = ?",
        [CANCELLED, "the contact method changed or was removed", method_id, QUEUED],
    )


def cancel_codes(tx: Transaction, method_id: int) -> None:
    """The method is verified: a code not sent yet is no longer wanted."""
    tx.execute(
        "UPDATE notifications SET status = ?, last_error = ?, body = '' "
        "WHERE contact_method_id = ? AND kind = 'verify' AND status = ?",
        [CANCELLED, "verified before it was sent", method_id, QUEUED],
    )


def get(source: Store | Transaction, notification_id: int) -> Notification:
    row = source.row(f"SELECT {_COLUMNS} FROM notifications WHERE id = ?", [notification_id])
    assert row is not None
    return _of(row)


def of_incident(source: Store | Transaction, incident_id: int) -> list[Notification]:
    rows = source.rows(
        f"SELECT {_COLUMNS} FROM notifications WHERE incident_id = ? ORDER BY due_at, id",
        [incident_id],
    )
    return [_of(r) for r in rows]


def claim_due(tx: Transaction, now: datetime, lease: float) -> Notification | None:
    """The oldest due queued page, else the oldest other due notification (a code, a test:
    never ahead of a page), claimed (with several daemons: locked, and a claim younger than
    `lease` seconds is another daemon's send in flight)."""
    where, params = "", []
    if tx.shared:
        where, params = (
            " AND (claimed_at IS NULL OR claimed_at <= ?)",
            [now - timedelta(seconds=lease)],
        )
    row = tx.row(
        f"SELECT {_COLUMNS} FROM notifications WHERE status = ? AND next_attempt_at <= ?{where} "
        "ORDER BY CASE WHEN kind = 'page' THEN 0 ELSE 1 END, next_attempt_at, id "
        f"LIMIT 1{tx.claim}",
        [QUEUED, now, *params],
    )
    if row is None:
        return None
    tx.execute(
        "UPDATE notifications SET claimed_at = ?, attempts = attempts + 1 WHERE id = ?",
        [now, row["id"]],
    )
    return _of({**row, "attempts": row["attempts"] + 1, "claimed_at": now})


def backoff(attempts: int) -> float:
    return min(2.0 ** max(attempts, 1), MAX_BACKOFF)


def mark_sent(tx: Transaction, notification: Notification, now: datetime, provider_id=None):
    # A code is not kept once it has gone: only its hash stays (with the method).
    tx.execute(
        "UPDATE notifications SET status = ?, sent_at = ?, last_error = NULL, claimed_at = NULL, "
        "provider_id = ?, body = CASE WHEN kind = 'verify' THEN '' ELSE body END WHERE id = ?",
        [SENT, now, provider_id, notification.id],
    )


def by_provider_id(tx: Transaction, provider_id: str) -> Notification | None:
    row = tx.row(f"SELECT {_COLUMNS} FROM notifications WHERE provider_id = ?", [provider_id])
    return _of(row) if row else None


def mark_delivered(tx: Transaction, notification: Notification, at: datetime) -> None:
    tx.execute(
        "UPDATE notifications SET status = ?, delivered_at = ? WHERE id = ?",
        [DELIVERED, at, notification.id],
    )


def mark_retry(tx: Transaction, notification: Notification, error: str, at: datetime) -> None:
    tx.execute(
        "UPDATE notifications SET claimed_at = NULL, next_attempt_at = ?, last_error = ? "
        "WHERE id = ?",
        [at, error, notification.id],
    )


def mark_failed(tx: Transaction, notification: Notification, error: str) -> None:
    tx.execute(
        "UPDATE notifications SET status = ?, claimed_at = NULL, last_error = ?, "
        "body = CASE WHEN kind = 'verify' THEN '' ELSE body END WHERE id = ?",
        [FAILED, error, notification.id],
    )


def mark_cancelled(tx: Transaction, notification: Notification, why: str) -> None:
    tx.execute(
        "UPDATE notifications SET status = ?, claimed_at = NULL, last_error = ? WHERE id = ?",
        [CANCELLED, why, notification.id],
    )
