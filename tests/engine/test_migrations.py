"""A database written before teams and services (migrations 1 and 2 only) opens with this
version: it gains the Default team, service and policy, and keeps every person, shift,
incident and message; open incidents go on escalating where the fixed escalation left them."""

from __future__ import annotations

from datetime import timedelta

from oncall_opt.engine import incidents, timeline
from oncall_opt.engine import store as store_module
from oncall_opt.engine.jobs import escalation
from oncall_opt.engine.shifts import list_schedules, scheduled_at
from oncall_opt.engine.store import Store
from oncall_opt.engine.teams import get_team


def test_a_database_from_before_teams_opens_with_everything_kept(tmp_path, clock, monkeypatch):
    path = tmp_path / "old.duckdb"
    now = clock.now()
    monkeypatch.setattr(store_module, "MIGRATIONS", store_module.MIGRATIONS[:2])
    old = Store(path)
    old.write(lambda tx: [tx.execute(sql, params) for sql, params in [
        ("INSERT INTO users (first_name, last_name, slack_handle, created_at) VALUES "
         "('Ana', 'S', 'ana', ?), ('Ben', 'O', 'ben', ?)", [now, now]),
        ("INSERT INTO schedules (user_id, layer, start_time, end_time) VALUES "
         "(1, 1, ?, ?), (2, 2, ?, ?)", [now - timedelta(hours=1), now + timedelta(days=1)] * 2),
        ("INSERT INTO incidents (body, status, created_at, last_triggered_at, assigned_user_id) "
         "VALUES ('waiting', 'triggered', ?, ?, 1)", [now, now]),
        ("INSERT INTO incidents (body, status, created_at, last_triggered_at, assigned_user_id, "
         "escalated_at, escalated_to) VALUES ('escalated', 'triggered', ?, ?, 1, ?, 2)",
         [now - timedelta(hours=1), now - timedelta(hours=1), now - timedelta(minutes=45)]),
        ("INSERT INTO incidents (body, status, created_at, last_triggered_at, acknowledged_at, "
         "resolved_at, resolved_by) VALUES ('done', 'resolved', ?, ?, ?, ?, 2)", [now] * 4),
        ("INSERT INTO outbox (kind, text, created_at, next_attempt_at) VALUES "
         "('created', 'hello', ?, ?)", [now, now]),
    ]])  # fmt: skip
    assert {r["version"] for r in old.rows("SELECT version FROM schema_migrations")} == {1, 2}
    old.close()

    monkeypatch.undo()
    store = Store(path)
    try:
        assert max(r["version"] for r in store.rows("SELECT version FROM schema_migrations")) >= 3
        default = get_team(store, 1)
        assert default.name == "Default" and default.member_ids == (1, 2)
        assert scheduled_at(store, now).user.first_name == "Ana"
        assert scheduled_at(store, now, 2).user.first_name == "Ben"
        assert len(list_schedules(store, now - timedelta(days=1), now + timedelta(days=2))) == 2
        everything = incidents.list_incidents(store, "all")
        assert [(i.body, i.service_id, i.team_id) for i in everything] == [
            ("done", 1, 1),
            ("escalated", 1, 1),
            ("waiting", 1, 1),
        ]
        assert store.row("SELECT count(*) AS n FROM outbox")["n"] == 1
        kinds = [e.kind for e in timeline.entries(store, everything[0].id)]
        assert kinds == ["triggered", "acknowledged", "resolved"]
        # The waiting incident escalates 15 minutes after it was triggered, as before; the
        # escalated one is not paged again.
        waiting = everything[2]
        assert waiting.next_escalation_at == now + timedelta(minutes=15)
        assert escalation.run(store, now + timedelta(minutes=14)) == 0
        assert escalation.run(store, now + timedelta(minutes=15)) == 1
        assert incidents.get_incident(store, waiting.id).escalated_to.first_name == "Ben"
        assert incidents.get_incident(store, everything[1].id).next_escalation_at is None
    finally:
        store.close()


def test_daemons_starting_at_once_on_a_new_postgresql_database_all_start(pg_cluster, monkeypatch):
    """Several daemons migrating the same new database at the same moment: each one starts, and
    every migration is applied once (PostgreSQL's CREATE TABLE IF NOT EXISTS alone races)."""
    import threading

    url = pg_cluster.database()
    # Connected first, migrated together: connecting takes long enough to spread the starts.
    monkeypatch.setattr(Store, "migrate", lambda self: [])
    stores = [Store(url) for _ in range(6)]
    monkeypatch.undo()
    starting = threading.Barrier(len(stores))
    applied: list[list[int]] = []
    failures: list[BaseException] = []

    def migrate(store: Store) -> None:
        starting.wait()
        try:
            applied.append(store.migrate())
        except BaseException as exc:  # reported by the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=migrate, args=(store,)) for store in stores]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert failures == [] and len(applied) == len(stores)
        versions = [r["version"] for r in stores[0].rows("SELECT version FROM schema_migrations")]
        assert sorted(versions) == [m.version for m in store_module.MIGRATIONS]
    finally:
        for store in stores:
            store.close()
