"""`POST /incidents/{id}/unresolve` (the console's Undo of a resolve), against the real app on
both backends: the state before the resolve comes back, errors in Encore's envelope, a member
may do it as themself, the timeline and the Slack message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from live_server import serve
from pydantic import SecretStr

from oncall_opt.api import create_app
from oncall_opt.client import ApiError, Client
from oncall_opt.engine.settings import Settings

LOCAL = "http://127.0.0.1"  # the daemon answers loopback names without a token

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
TOKEN = "daemon-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def assert_error(response, status: int, code: str, *words: str) -> None:
    assert response.status_code == status, response.text
    payload = response.json()
    assert set(payload) == {"code", "message", "details"} and payload["code"] == code, payload
    for word in words:
        assert word in payload["message"], payload


@pytest.fixture
def api(store, clock):
    with TestClient(
        base_url=LOCAL, app=create_app(store, Settings(), clock, run_jobs=False)
    ) as client:
        yield client


def user(api, first: str, handle: str, headers=None, **extra) -> dict:
    body = {"FirstName": first, "LastName": "Smith", "SlackHandle": handle, **extra}
    response = api.post("/users", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def outbox(api) -> list[tuple[str, str]]:
    rows = api.app.state.store.rows("SELECT kind, text FROM outbox ORDER BY id")
    return [(r["kind"], r["text"]) for r in rows]


def test_reopening_restores_the_state_before_the_resolve(api, clock):
    katy = user(api, "Katy", "katy")
    api.post(f"/users/{katy['Id']}/schedules", json={
        "Start": iso(NOW), "End": iso(NOW + timedelta(hours=8)),
    })  # fmt: skip
    triggered = api.post("/incidents", json={"Body": "Checkout down"}).json()
    acked = api.post("/incidents", json={"Body": "Disk full"}).json()
    api.put(f"/incidents/{acked['Id']}/acknowledge", json={"UserId": katy["Id"]})
    clock.advance(minutes=3)
    resolved = {}
    for incident in (triggered, acked):
        done = api.put(f"/incidents/{incident['Id']}/resolve", json={"UserId": katy["Id"]})
        assert done.json()["Status"] == "resolved"
        resolved[incident["Id"]] = done.json()
    # Resolving is not acknowledging: time to acknowledge stays true (issue 22).
    never = resolved[triggered["Id"]]
    assert never["AcknowledgedAt"] is None and never["AcknowledgedBy"] is None
    assert never["Acknowledged"] is False and never["ResolvedAt"] == iso(NOW + timedelta(minutes=3))
    assert resolved[acked["Id"]]["AcknowledgedAt"] == iso(NOW)
    clock.advance(minutes=1)

    again = api.post(f"/incidents/{triggered['Id']}/unresolve")
    assert again.status_code == 200, again.text
    body = again.json()
    assert body["Status"] == "triggered" and body["Acknowledged"] is False
    assert body["ResolvedAt"] is None and body["ResolvedBy"] is None
    assert body["AcknowledgedAt"] is None and body["Assignee"]["Id"] == katy["Id"]
    assert body["NextEscalationAt"] == iso(clock.now() + timedelta(minutes=15))

    back = api.post(f"/incidents/{acked['Id']}/unresolve", json={"UserId": katy["Id"]}).json()
    assert back["Status"] == "acknowledged" and back["AcknowledgedBy"]["Id"] == katy["Id"]
    assert back["AcknowledgedAt"] == iso(NOW) and back["ResolvedAt"] is None
    assert api.get(f"/incidents/{acked['Id']}").json() == back
    listed = api.get("/incidents", params={"Status": "open"}).json()["Items"]
    assert [i["Id"] for i in listed] == [acked["Id"], triggered["Id"]]


def test_not_resolved_is_409_unknown_is_404_and_bad_bodies_400(api):
    katy = user(api, "Katy", "katy")
    incident = api.post("/incidents", json={"Body": "Disk full"}).json()
    path = f"/incidents/{incident['Id']}/unresolve"
    assert_error(api.post(path), 409, "already_exists", "is triggered, not resolved")
    api.put(f"/incidents/{incident['Id']}/acknowledge")
    assert_error(api.post(path), 409, "already_exists", "is acknowledged, not resolved")
    assert_error(api.post("/incidents/42/unresolve"), 404, "not_found", "42")
    api.put(f"/incidents/{incident['Id']}/resolve")
    assert_error(api.post(path, json={"UserId": 999}), 404, "not_found", "999")
    assert_error(api.post(path, json={"UserId": "1"}), 400, "invalid_argument", "UserId")
    assert_error(api.post("/incidents/zzz/unresolve"), 400, "invalid_argument", "id")
    assert_error(api.put(path), 405, "unimplemented")
    assert api.get(f"/incidents/{incident['Id']}").json()["Status"] == "resolved"
    assert api.post(path, json={"UserId": katy["Id"]}).json()["Status"] == "acknowledged"
    assert_error(api.post(path), 409, "already_exists", "not resolved")  # a second undo


def test_a_dedup_key_opened_again_since_is_409(api):
    first = api.post("/incidents", json={"Body": "CPU hot", "DedupKey": "cpu"}).json()
    api.put(f"/incidents/{first['Id']}/resolve")
    second = api.post("/incidents", json={"Body": "CPU hot", "DedupKey": "cpu"}).json()
    assert second["Created"] is True
    assert_error(
        api.post(f"/incidents/{first['Id']}/unresolve"),
        409, "already_exists", f"open incident {second['Id']}", "dedup key",
    )  # fmt: skip
    assert api.get(f"/incidents/{first['Id']}").json()["Status"] == "resolved"


def test_the_timeline_and_slack_say_who_reopened_it(api):
    katy = user(api, "Katy", "katy")
    incident = api.post("/incidents", json={"Body": "Checkout down"}).json()
    api.put(f"/incidents/{incident['Id']}/resolve")
    api.post(f"/incidents/{incident['Id']}/unresolve", json={"UserId": katy["Id"]})
    log = api.get(f"/incidents/{incident['Id']}/log").json()["Items"]
    assert [e["Kind"] for e in log] == ["triggered", "paged", "resolved", "unresolved"]
    assert log[-1]["Message"] == "reopened: triggered again"
    assert log[-1]["User"]["Id"] == katy["Id"] and log[-1]["At"] == iso(NOW)
    assert outbox(api)[-1] == (
        "unresolved",
        "Incident #1 has been reopened by Katy Smith <@katy> (triggered, unassigned):\n"
        "Checkout down",
    )


def test_the_route_is_documented(api):
    spec = api.get("/openapi.json").json()
    operation = spec["paths"]["/incidents/{id}/unresolve"]["post"]
    assert {"200", "404", "409"} <= set(operation["responses"])


# ----- access ------------------------------------------------------------------------------
@pytest.fixture
def guarded(store, clock):
    app = create_app(store, Settings(api_token=SecretStr(TOKEN)), clock, run_jobs=False)
    with TestClient(base_url=LOCAL, app=app) as client:
        yield client


def key_of(api, person: dict) -> dict[str, str]:
    response = api.post(f"/users/{person['Id']}/api-keys", json={"Name": "t"}, headers=ADMIN)
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['Key']}"}


def test_a_member_may_reopen_as_themself_only(guarded):
    bob = user(guarded, "Bob", "bob", ADMIN, Role="member")
    cy = user(guarded, "Cy", "cy", ADMIN, Role="member")
    as_bob = key_of(guarded, bob)
    incident = guarded.post("/incidents", json={"Body": "Disk full"}, headers=as_bob).json()
    path = f"/incidents/{incident['Id']}/unresolve"
    guarded.put(f"/incidents/{incident['Id']}/resolve", headers=as_bob)

    assert_error(guarded.post(path), 401, "unauthenticated")
    refused = guarded.post(path, json={"UserId": cy["Id"]}, headers=as_bob)
    assert_error(refused, 403, "permission_denied", "themself")
    assert guarded.get(f"/incidents/{incident['Id']}", headers=ADMIN).json()["Status"] == (
        "resolved"
    )
    done = guarded.post(path, headers=as_bob)
    assert done.status_code == 200, done.text
    assert done.json()["Status"] == "triggered"
    log = guarded.get(f"/incidents/{incident['Id']}/log", headers=as_bob).json()["Items"]
    assert log[-1]["Kind"] == "unresolved" and log[-1]["User"]["Id"] == bob["Id"]


def test_the_client_reopens_through_the_api(store, clock):
    """Client.unresolve against a real server."""
    with serve(create_app(store, Settings(), clock, run_jobs=False)) as url, Client(url) as api:
        katy = api.create_user("Katy", "Smith", "katy")
        incident = api.trigger_incident("Disk full")
        api.resolve(incident["Id"])
        reopened = api.unresolve(incident["Id"], user_id=katy["Id"])
        assert reopened["Status"] == "triggered" and reopened["Id"] == incident["Id"]
        assert api.incident_log(incident["Id"])[-1]["User"]["Id"] == katy["Id"]
        with pytest.raises(ApiError) as refused:
            api.unresolve(incident["Id"])
        assert refused.value.status == 409 and "not resolved" in refused.value.message
