"""People who can be on call."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from oncall_opt.engine import text
from oncall_opt.engine.records import User
from oncall_opt.engine.store import Store, Transaction
from oncall_opt.errors import ConflictError, InvalidRequestError, NotFoundError

_COLUMNS = "id, first_name, last_name, slack_handle, time_zone, role"
ROLES = ("admin", "member")


def _from_row(row: dict[str, Any]) -> User:
    return User(**row)


def _check_zone(time_zone: str | None) -> str | None:
    if time_zone is None or time_zone == "":
        return None
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InvalidRequestError("TimeZone", f"unknown IANA time zone '{time_zone}'") from None
    return time_zone


def check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidRequestError("Role", f"'{role}' is not a role; use admin or member")
    return role


def create_user(
    store: Store,
    first_name: str,
    last_name: str,
    slack_handle: str,
    now: datetime,
    time_zone: str | None = None,
    role: str = "member",
    team_ids: Sequence[int] = (1,),
) -> User:
    """A new person, a member of `team_ids` (by default the Default team)."""
    values = [
        text.name("FirstName", first_name),
        text.name("LastName", last_name),
        text.slack_handle(slack_handle),
        _check_zone(time_zone),
        check_role(role),
        now,
    ]
    teams = sorted(set(team_ids))

    def work(tx: Transaction) -> User:
        _check_unique_handle(tx, values[2])
        known = {r["id"] for r in tx.rows("SELECT id FROM teams")}
        for i, team_id in enumerate(teams):
            if team_id not in known:
                raise NotFoundError(f"TeamIds[{i}]: no team with id {team_id}")
        row = tx.row(
            "INSERT INTO users (first_name, last_name, slack_handle, time_zone, role, created_at) "
            f"VALUES (?, ?, ?, ?, ?, ?) RETURNING {_COLUMNS}",
            values,
        )
        assert row is not None
        for team_id in teams:
            tx.execute(
                "INSERT INTO team_members (team_id, user_id) VALUES (?, ?)", [team_id, row["id"]]
            )
        return _from_row(row)

    return store.write(work)


def update_user(store: Store, user_id: int, **fields: str | None) -> User:
    """Change any of first_name, last_name, slack_handle, time_zone, role."""
    names = {"first_name": "FirstName", "last_name": "LastName", "slack_handle": "SlackHandle"}
    changes: dict[str, Any] = {}
    for key, value in fields.items():
        if value is None:
            continue
        if key == "time_zone":
            changes[key] = _check_zone(value)
        elif key == "role":
            changes[key] = check_role(value)
        elif key == "slack_handle":
            changes[key] = text.slack_handle(value)
        else:
            changes[key] = text.name(names[key], value)

    def work(tx: Transaction) -> User:
        user = get_user(tx, user_id)
        if not changes:
            return user
        if "slack_handle" in changes:
            _check_unique_handle(tx, changes["slack_handle"], user.id)
        assignments = ", ".join(f"{key} = ?" for key in changes)
        row = tx.row(
            f"UPDATE users SET {assignments} WHERE id = ? RETURNING {_COLUMNS}",
            [*changes.values(), user.id],
        )
        assert row is not None
        return _from_row(row)

    return store.write(work)


def same_handle(a: str, b: str) -> bool:
    """Whether two handles are one, whatever their case (Unicode's case folding: the
    database's lower() and Python's disagree on some scripts)."""
    return a.casefold() == b.casefold()


def _check_unique_handle(tx: Transaction, handle: str, user_id: int | None = None) -> None:
    """A handle names one person (sign-in and mentions go by it), whatever its case."""
    rows = tx.rows(
        "SELECT id, first_name, last_name, slack_handle FROM users WHERE id <> ?", [user_id or 0]
    )
    row = next((r for r in rows if same_handle(r["slack_handle"], handle)), None)
    if row is not None:
        raise ConflictError(
            f"SlackHandle: @{handle} is already the handle of {row['first_name']} "
            f"{row['last_name']} (user {row['id']})"
        )


def get_user(source: Store | Transaction, user_id: int) -> User:
    row = source.row(f"SELECT {_COLUMNS} FROM users WHERE id = ?", [user_id])
    if row is None:
        raise NotFoundError(f"no user with id {user_id}")
    return _from_row(row)


def list_users(store: Store) -> list[User]:
    return [_from_row(r) for r in store.rows(f"SELECT {_COLUMNS} FROM users ORDER BY id")]


def users_by_id(source: Store | Transaction, ids: set[int]) -> dict[int, User]:
    if not ids:
        return {}
    marks = ", ".join("?" for _ in ids)
    rows = source.rows(f"SELECT {_COLUMNS} FROM users WHERE id IN ({marks})", sorted(ids))
    return {row["id"]: _from_row(row) for row in rows}
