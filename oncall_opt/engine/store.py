"""The store: the database behind the daemon, on one of two backends chosen by its target.

- **DuckDB** (the default: a file path, or `:memory:`): one long-lived connection owned by the
  daemon, a cursor per thread. DuckDB lets one process open a file read-write and refuses every
  other process, so opening a held file raises `DatabaseLockedError` naming the holder and the
  API to use instead.
- **PostgreSQL** (`postgresql://...`): a psycopg 3 connection pool; several daemons may share
  one database, which decides who does what (row locks, `FOR UPDATE SKIP LOCKED`, a unique
  index on open dedup keys, an exclusion constraint on overlapping shifts).

`Store(target)` returns the right one. Above it the engine's SQL is the same on both: `?`
placeholders, sequences for ids, TIMESTAMPTZ in UTC, RETURNING, lists bound as arrays and
unnested. What differs lives here, in `Dialect`: the placeholder style, the session time zone,
the lock clause for claiming work, and which errors mean "try the transaction again".
Migrations are the numbered `.sql` files of `migrations/`, the same for both, each applied once
in its own transaction at start-up; a `NNNN_name.postgresql.sql` beside one is applied with it
on PostgreSQL only (what only several daemons need).

Writes go through `write(fn)`: one at a time per process, in a transaction retried from the
start on a write conflict (DuckDB's optimistic conflicts; PostgreSQL's serialization failures,
deadlocks, and a race lost on the open-dedup-key index).
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from oncall_opt import times
from oncall_opt.errors import ConflictError, OncallOptError, UnavailableError

T = TypeVar("T")

MIGRATIONS_PACKAGE = "oncall_opt.engine.migrations"
POSTGRESQL_SUFFIX = ".postgresql.sql"


@dataclass(frozen=True)
class Migration:
    version: int
    sql: str  # for both backends
    postgresql: str = ""  # applied after it on PostgreSQL only


def read_migrations() -> list[Migration]:
    """The numbered `.sql` files of `migrations/` in order, each with its PostgreSQL-only
    companion if there is one."""
    common: dict[int, str] = {}
    extra: dict[int, str] = {}
    for entry in resources.files(MIGRATIONS_PACKAGE).iterdir():
        number, _, _ = entry.name.partition("_")
        if not entry.name.endswith(".sql") or not number.isdigit():
            continue
        target = extra if entry.name.endswith(POSTGRESQL_SUFFIX) else common
        if int(number) in target:
            raise RuntimeError(f"two migrations share the number {number} in {MIGRATIONS_PACKAGE}")
        target[int(number)] = entry.read_text(encoding="utf-8")
    orphans = set(extra) - set(common)
    if orphans:
        raise RuntimeError(f"PostgreSQL-only migrations without a common one: {sorted(orphans)}")
    return [Migration(v, common[v], extra.get(v, "")) for v in sorted(common)]


MIGRATIONS = read_migrations()

_RETRIES = 8


class DatabaseLockedError(OncallOptError):
    """Another process holds the database file."""


def is_postgresql(target: str | Path) -> bool:
    return str(target).startswith(("postgresql://", "postgres://"))


def statements(sql: str) -> list[str]:
    """A migration's statements (split on `;`; comments never hold one). A piece of nothing but
    comments is none (a common migration whose work is all PostgreSQL's)."""
    return [
        s
        for s in sql.split(";")
        if any(line.strip() and not line.strip().startswith("--") for line in s.splitlines())
    ]


class Store:
    """The database behind the daemon (see the module). Reads use a connection of the calling
    thread; writes go through `write(fn)`, one at a time."""

    dialect: Dialect

    def __new__(cls, target: str | Path, api_url: str | None = None):
        if cls is Store:
            cls = PostgresStore if is_postgresql(target) else DuckDBStore
        return super().__new__(cls)

    def __init__(self, target: str | Path, api_url: str | None = None):
        self.target = str(target)
        # One writer at a time in this process: checks such as "no overlapping shift" then hold
        # across threads; across processes (PostgreSQL) the database's constraints hold.
        self._write_lock = threading.RLock()
        self._memo: dict[str, tuple[float, Any]] = {}
        self._memo_lock = threading.Lock()

    # ----- reading -------------------------------------------------------------------------
    def rows(self, sql: str, params: list | tuple = ()) -> list[dict[str, Any]]:
        raise NotImplementedError

    def row(self, sql: str, params: list | tuple = ()) -> dict[str, Any] | None:
        found = self.rows(sql, params)
        return found[0] if found else None

    def close(self) -> None:
        raise NotImplementedError

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
    def _transaction(self) -> contextlib.AbstractContextManager[Any]:
        """A context yielding a backend cursor in an open transaction: committed on a clean
        exit, rolled back on an exception."""
        raise NotImplementedError

    def write(self, work: Callable[[Transaction], T]) -> T:
        """Run `work` in one transaction; retried from the start on a write conflict, so it
        must do nothing outside the transaction it is given."""
        delay = 0.005
        for attempt in range(_RETRIES):
            with self._write_lock:
                try:
                    with self._transaction() as cursor:
                        tx = Transaction(cursor, self)
                        result = work(tx)
                    for name in tx.forgets:  # what the committed change made stale
                        self.forget(name)
                    for callback in tx.committed:
                        callback()
                    return result
                except Exception as exc:
                    if not self.dialect.retryable(exc) or attempt == _RETRIES - 1:
                        self.dialect.raise_for(exc)
                        raise
            time.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")

    def migrate(self) -> list[int]:
        """Apply the migrations not applied yet; returns their versions."""

        def create_ledger(tx: Transaction) -> None:
            # PostgreSQL's IF NOT EXISTS is not safe against a second daemon creating the
            # same table at the same moment (a unique violation in pg_type), so the ledger
            # is created under the migration lock too.
            for statement in self.dialect.migration_lock:
                tx.execute(statement)
            tx.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)"
            )

        self.write(create_ledger)
        done = {row["version"] for row in self.rows("SELECT version FROM schema_migrations")}
        applied = []
        for migration in MIGRATIONS:
            if migration.version in done:
                continue

            def apply(tx: Transaction, m: Migration = migration) -> None:
                for statement in self.dialect.migration_lock:  # daemons starting at once
                    tx.execute(statement)
                if tx.row("SELECT version FROM schema_migrations WHERE version = ?", [m.version]):
                    return  # another daemon applied it meanwhile
                for statement in statements(m.sql) + self.dialect.extra(m):
                    tx.execute(statement)
                tx.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?)", [m.version, datetime.now(UTC)]
                )

            self.write(apply)
            applied.append(migration.version)
        return applied


