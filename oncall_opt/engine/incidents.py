"""Incidents: triggered, acknowledged, resolved; assigned to whoever is on call.

Every change and the Slack message it causes are written in one transaction (see outbox.py).
A trigger with a dedup key that matches an open incident counts against it instead of opening
another; once that incident is resolved, the same key opens a new one. Triggers are written
set-based, several to a transaction (`trigger_batch`; the API's `batching.TriggerBatcher`
group-commits concurrent requests), with the same outcome as one by one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from oncall_opt.engine import outbox, text
from oncall_opt.engine.records import Incident, User
from oncall_opt.engine.shifts import PRIMARY, on_call_rows
from oncall_opt.engine.store import Store, Transaction
from oncall_opt.engine.users import get_user, users_by_id
from oncall_opt.errors import ConflictError, InvalidRequestError, NotFoundError

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


_PEOPLE = ("assigned_user_id", "acknowledged_by", "resolved_by", "escalated_to")


def _incident(r: dict[str, Any], people: dict[int, User]) -> Incident:
    return Incident(
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


def _people_of(rows: list[dict[str, Any]]) -> set[int]:
    return {row[key] for row in rows for key in _PEOPLE if row[key] is not None}


def incidents_from_rows(source: Store | Transaction, rows: list[dict[str, Any]]) -> list[Incident]:
    people = users_by_id(source, _people_of(rows))
    return [_incident(r, people) for r in rows]


def _one(tx: Store | Transaction, incident_id: int) -> Incident:
    rows = tx.rows(f"SELECT {COLUMNS} FROM incidents WHERE id = ?", [incident_id])
    if not rows:
        raise NotFoundError(f"no incident with id {incident_id}")
    return incidents_from_rows(tx, rows)[0]


@dataclass(frozen=True)
class Trigger:
    """One trigger, checked: a non-empty body and a dedup key or None (see `check_trigger`)."""

    body: str
    dedup_key: str | None = None


def check_trigger(body: str, dedup_key: str | None = None) -> Trigger:
    """The trigger with its body and key stripped; an empty body is an InvalidRequestError,
    an empty key is no key."""
    body = text.clean("Body", body or "", text.MAX_BODY, multiline=True)
    if not body:
        raise InvalidRequestError("Body", "must not be empty")
    return Trigger(body, text.clean("DedupKey", dedup_key or "", text.MAX_KEY) or None)


def trigger(
    store: Store, body: str, now: datetime, dedup_key: str | None = None
) -> tuple[Incident, bool]:
    """Open an incident assigned to whoever is on call now (or unassigned), or count the
    trigger against the open incident with the same dedup key. Returns (incident, created)."""
    one = check_trigger(body, dedup_key)
    return store.write(lambda tx: trigger_batch(tx, [one], now))[0]


def trigger_batch(
    tx: Transaction, triggers: Sequence[Trigger], now: datetime
) -> list[tuple[Incident, bool]]:
    """Apply `triggers` (checked, see `check_trigger`) at `now` inside `tx`, set-based, in at most
    five statements whatever their number: one dedup UPDATE for all the keys, the shift on call,
    the people (the one on call and those the counted incidents name), one INSERT of the new
    incidents and one of their 'created' messages. The database and the answers,
    (incident, created) per trigger in order, are those of triggering them one by one in that
    order: the first trigger of a key with no open incident opens one and the others count
    against it; each answer shows the count just after its trigger."""
    now = now.astimezone(UTC)  # as the database hands timestamps back
    keyed: dict[str, list[int]] = {}  # key -> positions of its triggers, in order
    for i, t in enumerate(triggers):
        if t.dedup_key is not None:
            keyed.setdefault(t.dedup_key, []).append(i)
    open_rows = _count_against_open(tx, {key: len(at) for key, at in keyed.items()}, now)

    # What opens an incident: every trigger without a key, the first of a key with none open.
    opening = [
        i
        for i, t in enumerate(triggers)
        if t.dedup_key is None or (t.dedup_key not in open_rows and keyed[t.dedup_key][0] == i)
    ]
    # Who is on call: as shifts.scheduled_at, a shift whose user is gone does not count. Its
    # users are read with the others the counted incidents name (two plain queries cost less
    # than one joining schedules and users).
    shifts = [row["user_id"] for row in on_call_rows(tx, now, PRIMARY)] if opening else []
    people = users_by_id(tx, set(shifts) | _people_of(list(open_rows.values())))
    on_call = next((people[u] for u in shifts if u in people), None)

    created: dict[int, Incident] = {}  # position of an opening trigger -> the incident it opens
    if opening:
        new = [triggers[i] for i in opening]
        counts = [len(keyed[t.dedup_key]) if t.dedup_key else 1 for t in new]
        ids = _insert(tx, new, counts, now, on_call)
        for i, t, count, incident_id in zip(opening, new, counts, ids, strict=True):
            created[i] = Incident(
                id=incident_id, body=t.body, status=TRIGGERED, created_at=now,
                last_triggered_at=now, trigger_count=count, dedup_key=t.dedup_key,
                assignee=on_call, acknowledged_at=None, acknowledged_by=None, resolved_at=None,
                resolved_by=None, last_reminded_at=None, escalated_at=None, escalated_to=None,
            )  # fmt: skip
        _enqueue_created(tx, [created[i] for i in opening], now)

    counted = {key: _incident(row, people) for key, row in open_rows.items()}
    answers: list[tuple[Incident, bool]] = []
    seen: dict[str, int] = {}  # key -> its triggers answered so far
    for i, t in enumerate(triggers):
        if t.dedup_key is None:
            answers.append((created[i], True))
            continue
        nth = seen[t.dedup_key] = seen.get(t.dedup_key, 0) + 1
        if t.dedup_key in counted:  # an incident open before these triggers
            incident = counted[t.dedup_key]
            count = incident.trigger_count - len(keyed[t.dedup_key]) + nth
            answers.append((replace(incident, trigger_count=count), False))
        else:  # the incident the key's first trigger opens
            incident = created[keyed[t.dedup_key][0]]
            answers.append((replace(incident, trigger_count=nth), nth == 1))
    return answers


def _count_against_open(
    tx: Transaction, counts: dict[str, int], now: datetime
) -> dict[str, dict[str, Any]]:
    """Add counts[key] to the open incident of each key (one UPDATE); the rows updated by key.
    (Were there two open incidents with one key, both count and the first one answers.)"""
    if not counts:
        return {}
    if len(counts) == 1:
        [(key, n)] = counts.items()
        rows = tx.rows(
            f"UPDATE incidents SET trigger_count = trigger_count + ?, last_triggered_at = ? "
            f"WHERE dedup_key = ? AND status <> ? RETURNING {COLUMNS}",
            [n, now, key, RESOLVED],
        )
    else:  # a CASE, not a join with VALUES: DuckDB runs it in two thirds of the time
        cases = " ".join("WHEN ? THEN ?" for _ in counts)
        marks = ", ".join("?" for _ in counts)
        rows = tx.rows(
            f"UPDATE incidents SET trigger_count = trigger_count + CASE dedup_key {cases} END, "
            f"last_triggered_at = ? WHERE dedup_key IN ({marks}) AND status <> ? "
            f"RETURNING {COLUMNS}",
            [*(x for pair in counts.items() for x in pair), now, *counts, RESOLVED],
        )
    found: dict[str, dict[str, Any]] = {}
    for row in sorted(rows, key=lambda r: r["id"]):
        found.setdefault(row["dedup_key"], row)
    return found


def _insert(
    tx: Transaction, triggers: list[Trigger], counts: list[int], now: datetime, on_call: User | None
) -> list[int]:
    """INSERT one incident per trigger (one statement); their ids, in order."""
    assignee = on_call.id if on_call else None
    if len(triggers) == 1:
        [t], [count] = triggers, counts
        values, params = "VALUES (?, ?, ?, ?, ?, ?, ?)", [t.body, t.dedup_key, count]
    else:  # lists unnested: DuckDB binds a long VALUES list of parameters slowly (4x)
        values = (
            "SELECT unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), unnest(?::INTEGER[]), ?, ?, ?, ?"
        )
        params = [[t.body for t in triggers], [t.dedup_key for t in triggers], counts]
    rows = tx.rows(
        "INSERT INTO incidents (body, dedup_key, trigger_count, status, created_at, "
        f"last_triggered_at, assigned_user_id) {values} RETURNING id, body, dedup_key",
        [*params, TRIGGERED, now, now, assignee],
    )
    # The sequence draws ids in VALUES order, but rows are matched by content all the same:
    # nothing is assumed about RETURNING's order (rows alike differ only in their ids).
    ids: dict[tuple[str, str | None], list[int]] = {}
    for row in sorted(rows, key=lambda r: r["id"], reverse=True):
        ids.setdefault((row["body"], row["dedup_key"]), []).append(row["id"])
    return [ids[(t.body, t.dedup_key)].pop() for t in triggers]


def _enqueue_created(tx: Transaction, created: list[Incident], now: datetime) -> None:
    """The 'created' Slack message of each new incident, queued in one INSERT."""
    messages = [(outbox.created(incident), [incident.id]) for incident in created]
    outbox.enqueue_many(tx, "created", messages, now)


def get_incident(store: Store, incident_id: int) -> Incident:
    return _one(store, incident_id)


def list_incidents(
    store: Store,
    status: str = "unacknowledged",
    assignee_id: int | None = None,
    limit: int | None = None,
    before_id: int | None = None,
) -> list[Incident]:
    """Incidents by status, newest first: at most `limit`, with ids below `before_id` (the
    next page starts after the last id of the one before: a keyset page, stable while new
    incidents arrive)."""
    if status not in STATUS_FILTERS:
        raise InvalidRequestError("Status", f"must be one of {', '.join(STATUS_FILTERS)}")
    statuses = STATUS_FILTERS[status]
    sql = f"SELECT {COLUMNS} FROM incidents WHERE status IN ({', '.join('?' for _ in statuses)})"
    params: list[Any] = list(statuses)
    if assignee_id is not None:
        sql += " AND assigned_user_id = ?"
        params.append(assignee_id)
    if before_id is not None:
        sql += " AND id < ?"
        params.append(before_id)
    sql += " ORDER BY id DESC"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return incidents_from_rows(store, store.rows(sql, params))


def _transition(
    store: Store,
    incident_id: int,
    now: datetime,
    by_user_id: int | None,
    change: str,
    params: list[Any],
    message: tuple[str, Any],
    refused: str,
) -> Incident:
    """One state change of one incident: check who, apply `change` (an UPDATE ... RETURNING
    whose WHERE clause says when the change is allowed), queue its Slack message. When the
    incident exists but the change is not allowed, a ConflictError says `refused` (formatted
    with the current status)."""

    def work(tx: Transaction) -> Incident:
        if by_user_id is not None:
            get_user(tx, by_user_id)
        rows = tx.rows(f"{change} RETURNING {COLUMNS}", params)
        if not rows:
            current = _one(tx, incident_id)  # NotFoundError when it does not exist
            raise ConflictError(refused.format(id=incident_id, status=current.status))
        incident = incidents_from_rows(tx, rows)[0]
        kind, text = message
        outbox.enqueue(tx, kind, text(incident), now, [incident.id])
        return incident

    return store.write(work)


def acknowledge(
    store: Store, incident_id: int, now: datetime, by_user_id: int | None = None
) -> Incident:
    """Acknowledge a triggered incident, assigned or not; `by_user_id` records who."""
    return _transition(
        store,
        incident_id,
        now,
        by_user_id,
        "UPDATE incidents SET status = ?, acknowledged_at = ?, acknowledged_by = ? "
        "WHERE id = ? AND status = ?",
        [ACKNOWLEDGED, now, by_user_id, incident_id, TRIGGERED],
        ("acknowledged", outbox.acknowledged),
        "incident {id} is already {status}",
    )


def acknowledge_all(store: Store, now: datetime, by_user_id: int | None = None) -> list[Incident]:
    """Acknowledge every triggered incident at once (one UPDATE); returns them by id. Slack
    gets one message each, or one summary when there are more than a few."""

    def work(tx: Transaction) -> list[Incident]:
        if by_user_id is not None:
            get_user(tx, by_user_id)
        rows = tx.rows(
            "UPDATE incidents SET status = ?, acknowledged_at = ?, acknowledged_by = ? "
            f"WHERE status = ? RETURNING {COLUMNS}",
            [ACKNOWLEDGED, now, by_user_id, TRIGGERED],
        )
        done = sorted(incidents_from_rows(tx, rows), key=lambda incident: incident.id)
        if len(done) > outbox.SUMMARY_ABOVE:
            by = f" by {outbox.who(done[0].acknowledged_by)}" if by_user_id is not None else ""
            text = outbox.summary(f"{len(done)} incidents acknowledged{by}:", done)
            outbox.enqueue(tx, "acknowledged", text, now, [incident.id for incident in done])
        else:
            messages = [(outbox.acknowledged(incident), [incident.id]) for incident in done]
            outbox.enqueue_many(tx, "acknowledged", messages, now)
        return done

    return store.write(work)


def assign(store: Store, incident_id: int, user_id: int, now: datetime) -> Incident:
    """Hand an open incident to `user_id`; an unknown user changes nothing (NotFoundError)."""
    return _transition(
        store,
        incident_id,
        now,
        user_id,
        "UPDATE incidents SET assigned_user_id = ? WHERE id = ? AND status <> ?",
        [user_id, incident_id, RESOLVED],
        ("assigned", outbox.assigned),
        "incident {id} is {status}",
    )


def resolve(
    store: Store, incident_id: int, now: datetime, by_user_id: int | None = None
) -> Incident:
    """Resolve an open incident (acknowledging it too if it was not)."""
    return _transition(
        store,
        incident_id,
        now,
        by_user_id,
        "UPDATE incidents SET status = ?, resolved_at = ?, resolved_by = ?, "
        "acknowledged_at = coalesce(acknowledged_at, ?), "
        "acknowledged_by = coalesce(acknowledged_by, ?) WHERE id = ? AND status <> ?",
        [RESOLVED, now, by_user_id, now, by_user_id, incident_id, RESOLVED],
        ("resolved", outbox.resolved),
        "incident {id} is already {status}",
    )
