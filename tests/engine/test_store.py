"""The DuckDB store and the daemon's settings."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import SecretStr

from oncall_opt.engine.settings import ConfigError, load_settings
from oncall_opt.engine.store import MIGRATIONS, Store


def test_migrations_apply_once_and_survive_reopening(tmp_path):
    path = tmp_path / "oncall.duckdb"
    store = Store(path)
    assert [r["version"] for r in store.rows("SELECT version FROM schema_migrations")] == [
        m.version for m in MIGRATIONS
    ]
    store.write(
        lambda tx: tx.execute(
            "INSERT INTO users (first_name, last_name, slack_handle, created_at) "
            "VALUES ('Katy', 'Smith', 'katy', ?)",
            [datetime(2026, 1, 1, tzinfo=UTC)],
        )
    )
    assert store.migrate() == []
    store.close()
    again = Store(path)
    assert again.migrate() == []
    assert again.row("SELECT first_name FROM users") == {"first_name": "Katy"}
    again.close()


def test_timestamps_come_back_in_utc():
    store = Store(":memory:")
    local = datetime(2026, 3, 29, 3, 30, tzinfo=timezone(timedelta(hours=2)))
    store.write(
        lambda tx: tx.execute(
            "INSERT INTO users (first_name, last_name, slack_handle, created_at) "
            "VALUES ('A', 'B', 'c', ?)",
            [local],
        )
    )
    created = store.row("SELECT created_at FROM users")["created_at"]
    assert created == local and created.tzinfo is UTC and created.hour == 1


def test_a_failed_transaction_leaves_nothing():
    store = Store(":memory:")

    def half_done(tx):
        tx.execute(
            "INSERT INTO users (first_name, last_name, slack_handle, created_at) "
            "VALUES ('A', 'B', 'c', now())"
        )
        raise ValueError("stop here")

    with pytest.raises(ValueError):
        store.write(half_done)
    assert store.rows("SELECT * FROM users") == []


def test_concurrent_writers_lose_nothing():
    store = Store(":memory:")
    store.write(
        lambda tx: tx.execute(
            "INSERT INTO users (first_name, last_name, slack_handle, created_at) "
            "VALUES ('A', 'B', 'c', now())"
        )
    )

    def bump(_):
        for _ in range(50):
            store.write(
                lambda tx: tx.execute("UPDATE users SET last_name = last_name || 'x' WHERE id = 1")
            )

    threads = [threading.Thread(target=bump, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.row("SELECT length(last_name) AS n FROM users")["n"] == 1 + 200


def test_conflicts_between_connections_are_retried(tmp_path):
    store = Store(tmp_path / "x.duckdb")
    store.write(
        lambda tx: tx.execute(
            "INSERT INTO users (first_name, last_name, slack_handle, created_at) "
            "VALUES ('A', 'B', 'c', now())"
        )
    )
    # A transaction outside the store's lock holds the same column of the same row (DuckDB
    # detects conflicts per column), so the store's first try conflicts and is retried.
    other = store._connection.cursor()
    other.execute("BEGIN TRANSACTION")
    other.execute("UPDATE users SET last_name = 'Other' WHERE id = 1")
    attempts = []

    def rename(tx):
        attempts.append(1)
        if len(attempts) == 2:
            other.execute("COMMIT")
        tx.execute("UPDATE users SET last_name = last_name || '+Mine' WHERE id = 1")

    store.write(rename)
    assert len(attempts) == 2
    assert store.row("SELECT last_name FROM users") == {"last_name": "Other+Mine"}


def test_a_second_process_is_told_who_holds_the_file(tmp_path):
    path = tmp_path / "held.duckdb"
    store = Store(path)
    code = (
        "import sys\n"
        "from oncall_opt.engine.store import Store, DatabaseLockedError\n"
        f"try:\n    Store({str(path)!r})\n"
        "except DatabaseLockedError as exc:\n    print(exc); sys.exit(3)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    elsewhere = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "ONCALL_BIND": "127.0.0.1:4000"},
    )
    store.close()
    assert result.returncode == 3, result.stderr
    message = result.stdout
    assert "is held by process" in message
    assert "the daemon (runner.py)" in message and "http://127.0.0.1:8080" in message
    assert "http://127.0.0.1:4000" in elsewhere.stdout  # the address the daemon was given


def test_settings_from_environment_and_secrets_file(tmp_path):
    secrets = tmp_path / "secrets.env"
    secrets.write_text(
        "# Slack\nONCALL_SLACK_WEBHOOK_URL='https://hooks.example/T000/B000/XXXX'\n"
        "export API_TOKEN=from-file\n",
        encoding="utf-8",
    )
    settings = load_settings(
        {
            "ONCALL_SECRETS_FILE": str(secrets),
            "ONCALL_API_TOKEN": "from-env",
            "ONCALL_BIND": "0.0.0.0:9000",
            "ONCALL_REMIND_EVERY": "30",
        }
    )
    assert settings.slack_webhook_url == SecretStr("https://hooks.example/T000/B000/XXXX")
    assert settings.api_token.get_secret_value() == "from-env"  # the environment wins
    assert (settings.host, settings.port, settings.remind_every) == ("0.0.0.0", 9000, 30.0)
    assert "XXXX" not in repr(settings) and "from-env" not in str(settings)


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"ONCALL_BIND": "localhost"}, "ONCALL_BIND: expected HOST:PORT"),
        ({"ONCALL_REMIND_EVERY": "soon"}, "ONCALL_REMIND_EVERY: 'soon' is not a number"),
        ({"ONCALL_ASSIGN_EVERY": "0"}, "ONCALL_ASSIGN_EVERY: must be more than 0"),
        ({"ONCALL_SECRETS_FILE": "/nonexistent/secrets.env"}, "no file at"),
        (
            {"ONCALL_DELIVERY_LEASE": "5", "ONCALL_SLACK_TIMEOUT": "10"},
            "ONCALL_DELIVERY_LEASE: must be more than ONCALL_SLACK_TIMEOUT",
        ),
    ],
)
def test_bad_settings_name_the_variable(env, words):
    with pytest.raises(ConfigError, match=words):
        load_settings(env)


def test_a_piece_of_nothing_but_comments_is_no_statement():
    from oncall_opt.engine.store import statements

    sql = "-- only PostgreSQL's work here\n-- none for DuckDB;\nCREATE INDEX a ON b (c);\n-- end"
    assert [s.strip() for s in statements(sql)] == ["CREATE INDEX a ON b (c)"]
