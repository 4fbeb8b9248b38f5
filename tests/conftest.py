from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from testkit import ROOT


@pytest.fixture
def bundled_input() -> Path:
    return ROOT / "data" / "input.json"


# ----- shared by the daemon's tests ------------------------------------------------------------
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # a Monday morning


@pytest.fixture(scope="session")
def pg_cluster():
    """A throwaway PostgreSQL cluster for this test process (tests/pg_cluster.py); skipped
    without PostgreSQL's binaries, except under CI=true, where that fails."""
    import os

    import pg_cluster as pg

    if pg.binaries() is None:
        message = "PostgreSQL's initdb not found: apt-get install postgresql"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    cluster = pg.start()
    yield cluster
    cluster.stop()


BACKENDS = ["duckdb", "postgresql"]


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def store(tmp_path, backend, request):
    """A fresh database for one test, on each backend: a DuckDB file, and a new database in
    the throwaway PostgreSQL cluster."""
    from oncall_opt.engine.store import Store

    cluster = request.getfixturevalue("pg_cluster") if backend == "postgresql" else None
    target = cluster.database() if cluster else tmp_path / "t.duckdb"
    store = Store(target)
    yield store
    store.close()
    if cluster:
        cluster.drop(target)


@pytest.fixture
def clock():
    from fake_clock import FakeClock

    return FakeClock(NOW)


@pytest.fixture
def slack():
    """A fake Slack on 127.0.0.1 that fails the test on any message it did not expect."""
    from fake_slack import FakeSlack

    fake = FakeSlack()
    try:
        yield fake
        fake.check()
    finally:
        fake.close()


@pytest.fixture
def mail():
    """A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps what it is sent."""
    from fake_mail import FakeMail

    server = FakeMail()
    yield server
    server.stop()
