"""On-call shifts: who is on call when, per team and layer (1 primary, 2 secondary).

Shifts are half-open intervals [start, end), so back-to-back shifts are legal, and within a
team's layer no two shifts overlap: checked inside the write transaction (writes are
serialised), so two concurrent requests cannot both get in. Listing and deleting act on every
shift that overlaps the range asked for. Every function takes a team, by default the Default
team (id 1), which the tutorial's endpoints use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
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


@dataclass(frozen=True)
class Change:
    """Who the roster put on call in `layer` over [start, end), before and after a publish."""

    layer: int
    start: datetime
    end: datetime
    before: User | None
    after: User | None


@dataclass(frozen=True)
class Published:
    shifts: list[Schedule]  # what is published in the window now
    changes: list[Change]  # exactly what changed
    frozen_until: datetime  # published shifts before this were kept as they were


def publish(
    store: Store,
    start: datetime,
    end: datetime,
    shifts: Iterable[Shift],
    team_id: int = DEFAULT_TEAM,
    frozen_until: datetime | None = None,
    announce: Callable[[Transaction, Published], None] | None = None,
) -> Published:
    """Replace the window [start, end) of every layer of the team the shifts use, atomically:
    shifts that reach outside the window keep their outside part; the new shifts go in; all or
    nothing. Before `frozen_until` (the past and the freeze horizon) published shifts stay as
    they are and the new roster only fills the hours nobody was published for. `announce` is
    called inside the transaction with the outcome (to queue its Slack message)."""
    _check_range(start, end)
    shifts = sorted(shifts, key=lambda s: (s.layer, s.start))
    layers = sorted({s.layer for s in shifts}) or [PRIMARY]
    for i, shift in enumerate(shifts):
        _check_range(shift.start, shift.end, (f"shifts[{i}].start", f"shifts[{i}].end"))
        _check_layer(shift.layer)
        if shift.start < start or shift.end > end:
            raise InvalidRequestError(f"shifts[{i}]", "lies outside the window being published")
    frozen = min(max(start, frozen_until or start), end)

    def cut_of(layer: int) -> datetime:
        """Where the layer's freeze ends: the first new shift starting at or after the freeze
        (shifts are kept whole)."""
        if frozen <= start:
            return start
        later = [s.start for s in shifts if s.layer == layer and s.start >= frozen]
        return min(later, default=end)

    def work(tx: Transaction) -> Published:
        check_team(tx, team_id)
        known = users_by_id(tx, {s.user_id for s in shifts})
        for i, shift in enumerate(shifts):
            if shift.user_id not in known:
                raise NotFoundError(f"shifts[{i}]: no user with id {shift.user_id}")
        before = {layer: _overlapping(tx, start, end, layer, team_id) for layer in layers}
        new: list[Shift] = []
        cut = start
        for layer in layers:
            cut = max(cut, cut_of(layer))
            kept = [r for r in before[layer] if r["start_time"] < cut_of(layer)]
            layer_cut = cut_of(layer)
            for row in _overlapping(tx, layer_cut, end, layer, team_id):
                tx.execute("DELETE FROM schedules WHERE id = ?", [row["id"]])
                if row["start_time"] < layer_cut:
                    _insert(tx, row["user_id"], row["start_time"], layer_cut, layer, team_id)
                if row["end_time"] > end:
                    _insert(tx, row["user_id"], end, row["end_time"], layer, team_id)
            for shift in (s for s in shifts if s.layer == layer):
                new += _unfrozen(shift, layer_cut, kept)
        rows = [_insert(tx, s.user_id, s.start, s.end, s.layer, team_id) for s in new]
        after = {layer: _overlapping(tx, start, end, layer, team_id) for layer in layers}
        people = users_by_id(
            tx, {r["user_id"] for rs in (*before.values(), *after.values()) for r in rs}
        )
        changes = [
            c
            for layer in layers
            for c in _changes(layer, start, end, before[layer], after[layer], people)
        ]
        published = Published(_schedules(tx, rows), changes, cut)
        if announce is not None:
            announce(tx, published)
        return published

    return store.write(work)


def _unfrozen(shift: Shift, cut: datetime, kept: list[dict[str, Any]]) -> list[Shift]:
    """The parts of a new shift that may go in: all of it after `cut`; before it, only the
    hours no kept (frozen) shift covers."""
    parts = []
    if shift.end > cut:
        parts.append(Shift(shift.user_id, max(shift.start, cut), shift.end, shift.layer))
    cursor, stop = shift.start, min(shift.end, cut)
    for row in sorted(kept, key=lambda r: r["start_time"]):
        if cursor >= stop:
            break
        if row["end_time"] <= cursor or row["start_time"] >= stop:
            continue
        if row["start_time"] > cursor:
            parts.append(Shift(shift.user_id, cursor, row["start_time"], shift.layer))
        cursor = max(cursor, row["end_time"])
    if cursor < stop:
        parts.append(Shift(shift.user_id, cursor, stop, shift.layer))
    return sorted(parts, key=lambda p: p.start)


def _changes(layer, start, end, before, after, people) -> list[Change]:
    """Where the published person differs between two lists of shift rows, merged."""
    points = {start, end}
    for row in [*before, *after]:
        points.update(t for t in (row["start_time"], row["end_time"]) if start < t < end)

    def at(rows, moment):
        return next((r["user_id"] for r in rows if r["start_time"] <= moment < r["end_time"]), None)

    found: list[Change] = []
    for a, b in pairwise(sorted(points)):
        old, new = people.get(at(before, a)), people.get(at(after, a))
        if old == new:
            continue
        last = found[-1] if found else None
        if last and last.end == a and (last.before, last.after) == (old, new):
            found[-1] = Change(layer, last.start, b, old, new)
        else:
            found.append(Change(layer, a, b, old, new))
    return found
