"""The DuckDB store: one long-lived connection owned by the daemon, a cursor per thread,
versioned migrations applied at start-up, and write transactions that retry on conflicts.

DuckDB lets one process open a database file read-write and refuses every other process, so
opening a held file raises `DatabaseLockedError` naming the holder and the API to use instead.
SQL here is kept portable to PostgreSQL: sequences for ids, TIMESTAMPTZ in UTC, RETURNING.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from oncall_opt import times
from oncall_opt.errors import ConflictError, OncallOptError

T = TypeVar("T")

MIGRATIONS_PACKAGE = "oncall_opt.engine.migrations"


def read_migrations() -> list[tuple[int, str]]:
    """The numbered `.sql` files of `migrations/` (`0001_init.sql`, ...) as (version, SQL), in
    order: each is applied once, in its own transaction, at start-up."""
    found = []
    for entry in resources.files(MIGRATIONS_PACKAGE).iterdir():
        number, _, _ = entry.name.partition("_")
        if entry.name.endswith(".sql") and number.isdigit():
            found.append((int(number), entry.read_text(encoding="utf-8")))
    versions = [version for version, _ in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two migrations share a number in {MIGRATIONS_PACKAGE}")
    return sorted(found)


MIGRATIONS = read_migrations()

_RETRIES = 8


class DatabaseLockedError(OncallOptError):
    """Another process holds the database file."""


class Store:
    """The database behind the daemon. Reads use the calling thread's cursor; writes go through
    `write(fn)`, one at a time, in a transaction retried on DuckDB write conflicts."""

    def __init__(self, path: str | Path, api_url: str | None = None):
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._connection = _connect(str(path), api_url)
        self._local = threading.local()
        # One writer at a time: checks such as "no overlapping shift" then hold across threads,
        # and DuckDB's optimistic conflicts become rare (they are still retried).
        self._write_lock = threading.RLock()
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self._cursors_lock = threading.Lock()
        self._memo: dict[str, tuple[float, Any]] = {}
        self._memo_lock = threading.Lock()
        self.migrate()

    # ----- connections ---------------------------------------------------------------------
    def cursor(self) -> duckdb.DuckDBPyConnection:
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            cursor = self._connection.cursor()
            cursor.execute("SET TimeZone = 'UTC'")
            self._local.cursor = cursor
            with self._cursors_lock:
                self._cursors.append(cursor)
        return cursor

    def close(self) -> None:
        with self._cursors_lock:
            for cursor in self._cursors:
                cursor.close()
            self._cursors.clear()
        self._connection.close()

    # ----- reading -------------------------------------------------------------------------
    def rows(self, sql: str, params: list | tuple = ()) -> list[dict[str, Any]]:
        cursor = self.cursor()
        cursor.execute(sql, params)
        return _as_dicts(cursor)

    def row(self, sql: str, params: list | tuple = ()) -> dict[str, Any] | None:
        found = self.rows(sql, params)
        return found[0] if found else None

    # ----- remembered reads ------------------------------------------------------------------
    def remembered(self, name: str, ttl: float, load: Callable[[], T]) -> T:
        """`load()`'s result, read again after `ttl` seconds or once a committed transaction
        of this store forgot `name`. For small tables that every trigger reads and few writes
        change (services, policies, team names); another process's change is seen within `ttl`."""
        with self._memo_lock:
            hit = self._memo.get(name)
        if hit is not None and time.monotonic() - hit[0] < ttl:
            return hit[1]
        value = load()
        with self._memo_lock:
            self._memo[name] = (time.monotonic(), value)
        return value

    def forget(self, name: str) -> None:
        with self._memo_lock:
            self._memo.pop(name, None)

    # ----- writing -------------------------------------------------------------------------
    def write(self, work: Callable[[Transaction], T]) -> T:
        """Run `work` in one transaction; retried from the start on a write conflict, so it
        must do nothing outside the transaction it is given."""
        delay = 0.005
        for attempt in range(_RETRIES):
            with self._write_lock:
                cursor = self.cursor()
                cursor.execute("BEGIN TRANSACTION")
                try:
                    tx = Transaction(cursor, self)
                    result = work(tx)
                    cursor.execute("COMMIT")
                    for name in tx.forgets:  # what the committed change made stale
                        self.forget(name)
                    return result
                except duckdb.TransactionException:
                    _rollback(cursor)
                    if attempt == _RETRIES - 1:
                        raise
                except BaseException:
                    _rollback(cursor)
                    raise
            time.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")

    def migrate(self) -> list[int]:
        """Apply the migrations not applied yet; returns their versions."""
        cursor = self.cursor()
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)"
        )
        done = {
            row[0] for row in cursor.execute("SELECT version FROM schema_migrations").fetchall()
        }
        applied = []
        for version, sql in MIGRATIONS:
            if version in done:
                continue

            def apply(tx: Transaction, version=version, sql=sql) -> None:
                for statement in filter(str.strip, sql.split(";")):
                    tx.execute(statement)
                tx.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?)", [version, datetime.now(UTC)]
                )

            self.write(apply)
            applied.append(version)
        return applied