class Dialect:
    """What differs between the backends (DuckDB's by default)."""

    name = "duckdb"
    shared = False  # whether several processes may work on the database at once
    claim = ""  # appended to a SELECT that claims rows of work
    migration_lock: tuple[str, ...] = ()  # run first in each migration's transaction

    def sql(self, text: str) -> str:
        return text

    def extra(self, migration: Migration) -> list[str]:
        return []

    def retryable(self, exc: BaseException) -> bool:
        import duckdb

        return isinstance(exc, duckdb.TransactionException)

    def raise_for(self, exc: BaseException) -> None:
        """Turn a database error a user caused into one of ours (or return)."""


class PostgresDialect(Dialect):
    name = "postgresql"
    shared = True
    claim = " FOR UPDATE SKIP LOCKED"
    migration_lock = ("SELECT pg_advisory_xact_lock(7242001)",)

    @staticmethod
    @functools.lru_cache(maxsize=4096)
    def _convert(text: str) -> str:
        return text.replace("%", "%%").replace("?", "%s")

    def sql(self, text: str) -> str:
        return self._convert(text)

    def extra(self, migration: Migration) -> list[str]:
        return statements(migration.postgresql)

    def retryable(self, exc: BaseException) -> bool:
        from psycopg import errors

        if isinstance(exc, errors.SerializationFailure | errors.DeadlockDetected):
            return True
        # Two daemons opened an incident with the same dedup key at once: the loser's
        # transaction is tried again, and then counts against the winner's incident.
        return isinstance(exc, errors.UniqueViolation) and _constraint(exc) == OPEN_DEDUP_INDEX

    def raise_for(self, exc: BaseException) -> None:
        from psycopg import errors

        if isinstance(exc, errors.ExclusionViolation) and _constraint(exc) == NO_OVERLAP:
            raise ConflictError(
                "overlaps a shift that another request has just put in that team's layer: "
                "one person is on call at a time"
            ) from None


