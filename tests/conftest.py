from __future__ import annotations

import copy
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def team(days: int = 7, people: int = 3, start: str = "2027-01-04T00:00:00Z", **extra: Any) -> dict:
    """A small input.json document: `people` users, a `days`-day window from `start`."""
    from datetime import datetime, timedelta

    first = datetime.fromisoformat(start)
    end = (first + timedelta(days=days - 1)).isoformat().replace("+00:00", "Z")
    doc = {
        "schedule_start": start,
        "schedule_end": end,
        "users": [{"id": f"u{i}", "name": f"User {i}"} for i in range(people)],
    }
    doc.update(copy.deepcopy(extra))
    return doc


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


def wait_for(
    condition: Callable[[], Any], timeout: float = 30.0, message: str = "the condition"
) -> Any:
    """Poll `condition()` until it returns something truthy, and return that. `timeout` only
    bounds a hang (it is never a speed requirement): past it the test fails with `message`."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {message}")
        time.sleep(0.01)
