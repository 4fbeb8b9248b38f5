"""On-call shifts: who is on call when, per team and layer (1 primary, 2 secondary).

Shifts are half-open intervals [start, end), so back-to-back shifts are legal, and within a
team's layer no two shifts overlap: checked inside the write transaction (writes are
serialised), so two concurrent requests cannot both get in. Listing and deleting act on every
shift that overlaps the range asked for. Every function takes a team, by default the Default
team (id 1), which the tutorial's endpoints use.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from oncall_opt.engine.store import Store, Transaction
from oncall_opt.engine.users import User, get_user, users_by_id
from oncall_opt.errors import ConflictError, InvalidRequestError, NotFoundError
from oncall_opt.times import format_utc

PRIMARY, SECONDARY = 1, 2
DEFAULT_TEAM = 1
_COLUMNS = "id, user_id, layer, start_time, end_time, team_id"


@dataclass(frozen=True)
class Schedule:
    id: int
    user: User
    layer: int
    start: datetime
    end: datetime
    team_id: int = DEFAULT_TEAM


def _schedules(source: Store | Transaction, rows: list[dict[str, Any]]) -> list[Schedule]:
    people = users_by_id(source, {row["user_id"] for row in rows})
    return [
        Schedule(
            r["id"], people[r["user_id"]], r["layer"], r["start_time"], r["end_time"], r["team_id"]
        )
        for r in rows
        if r["user_id"] in people
    ]


def check_team(source: Store | Transaction, team_id: int) -> None:
    if source.row("SELECT id FROM teams WHERE id = ?", [team_id]) is None:
        raise NotFoundError(f"no team with id {team_id}")


def _check_range(start: datetime, end: datetime, names=("Start", "End")) -> None:
    for name, value in zip(names, (start, end), strict=True):
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidRequestError(name, "timestamp has no UTC offset (add Z or +hh:mm)")
    if end <= start:
        raise InvalidRequestError(names[1], "must be after Start")


def _check_layer(layer: int) -> None:
    if layer not in (PRIMARY, SECONDARY):
        raise InvalidRequestError("Layer", "must be 1 (primary) or 2 (secondary)")


def _overlapping(
    tx: Store | Transaction, start, end, layer: int | None, team_id: int
) -> list[dict]:
    sql = f"SELECT {_COLUMNS} FROM schedules WHERE team_id = ? AND start_time < ? AND end_time > ?"
    params: list[Any] = [team_id, end, start]
    if layer is not None:
        sql += " AND layer = ?"
        params.append(layer)
    return tx.rows(sql + " ORDER BY start_time, layer", params)


def _insert(tx: Transaction, user_id: int, start, end, layer: int, team_id: int) -> dict:
    clash = _overlapping(tx, start, end, layer, team_id)
    if clash:
        c = clash[0]
        raise ConflictError(
            f"overlaps shift {c['id']} ({format_utc(c['start_time'])} to "
            f"{format_utc(c['end_time'])}) in layer {layer}: one person is on call at a time"
        )
    row = tx.row(
        "INSERT INTO schedules (user_id, layer, start_time, end_time, team_id) "
        f"VALUES (?, ?, ?, ?, ?) RETURNING {_COLUMNS}",
        [user_id, layer, start.astimezone(UTC), end.astimezone(UTC), team_id],
    )
    assert row is not None
    return row


def create_schedule(
    store: Store,
    user_id: int,
    start: datetime,
    end: datetime,
    layer: int = PRIMARY,
    team_id: int = DEFAULT_TEAM,
) -> Schedule:
    _check_range(start, end)
    _check_layer(layer)

    def work(tx: Transaction) -> Schedule:
        user = get_user(tx, user_id)
        check_team(tx, team_id)
        row = _insert(tx, user.id, start, end, layer, team_id)
        return Schedule(row["id"], user, layer, row["start_time"], row["end_time"], team_id)

    return store.write(work)


def on_call_rows(
    source: Store | Transaction,
    instant: datetime,
    layer: int = PRIMARY,
    team_id: int = DEFAULT_TEAM,
) -> list[dict[str, Any]]:
    """The rows of the team's shifts covering `instant` in `layer` (one at most: shifts of a
    layer do not overlap)."""
    return source.rows(
        f"SELECT {_COLUMNS} FROM schedules WHERE team_id = ? AND layer = ? AND start_time <= ? "
        "AND ? < end_time",
        [team_id, layer, instant, instant],
    )


def scheduled_at(
    source: Store | Transaction,
    instant: datetime,
    layer: int = PRIMARY,
    team_id: int = DEFAULT_TEAM,
) -> Schedule | None:
    """The team's shift on call at `instant` in `layer`, if any (a shift whose user is gone
    does not count)."""
    found = _schedules(source, on_call_rows(source, instant, layer, team_id))
    return found[0] if found else None


def list_schedules(
    store: Store,
    start: datetime,
    end: datetime,
    layer: int | None = None,
    team_id: int = DEFAULT_TEAM,
) -> list[Schedule]:
    """Every shift of the team that overlaps [start, end)."""
    _check_range(start, end)
    check_team(store, team_id)
    return _schedules(store, _overlapping(store, start, end, layer, team_id))


def delete_schedules(
    store: Store,
    start: datetime,
    end: datetime,
    layer: int | None = None,
    team_id: int = DEFAULT_TEAM,
) -> list[Schedule]:
    """Delete every shift of the team that overlaps [start, end); returns what was deleted."""
    _check_range(start, end)

    def work(tx: Transaction) -> list[Schedule]:
        check_team(tx, team_id)
        gone = _schedules(tx, _overlapping(tx, start, end, layer, team_id))
        for schedule in gone:
            tx.execute("DELETE FROM schedules WHERE id = ?", [schedule.id])
        return gone

    return store.write(work)


def delete_schedule(store: Store, schedule_id: int) -> Schedule:
    def work(tx: Transaction) -> Schedule:
        rows = tx.rows(f"SELECT {_COLUMNS} FROM schedules WHERE id = ?", [schedule_id])
        if not rows:
            raise NotFoundError(f"no schedule with id {schedule_id}")
        tx.execute("DELETE FROM schedules WHERE id = ?", [schedule_id])
        return _schedules(tx, rows)[0]

    return store.write(work)


@dataclass(frozen=True)
class Shift:
    """A shift to publish: `user_id` on call in `layer` from `start` to `end`."""

    user_id: int
    start: datetime
    end: datetime
    layer: int = PRIMARY


def publish(
    store: Store,
    start: datetime,
    end: datetime,
    shifts: Iterable[Shift],
    team_id: int = DEFAULT_TEAM,
) -> list[Schedule]:
    """Replace the window [start, end) of every layer of the team the shifts use, atomically:
    shifts that reach outside the window keep their outside part; the new shifts go in; all or
    nothing."""
    _check_range(start, end)
    shifts = sorted(shifts, key=lambda s: (s.layer, s.start))
    layers = sorted({s.layer for s in shifts}) or [PRIMARY]
    for i, shift in enumerate(shifts):
        _check_range(shift.start, shift.end, (f"shifts[{i}].start", f"shifts[{i}].end"))
        _check_layer(shift.layer)
        if shift.start < start or shift.end > end:
            raise InvalidRequestError(f"shifts[{i}]", "lies outside the window being published")

    def work(tx: Transaction) -> list[Schedule]:
        check_team(tx, team_id)
        known = users_by_id(tx, {s.user_id for s in shifts})
        for i, shift in enumerate(shifts):
            if shift.user_id not in known:
                raise NotFoundError(f"shifts[{i}]: no user with id {shift.user_id}")
        for layer in layers:
            for row in _overlapping(tx, start, end, layer, team_id):
                tx.execute("DELETE FROM schedules WHERE id = ?", [row["id"]])
                if row["start_time"] < start:
                    _insert(tx, row["user_id"], row["start_time"], start, layer, team_id)
                if row["end_time"] > end:
                    _insert(tx, row["user_id"], end, row["end_time"], layer, team_id)
        rows = [_insert(tx, s.user_id, s.start, s.end, s.layer, team_id) for s in shifts]
        return _schedules(tx, rows)

    return store.write(work)