OPEN_DEDUP_INDEX = "incidents_open_dedup_key"
NO_OVERLAP = "schedules_no_overlap"


def _constraint(exc: BaseException) -> str | None:
    diag = getattr(exc, "diag", None)
    return getattr(diag, "constraint_name", None)


# ----- DuckDB ----------------------------------------------------------------------------------
class DuckDBStore(Store):
    dialect = Dialect()

    def __init__(self, target: str | Path, api_url: str | None = None):
        super().__init__(target, api_url)
        self.path = Path(target)
        if str(target) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._connection = _connect_duckdb(str(target), api_url)
        self._local = threading.local()
        self._cursors: list[Any] = []
        self._cursors_lock = threading.Lock()
        self.migrate()

    def cursor(self) -> Any:
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

    def rows(self, sql: str, params: list | tuple = ()) -> list[dict[str, Any]]:
        cursor = self.cursor()
        cursor.execute(sql, params)
        return _as_dicts(cursor)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Any]:
        import duckdb

        cursor = self.cursor()
        cursor.execute("BEGIN TRANSACTION")
        try:
            yield _DuckCursor(cursor)
            cursor.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(duckdb.Error):  # DuckDB may have rolled back already
                cursor.execute("ROLLBACK")
            raise


class _DuckCursor:
    """A DuckDB cursor with the Transaction's calling convention."""

    def __init__(self, cursor: Any):
        self._cursor = cursor

    def after_commit(self, callback: Callable[[], object]) -> None:
        """Call `callback` once this transaction has committed (not if it rolls back): to
        wake a job for work it can only see once committed."""
        if callback not in self.committed:
            self.committed.append(callback)

    def execute(self, sql: str, params: list | tuple = ()) -> None:
        self._cursor.execute(sql, params)

    def rows(self, sql: str, params: list | tuple = ()) -> list[dict[str, Any]]:
        self._cursor.execute(sql, params)
        return _as_dicts(self._cursor)

    def insert_many(self, table: str, columns: list[str], rows: list[list]) -> None:
        if rows:
            marks = ", ".join("?" for _ in columns)
            self._cursor.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows
            )


def _connect_duckdb(path: str, api_url: str | None) -> Any:
    import duckdb

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


def _as_dicts(cursor: Any) -> list[dict[str, Any]]:
    if cursor.description is None:
        return []
    names = [column[0] for column in cursor.description]
    return [
        {name: _utc(value) for name, value in zip(names, row, strict=True)}
        for row in cursor.fetchall()
    ]


