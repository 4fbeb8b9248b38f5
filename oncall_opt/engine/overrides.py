"""Overrides and swap requests: changing who is on call without re-planning.

- An override puts `user_id` on call in a team's layer for [start, end) on top of the published
  roster; the last created wins where overrides overlap (see `final.py`). Deleting one that is
  under way ends it now; one that is over stays, as history.
- "I'll take it from now": an override from now to the end of the current final-schedule
  segment of that layer.
- A swap request asks the team for someone to take [start, end); a member who is not away
  then (their availability) accepts it, which creates the override; the requester can cancel
  it. Each step is announced in the team's Slack channel, in the same transaction.
- Every one of them keeps the planner's rules (`change_rules`: two layers at once, rest, shifts
  in a row, days away): a change that breaks one is refused with every reason (409), unless an
  admin says "I know" (`i_know`); then it is made, and what it broke and who knew are kept on
  the override, shown with it and announced.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from oncall_opt.engine import outbox, text
from oncall_opt.engine.change_rules import check_cover, in_words
from oncall_opt.engine.final import segments
from oncall_opt.engine.records import User
from oncall_opt.engine.shifts import check_team
from oncall_opt.engine.store import Store, Transaction
from oncall_opt.engine.teams import get_team
from oncall_opt.engine.users import get_user, users_by_id
from oncall_opt.errors import ConflictError, InvalidRequestError, NotFoundError

LAYER_NAMES = {1: "primary", 2: "secondary"}
MAX_NOTE = 1000
_COLUMNS = (
    "id, team_id, layer, user_id, start_time, end_time, created_at, created_by, swap_id, "
    "rules_broken, known_by"
)
I_KNOW_HINT = 'An admin may make it anyway with "I know" (IKnow: true).'


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
    rules_broken: str | None = None  # made with an admin's "I know": the rules it broke, in words
    known_by: int | None = None  # the admin who knew


class RulesBrokenError(ConflictError):
    """The change would break the team's rules; `broken` says each (HTTP 409)."""

    def __init__(self, broken):
        self.broken = list(broken)
        # the API's error `details`: each rule and its reason, for a console to list
        self.details = {"RulesBroken": [{"Rule": b.rule, "Message": b.message} for b in broken]}
        super().__init__(f"this breaks the team's rules: {in_words(self.broken)}. {I_KNOW_HINT}")


def _keep_rules(
    tx: Transaction, team_id, user_id, layer, start, end, i_know: bool, by: int | None
) -> tuple[str | None, int | None]:
    """Refuse a change that breaks a rule, unless `i_know`; returns what to record (the rules
    broken, who knew), or (None, None) when nothing breaks."""
    broken = check_cover(tx, team_id, user_id, layer, start, end)
    if not broken:
        return None, None
    if not i_know:
        raise RulesBrokenError(broken)
    return in_words(broken), by


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
            r["rules_broken"],
            r["known_by"],
        )
        for r in rows
        if r["user_id"] in people
    ]


def _insert(
    tx: Transaction, team_id, layer, user_id, start, end, now, by, swap_id=None, knew=(None, None)
) -> Override:
    broken, known_by = knew
    row = tx.row(
        "INSERT INTO overrides (team_id, layer, user_id, start_time, end_time, created_at, "
        "created_by, swap_id, rules_broken, known_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        f"RETURNING {_COLUMNS}",
        [
            team_id,
            layer,
            user_id,
            start.astimezone(UTC),
            end.astimezone(UTC),
            now,
            by,
            swap_id,
            broken,
            known_by,
        ],
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
    i_know: bool = False,
) -> Override:
    """Put `user_id` on call in the team's layer for [start, end), over the roster; announced
    in the team's channel. Breaking the team's rules is refused (`RulesBrokenError`) unless
    `i_know` (an admin's: the caller checks), then recorded with `created_by` as who knew."""
    _check(start, end, layer)
    if end <= now:
        raise InvalidRequestError("End", "is in the past: an override changes what is to come")

    def work(tx: Transaction) -> Override:
        team = get_team(tx, team_id)
        get_user(tx, user_id)
        knew = _keep_rules(tx, team_id, user_id, layer, start, end, i_know, created_by)
        made = _insert(tx, team_id, layer, user_id, start, end, now, created_by, knew=knew)
        outbox.enqueue(tx, "override", _announce(tx, made, team.name, now), now, (), team_id)
        return made

    return store.write(work)


def slack_time(moment: datetime, zone: str | None) -> str:
    """A time for Slack: shown in each reader's own time zone by Slack, with a fallback."""
    local = moment.astimezone(ZoneInfo(zone or "UTC"))
    fallback = f"{local:%a} {local.day} {local:%b %H:%M} {local.tzname()}"
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def _announce(tx: Transaction, made: Override, team: str, now: datetime) -> str:
    layer = LAYER_NAMES.get(made.layer, f"layer {made.layer}")
    return (
        f"{outbox.who(made.user)} is on call for {outbox.esc(team)} ({layer}) from "
        f"{slack_time(max(made.start, now), made.user.time_zone)} until "
        f"{slack_time(made.end, made.user.time_zone)} (override){knowingly(tx, made)}"
    )


def knowingly(source: Store | Transaction, made: Override) -> str:
    """What an override made with "I know" adds to its announcement (escaped for Slack)."""
    if made.rules_broken is None:
        return ""
    knew = users_by_id(source, {made.known_by}).get(made.known_by) if made.known_by else None
    by = outbox.who(knew) if knew else "an admin"
    return f". It breaks the team's rules, made anyway by {by}: {outbox.esc(made.rules_broken)}"


def take_now(
    store: Store,
    team_id: int,
    user_id: int,
    now: datetime,
    layer: int = 1,
    i_know: bool = False,
    known_by: int | None = None,
) -> Override:
    """ "I'll take it from now": an override from now to the end of the current stretch on
    call in that layer (409 when nobody is on call now, or it is the person already, or it
    breaks the team's rules without `i_know`; `known_by`: the admin who knew)."""

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
        end = current[0].end
        knew = _keep_rules(tx, team_id, user_id, layer, now, end, i_know, known_by)
        made = _insert(tx, team_id, layer, user_id, now, end, now, user_id, knew=knew)
        outbox.enqueue(tx, "override", _announce(tx, made, team.name, now), now, (), team_id)
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


def accept_swap(
    store: Store,
    swap_id: int,
    user_id: int,
    now: datetime,
    i_know: bool = False,
    known_by: int | None = None,
) -> Swap:
    """Take an open swap request: a member of the team who is not the requester, keeping the
    team's rules (away then, two layers, rest, in a row: refused unless `i_know`, an admin's,
    `known_by` who); creates the override and announces it."""

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
        start = max(swap.start, now)
        knew = _keep_rules(tx, swap.team_id, user_id, swap.layer, start, swap.end, i_know, known_by)
        made = _insert(
            tx, swap.team_id, swap.layer, user_id, start, swap.end, now, user_id, swap.id, knew
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
            f"{outbox.who(swap.from_user)} (swap #{swap.id} accepted){knowingly(tx, made)}",
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
