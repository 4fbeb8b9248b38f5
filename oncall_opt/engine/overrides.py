"""Overrides and swap requests: changing who is on call without re-planning.

- An override puts `user_id` on call in a team's layer for [start, end) on top of the published
  roster; the last created wins where overrides overlap (see `final.py`). Deleting one that is
  under way ends it now; one that is over stays, as history.
- "I'll take it from now": an override from now to the end of the current final-schedule
  segment of that layer.
- A swap request asks the team for someone to take [start, end); a member who is not away
  then (their availability) accepts it, which creates the override; the requester can cancel
  it. Each step is announced in the team's Slack channel, in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from oncall_opt.engine import outbox, text
from oncall_opt.engine.final import segments
from oncall_opt.engine.records import User
from oncall_opt.engine.shifts import check_team
from oncall_opt.engine.store import Store, Transaction
from oncall_opt.engine.teams import get_team
from oncall_opt.engine.users import get_user, users_by_id
from oncall_opt.errors import ConflictError, InvalidRequestError, NotFoundError

LAYER_NAMES = {1: "primary", 2: "secondary"}
MAX_NOTE = 1000
_COLUMNS = "id, team_id, layer, user_id, start_time, end_time, created_at, created_by, swap_id"


@dataclass(frozen=True)
class Override:
    id: int
    team_id: int
    layer: int
    user: User
    start: datetime
    end: datetime
    created_at: datetime
    created_by: int | None
    swap_id: int | None


def _check(start: datetime, end: datetime, layer: int) -> None:
    for name, value in (("Start", start), ("End", end)):
        if value.tzinfo is None:
            raise InvalidRequestError(name, "timestamp has no UTC offset (add Z or +hh:mm)")
    if end <= start:
        raise InvalidRequestError("End", "must be after Start")
    if layer not in (1, 2):
        raise InvalidRequestError("Layer", "must be 1 (primary) or 2 (secondary)")


def _overrides(source: Store | Transaction, rows: list[dict[str, Any]]) -> list[Override]:
    people = users_by_id(source, {r["user_id"] for r in rows})
    return [
        Override(
            r["id"],
            r["team_id"],
            r["layer"],
            people[r["user_id"]],
            r["start_time"],
            r["end_time"],
            r["created_at"],
            r["created_by"],
            r["swap_id"],
        )
        for r in rows
        if r["user_id"] in people
    ]


def _insert(
    tx: Transaction, team_id, layer, user_id, start, end, now, by, swap_id=None
) -> Override:
    row = tx.row(
        "INSERT INTO overrides (team_id, layer, user_id, start_time, end_time, created_at, "
        f"created_by, swap_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING {_COLUMNS}",
        [team_id, layer, user_id, start.astimezone(UTC), end.astimezone(UTC), now, by, swap_id],
    )
    assert row is not None
    return _overrides(tx, [row])[0]


def create_override(
    store: Store,
    team_id: int,
    user_id: int,
    start: datetime,
    end: datetime,
    now: datetime,
    layer: int = 1,
    created_by: int | None = None,
) -> Override:
    """Put `user_id` on call in the team's layer for [start, end), over the roster; announced
    in the team's channel."""
    _check(start, end, layer)
    if end <= now:
        raise InvalidRequestError("End", "is in the past: an override changes what is to come")

    def work(tx: Transaction) -> Override:
        team = get_team(tx, team_id)
        get_user(tx, user_id)
        made = _insert(tx, team_id, layer, user_id, start, end, now, created_by)
        outbox.enqueue(tx, "override", _announce(made, team.name, now), now, (), team_id)
        return made

    return store.write(work)


def slack_time(moment: datetime, zone: str | None) -> str:
    """A time for Slack: shown in each reader's own time zone by Slack, with a fallback."""
    local = moment.astimezone(ZoneInfo(zone or "UTC"))
    fallback = f"{local:%a} {local.day} {local:%b %H:%M} {local.tzname()}"
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def _announce(made: Override, team: str, now: datetime) -> str:
    layer = LAYER_NAMES.get(made.layer, f"layer {made.layer}")
    return (
        f"{outbox.who(made.user)} is on call for {outbox.esc(team)} ({layer}) from "
        f"{slack_time(max(made.start, now), made.user.time_zone)} until "
        f"{slack_time(made.end, made.user.time_zone)} (override)"
    )


