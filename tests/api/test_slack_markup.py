"""Data never becomes Slack markup: an attacker who can name a person, a team or a policy, write
an incident's body or a swap note, or send an alert (an integration key is enough) tries to
ping the whole channel and plant a fake "ack here" link. Everything goes through the real API,
the real jobs and a fake Slack on 127.0.0.1; what Slack receives is checked."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from oncall_opt.api import create_app
from oncall_opt.engine.jobs.loop import JobLoop
from oncall_opt.engine.settings import Settings
from oncall_opt.engine.slack import SlackWebhook

LOCAL = "http://127.0.0.1"  # the daemon answers loopback names without a token

# Each is what an attacker writes; none of them may reach Slack as markup.
ATTACKS = (
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<!subteam^S0123|oncall>",
    "<@U0123ABC>",
    "<https://evil.example/ack|click here to acknowledge>",
)
POISON = " ".join(ATTACKS)
ESCAPED = [a.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") for a in ATTACKS]


def ok(response, status: int = 200):
    assert response.status_code == status, response.text
    return response.json()


@pytest.fixture
def api(store, clock, slack):
    settings = Settings(slack_webhook_url=slack.url, slack_min_interval=0)
    app = create_app(store, settings, clock, run_jobs=False)
    with TestClient(base_url=LOCAL, app=app) as client:
        client.jobs = JobLoop(
            store, settings, clock, sender=SlackWebhook(slack.url), sleep=lambda s: None
        )
        yield client


def test_handles_that_could_leave_a_mention_are_refused(api):
    for handle in ("x> <!channel", "a b", "ana|evil", "<@U1>", "ana>", "", "\u202eana"):
        body = {"FirstName": "X", "LastName": "Y", "SlackHandle": handle}
        response = api.post("/users", json=body)
        assert response.status_code == 400, (handle, response.text)
        assert "SlackHandle" in response.json()["message"]
    ana = ok(api.post("/users", json={"FirstName": "A", "LastName": "S", "SlackHandle": "@ana"}))
    assert ana["SlackHandle"] == "ana"
    assert api.put(f"/users/{ana['Id']}", json={"SlackHandle": "ana> <!here"}).status_code == 400


def test_a_slack_handle_names_one_person_whatever_its_case(api):
    ok(api.post("/users", json={"FirstName": "A", "LastName": "S", "SlackHandle": "ana"}))
    twin = api.post("/users", json={"FirstName": "B", "LastName": "T", "SlackHandle": "ANA"})
    assert twin.status_code == 409 and "@ANA is already" in twin.json()["message"], twin.text
    ben = ok(api.post("/users", json={"FirstName": "B", "LastName": "T", "SlackHandle": "ben"}))
    taken = api.put(f"/users/{ben['Id']}", json={"SlackHandle": "Ana"})
    assert taken.status_code == 409, taken.text
    assert ok(api.put(f"/users/{ben['Id']}", json={"SlackHandle": "Ben"}))["SlackHandle"] == "Ben"
    assert len(ok(api.get("/users"))["Items"]) == 2


def test_bidirectional_controls_are_refused_in_names_handles_and_keys(api):
    trojan = "admin\u202e\u2066gnp.exe"
    for body in (
        {"FirstName": trojan, "LastName": "S", "SlackHandle": "ana"},
        {"FirstName": "A", "LastName": "S\u202b", "SlackHandle": "ana"},
    ):
        response = api.post("/users", json=body)
        assert response.status_code == 400 and "bidirectional" in response.json()["message"]
    assert api.post("/teams", json={"Name": "Ops\u202e"}).status_code == 400
    refused = api.post("/incidents", json={"Body": "disk", "DedupKey": "k\u2067ey"})
    assert refused.status_code == 400 and "DedupKey" in refused.json()["message"], refused.text
    assert ok(api.get("/users"))["Items"] == []
    # Right-to-left text keeps its marks; an alert's other fields lose the controls, not the
    # alert.
    hebrew = ok(api.post("/users", json={"FirstName": "\u05e9\u05dc\u05d5\u05dd\u200f",
                                         "LastName": "L", "SlackHandle": "shalom"}))  # fmt: skip
    assert hebrew["FirstName"].endswith("\u200f")
    key = ok(api.post("/services", json={"Name": "web"}), 201)["IntegrationKey"]
    payload = {"summary": "down", "source": "web\u202e-1", "severity": "critical"}
    event = {"routing_key": key, "event_action": "trigger", "payload": payload}
    assert api.post("/v2/enqueue", json=event).status_code == 202
    [incident] = ok(api.get("/incidents", params={"Status": "all"}))["Items"]
    assert incident["Source"] == "web-1"


def test_every_message_source_reaches_slack_escaped(api, clock, slack):
    """Names, a team, a policy, an incident body, an Events API alert, an Alertmanager group, a
    swap note and a test message, all poisoned; every message the jobs send is escaped, and
    the only mentions are real people's handles."""
    evil = ok(api.post("/users", json={"FirstName": POISON, "LastName": POISON,
                                       "SlackHandle": "mallory"}))  # fmt: skip
    ana = ok(api.post("/users", json={"FirstName": "Ana", "LastName": "Silva",
                                      "SlackHandle": "ana", "TeamIds": []}))  # fmt: skip
    team = ok(api.post("/teams", json={"Name": f"Ops {POISON}",
                                       "UserIds": [evil["Id"], ana["Id"]]}), 201)  # fmt: skip
    now = clock.now()
    day = {
        "Start": (now - timedelta(hours=1)).isoformat(),
        "End": (now + timedelta(days=1)).isoformat(),
        "TeamId": team["Id"],
    }
    ok(api.post(f"/users/{evil['Id']}/schedules", json=day))
    policy = ok(api.post("/escalation-policies", json={
        "Name": f"Policy {POISON}",
        "Steps": [
            {"DelayMinutes": 0, "Targets": [{"Type": "layer", "TeamId": team["Id"], "Layer": 1}]},
            {"DelayMinutes": 5, "Targets": [{"Type": "user", "UserId": ana["Id"]}]},
        ],
    }), 201)  # fmt: skip
    service = ok(api.post("/services", json={
        "Name": f"svc {POISON}", "TeamId": team["Id"], "EscalationPolicyId": policy["Id"],
    }), 201)  # fmt: skip
    key = service["IntegrationKey"]

    incident = ok(api.post("/incidents", json={"Body": POISON, "ServiceId": service["Id"]}))
    event = {
        "routing_key": key,
        "event_action": "trigger",
        "payload": {"summary": POISON, "source": POISON, "severity": "critical"},
    }
    assert api.post("/v2/enqueue", json=event).status_code == 202
    group = {
        "version": "4", "status": "firing", "receiver": "oncall", "groupKey": POISON,
        "groupLabels": {"alertname": POISON}, "commonLabels": {"alertname": POISON},
        "commonAnnotations": {"summary": POISON}, "externalURL": "http://am",
        "alerts": [{"status": "firing", "labels": {"alertname": POISON, "instance": POISON},
                    "annotations": {"summary": POISON, "description": POISON},
                    "startsAt": now.isoformat(), "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "http://prom", "fingerprint": "f1"}],
    }  # fmt: skip
    ok(api.post(f"/integrations/alertmanager/{key}", json=group))
    swap = {
        "Start": (now + timedelta(hours=2)).isoformat(),
        "End": (now + timedelta(hours=4)).isoformat(),
        "FromUserId": evil["Id"],
        "Note": POISON,
    }
    asked = ok(api.post(f"/teams/{team['Id']}/swaps", json=swap), 201)
    assert asked["AnnouncedIn"] == "the Slack channel"  # the global webhook: told, honestly
    ok(api.post("/messages/test", json={"Text": POISON}), 201)
    ok(api.put(f"/incidents/{incident['Id']}/acknowledge", json={"UserId": evil["Id"]}))
    api.jobs.run_once()
    clock.advance(minutes=11)  # step 2 escalates; reminders are due
    api.jobs.run_once()

    texts = slack.take(len(slack.accepted()))
    assert len(texts) >= 8, texts
    kinds = {row["Kind"] for row in ok(api.get("/messages"))["Items"]}
    assert {"created", "acknowledged", "escalated", "swap", "test"} <= kinds, kinds
    for text in texts:
        for attack in ATTACKS:
            assert attack not in text, (attack, text)
        assert "<@mallory>" in text or "<@ana>" in text or "&lt;!channel&gt;" in text, text
        mentions = [part.split(">")[0] for part in text.split("<@")[1:]]
        assert set(mentions) <= {"mallory", "ana"}, text
    every = "\n".join(texts)
    for escaped in ESCAPED:
        assert escaped in every, escaped
