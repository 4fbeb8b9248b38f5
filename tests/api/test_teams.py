"""Teams, services and escalation policies through the API: two teams with their own members,
rosters, shifts and Slack channels; an incident on each team's service pages that team's
person; the tutorial's endpoints act on the Default team; deleting what others depend on is
refused; timelines, notes, snooze and escalation by hand."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from oncall_opt.api import create_app
from oncall_opt.engine.jobs import JobState, delivery, escalation
from oncall_opt.engine.settings import Settings
from oncall_opt.engine.slack import SlackWebhook

LOCAL = "http://127.0.0.1"  # the daemon answers loopback names without a token

PRIVATE_OK = Settings(slack_min_interval=0, allow_private_webhooks=True)
MONDAY = "2026-01-05"  # the fake clock's day (09:00 UTC)


@pytest.fixture
def api(store, clock):
    with TestClient(
        # The fake Slack channels listen on 127.0.0.1: the operator allows private webhooks.
        base_url=LOCAL,
        app=create_app(store, Settings(allow_private_webhooks=True), clock, run_jobs=False),
    ) as client:
        yield client


def ok(response, status: int = 200):
    assert response.status_code == status, response.text
    return response.json()


def person(api, handle: str, **extra) -> dict:
    body = {"FirstName": handle.title(), "LastName": "X", "SlackHandle": handle, **extra}
    return ok(api.post("/users", json=body))


@pytest.fixture
def two_teams(api):
    """Default: ana (primary today). Payments: ben and cy, cy primary today, with a service."""
    ana, ben, cy = person(api, "ana"), person(api, "ben", TeamIds=[]), person(api, "cy", TeamIds=[])
    payments = ok(
        api.post("/teams", json={"Name": "Payments", "UserIds": [ben["Id"], cy["Id"]]}), 201
    )
    day = {"Start": f"{MONDAY}T00:00:00Z", "End": "2026-01-06T00:00:00Z"}
    ok(api.post(f"/users/{ana['Id']}/schedules", json=day))
    ok(api.post(f"/users/{cy['Id']}/schedules", json={**day, "TeamId": payments["Id"]}))
    policy = ok(
        api.post(
            "/escalation-policies",
            json={
                "Name": "Payments",
                "Steps": [
                    {
                        "DelayMinutes": 0,
                        "Targets": [{"Type": "layer", "TeamId": payments["Id"], "Layer": 1}],
                    },
                    {"DelayMinutes": 10, "Targets": [{"Type": "user", "UserId": ben["Id"]}]},
                ],
            },
        ),
        201,
    )
    service = ok(
        api.post(
            "/services",
            json={
                "Name": "payments-api",
                "TeamId": payments["Id"],
                "EscalationPolicyId": policy["Id"],
            },
        ),
        201,
    )
    return {
        "ana": ana,
        "ben": ben,
        "cy": cy,
        "team": payments,
        "policy": policy,
        "service": service,
    }


def test_the_default_team_service_and_policy_exist_from_the_start(api):
    assert ok(api.get("/teams"))["Items"][0]["Name"] == "Default"
    [service] = ok(api.get("/services"))["Items"]
    assert (service["Id"], service["Name"], service["TeamId"], service["IntegrationKeyPrefix"]) == (
        1,
        "Default",
        1,
        "",
    )
    [policy] = ok(api.get("/escalation-policies"))["Items"]
    assert [(s["DelayMinutes"], s["Targets"][0]["Layer"]) for s in policy["Steps"]] == [
        (0, 1),
        (15, 2),
    ]
    katy = person(api, "katy")
    assert ok(api.get("/teams/1"))["UserIds"] == [katy["Id"]]  # new people join Default


def test_an_incident_on_each_teams_service_pages_that_teams_person(api, two_teams):
    default = ok(api.post("/incidents", json={"Body": "tutorial incident"}))
    payments = ok(
        api.post(
            "/incidents", json={"Body": "card declines", "ServiceId": two_teams["service"]["Id"]}
        )
    )
    assert default["Assignee"]["SlackHandle"] == "ana" and default["TeamId"] == 1
    assert payments["Assignee"]["SlackHandle"] == "cy"
    assert payments["TeamId"] == two_teams["team"]["Id"]
    assert ok(api.get("/scheduled"))["User"]["SlackHandle"] == "ana"
    team = two_teams["team"]["Id"]
    assert ok(api.get("/scheduled", params={"TeamId": team}))["User"]["SlackHandle"] == "cy"
    listed = ok(api.get("/incidents", params={"TeamId": team}))["Items"]
    assert [i["Id"] for i in listed] == [payments["Id"]]
    by_service = ok(api.get("/incidents", params={"ServiceId": 1}))["Items"]
    assert [i["Id"] for i in by_service] == [default["Id"]]
    window = {"Start": f"{MONDAY}T00:00:00Z", "End": "2026-01-06T00:00:00Z"}
    assert len(ok(api.get("/schedules", params=window))["Items"]) == 1
    assert len(ok(api.get("/schedules", params={**window, "TeamId": team}))["Items"]) == 1
    # The same hours in two teams are not an overlap; in one team's layer they are.
    second = {**window, "TeamId": team}
    assert api.post(f"/users/{two_teams['ben']['Id']}/schedules", json=second).status_code == 409
    assert (
        api.post(
            f"/users/{two_teams['ben']['Id']}/schedules", json={**second, "Layer": 2}
        ).status_code
        == 200
    )


def test_each_team_has_its_own_slack_channel(api, store, clock, two_teams):
    from fake_slack import FakeSlack

    with FakeSlack() as channel, FakeSlack() as payments_channel:
        team = two_teams["team"]["Id"]
        updated = ok(
            api.put(
                f"/teams/{team}", json={"SlackWebhookUrl": payments_channel.url.get_secret_value()}
            )
        )
        assert updated["HasSlackWebhook"] is True and "hooks" not in str(updated)
        ok(api.post("/incidents", json={"Body": "default one"}))
        ok(
            api.post(
                "/incidents", json={"Body": "payments one", "ServiceId": two_teams["service"]["Id"]}
            )
        )
        sender = SlackWebhook(channel.url, 2.0)
        result = delivery.run(store, clock.now(), sender, PRIVATE_OK, state=JobState())
        assert result["sent"] == 2
        assert channel.take(1)[0].endswith("default one")
        assert payments_channel.take(1)[0].endswith("payments one")
        # Without a global webhook, the team's own still works; the others wait.
        ok(api.post("/incidents", json={"Body": "default two"}))
        ok(
            api.post(
                "/incidents", json={"Body": "payments two", "ServiceId": two_teams["service"]["Id"]}
            )
        )
        result = delivery.run(store, clock.now(), None, PRIVATE_OK, state=JobState())
        assert result["sent"] == 1 and payments_channel.take(1)[0].endswith("payments two")
        pending = store.rows("SELECT text FROM outbox WHERE status = 'pending'")
        assert [p["text"].splitlines()[-1] for p in pending] == ["default two"]
        ok(api.put(f"/teams/{team}", json={"SlackWebhookUrl": ""}))
        assert ok(api.get(f"/teams/{team}"))["HasSlackWebhook"] is False
        sender.close()


def test_a_bad_webhook_is_refused_without_quoting_it(api, two_teams):
    response = api.put(
        f"/teams/{two_teams['team']['Id']}", json={"SlackWebhookUrl": "ftp://secret-host/x"}
    )
    assert response.status_code == 400 and "SlackWebhookUrl" in response.json()["message"]
    assert "secret-host" not in response.text


def test_the_planner_plans_and_publishes_one_teams_members(api, two_teams):
    team = two_teams["team"]["Id"]
    window = {"Start": "2026-02-02", "End": "2026-02-08", "TeamId": team}
    document = ok(api.get("/roster/input", params=window))
    assert sorted(u["name"] for u in document["users"]) == ["Ben X", "Cy X"]
    grid = ok(
        api.get(
            "/availability", params={"Start": "2026-02-02", "End": "2026-02-08", "TeamId": team}
        )
    )
    assert [r["FirstName"] for r in grid["Items"]] == ["Ben", "Cy"]
    job = ok(api.post("/roster/solve", json={**window, "TimeLimit": 20}), 202)
    assert job["TeamId"] == team
    import time

    deadline = time.monotonic() + 60
    while job["Status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.05)
        job = ok(api.get(f"/roster/solve/{job['JobId']}"))
    assert job["Status"] == "done", job
    published = ok(api.post("/roster/publish", json={"JobId": job["JobId"]}))["Items"]
    assert {s["TeamId"] for s in published} == {team}
    assert {s["User"]["SlackHandle"] for s in published} <= {"ben", "cy"}
    span = {"Start": "2026-02-02T00:00:00Z", "End": "2026-02-09T00:00:00Z"}
    assert ok(api.get("/schedules", params=span))["Items"] == []  # Default's shifts untouched


def test_deleting_what_others_depend_on_is_refused_saying_what(api, two_teams):
    team, policy, service = two_teams["team"], two_teams["policy"], two_teams["service"]
    refused = api.delete(f"/teams/{team['Id']}")
    assert refused.status_code == 409
    message = refused.json()["message"]
    assert (
        "services 'payments-api'" in message and "shift(s)" in message and "'Payments'" in message
    )
    assert api.delete(f"/escalation-policies/{policy['Id']}").status_code == 409
    assert (
        api.delete("/teams/1").status_code == 409 and api.delete("/services/1").status_code == 409
    )
    incident = ok(api.post("/incidents", json={"Body": "x", "ServiceId": service["Id"]}))
    assert "open incident" in api.delete(f"/services/{service['Id']}").json()["message"]
    ok(api.put(f"/incidents/{incident['Id']}/resolve"))
    ok(api.delete(f"/services/{service['Id']}"))
    ok(api.delete(f"/escalation-policies/{policy['Id']}"))
    window = {"Start": f"{MONDAY}T00:00:00Z", "End": "2026-01-06T00:00:00Z", "TeamId": team["Id"]}
    ok(api.delete("/schedules", params=window))
    ok(api.delete(f"/teams/{team['Id']}"))
    assert api.get(f"/teams/{team['Id']}").status_code == 404


def test_names_are_unique_and_references_must_exist(api, two_teams):
    assert api.post("/teams", json={"Name": "payments"}).status_code == 409
    assert api.post("/services", json={"Name": "x", "TeamId": 999}).status_code == 404
    assert api.post("/services", json={"Name": "x", "EscalationPolicyId": 999}).status_code == 404
    assert api.post("/incidents", json={"Body": "x", "ServiceId": 999}).status_code == 404
    assert api.put("/teams/1/members", json={"UserIds": [1, 999]}).status_code == 404
    bad_step = {"Name": "p", "Steps": [{"Targets": [{"Type": "layer", "TeamId": 1, "Layer": 3}]}]}
    assert api.post("/escalation-policies", json=bad_step).status_code == 400
    no_targets = {"Name": "p", "Steps": [{"Targets": []}]}
    assert "Targets" in api.post("/escalation-policies", json=no_targets).json()["message"]


def test_timeline_notes_snooze_and_escalation_by_hand(api, store, clock, two_teams):
    service = two_teams["service"]["Id"]
    incident = ok(api.post("/incidents", json={"Body": "x", "DedupKey": "d", "ServiceId": service}))
    ok(api.post("/incidents", json={"Body": "x", "DedupKey": "d", "ServiceId": service}))
    note = ok(
        api.post(
            f"/incidents/{incident['Id']}/notes",
            json={"Text": "looking at it", "UserId": two_teams["cy"]["Id"]},
        ),
        201,
    )
    assert note["Kind"] == "note" and note["User"]["SlackHandle"] == "cy"
    escalated = ok(api.put(f"/incidents/{incident['Id']}/escalate", json={"Step": 2}))
    assert escalated["Assignee"]["SlackHandle"] == "ben" and escalated["EscalationStep"] == 2
    snoozed = ok(api.put(f"/incidents/{incident['Id']}/snooze", json={"Minutes": 15}))
    assert snoozed["Status"] == "acknowledged" and snoozed["SnoozedUntil"] == "2026-01-05T09:15:00Z"
    log = ok(api.get(f"/incidents/{incident['Id']}/log"))["Items"]
    assert [e["Kind"] for e in log] == [
        "triggered",
        "paged",
        "repeated",
        "note",
        "escalated",
        "snoozed",
    ]
    assert log[1]["Message"] == (  # Cy has no contact method: the team's channel tells them
        "step 1: Cy X (primary on call in Payments) has no verified contact method: only the "
        "team's Slack channel tells them"
    )
    assert log[2]["Message"] == "triggered again (count 2)"
    assert api.get("/incidents/999/log").status_code == 404
    assert api.post(f"/incidents/{incident['Id']}/notes", json={"Text": "  "}).status_code == 400
    assert api.put(f"/incidents/{incident['Id']}/snooze", json={"Minutes": 0}).status_code == 400
    clock.advance(minutes=16)
    assert escalation.run(store, clock.now()) == 0  # the snooze ends with the timeouts job


def test_a_service_without_a_policy_follows_its_teams_own(api, two_teams):
    team = two_teams["team"]
    first = ok(api.post("/services", json={"Name": "ledger", "TeamId": team["Id"]}), 201)
    second = ok(api.post("/services", json={"Name": "refunds", "TeamId": team["Id"]}), 201)
    assert first["EscalationPolicyId"] == second["EscalationPolicyId"] != 1
    policy = ok(api.get(f"/escalation-policies/{first['EscalationPolicyId']}"))
    assert policy["Name"] == "Payments on call"
    assert [
        (s["DelayMinutes"], s["Targets"][0]["TeamId"], s["Targets"][0]["Layer"])
        for s in policy["Steps"]
    ] == [(0, team["Id"], 1), (15, team["Id"], 2)]
    paged = ok(api.post("/incidents", json={"Body": "x", "ServiceId": first["Id"]}))
    assert paged["Assignee"]["SlackHandle"] == "cy"  # Payments' primary, not Default's
    default = ok(api.post("/services", json={"Name": "web"}), 201)
    assert default["EscalationPolicyId"] == 1
