"""An incident's timeline: what happened to it and when, written in the same transaction as
the change (triggered, triggered again, paged whom through which step, escalated, acknowledged,
reassigned, snoozed, noted, resolved). `GET /incidents/{id}/log` reads it back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from oncall_opt.engine import text
from oncall_opt.engine.records import User
from oncall_opt.engine.store import Store, Transaction
from oncall_opt.engine.users import get_user, users_by_id
from oncall_opt.errors import InvalidRequestError, NotFoundError

MAX_NOTE = 8 * 1024


@dataclass(frozen=True)
class Entry:
    id: int
    incident_id: int
    at: datetime
    kind: str
    message: str
    user: User | None


def add_many(
    tx: Transaction,
    entries: Sequence[tuple[int, str, str, int | None]],
    at: datetime,
) -> None:
    """Write (incident_id, kind, message, user_id) entries at `at`, in one statement."""
    if not entries:
        return
    ids, kinds, messages, users = (list(column) for column in zip(*entries, strict=True))
    tx.execute(
        "INSERT INTO incident_log (incident_id, logged_at, kind, message, user_id) "
        "SELECT unnest(?::BIGINT[]), ?, unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), "
        "unnest(?::BIGINT[])",
        [ids, at, kinds, messages, users],
    )


def add(
    tx: Transaction, incident_id: int, kind: str, message: str, at: datetime, user_id=None
) -> None:
    add_many(tx, [(incident_id, kind, message, user_id)], at)


def entries(store: Store, incident_id: int) -> list[Entry]:
    if store.row("SELECT id FROM incidents WHERE id = ?", [incident_id]) is None:
        raise NotFoundError(f"no incident with id {incident_id}")
    rows = store.rows(
        "SELECT id, incident_id, logged_at, kind, message, user_id FROM incident_log "
        "WHERE incident_id = ? ORDER BY logged_at, id",
        [incident_id],
    )
    people = users_by_id(store, {r["user_id"] for r in rows} - {None})
    return [
        Entry(
            r["id"],
            r["incident_id"],
            r["logged_at"],
            r["kind"],
            r["message"],
            people.get(r["user_id"]),
        )
        for r in rows
    ]


def add_note(store: Store, incident_id: int, note: str, now: datetime, user_id=None) -> Entry:
    """A note on the incident's timeline (who wrote it, when)."""
    note = text.clean("Text", note, MAX_NOTE, multiline=True)
    if not note:
        raise InvalidRequestError("Text", "must not be empty")

    def work(tx: Transaction) -> Entry:
        if tx.row("SELECT id FROM incidents WHERE id = ?", [incident_id]) is None:
            raise NotFoundError(f"no incident with id {incident_id}")
        user = get_user(tx, user_id) if user_id is not None else None
        row = tx.row(
            "INSERT INTO incident_log (incident_id, logged_at, kind, message, user_id) "
            "VALUES (?, ?, 'note', ?, ?) RETURNING id",
            [incident_id, now, note, user_id],
        )
        assert row is not None
        return Entry(row["id"], incident_id, now, "note", note, user)

    return store.write(work)
