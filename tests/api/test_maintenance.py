"""Maintenance windows under the fake clock: during one, a service's alert events (Events API
and Alertmanager) open no incident and page nobody but are kept on the window; the service
says "in maintenance until"; a team's window covers its services; it ends on time or when
ended; only admins and the team's members may start or end one."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from oncall_opt.api import create_app
from oncall_opt.engine.settings import Settings

LOCAL = "http://127.0.0.1"
TOKEN = "maintenance-test-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


def ok(response, status: int = 200):
    assert response.status_code == status, response.text
    return response.json()


@pytest.fixture
def api(store, clock):
    app = create_app(store, Settings(api_token=SecretStr(TOKEN)), clock, run_jobs=False)
    with TestClient(base_url=LOCAL, app=app, headers=ADMIN) as client:
        yield client


def member(api, handle: str, team_id: int) -> dict:
    user = ok(api.post("/users", json={"FirstName": handle.title(), "LastName": "X",
                                       "SlackHandle": handle, "TeamIds": [team_id]}))  # fmt: skip
    key = ok(api.post(f"/users/{user['Id']}/api-keys", json={"Name": "k"}), 201)
    return {**user, "headers": {"Authorization": f"Bearer {key['Key']}"}}


def trigger(api, service: dict, key: str):
    return api.post("/v2/enqueue", headers={}, json={
        "routing_key": service["IntegrationKey"], "event_action": "trigger", "dedup_key": key,
        "payload": {"summary": f"disk full {key}", "source": "db-1", "severity": "critical"},
    })  # fmt: skip


def open_incidents(api) -> list[dict]:
    return ok(api.get("/incidents", params={"Status": "all"}))["Items"]


@pytest.fixture
def shop(api):
    team = ok(api.post("/teams", json={"Name": "Shop"}), 201)
    checkout = ok(api.post("/services", json={"Name": "checkout", "TeamId": team["Id"]}), 201)
    search = ok(api.post("/services", json={"Name": "search", "TeamId": team["Id"]}), 201)
    return {"team": team, "checkout": checkout, "search": search}


def test_events_in_a_window_open_nothing_and_are_kept(api, clock, shop):
    checkout = shop["checkout"]
    window = ok(api.post(f"/services/{checkout['Id']}/maintenance",
                         json={"Minutes": 30, "Reason": "deploy 4.2"}), 201)  # fmt: skip
    assert window["On"] is True and window["Reason"] == "deploy 4.2"
    assert ok(trigger(api, checkout, "a"), 202)["status"] == "success"
    am = {
        "version": "4",
        "groupKey": '{}:{job="web"}',
        "status": "firing",
        "alerts": [{"status": "firing", "labels": {"alertname": "HighLatency"}, "annotations": {}}],
    }
    ok(api.post(f"/integrations/alertmanager/{checkout['IntegrationKey']}", headers={}, json=am))
    assert open_incidents(api) == []  # nobody paged, nothing opened
    kept = ok(api.get(f"/maintenance/{window['Id']}/events"))["Items"]
    assert [e["DedupKey"] for e in kept][::-1] == ["a", '{}:{job="web"}']
    assert kept[-1]["Summary"] == "disk full a"
    shown = ok(api.get(f"/services/{checkout['Id']}"))
    assert shown["InMaintenanceUntil"] == window["End"]
    listed = {s["Name"]: s for s in ok(api.get("/services"))["Items"]}
    assert listed["search"]["InMaintenanceUntil"] is None  # only checkout
    ok(trigger(api, shop["search"], "b"), 202)
    assert [i["DedupKey"] for i in open_incidents(api)] == ["b"]
    clock.advance(minutes=30)  # the window is over
    ok(trigger(api, checkout, "c"), 202)
    assert sorted(i["DedupKey"] for i in open_incidents(api)) == ["b", "c"]
    assert ok(api.get(f"/services/{checkout['Id']}"))["InMaintenanceUntil"] is None
    [past] = ok(api.get(f"/services/{checkout['Id']}/maintenance"))["Items"]
    assert past["On"] is False and past["EventsKept"] == 2


def test_a_teams_window_covers_its_services_and_ending_it_pages_again(api, clock, shop):
    start = clock.now().isoformat()
    end = clock.now().replace(hour=23).isoformat()
    window = ok(api.post(f"/teams/{shop['team']['Id']}/maintenance",
                         json={"Start": start, "End": end}), 201)  # fmt: skip
    for service in (shop["checkout"], shop["search"]):
        ok(trigger(api, service, f"during-{service['Name']}"), 202)
    assert open_incidents(api) == []
    ended = ok(api.delete(f"/maintenance/{window['Id']}"))
    assert ended["On"] is False and ended["End"] == clock.now().isoformat().replace("+00:00", "Z")
    ok(trigger(api, shop["search"], "after"), 202)
    assert [i["DedupKey"] for i in open_incidents(api)] == ["after"]


def test_bad_windows_are_refused_naming_the_field(api, shop):
    url = f"/services/{shop['checkout']['Id']}/maintenance"
    for body, field in (
        ({}, "End"),
        ({"Minutes": 0}, "Minutes"),
        ({"Minutes": 50_000}, "Minutes"),
        ({"Minutes": 5, "End": "2026-01-05T10:00:00Z"}, "Minutes"),
        ({"Start": "2026-01-05T10:00:00Z", "End": "2026-01-05T09:00:00Z"}, "End"),
        ({"End": "2020-01-01T00:00:00Z"}, "End"),
    ):
        answer = api.post(url, json=body)
        assert answer.status_code == 400 and field in answer.text, (body, answer.text)
    assert ok(api.get(url))["Items"] == []


def test_only_admins_and_the_teams_members_start_or_end_a_window(api, shop):
    other = ok(api.post("/teams", json={"Name": "Other"}), 201)
    insider, outsider = member(api, "ina", shop["team"]["Id"]), member(api, "otto", other["Id"])
    url = f"/services/{shop['checkout']['Id']}/maintenance"
    refused = api.post(url, json={"Minutes": 10}, headers=outsider["headers"])
    assert refused.status_code == 403
    refused = api.post(f"/teams/{shop['team']['Id']}/maintenance", json={"Minutes": 10},
                       headers=outsider["headers"])  # fmt: skip
    assert refused.status_code == 403
    window = ok(api.post(url, json={"Minutes": 10}, headers=insider["headers"]), 201)
    assert window["CreatedBy"] == insider["Id"]
    assert (
        api.delete(f"/maintenance/{window['Id']}", headers=outsider["headers"]).status_code == 403
    )
    ok(api.delete(f"/maintenance/{window['Id']}", headers=insider["headers"]))


def test_the_command_line_starts_lists_and_ends_a_window(store, clock, monkeypatch, capsys):
    from live_server import serve

    from oncall_opt.cli import main

    app = create_app(store, Settings(api_token=SecretStr(TOKEN)), clock, run_jobs=False)
    with serve(app) as url, TestClient(base_url=LOCAL, app=app, headers=ADMIN) as api:
        ok(api.post("/services", json={"Name": "payments"}), 201)
        monkeypatch.setenv("ONCALL_API_TOKEN", TOKEN)
        monkeypatch.setenv("ONCALL_SECRETS_FILE", "/dev/null")
        start = ["maintenance", "start", "Payments", "--minutes", "30", "--reason", "deploy"]
        assert main([*start, "--api", url]) == 0
        out = capsys.readouterr().out
        assert "payments is in maintenance until 2026-01-05T09:30:00Z" in out
        assert main(["maintenance", "list", "payments", "--api", url]) == 0
        listed = capsys.readouterr().out
        assert "\ton\t" in listed and "deploy" in listed
        assert main(["maintenance", "end", "payments", "--api", url]) == 0
        assert "maintenance ended" in capsys.readouterr().out
        assert main(["maintenance", "end", "payments", "--api", url]) == 1
        assert "not in maintenance" in capsys.readouterr().err
        assert main(["maintenance", "start", "nope", "--minutes", "5", "--api", url]) == 1
        err = capsys.readouterr().err
        assert "SERVICE: no service 'nope'" in err and "payments" in err
        assert main(["maintenance", "start", "payments", "--minutes", "0", "--api", url]) == 1
        assert "Minutes" in capsys.readouterr().err
