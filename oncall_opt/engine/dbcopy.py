"""Copy a whole database into an empty PostgreSQL one: how a team moves from the embedded
DuckDB default to several daemons on PostgreSQL (`oncall-opt db copy`).

Both sides are first brought to the latest migration. The target must hold nothing beyond
what the migrations put in a new database (the Default team, policy and service), which the
copy replaces with the source's. Every table but `schema_migrations` is copied in one
transaction: a refused row (two overlapping shifts, two open incidents with one dedup key)
rolls everything back and names the table. The id sequences then continue after the copied
ids, and the row counts of both sides are compared after the commit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from oncall_opt.engine.store import Store, Transaction, is_postgresql, redact_url
from oncall_opt.errors import OncallOptError

BOOKKEEPING = {"schema_migrations"}  # each side keeps its own


class CopyError(OncallOptError):
    """The copy was refused or failed; nothing was written to the target."""


@dataclass(frozen=True)
class Copied:
    table: str
    rows: int


def tables(store: Store) -> dict[str, list[str]]:
    """The store's tables (bookkeeping aside) and their columns in order."""
    columns: dict[str, list[str]] = {}
    for row in store.rows(
        "SELECT c.table_name AS t, c.column_name AS c FROM information_schema.columns c "
        "JOIN information_schema.tables t ON t.table_name = c.table_name "
        "AND t.table_schema = c.table_schema "
        "WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' "
        "ORDER BY c.table_name, c.ordinal_position"
    ):
        if row["t"] not in BOOKKEEPING:
            columns.setdefault(row["t"], []).append(row["c"])
    return columns


def counts(store: Store, names: list[str]) -> dict[str, int]:
    return {name: store.row(f"SELECT count(*) AS n FROM {name}")["n"] for name in names}


def new_database_counts() -> dict[str, int]:
    """How many rows each table holds in a database the migrations have just made."""
    fresh = Store(":memory:")
    try:
        return counts(fresh, list(tables(fresh)))
    finally:
        fresh.close()


def copy_database(
    source_target: str, target_url: str, say: Callable[[str], object] = print
) -> list[Copied]:
    if not is_postgresql(target_url):
        raise CopyError(
            f"--to must be a PostgreSQL URL (postgresql://user@host/database), "
            f"not {redact_url(target_url)}"
        )
    if source_target == target_url:
        raise CopyError("--from and --to are the same database")
    source = Store(source_target)
    try:
        target = Store(target_url)
        try:
            return _copy(source, target, say)
        finally:
            target.close()
    finally:
        source.close()


def _copy(source: Store, target: Store, say: Callable[[str], object]) -> list[Copied]:
    source_tables, target_tables = tables(source), tables(target)
    if source_tables != target_tables:
        differ = sorted(set(source_tables.items()) ^ set(target_tables.items()), key=str)
        raise CopyError(f"the two databases' tables differ after migrating: {differ[:3]}")
    names = sorted(source_tables)
    allowed = new_database_counts()
    source_counts = counts(source, names)

    def copy(tx: Transaction) -> None:
        occupied = {
            name: n
            for name in names
            if (n := tx.row(f"SELECT count(*) AS n FROM {name}")["n"]) > allowed.get(name, 0)
        }
        if occupied:
            listed = ", ".join(
                f"{name} ({n} row{'s' if n != 1 else ''})" for name, n in sorted(occupied.items())
            )
            raise CopyError(
                f"the target database is not empty: {listed}. Copy into a new database "
                "(createdb), or drop this one first"
            )
        for name in names:
            tx.execute(f"DELETE FROM {name}")  # the migrations' Default rows
            rows = source.rows(f"SELECT * FROM {name}")
            columns = source_tables[name]
            try:
                tx.insert_many(name, columns, [[row[c] for c in columns] for row in rows])
            except Exception as exc:
                raise _refused(name, exc) from None
            if "id" in columns and rows:
                tx.execute(
                    "SELECT setval(?, (SELECT max(id) FROM " + name + "))", [f"{name}_id_seq"]
                )

    target.write(copy)
    copied = counts(target, names)
    if copied != source_counts:
        wrong = {n: (source_counts[n], copied[n]) for n in names if copied[n] != source_counts[n]}
        raise CopyError(f"row counts differ after the copy (source, target): {wrong}")
    result = [Copied(name, copied[name]) for name in names]
    say(
        f"copied {sum(c.rows for c in result)} rows in {len(result)} tables from "
        f"{redact_url(source.target)} to {redact_url(target.target)}; counts match"
    )
    return result


def _refused(table: str, exc: Exception) -> CopyError:
    """A row the target refused, named by its table and constraint (never its values)."""
    diag = getattr(exc, "diag", None)
    constraint = getattr(diag, "constraint_name", None)
    primary = getattr(diag, "message_primary", None) or type(exc).__name__
    where = f" ({constraint})" if constraint else ""
    return CopyError(f"{table}: the target refused a row: {primary}{where}; nothing was copied")