def take_now(store: Store, team_id: int, user_id: int, now: datetime, layer: int = 1) -> Override:
    """ "I'll take it from now": an override from now to the end of the current stretch on
    call in that layer (409 when nobody is on call now, or it is the person already)."""

    def work(tx: Transaction) -> Override:
        team = get_team(tx, team_id)
        get_user(tx, user_id)
        current = [
            s
            for s in segments(tx, team_id, now, now + timedelta(days=400), [layer])
            if s.start <= now
        ]
        if not current:
            raise ConflictError(
                "nobody is on call in that layer now: make an override with Start and End"
            )
        if current[0].user.id == user_id:
            raise ConflictError("you are on call already")
        made = _insert(tx, team_id, layer, user_id, now, current[0].end, now, user_id)
        outbox.enqueue(tx, "override", _announce(made, team.name, now), now, (), team_id)
        return made

    return store.write(work)


def list_overrides(store: Store, team_id: int, start: datetime, end: datetime) -> list[Override]:
    check_team(store, team_id)
    rows = store.rows(
        f"SELECT {_COLUMNS} FROM overrides WHERE team_id = ? AND start_time < ? AND end_time > ? "
        "ORDER BY start_time, id",
        [team_id, end, start],
    )
    return _overrides(store, rows)


def get_override(source: Store | Transaction, override_id: int) -> Override:
    rows = source.rows(f"SELECT {_COLUMNS} FROM overrides WHERE id = ?", [override_id])
    found = _overrides(source, rows)
    if not found:
        raise NotFoundError(f"no override with id {override_id}")
    return found[0]


def active_override(
    source: Store | Transaction, instant: datetime, layer: int, team_id: int
) -> Override | None:
    """The override in force at `instant` in the team's layer (the last created), if any."""
    rows = source.rows(
        f"SELECT {_COLUMNS} FROM overrides WHERE team_id = ? AND layer = ? AND start_time <= ? "
        "AND ? < end_time ORDER BY id DESC LIMIT 1",
        [team_id, layer, instant, instant],
    )
    found = _overrides(source, rows)
    return found[0] if found else None


def delete_override(store: Store, override_id: int, now: datetime) -> Override:
    """Remove an override to come; end one under way now; one that is over stays (409)."""

    def work(tx: Transaction) -> Override:
        found = get_override(tx, override_id)
        if found.end <= now:
            raise ConflictError(f"override {override_id} is over; it stays as history")
        if found.start < now:
            tx.execute("UPDATE overrides SET end_time = ? WHERE id = ?", [now, override_id])
            return Override(**{**found.__dict__, "end": now})
        tx.execute("DELETE FROM overrides WHERE id = ?", [override_id])
        return found

    return store.write(work)


# ----- swap requests ----------------------------------------------------------------------------
OPEN, ACCEPTED, CANCELLED = "open", "accepted", "cancelled"
_SWAP_COLUMNS = (
    "id, team_id, layer, from_user_id, start_time, end_time, note, status, accepted_by, "
    "override_id, created_at, decided_at"
)


@dataclass(frozen=True)
class Swap:
    id: int
    team_id: int
    layer: int
    from_user: User
    start: datetime
    end: datetime
    note: str
    status: str
    accepted_by: User | None
    override_id: int | None
    created_at: datetime
    decided_at: datetime | None


def _swaps(source: Store | Transaction, rows: list[dict[str, Any]]) -> list[Swap]:
    people = users_by_id(
        source, {r["from_user_id"] for r in rows} | {r["accepted_by"] for r in rows} - {None}
    )
    return [
        Swap(
            r["id"],
            r["team_id"],
            r["layer"],
            people[r["from_user_id"]],
            r["start_time"],
            r["end_time"],
            r["note"],
            r["status"],
            people.get(r["accepted_by"]),
            r["override_id"],
            r["created_at"],
            r["decided_at"],
        )
        for r in rows
        if r["from_user_id"] in people
    ]


def get_swap(source: Store | Transaction, swap_id: int) -> Swap:
    found = _swaps(
        source, source.rows(f"SELECT {_SWAP_COLUMNS} FROM swaps WHERE id = ?", [swap_id])
    )
    if not found:
        raise NotFoundError(f"no swap request with id {swap_id}")
    return found[0]


def list_swaps(store: Store, team_id: int, status: str | None = OPEN) -> list[Swap]:
    check_team(store, team_id)
    sql, params = f"SELECT {_SWAP_COLUMNS} FROM swaps WHERE team_id = ?", [team_id]
    if status is not None:
        sql, params = sql + " AND status = ?", [*params, status]
    return _swaps(store, store.rows(sql + " ORDER BY start_time, id", params))


def _range(swap: Swap) -> str:
    zone = swap.from_user.time_zone
    layer = LAYER_NAMES.get(swap.layer, f"layer {swap.layer}")
    return f"({layer}) from {slack_time(swap.start, zone)} until {slack_time(swap.end, zone)}"