def check_unique_name(
    source: Store | Transaction, table: str, name: str, what: str, except_id: int = 0
) -> None:
    """Refuse (409) a second row of `table` with this name, whatever its letter case."""
    clash = source.row(
        f"SELECT id FROM {table} WHERE lower(name) = lower(?) AND id <> ?", [name, except_id]
    )
    if clash:
        raise ConflictError(f"{what} called '{name}' exists already (id {clash['id']})")


class Transaction:
    """The cursor of one write transaction, with row helpers."""

    def __init__(self, cursor: duckdb.DuckDBPyConnection, store: Store | None = None):
        self._cursor = cursor
        self.store = store
        self.forgets: set[str] = set()

    def forget(self, name: str) -> None:
        """Once this transaction commits, drop the store's remembered `name` (see
        `Store.remembered`): the change made it stale."""
        self.forgets.add(name)

    def execute(self, sql: str, params: list | tuple = ()) -> None:
        self._cursor.execute(sql, params)

    def rows(self, sql: str, params: list | tuple = ()) -> list[dict[str, Any]]:
        self._cursor.execute(sql, params)
        return _as_dicts(self._cursor)

    def row(self, sql: str, params: list | tuple = ()) -> dict[str, Any] | None:
        found = self.rows(sql, params)
        return found[0] if found else None


def _as_dicts(cursor: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    if cursor.description is None:
        return []
    names = [column[0] for column in cursor.description]
    return [
        {name: _utc(value) for name, value in zip(names, row, strict=True)}
        for row in cursor.fetchall()
    ]


def _utc(value: Any) -> Any:
    """DuckDB hands back pytz-zoned datetimes; the package works in datetime.UTC."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC)
    return value


def _rollback(cursor: duckdb.DuckDBPyConnection) -> None:
    with contextlib.suppress(duckdb.Error):  # DuckDB may have rolled back already
        cursor.execute("ROLLBACK")


def _connect(path: str, api_url: str | None) -> duckdb.DuckDBPyConnection:
    try:
        connection = duckdb.connect(path)
    except duckdb.IOException as exc:
        message = str(exc)
        if "lock" not in message.lower():
            raise
        holder = re.search(r"held in (?P<program>\S+) \(PID (?P<pid>\d+)\)", message)
        who = f"process {holder['pid']} ({holder['program']})" if holder else "another process"
        api_url = api_url or times.daemon_url(os.environ)
        raise DatabaseLockedError(
            f"{path} is held by {who}. Only one process may open it: the daemon (runner.py). "
            f"Reach live data through its API at {api_url} with oncall_opt.client.Client."
        ) from None
    connection.execute("SET TimeZone = 'UTC'")
    return connection
