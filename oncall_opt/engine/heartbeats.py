"""Heartbeat monitors: nothing notices when a nightly backup or the monitoring pipeline itself
stops sending, unless something expects to hear from it. A monitor belongs to a service, has
an interval and a secret URL (`/heartbeat/{token}`, like a calendar feed's: the token is the
credential, kept only as its hash). When no ping has come for the interval (counted from the
last ping, or from the monitor's making), the `check` job opens an incident on the service
("no heartbeat from nightly-backup since 02:00"), once: the UPDATE that marks the monitor
alerted decides, so two daemons on PostgreSQL open one. The next ping resolves it."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from oncall_opt import times
from oncall_opt.engine import incidents, text
from oncall_opt.engine.services import get_service
from oncall_opt.engine.store import Store, Transaction
from oncall_opt.errors import InvalidRequestError, NotFoundError

MAX_INTERVAL = timedelta(days=7)
_COLUMNS = "id, service_id, name, interval_seconds, last_ping_at, alerted_at, created_at"


@dataclass(frozen=True)
class Heartbeat:
    id: int
    service_id: int
    name: str
    interval_seconds: int
    last_ping_at: datetime | None
    alerted_at: datetime | None
    created_at: datetime

    @property
    def dedup_key(self) -> str:
        return f"heartbeat:{self.id}"

    def due(self) -> datetime:
        return (self.last_ping_at or self.created_at) + timedelta(seconds=self.interval_seconds)


def _of(row: dict[str, Any]) -> Heartbeat:
    return Heartbeat(**row)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def create(
    store: Store, service_id: int, name: object, interval_minutes: int, now: datetime
) -> tuple[Heartbeat, str]:
    """A new monitor and its URL's token (shown once)."""
    label = text.name("Name", name)
    if not 1 <= interval_minutes <= MAX_INTERVAL.total_seconds() // 60:
        raise InvalidRequestError("IntervalMinutes", "must be 1 to 10080 (a week)")
    token = "oo_hb_" + secrets.token_urlsafe(32)

    def work(tx: Transaction) -> Heartbeat:
        get_service(tx, service_id)
        row = tx.row(
            "INSERT INTO heartbeats (service_id, name, interval_seconds, token_hash, "
            f"created_at) VALUES (?, ?, ?, ?, ?) RETURNING {_COLUMNS}",
            [service_id, label, interval_minutes * 60, _hash(token), now],
        )
        assert row is not None
        return _of(row)

    return store.write(work), token


def get(source: Store | Transaction, heartbeat_id: int) -> Heartbeat:
    row = source.row(f"SELECT {_COLUMNS} FROM heartbeats WHERE id = ?", [heartbeat_id])
    if row is None:
        raise NotFoundError(f"no heartbeat monitor with id {heartbeat_id}")
    return _of(row)


def of_service(store: Store, service_id: int) -> list[Heartbeat]:
    rows = store.rows(
        f"SELECT {_COLUMNS} FROM heartbeats WHERE service_id = ? ORDER BY id", [service_id]
    )
    return [_of(r) for r in rows]


def delete(store: Store, heartbeat_id: int) -> Heartbeat:
    def work(tx: Transaction) -> Heartbeat:
        found = get(tx, heartbeat_id)
        tx.execute("DELETE FROM heartbeats WHERE id = ?", [heartbeat_id])
        return found

    return store.write(work)


def ping(store: Store, token: str, now: datetime) -> Heartbeat:
    """A ping: the monitor hears from its job now; an incident it opened is resolved."""

    def work(tx: Transaction) -> tuple[Heartbeat, bool]:
        row = tx.row(
            f"UPDATE heartbeats SET last_ping_at = ?, alerted_at = NULL WHERE token_hash = ? "
            f"RETURNING {_COLUMNS}",
            [now, _hash(token)],
        )
        if row is None:
            raise NotFoundError("no such heartbeat")
        before = tx.row(
            "SELECT 1 AS was FROM incidents WHERE service_id = ? AND dedup_key = ? "
            "AND status <> 'resolved'",
            [row["service_id"], f"heartbeat:{row['id']}"],
        )
        return _of(row), before is not None

    beat, was_down = store.write(work)
    if was_down:
        open_one = incidents.by_key(store, beat.service_id, beat.dedup_key)
        if open_one is not None:
            incidents.resolve(store, open_one.id, now, via=f"heartbeat {beat.name}")
    return beat


def check(store: Store, now: datetime) -> int:
    """Open an incident for each monitor not heard from for its interval (once); how many."""
    late = store.rows(
        f"SELECT {_COLUMNS} FROM heartbeats WHERE alerted_at IS NULL AND "
        "coalesce(last_ping_at, created_at) + interval_seconds * INTERVAL '1 second' <= ?",
        [now],
    )
    opened = 0
    for row in late:
        beat = _of(row)

        def work(tx: Transaction, beat: Heartbeat = beat) -> bool:
            won = tx.rows(
                "UPDATE heartbeats SET alerted_at = ? WHERE id = ? AND alerted_at IS NULL "
                "RETURNING id",
                [now, beat.id],
            )
            if not won:  # another daemon, or a ping meanwhile
                return False
            if beat.last_ping_at is not None:
                heard = f"since {times.format_utc(beat.last_ping_at)}"
            else:
                heard = f"since it was made ({times.format_utc(beat.created_at)})"
            every = beat.interval_seconds // 60
            body = f"No heartbeat from {beat.name} {heard}: expected every {every} min"
            trigger = incidents.check_trigger(
                body, beat.dedup_key, beat.service_id, severity="critical", source="heartbeat"
            )
            incidents.trigger_batch(tx, [trigger], now)
            return True

        opened += store.write(work)
    return opened
