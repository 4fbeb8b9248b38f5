"""Heartbeat monitors under the fake clock: a monitor's secret URL takes pings; no ping for its
interval opens one incident on the service (not one per check, and one with two daemons on
PostgreSQL); the next ping resolves it; the URL is the credential, shown once and masked."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from oncall_opt.api import create_app
from oncall_opt.engine import heartbeats
from oncall_opt.engine.jobs.loop import JobLoop
from oncall_opt.engine.settings import Settings
from oncall_opt.engine.store import Store

LOCAL = "http://127.0.0.1"
TOKEN = "heartbeat-test-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


def ok(response, status: int = 200):
    assert response.status_code == status, response.text
    return response.json()


@pytest.fixture
def api(store, clock):
    settings = Settings(api_token=SecretStr(TOKEN))
    app = create_app(store, settings, clock, run_jobs=False)
    with TestClient(base_url=LOCAL, app=app, headers=ADMIN) as client:
        client.jobs = JobLoop(store, settings, clock, sleep=lambda s: None)
        yield client


def incidents(api) -> list[dict]:
    return ok(api.get("/incidents", params={"Status": "all"}))["Items"]


def test_a_silent_job_opens_one_incident_and_its_next_ping_resolves_it(api, clock):
    service = ok(api.post("/services", json={"Name": "backups"}), 201)
    made = ok(api.post(f"/services/{service['Id']}/heartbeats",
                       json={"Name": "nightly-backup", "IntervalMinutes": 10}), 201)  # fmt: skip
    url = made["Url"]
    assert url.startswith(f"{LOCAL}/heartbeat/oo_hb_")
    path = url.removeprefix(LOCAL)
    anonymous = TestClient(base_url=LOCAL, app=api.app)
    assert ok(anonymous.get(path))["Name"] == "nightly-backup"  # a ping needs no API token
    clock.advance(minutes=9)
    assert api.jobs.run_once()["heartbeats"] == 0
    clock.advance(minutes=1)  # ten minutes without a ping
    assert api.jobs.run_once()["heartbeats"] == 1
    assert api.jobs.run_once()["heartbeats"] == 0  # once
    [incident] = incidents(api)
    assert incident["Body"] == (
        "No heartbeat from nightly-backup since 2026-01-05T09:00:00Z: expected every 10 min"
    )
    assert incident["ServiceId"] == service["Id"] and incident["Source"] == "heartbeat"
    listed = ok(api.get(f"/services/{service['Id']}/heartbeats"))["Items"]
    assert listed[0]["Down"] is True and "Url" not in listed[0]
    ok(anonymous.post(path))  # the job is back
    [incident] = incidents(api)
    assert incident["Status"] == "resolved"
    log = [e["Message"] for e in ok(api.get(f"/incidents/{incident['Id']}/log"))["Items"]]
    assert "resolved via heartbeat nightly-backup" in log
    clock.advance(minutes=10)
    assert api.jobs.run_once()["heartbeats"] == 1  # silent again: a new incident
    assert len(incidents(api)) == 2


def test_an_unknown_token_is_404_and_only_admins_make_monitors(api):
    anonymous = TestClient(base_url=LOCAL, app=api.app)
    assert anonymous.get("/heartbeat/oo_hb_not-a-token").status_code == 404
    bad = api.post("/services/1/heartbeats", json={"Name": "x", "IntervalMinutes": 0})
    assert bad.status_code == 400 and "IntervalMinutes" in bad.text
    user = ok(api.post("/users", json={"FirstName": "M", "LastName": "X", "SlackHandle": "m"}))
    key = ok(api.post(f"/users/{user['Id']}/api-keys", json={"Name": "k"}), 201)["Key"]
    member = {"Authorization": f"Bearer {key}"}
    refused = api.post("/services/1/heartbeats", json={"Name": "x", "IntervalMinutes": 5},
                       headers=member)  # fmt: skip
    assert refused.status_code == 403


def test_two_daemons_on_postgresql_open_one_incident(pg_cluster, clock):
    url = pg_cluster.database()
    first, second = Store(url), Store(url)
    try:
        from oncall_opt.engine.services import create_service

        service, _ = create_service(first, "backups", clock.now())
        heartbeats.create(first, service.id, "nightly", 5, clock.now())
        clock.advance(minutes=6)
        start = threading.Barrier(2)
        opened: list[int] = []

        def check(store: Store) -> None:
            start.wait()
            opened.append(heartbeats.check(store, clock.now()))

        threads = [threading.Thread(target=check, args=(s,)) for s in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(opened) == [0, 1]
        rows = first.rows("SELECT dedup_key FROM incidents WHERE source = 'heartbeat'")
        assert len(rows) == 1
    finally:
        first.close()
        second.close()
        pg_cluster.drop(url)
