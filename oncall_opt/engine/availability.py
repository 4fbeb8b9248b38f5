"""Each person's unavailable, preferred and avoided days: calendar days in the roster's time
zone, one row per person and day (kinds `unavailable`, `preferred`, `avoid`).

Field names in error messages are the API's (`Start`, `Days.2026-12-01`, ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from oncall_opt import times
from oncall_opt.engine.store import Store, Transaction
from oncall_opt.engine.users import User, get_user, list_users
from oncall_opt.errors import InvalidRequestError, NotFoundError

UNAVAILABLE, PREFERRED, AVOID = "unavailable", "preferred", "avoid"
KINDS = (UNAVAILABLE, PREFERRED, AVOID)
MAX_DAYS = 1096  # three years: the longest range read, written or planned at once


def parse_day(field_name: str, value: Any) -> date:
    """A calendar date written `YYYY-MM-DD` (a `date` passes through)."""
    try:
        return times.parse_date(value)
    except ValueError as exc:
        raise InvalidRequestError(field_name, str(exc)) from None


def check_days(start: date, end: date, names: tuple[str, str] = ("Start", "End")) -> None:
    if end < start:
        raise InvalidRequestError(names[1], f"{end} is before {names[0]} {start}")
    if (end - start).days + 1 > MAX_DAYS:
        raise InvalidRequestError(
            names[1], f"the range holds {(end - start).days + 1} days; at most {MAX_DAYS} at once"
        )


# ----- availability --------------------------------------------------------------------------
def set_days(
    store: Store, user_id: int, start: date, end: date, days: Mapping[Any, str | None]
) -> dict[date, str]:
    """Replace `user_id`'s days in [start, end]: each day given gets its kind (`None` clears
    it), every other day of the range is cleared. Returns the days now set in the range."""
    check_days(start, end)
    wanted: dict[date, str] = {}
    for key, kind in days.items():
        name = f"Days.{key}"
        day = parse_day(name, key)
        if not start <= day <= end:
            raise InvalidRequestError(name, f"is outside Start {start} to End {end}")
        if kind is None or kind == "":
            continue
        if kind not in KINDS:
            raise InvalidRequestError(name, f"{kind!r} is not one of {', '.join(KINDS)}")
        wanted[day] = kind

    def work(tx: Transaction) -> dict[date, str]:
        get_user(tx, user_id)
        tx.execute(
            "DELETE FROM availability WHERE user_id = ? AND day BETWEEN ? AND ?",
            [user_id, start, end],
        )
        if wanted:
            rows = sorted(wanted.items())
            marks = ", ".join("(?, ?, ?)" for _ in rows)
            params: list[Any] = []
            for day, kind in rows:
                params += [user_id, day, kind]
            tx.execute(f"INSERT INTO availability (user_id, day, kind) VALUES {marks}", params)
        return dict(sorted(wanted.items()))

    return store.write(work)


def days_by_user(source: Store | Transaction, start: date, end: date, user_id: int | None = None):
    sql = "SELECT user_id, day, kind FROM availability WHERE day BETWEEN ? AND ?"
    params: list[Any] = [start, end]
    if user_id is not None:
        sql += " AND user_id = ?"
        params.append(user_id)
    found: dict[int, dict[date, str]] = {}
    for row in source.rows(sql + " ORDER BY user_id, day", params):
        found.setdefault(row["user_id"], {})[row["day"]] = row["kind"]
    return found


def user_days(store: Store, user_id: int, start: date, end: date) -> dict[date, str]:
    """`user_id`'s days in [start, end] (NotFoundError for an unknown user)."""
    check_days(start, end)
    get_user(store, user_id)
    return days_by_user(store, start, end, user_id).get(user_id, {})


def team_days(
    store: Store, start: date, end: date, team_id: int | None = None
) -> list[tuple[User, dict[date, str]]]:
    """Every user (of the team, when given) with their days in [start, end] (users with none
    get an empty mapping)."""
    check_days(start, end)
    people = list_users(store)
    if team_id is not None:
        members = {
            row["user_id"]
            for row in store.rows("SELECT user_id FROM team_members WHERE team_id = ?", [team_id])
        }
        if store.row("SELECT id FROM teams WHERE id = ?", [team_id]) is None:
            raise NotFoundError(f"no team with id {team_id}")
        people = [user for user in people if user.id in members]
    found = days_by_user(store, start, end)
    return [(user, found.get(user.id, {})) for user in people]
