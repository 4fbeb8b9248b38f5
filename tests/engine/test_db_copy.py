"""`oncall-opt db copy`: a team's DuckDB database moved into an empty PostgreSQL one, row for
row, with the ids continuing after it; a non-empty target, a refused row and a held source
are clear errors that leave the target as it was; a password in a URL is never printed."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, timedelta

import pytest

from oncall_opt.cli import main
from oncall_opt.engine import auth, incidents
from oncall_opt.engine.availability import set_days
from oncall_opt.engine.dbcopy import new_database_counts, tables
from oncall_opt.engine.shifts import create_schedule
from oncall_opt.engine.store import Store
from oncall_opt.engine.teams import create_team
from oncall_opt.engine.users import create_user

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
HOLD = (
    "import sys, duckdb; db = duckdb.connect(sys.argv[1]); print('holding', flush=True); "
    "sys.stdin.read()"
)


def everything(store: Store) -> dict[str, list[tuple]]:
    """Every row of every table, in a comparable form."""
    return {
        name: sorted(
            (tuple(row[c] for c in columns) for row in store.rows(f"SELECT * FROM {name}")),
            key=repr,
        )
        for name, columns in tables(store).items()
    }


@pytest.fixture
def team_database(tmp_path):
    """A DuckDB file with a team's life in it: people, a second team, shifts, days, a key,
    incidents (one retriggered by dedup key, one acknowledged) and their Slack messages."""
    path = tmp_path / "oncall.duckdb"
    store = Store(path)
    ana = create_user(store, "Ana", "Silva", "ana", NOW, role="admin")
    ben = create_user(store, "Ben", "Okafor", "ben", NOW)
    create_team(store, "Storage", NOW, member_ids=[ben.id])
    for day in range(5):
        start = NOW + timedelta(days=day)
        create_schedule(store, (ana, ben)[day % 2].id, start, start + timedelta(days=1))
    set_days(store, ben.id, date(2026, 1, 1), date(2026, 1, 31), {"2026-01-10": "unavailable"})
    auth.create_key(store, ana.id, "alertmanager", NOW)
    for _ in range(3):
        incidents.trigger(store, "disk full on db-1", NOW, dedup_key="disk-db-1")
    other, _ = incidents.trigger(store, "checkout latency", NOW)
    incidents.acknowledge(store, other.id, NOW, by_user_id=ben.id)
    store.close()
    return path


def test_a_duckdb_database_is_copied_row_for_row_and_ids_go_on(team_database, pg_cluster, capsys):
    url = pg_cluster.database()
    assert main(["db", "copy", "--from", str(team_database), "--to", url]) == 0
    out = capsys.readouterr().out
    assert "counts match" in out

    source, target = Store(team_database), Store(url)
    try:
        expected, copied = everything(source), everything(target)
        assert set(copied) == set(expected)
        for name in expected:
            assert copied[name] == expected[name], name
        assert len(copied["incidents"]) == 2 and len(copied["outbox"]) >= 2
        # The Default team, policy and service are the source's (its integration key works).
        assert copied["services"] == expected["services"]

        # New rows continue after the copied ids, and the daemon's rules hold on the copy.
        chloe = create_user(target, "Chloé", "Dubois", "chloe", NOW)
        assert chloe.id == max(row[0] for row in expected["users"]) + 1
        again, created = incidents.trigger(target, "disk full on db-1", NOW, dedup_key="disk-db-1")
        assert not created and again.trigger_count == 4
    finally:
        source.close()
        target.close()


def test_a_target_with_data_is_refused_and_left_as_it_was(team_database, pg_cluster, capsys):
    url = pg_cluster.database()
    assert main(["db", "copy", "--from", str(team_database), "--to", url]) == 0
    target = Store(url)
    before = everything(target)
    target.close()
    capsys.readouterr()

    assert main(["db", "copy", "--from", str(team_database), "--to", url]) == 1
    err = capsys.readouterr().err
    assert "the target database is not empty" in err
    assert "users (2 rows)" in err and "incidents (2 rows)" in err
    assert "Traceback" not in err
    target = Store(url)
    assert everything(target) == before
    target.close()


def test_a_row_the_target_refuses_rolls_everything_back(tmp_path, pg_cluster, capsys):
    """Overlapping shifts that an old DuckDB file might hold: PostgreSQL's exclusion
    constraint refuses them, the copy names the table and the target stays new."""
    path = tmp_path / "old.duckdb"
    store = Store(path)
    ana = create_user(store, "Ana", "Silva", "ana", NOW)
    create_schedule(store, ana.id, NOW, NOW + timedelta(hours=8))
    store.write(
        lambda tx: tx.execute(
            "INSERT INTO schedules (user_id, start_time, end_time, layer, team_id) "
            "VALUES (?, ?, ?, 1, 1)",
            [ana.id, NOW + timedelta(hours=4), NOW + timedelta(hours=12)],
        )
    )
    store.close()
    url = pg_cluster.database()
    assert main(["db", "copy", "--from", str(path), "--to", url]) == 1
    err = capsys.readouterr().err
    assert "schedules: the target refused a row" in err and "schedules_no_overlap" in err
    assert "nothing was copied" in err
    target = Store(url)
    fresh = new_database_counts()
    assert {name: len(rows) for name, rows in everything(target).items()} == fresh
    target.close()


def test_clear_errors_for_a_held_source_a_missing_file_and_a_duckdb_target(
    team_database, tmp_path, pg_cluster, capsys
):
    url = pg_cluster.database()
    holder = subprocess.Popen(  # the daemon, still running on the file
        [sys.executable, "-c", HOLD, str(team_database)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        assert main(["db", "copy", "--from", str(team_database), "--to", url]) == 1
        err = capsys.readouterr().err
        assert f"held by process {holder.pid}" in err and "Only one process may open it" in err
    finally:
        holder.communicate("")

    missing = tmp_path / "nowhere.duckdb"
    assert main(["db", "copy", "--from", str(missing), "--to", url]) == 1
    assert "no database file" in capsys.readouterr().err
    assert not missing.exists()

    assert main(["db", "copy", "--from", str(team_database), "--to", "x.duckdb"]) == 1
    assert "--to must be a PostgreSQL URL" in capsys.readouterr().err


def test_a_password_in_a_url_is_never_printed(team_database, pg_cluster, capsys):
    url = pg_cluster.database().replace("postgres@", "postgres:s3cret-pass@")
    assert main(["db", "copy", "--from", str(team_database), "--to", url]) == 0
    wrong_port = url.replace(f":{pg_cluster.port}/", ":1/")
    assert main(["db", "copy", "--from", str(team_database), "--to", wrong_port]) == 1
    captured = capsys.readouterr()
    assert "s3cret-pass" not in captured.out + captured.err
    assert "postgres:***@" in captured.out and "cannot connect" in captured.err