def _utc(value: Any) -> Any:
    """Both backends hand back zoned datetimes; the package works in datetime.UTC."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC)
    return value


# ----- PostgreSQL ------------------------------------------------------------------------------
CONNECT_TIMEOUT = 3  # seconds to open a connection to PostgreSQL
POOL_WAIT = 5.0  # seconds a request waits for a pooled connection


class PostgresStore(Store):
    dialect = PostgresDialect()

    def __init__(self, target: str | Path, api_url: str | None = None, pool_size: int = 8):
        super().__init__(target, api_url)
        import psycopg
        from psycopg_pool import ConnectionPool

        self.path = None
        try:  # one connection first: a wrong address or password fails now, not after a pool wait
            psycopg.connect(str(target), connect_timeout=10).close()
        except psycopg.Error as exc:
            # libpq's reason (refused, no such database, authentication) never holds the password.
            reason = " ".join(str(exc).split()).removeprefix("connection failed: ")
            raise OncallOptError(
                f"cannot connect to the PostgreSQL database {redact_url(str(target))}: "
                f"{type(exc).__name__}{': ' + reason if reason else ''}"
            ) from None
        self._pool = ConnectionPool(
            str(target),
            min_size=1,
            max_size=pool_size,
            kwargs={
                "options": "-c TimeZone=UTC",
                "autocommit": False,
                "connect_timeout": CONNECT_TIMEOUT,
            },
            open=False,
            name="oncall",
            # A request waits this long for a connection, then fails with a clear 503 rather
            # than hanging for the pool's default 30 s while the database is down.
            timeout=POOL_WAIT,
        )
        try:
            self._pool.open(wait=True, timeout=30)
        except Exception as exc:
            self._pool.close()
            raise OncallOptError(
                f"cannot connect to the PostgreSQL database {redact_url(str(target))}: "
                f"{type(exc).__name__}"
            ) from None
        self.migrate()

    def close(self) -> None:
        self._pool.close()

    def rows(self, sql: str, params: list | tuple = ()) -> list[dict[str, Any]]:
        with (
            self._unavailable_as_503(),
            self._pool.connection() as connection,
            connection.cursor() as cursor,
        ):
            cursor.execute(self.dialect.sql(sql), params)
            return _pg_dicts(cursor)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Any]:
        # The pool's connection commits on a clean exit and rolls back on an exception.
        with (
            self._unavailable_as_503(),
            self._pool.connection() as connection,
            connection.cursor() as cursor,
        ):
            yield _PgCursor(cursor, self.dialect)

    @contextlib.contextmanager
    def _unavailable_as_503(self) -> Iterator[None]:
        """A database that is down or unreachable becomes UnavailableError (a 503 saying so);
        other database errors (a conflict to retry, a constraint) pass unchanged."""
        import psycopg
        from psycopg_pool import PoolTimeout

        try:
            yield
        except PoolTimeout:
            raise UnavailableError(
                f"the database is not answering (no connection within {POOL_WAIT:g} s); "
                "retry in a moment"
            ) from None
        except psycopg.OperationalError as exc:
            state = exc.sqlstate or ""
            if state and not state.startswith(("08", "57P")):  # not a lost connection
                raise
            raise UnavailableError(
                f"the database connection failed ({type(exc).__name__}); retry in a moment"
            ) from None


class _PgCursor:
    def __init__(self, cursor: Any, dialect: PostgresDialect):
        self._cursor, self._dialect = cursor, dialect

    def execute(self, sql: str, params: list | tuple = ()) -> None:
        self._cursor.execute(self._dialect.sql(sql), params)

    def rows(self, sql: str, params: list | tuple = ()) -> list[dict[str, Any]]:
        self._cursor.execute(self._dialect.sql(sql), params)
        return _pg_dicts(self._cursor)

    def insert_many(self, table: str, columns: list[str], rows: list[list]) -> None:
        with self._cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


def _pg_dicts(cursor: Any) -> list[dict[str, Any]]:
    if cursor.description is None:
        return []
    names = [column.name for column in cursor.description]
    return [
        {name: _utc(value) for name, value in zip(names, row, strict=True)}
        for row in cursor.fetchall()
    ]


def redact_url(url: str) -> str:
    """A database URL without its password (safe for logs and messages)."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


# ----- helpers for every module ----------------------------------------------------------------
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
    """The cursor of one write transaction, with row helpers; `claim` is the dialect's clause
    for claiming rows of work (`FOR UPDATE SKIP LOCKED` on PostgreSQL)."""

    def __init__(self, cursor: Any, store: Store | None = None):
        self._cursor = cursor
        self.store = store
        self.forgets: set[str] = set()
        self.committed: list[Callable[[], object]] = []
        self.claim = store.dialect.claim if store is not None else ""
        self.shared = store.dialect.shared if store is not None else False

    def forget(self, name: str) -> None:
        """Once this transaction commits, drop the store's remembered `name` (see
        `Store.remembered`): the change made it stale."""
        self.forgets.add(name)

    def after_commit(self, callback: Callable[[], object]) -> None:
        """Call `callback` once this transaction has committed (not if it rolls back): to
        wake a job for work it can only see once committed."""
        if callback not in self.committed:
            self.committed.append(callback)

    def execute(self, sql: str, params: list | tuple = ()) -> None:
        self._cursor.execute(sql, params)

    def rows(self, sql: str, params: list | tuple = ()) -> list[dict[str, Any]]:
        return self._cursor.rows(sql, params)

    def row(self, sql: str, params: list | tuple = ()) -> dict[str, Any] | None:
        found = self.rows(sql, params)
        return found[0] if found else None

    def insert_many(self, table: str, columns: list[str], rows: list[list]) -> None:
        """Many rows at once (PostgreSQL's COPY): for bulk moves, not the engine's writes."""
        self._cursor.insert_many(table, columns, rows)
