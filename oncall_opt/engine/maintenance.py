"""Maintenance windows: a service (or every service of a team) in maintenance takes its alert
events without opening incidents or paging anyone (a deploy, a planned restart). The events
are kept on the window (PagerDuty drops them; here people can look afterwards). A window is
"for the next N minutes" or from a start to an end; ending it early sets its end to now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from oncall_opt.engine import text
from oncall_opt.engine.store import Store, Transaction
from oncall_opt.errors import InvalidRequestError, NotFoundError

MAX_LENGTH = timedelta(days=30)
MAX_REASON = 500
_COLUMNS = "id, service_id, team_id, starts_at, ends_at, reason, created_by, created_at"


@dataclass(frozen=True)
class Window:
    id: int
    service_id: int | None
    team_id: int | None
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: int | None
    created_at: datetime

    def on_at(self, moment: datetime) -> bool:
        return self.starts_at <= moment < self.ends_at


@dataclass(frozen=True)
class KeptEvent:
    id: int
    window_id: int
    service_id: int
    summary: str
    dedup_key: str | None
    source: str | None
    received_at: datetime


def _of(row: dict[str, Any]) -> Window:
    return Window(**row)


def span(
    now: datetime,
    minutes: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> tuple[datetime, datetime]:
    """(start, end) from "the next `minutes`" or a start (default now) and an end; checked."""
    if minutes is not None:
        if start is not None or end is not None:
            raise InvalidRequestError("Minutes", "give Minutes, or Start and End, not both")
        if not 1 <= minutes <= MAX_LENGTH.total_seconds() // 60:
            raise InvalidRequestError("Minutes", "must be 1 to 43200 (30 days)")
        return now, now + timedelta(minutes=minutes)
    if end is None:
        raise InvalidRequestError("End", "is required (or give Minutes)")
    begin = start or now
    if end <= begin:
        raise InvalidRequestError("End", "must be after Start")
    if end <= now:
        raise InvalidRequestError("End", "is in the past")
    if end - begin > MAX_LENGTH:
        raise InvalidRequestError("End", "a window lasts at most 30 days")
    return begin, end


def start(
    store: Store,
    now: datetime,
    begin: datetime,
    end: datetime,
    service_id: int | None = None,
    team_id: int | None = None,
    reason: object = "",
    by_user_id: int | None = None,
) -> Window:
    assert (service_id is None) != (team_id is None)
    said = text.clean("Reason", reason or "", MAX_REASON)

    def work(tx: Transaction) -> Window:
        row = tx.row(
            "INSERT INTO maintenance_windows (service_id, team_id, starts_at, ends_at, reason, "
            f"created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING {_COLUMNS}",
            [service_id, team_id, begin, end, said, by_user_id, now],
        )
        assert row is not None
        return _of(row)

    return store.write(work)


def get(source: Store | Transaction, window_id: int) -> Window:
    row = source.row(f"SELECT {_COLUMNS} FROM maintenance_windows WHERE id = ?", [window_id])
    if row is None:
        raise NotFoundError(f"no maintenance window with id {window_id}")
    return _of(row)


def end_now(store: Store, window_id: int, now: datetime) -> Window:
    """End a window now (one not begun yet is ended before it begins)."""

    def work(tx: Transaction) -> Window:
        window = get(tx, window_id)
        if window.ends_at > now:
            tx.execute(
                "UPDATE maintenance_windows SET ends_at = ?, starts_at = least(starts_at, ?) "
                "WHERE id = ?",
                [now, now, window_id],
            )
        return get(tx, window_id)

    return store.write(work)


def active(source: Store | Transaction, service_id: int, now: datetime) -> Window | None:
    """The window on for the service now (its own, or its team's), the one ending last."""
    row = source.row(
        f"SELECT {_COLUMNS} FROM maintenance_windows WHERE starts_at <= ? AND ends_at > ? "
        "AND (service_id = ? OR team_id = (SELECT team_id FROM services WHERE id = ?)) "
        "ORDER BY ends_at DESC LIMIT 1",
        [now, now, service_id, service_id],
    )
    return _of(row) if row else None


def active_by_service(store: Store, now: datetime) -> dict[int, Window]:
    """Every service in maintenance now: its window (the one ending last)."""
    rows = store.rows(
        "SELECT s.id AS for_service, w.id, w.service_id, w.team_id, w.starts_at, w.ends_at, "
        "w.reason, w.created_by, w.created_at FROM maintenance_windows w JOIN services s "
        "ON (w.service_id = s.id OR w.team_id = s.team_id) "
        "WHERE w.starts_at <= ? AND w.ends_at > ? ORDER BY w.ends_at",
        [now, now],
    )
    return {r.pop("for_service"): _of(r) for r in rows}


def of_service(store: Store, service_id: int, now: datetime) -> list[Window]:
    """The service's windows (its own and its team's) not over for more than a week, newest
    first."""
    rows = store.rows(
        f"SELECT {_COLUMNS} FROM maintenance_windows WHERE ends_at > ? "
        "AND (service_id = ? OR team_id = (SELECT team_id FROM services WHERE id = ?)) "
        "ORDER BY starts_at DESC, id DESC",
        [now - timedelta(days=7), service_id, service_id],
    )
    return [_of(r) for r in rows]


def keep(
    tx: Transaction,
    window: Window,
    service_id: int,
    summary: str,
    dedup_key: str | None,
    source: str | None,
    now: datetime,
) -> None:
    tx.execute(
        "INSERT INTO maintenance_events (window_id, service_id, summary, dedup_key, source, "
        "received_at) VALUES (?, ?, ?, ?, ?, ?)",
        [window.id, service_id, summary, dedup_key, source, now],
    )


def kept(store: Store, window_id: int, limit: int = 500) -> list[KeptEvent]:
    rows = store.rows(
        "SELECT id, window_id, service_id, summary, dedup_key, source, received_at "
        "FROM maintenance_events WHERE window_id = ? ORDER BY id DESC LIMIT ?",
        [window_id, limit],
    )
    return [KeptEvent(**r) for r in rows]


def kept_counts(store: Store, window_ids: list[int]) -> dict[int, int]:
    if not window_ids:
        return {}
    marks = ", ".join("?" for _ in window_ids)
    rows = store.rows(
        f"SELECT window_id, COUNT(*) AS n FROM maintenance_events WHERE window_id IN ({marks}) "
        "GROUP BY window_id",
        window_ids,
    )
    return {r["window_id"]: r["n"] for r in rows}