def request_swap(
    store: Store,
    team_id: int,
    from_user_id: int,
    start: datetime,
    end: datetime,
    now: datetime,
    note: str = "",
    layer: int = 1,
) -> Swap:
    """Ask the team for someone to take [start, end); posted in the team's channel."""
    _check(start, end, layer)
    if end <= now:
        raise InvalidRequestError("End", "is in the past")
    note = text.clean("Note", note or "", MAX_NOTE)

    def work(tx: Transaction) -> Swap:
        team = get_team(tx, team_id)
        get_user(tx, from_user_id)
        row = tx.row(
            "INSERT INTO swaps (team_id, layer, from_user_id, start_time, end_time, note, "
            f"created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING {_SWAP_COLUMNS}",
            [team_id, layer, from_user_id, start.astimezone(UTC), end.astimezone(UTC), note, now],
        )
        assert row is not None
        swap = _swaps(tx, [row])[0]
        said = f": {outbox.esc(note)}" if note else ""
        outbox.enqueue(
            tx,
            "swap",
            f"{outbox.who(swap.from_user)} asks for someone to take {outbox.esc(team.name)} "
            f"{_range(swap)}"
            f"{said} (swap #{swap.id}: accept it in the console)",
            now,
            (),
            team_id,
        )
        return swap

    return store.write(work)


def away_days(source: Store | Transaction, user: User, start: datetime, end: datetime):
    """The days of [start, end) the person marked away (in their own time zone)."""
    zone = ZoneInfo(user.time_zone or "UTC")
    first, last = (
        start.astimezone(zone).date(),
        (end - timedelta(microseconds=1)).astimezone(zone).date(),
    )
    rows = source.rows(
        "SELECT day FROM availability WHERE user_id = ? AND kind = 'unavailable' "
        "AND day BETWEEN ? AND ? ORDER BY day",
        [user.id, first, last],
    )
    return [r["day"] for r in rows]


def accept_swap(store: Store, swap_id: int, user_id: int, now: datetime) -> Swap:
    """Take an open swap request: a member of the team who is not the requester and not away
    then; creates the override and announces it."""

    def work(tx: Transaction) -> Swap:
        swap = get_swap(tx, swap_id)
        if swap.status != OPEN:
            raise ConflictError(f"swap #{swap_id} is {swap.status}")
        if swap.end <= now:
            raise ConflictError(f"swap #{swap_id} is over")
        taker = get_user(tx, user_id)
        team = get_team(tx, swap.team_id)
        if user_id == swap.from_user.id:
            raise ConflictError("you asked for this swap: cancel it instead")
        if user_id not in team.member_ids:
            raise ConflictError(f"{taker.full_name} is not in the team {team.name}")
        away = away_days(tx, taker, swap.start, swap.end)
        if away:
            days = ", ".join(day.isoformat() for day in away)
            raise ConflictError(f"{taker.full_name} is marked away then ({days})")
        made = _insert(
            tx,
            swap.team_id,
            swap.layer,
            user_id,
            max(swap.start, now),
            swap.end,
            now,
            user_id,
            swap.id,
        )
        tx.execute(
            "UPDATE swaps SET status = ?, accepted_by = ?, override_id = ?, decided_at = ? "
            "WHERE id = ?",
            [ACCEPTED, user_id, made.id, now, swap_id],
        )
        outbox.enqueue(
            tx,
            "swap",
            f"{outbox.who(taker)} takes {outbox.esc(team.name)} {_range(swap)} for "
            f"{outbox.who(swap.from_user)} (swap #{swap.id} accepted)",
            now,
            (),
            swap.team_id,
        )
        return get_swap(tx, swap_id)

    return store.write(work)


def cancel_swap(store: Store, swap_id: int, now: datetime) -> Swap:
    def work(tx: Transaction) -> Swap:
        swap = get_swap(tx, swap_id)
        if swap.status != OPEN:
            raise ConflictError(f"swap #{swap_id} is {swap.status}")
        team = get_team(tx, swap.team_id)
        tx.execute(
            "UPDATE swaps SET status = ?, decided_at = ? WHERE id = ?", [CANCELLED, now, swap_id]
        )
        outbox.enqueue(
            tx,
            "swap",
            f"{outbox.who(swap.from_user)} no longer needs someone for {outbox.esc(team.name)} "
            f"{_range(swap)} (swap #{swap.id} cancelled)",
            now,
            (),
            swap.team_id,
        )
        return get_swap(tx, swap_id)

    return store.write(work)
