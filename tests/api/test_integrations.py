"""Monitoring in, against the real app: PagerDuty's Events API v2 (`POST /v2/enqueue`) and the
Alertmanager / Grafana webhook receiver, with recorded payloads."""

from __future__ import annotations

import copy
import json
import logging

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from oncall_opt.api import create_app
from oncall_opt.engine.settings import Settings

LOCAL = "http://127.0.0.1"  # the daemon answers loopback names without a token

TOKEN = "integrations-test-token"


@pytest.fixture
def api(store, clock):
    # With an API token: the integrations must work without it (their key is the credential).
    app = create_app(store, Settings(api_token=SecretStr(TOKEN)), clock, run_jobs=False)
    with TestClient(
        base_url=LOCAL, app=app, headers={"Authorization": f"Bearer {TOKEN}"}
    ) as client:
        yield client


@pytest.fixture
def anonymous(api):
    """The same app, without the API token."""
    with TestClient(base_url=LOCAL, app=api.app) as client:
        yield client


@pytest.fixture
def service(api):
    team = api.post("/teams", json={"Name": "Shop"}).json()
    made = api.post("/services", json={"Name": "checkout", "TeamId": team["Id"]})
    assert made.status_code == 201, made.text
    return made.json()


def event(service: dict, action: str = "trigger", **fields) -> dict:
    body = {"routing_key": service["IntegrationKey"], "event_action": action}
    if action == "trigger":
        body["payload"] = {
            "summary": "Checkout p99 above 2 s",
            "source": "web-1",
            "severity": "critical",
        }
    body.update(fields)
    return body


def incidents(api, **params) -> list[dict]:
    return api.get("/incidents", params={"Status": "all", **params}).json()["Items"]


# ----- Events API v2 ---------------------------------------------------------------------------
def test_a_trigger_opens_an_incident_on_the_keys_service(anonymous, api, service):
    sent = event(
        service,
        dedup_key="checkout-latency",
        payload={
            "summary": "Checkout p99 above 2 s",
            "source": "web-1",
            "severity": "error",
            "component": "checkout",
            "group": "prod",
            "class": "latency",
            "custom_details": {"p99_ms": 2310},
            "timestamp": "2026-01-05T08:59:00Z",
        },
        links=[{"href": "https://grafana/d/1", "text": "dashboard"}],
    )
    response = anonymous.post("/v2/enqueue", json=sent)
    assert response.status_code == 202, response.text
    assert response.json() == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": "checkout-latency",
    }
    [incident] = incidents(api)
    assert incident["Body"] == "Checkout p99 above 2 s"
    assert (incident["ServiceId"], incident["TeamId"]) == (service["Id"], service["TeamId"])
    assert (incident["Severity"], incident["Urgency"], incident["Source"]) == (
        "error",
        "high",
        "web-1",
    )
    assert incident["Details"]["custom_details"] == {"p99_ms": 2310}
    assert incident["Details"]["links"][0]["text"] == "dashboard"


def test_dedup_acknowledge_and_resolve_act_on_the_open_incident(anonymous, api, service):
    for _ in range(3):
        assert anonymous.post("/v2/enqueue", json=event(service, dedup_key="k1")).status_code == 202
    [incident] = incidents(api)
    assert incident["Count"] == 3
    acked = anonymous.post("/v2/enqueue", json=event(service, "acknowledge", dedup_key="k1"))
    assert acked.status_code == 202 and acked.json()["dedup_key"] == "k1"
    assert api.get(f"/incidents/{incident['Id']}").json()["Status"] == "acknowledged"
    again = anonymous.post("/v2/enqueue", json=event(service, "acknowledge", dedup_key="k1"))
    assert again.status_code == 202  # already acknowledged: accepted, nothing happens
    assert (
        anonymous.post("/v2/enqueue", json=event(service, "resolve", dedup_key="k1")).status_code
        == 202
    )
    assert api.get(f"/incidents/{incident['Id']}").json()["Status"] == "resolved"
    # A key with no open incident: accepted, nothing happens (as PagerDuty does).
    for action in ("acknowledge", "resolve"):
        response = anonymous.post("/v2/enqueue", json=event(service, action, dedup_key="nothing"))
        assert response.status_code == 202
    assert len(incidents(api)) == 1
    # After resolving, the same key opens a new incident.
    anonymous.post("/v2/enqueue", json=event(service, dedup_key="k1"))
    assert [i["Status"] for i in incidents(api)] == ["triggered", "resolved"]


def test_a_trigger_without_a_key_gets_one_to_resolve_it_by(anonymous, api, service):
    made = anonymous.post("/v2/enqueue", json=event(service)).json()
    assert len(made["dedup_key"]) == 32
    done = anonymous.post(
        "/v2/enqueue", json=event(service, "resolve", dedup_key=made["dedup_key"])
    )
    assert done.status_code == 202
    assert incidents(api)[0]["Status"] == "resolved"


def invalid(response, *words: str) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["status"] == "invalid event" and body["message"] == "Event object is invalid"
    joined = " | ".join(body["errors"])
    for word in words:
        assert word in joined, (word, joined)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"routing_key": None}, ["'routing_key' is missing"]),
        ({"routing_key": "short"}, ["Length of 'routing_key' is incorrect"]),
        ({"event_action": "page"}, ["'event_action' must be one of"]),
        ({"payload": None}, ["'payload' is missing"]),
        ({"payload": {"source": "s", "severity": "info"}}, ["'payload.summary' is missing"]),
        ({"payload": {"summary": "s", "severity": "info"}}, ["'payload.source' is missing"]),
        (
            {"payload": {"summary": "s", "source": "s", "severity": "fatal"}},
            ["'payload.severity' must be one of critical, error, warning, info"],
        ),
        (
            {"payload": {"summary": "s", "source": "s", "severity": "info", "timestamp": "soon"}},
            ["'payload.timestamp'"],
        ),
        (
            {"payload": {"summary": "x" * 1025, "source": "s", "severity": "info"}},
            ["'payload.summary'", "1024"],
        ),
        ({"dedup_key": 7}, ["'dedup_key' must be a string"]),
        ({"links": "x"}, ["'links' must be an array"]),
        (
            {"payload": {}, "event_action": "trigger", "extra": 1},
            [
                "'payload.summary'",
                "'payload.source'",
                "'payload.severity'",
            ],
        ),
    ],
)
def test_each_invalid_event_is_refused_naming_the_field(anonymous, api, service, change, words):
    body = event(service)
    for key, value in change.items():
        if value is None:
            body.pop(key)
        else:
            body[key] = value
    invalid(anonymous.post("/v2/enqueue", json=body), *words)
    assert incidents(api) == []


# PagerDuty's own example trigger, as its Events API v2 documentation writes it.
DOCUMENTED = {
    "payload": {
        "summary": "Example alert on host1.example.com",
        "timestamp": "2015-07-17T08:42:58.315+0000",
        "severity": "info",
        "source": "monitoringtool:cloudvendor:central-region-dc-01:852559987:cluster/"
        "api-stats-prod-003",
        "component": "postgres",
        "group": "prod-datapipe",
        "class": "deploy",
        "custom_details": {"ping time": "1500ms", "load avg": 0.75},
    },
    "routing_key": None,
    "dedup_key": "samplekeyhere",
    "images": [{"src": "https://www.pagerduty.com/wp-content/uploads/2016/05/pagerduty-logo-green.png",
                "href": "https://example.com/", "alt": "Example text"}],
    "links": [{"href": "https://example.com/", "text": "Link text"}],
    "event_action": "trigger",
    "client": "Sample Monitoring Service",
    "client_url": "https://monitoring.example.com",
}  # fmt: skip


def _variant(service: dict, n: int, **payload) -> dict:
    body = copy.deepcopy(DOCUMENTED)
    body.update(routing_key=service["IntegrationKey"], dedup_key=f"documented-{n}")
    body["payload"].update(payload)
    return body


def test_what_pagerduty_accepts_is_accepted_and_kept(anonymous, api, service):
    variants = [
        _variant(service, 0),  # as documented: +0000
        _variant(service, 1, timestamp="2015-07-17T08:42:58.315Z"),
        _variant(service, 2, timestamp="2015-07-17T08:42:58.315"),  # no offset: UTC
        _variant(service, 3, timestamp="2015-07-17T08:42:58+00:00", colour="red"),
        _variant(service, 4, custom_details={"log": "x" * (400 * 1024)}),
        _variant(service, 5, custom_details=["a", 1, None]),  # any JSON type
        {**_variant(service, 6), "routing_hint": "eu"},  # a top-level field PagerDuty lacks
    ]
    for body in variants:
        answer = anonymous.post("/v2/enqueue", json=body)
        assert answer.status_code == 202, (body["dedup_key"], answer.text[:300])
        assert answer.json()["dedup_key"] == body["dedup_key"]
    opened = {i["DedupKey"]: i for i in incidents(api)}
    assert sorted(opened) == sorted(b["dedup_key"] for b in variants)
    first = opened["documented-0"]["Details"]
    assert first["timestamp"] == "2015-07-17T08:42:58.315000+00:00"
    assert first["custom_details"] == {"ping time": "1500ms", "load avg": 0.75}
    assert first["images"][0]["alt"] == "Example text"
    assert first["client"] == "Sample Monitoring Service"
    assert opened["documented-2"]["Details"]["timestamp"].endswith("+00:00")
    assert opened["documented-3"]["Details"]["other_payload"] == {"colour": "red"}
    assert len(opened["documented-4"]["Details"]["custom_details"]["log"]) == 400 * 1024
    assert opened["documented-5"]["Details"]["custom_details"] == ["a", 1, None]
    assert opened["documented-6"]["Details"]["other"] == {"routing_hint": "eu"}


def test_acknowledge_needs_a_dedup_key_and_a_known_routing_key(anonymous, api, service):
    invalid(
        anonymous.post("/v2/enqueue", json=event(service, "acknowledge")), "'dedup_key' is required"
    )
    unknown = event(service)
    unknown["routing_key"] = "0" * 32
    invalid(anonymous.post("/v2/enqueue", json=unknown), "not the integration key of any service")
    invalid(anonymous.post("/v2/enqueue", content=b"{not json"), "not valid JSON")
    invalid(anonymous.post("/v2/enqueue", json=[1, 2]), "JSON object")
    # A rotated key stops working at once.
    rotated = api.post(f"/services/{service['Id']}/rotate-key").json()
    assert rotated["IntegrationKey"] != service["IntegrationKey"]
    invalid(anonymous.post("/v2/enqueue", json=event(service)), "not the integration key")
    assert anonymous.post("/v2/enqueue", json=event(rotated)).status_code == 202


def test_the_integration_key_is_shown_once_and_stored_hashed(api, service):
    key = service["IntegrationKey"]
    assert len(key) == 32 and all(c in "0123456789abcdef" for c in key)
    shown = api.get(f"/services/{service['Id']}").json()
    assert "IntegrationKey" not in shown and shown["IntegrationKeyPrefix"] == key[:6]
    assert key not in json.dumps(api.get("/services").json())
    rows = api.app.state.store.rows("SELECT * FROM services")
    assert key not in json.dumps(rows, default=str)


# ----- Alertmanager and Grafana -----------------------------------------------------------------
FIRING = {
    "version": "4",
    "groupKey": '{}/{severity="page"}:{alertname="HighLatency"}',
    "truncatedAlerts": 0,
    "status": "firing",
    "receiver": "oncall",
    "groupLabels": {"alertname": "HighLatency"},
    "commonLabels": {"alertname": "HighLatency", "job": "checkout", "severity": "page"},
    "commonAnnotations": {"summary": "Checkout latency is high"},
    "externalURL": "http://alertmanager:9093",
    "alerts": [
        {
            "status": "firing",
            "labels": {
                "alertname": "HighLatency",
                "instance": "web-1",
                "job": "checkout",
                "severity": "page",
            },
            "annotations": {
                "summary": "Checkout latency is high",
                "description": "p99 2.3 s on web-1",
            },
            "startsAt": "2026-01-05T08:58:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph?g0.expr=...",
            "fingerprint": "a1b2c3d4e5f60718",
        },
    ],
}


def notify(client, service: dict, payload: dict):
    return client.post(f"/integrations/alertmanager/{service['IntegrationKey']}", json=payload)


def test_firing_repeated_and_resolved_notifications(anonymous, api, service):
    first = notify(anonymous, service, FIRING)
    assert first.status_code == 200, first.text
    assert first.json()["action"] == "trigger"
    [incident] = incidents(api)
    assert incident["Body"].startswith("[FIRING:1] Checkout latency is high")
    assert "HighLatency on web-1" in incident["Body"]
    assert (incident["Severity"], incident["Urgency"], incident["Source"]) == (
        "critical",
        "high",
        "alertmanager",
    )
    assert incident["DedupKey"] == FIRING["groupKey"]
    assert incident["Details"]["alerts"][0]["fingerprint"] == "a1b2c3d4e5f60718"
    assert notify(anonymous, service, FIRING).status_code == 200  # the group_interval repeat
    assert incidents(api)[0]["Count"] == 2
    resolved = copy.deepcopy(FIRING)
    resolved["status"] = "resolved"
    resolved["alerts"][0]["status"] = "resolved"
    assert notify(anonymous, service, resolved).json()["action"] == "resolve"
    assert [i["Status"] for i in incidents(api)] == ["resolved"]
    assert notify(anonymous, service, resolved).status_code == 200  # resolving again: no change


def test_a_group_of_alerts_is_one_incident_naming_each(anonymous, api, service):
    grouped = copy.deepcopy(FIRING)
    grouped["groupKey"] = '{}:{job="checkout"}'
    grouped["commonLabels"] = {"job": "checkout", "severity": "warning"}
    grouped["commonAnnotations"] = {}
    grouped["alerts"] = [
        {
            "status": "firing",
            "labels": {"alertname": name, "instance": f"web-{i}"},
            "annotations": {"summary": f"{name} on web-{i}"},
            "startsAt": "2026-01-05T08:58:00Z",
            "fingerprint": f"f{i}",
        }
        for i, name in enumerate(["HighLatency", "ErrorRate", "HighLatency"])
    ] + [{"status": "resolved", "labels": {"alertname": "DiskFull"}, "annotations": {}}]
    grouped["truncatedAlerts"] = 4
    assert notify(anonymous, service, grouped).status_code == 200
    [incident] = incidents(api)
    lines = incident["Body"].splitlines()
    assert lines[0] == "[FIRING:3] HighLatency, ErrorRate"
    assert "- ErrorRate on web-1: ErrorRate on web-1" in lines
    assert "DiskFull" not in incident["Body"]  # resolved within the group
    assert lines[-1] == "(4 more alerts left out by Alertmanager)"
    assert (incident["Severity"], incident["Urgency"]) == ("warning", "low")


def test_grafanas_webhook_is_read_too(anonymous, api, service):
    grafana = copy.deepcopy(FIRING)
    grafana.update(
        {
            "title": "[FIRING:1] Checkout (checkout)",
            "state": "alerting",
            "orgId": 1,
            "message": "**Firing** ...",
            "commonAnnotations": {},
        }
    )
    assert notify(anonymous, service, grafana).status_code == 200
    [incident] = incidents(api)
    assert incident["Source"] == "grafana"
    assert incident["Body"].startswith("[FIRING:1] [FIRING:1] Checkout (checkout)")
    assert incident["Details"]["orgId"] == 1


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        ({**FIRING, "status": "pending"}, "status: must be firing or resolved"),
        ({k: v for k, v in FIRING.items() if k != "groupKey"}, "groupKey"),
        ({**FIRING, "alerts": "x"}, "alerts: must be an array"),
        ({**FIRING, "commonLabels": []}, "commonLabels: must be an object"),
    ],
)
def test_a_bad_notification_is_a_clear_400(anonymous, api, service, payload, words):
    response = notify(anonymous, service, payload)
    assert response.status_code == 400 and words in response.json()["message"], response.text
    assert incidents(api) == []


def test_an_unknown_key_is_404_and_the_key_never_reaches_the_access_log(
    anonymous, api, service, caplog
):
    from live_server import serve

    caplog.set_level(logging.INFO, logger="uvicorn.access")
    response = anonymous.post("/integrations/alertmanager/" + "f" * 32, json=FIRING)
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    with serve(api.app, log_level="info") as url:
        import httpx

        httpx.post(f"{url}/integrations/alertmanager/{service['IntegrationKey']}", json=FIRING)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "/integrations/alertmanager/***" in logged
    assert service["IntegrationKey"] not in logged


def _alert(name: str, instance: str, status: str = "firing") -> dict:
    return {"status": status, "labels": {"alertname": name, "instance": instance},
            "annotations": {"summary": f"{name} on {instance}"},
            "startsAt": "2026-01-05T08:58:00Z", "fingerprint": f"fp-{instance}"}  # fmt: skip


def test_the_incident_follows_what_the_group_fires_now_and_says_when_resolved(
    anonymous, api, service
):
    group = copy.deepcopy(FIRING)
    group.update(groupKey='{}:{job="web"}', commonAnnotations={}, commonLabels={"job": "web"})
    group["alerts"] = [_alert("HighLatency", "web-1")]
    notify(anonymous, service, group)
    group["alerts"] = [_alert("HighLatency", "web-1"), _alert("HighLatency", "web-2")]
    notify(anonymous, service, group)
    [incident] = incidents(api)
    assert incident["Body"].startswith("[FIRING:2]") and "web-2" in incident["Body"]
    group["alerts"] = [_alert("HighLatency", "web-1", "resolved"), _alert("HighLatency", "web-2")]
    notify(anonymous, service, group)
    [incident] = incidents(api)
    assert incident["Body"].startswith("[FIRING:1]"), incident["Body"]
    assert "web-2" in incident["Body"] and "web-1" not in incident["Body"]
    assert [a["labels"]["instance"] for a in incident["Details"]["alerts"]] == ["web-1", "web-2"]
    log = [e["Message"] for e in api.get(f"/incidents/{incident['Id']}/log").json()["Items"]]
    assert any(m.startswith("now: [FIRING:1]") for m in log), log
    group["status"] = "resolved"
    group["alerts"] = [_alert("HighLatency", "web-1", "resolved"),
                       _alert("HighLatency", "web-2", "resolved")]  # fmt: skip
    assert notify(anonymous, service, group).json()["action"] == "resolve"
    [incident] = incidents(api)
    assert incident["Status"] == "resolved" and incident["Body"].startswith("[RESOLVED]")
    told = api.get("/messages", params={"Status": "all"}).json()["Items"]
    [resolved] = [m["Text"] for m in told if m["Kind"] == "resolved"]
    assert "[RESOLVED]" in resolved and "[FIRING" not in resolved


def test_nothing_firing_opens_nothing_and_grafana_may_put(anonymous, api, service):
    empty = copy.deepcopy(FIRING)
    empty["alerts"] = []
    answer = notify(anonymous, service, empty)
    assert answer.status_code == 200 and answer.json()["action"] == "none"
    assert incidents(api) == []
    url = f"/integrations/alertmanager/{service['IntegrationKey']}"
    put = anonymous.put(url, json=FIRING)
    assert put.status_code == 200 and put.json()["action"] == "trigger"
    assert len(incidents(api)) == 1


def test_change_events_are_kept_on_the_service_and_shown_on_incidents_after_them(
    anonymous, api, service, clock
):
    change = {
        "routing_key": service["IntegrationKey"],
        "payload": {
            "summary": "Build Success: Increase snapshot create timeout to 30 seconds",
            "timestamp": "2026-01-05T08:30:00+0000",
            "source": "acme-build-pipeline-tool-default-i-9999",
            "custom_details": {"build_state": "passed", "run_time": "1236s"},
        },
        "links": [{"href": "https://acme.pagerduty.dev/build/2", "text": "View more"}],
    }
    answer = anonymous.post("/v2/change/enqueue", json=change)
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"status": "success", "message": "Change event processed",
                             "dedup_key": None}  # fmt: skip
    assert incidents(api) == []  # nobody is paged
    old = copy.deepcopy(change)
    old["payload"].update(summary="Last week's deploy", timestamp="2025-12-29T08:00:00Z")
    assert anonymous.post("/v2/change/enqueue", json=old).status_code == 202
    listed = api.get(f"/services/{service['Id']}/changes").json()["Items"]
    assert [c["Summary"] for c in listed] == [change["payload"]["summary"], "Last week's deploy"]
    assert listed[0]["At"] == "2026-01-05T08:30:00Z"
    assert listed[0]["Details"]["custom_details"]["build_state"] == "passed"
    opened = anonymous.post("/v2/enqueue", json=event(service)).json()
    [incident] = [i for i in incidents(api) if i["DedupKey"] == opened["dedup_key"]]
    before = api.get(f"/incidents/{incident['Id']}/changes").json()["Items"]
    assert [c["Summary"] for c in before] == [change["payload"]["summary"]]  # within the hour
    clock.advance(hours=2)
    later = anonymous.post("/v2/enqueue", json=event(service, dedup_key="later")).json()
    [second] = [i for i in incidents(api) if i["DedupKey"] == later["dedup_key"]]
    assert api.get(f"/incidents/{second['Id']}/changes").json()["Items"] == []
    bad = copy.deepcopy(change)
    bad["payload"].pop("summary")
    invalid(anonymous.post("/v2/change/enqueue", json=bad), "'payload.summary' is missing")
    bad["routing_key"] = "0" * 32
    invalid(anonymous.post("/v2/change/enqueue", json=bad), "not the integration key")


def test_an_integration_key_over_its_rate_limit_is_told_to_retry_and_nothing_is_lost(
    anonymous, api, service, clock
):
    assert (
        api.put(f"/services/{service['Id']}", json={"EventsPerMinute": 6}).json()["EventsPerMinute"]
        == 6
    )
    answers = [
        anonymous.post("/v2/enqueue", json=event(service, dedup_key=f"k{n}")) for n in range(10)
    ]
    assert [a.status_code for a in answers] == [202] * 6 + [429] * 4
    refused = answers[-1]
    assert refused.json()["status"] == "throttle event"
    assert refused.headers["Retry-After"] == "10"  # 6 a minute: one more every 10 s
    assert sorted(i["DedupKey"] for i in incidents(api)) == [f"k{n}" for n in range(6)]
    clock.advance(seconds=10)
    again = anonymous.post("/v2/enqueue", json=event(service, dedup_key="k6"))
    assert again.status_code == 202  # sent again after Retry-After: taken
    am = anonymous.post(f"/integrations/alertmanager/{service['IntegrationKey']}", json=FIRING)
    assert am.status_code == 429 and am.headers["Retry-After"] == "10"
    other = api.post("/services", json={"Name": "search", "TeamId": service["TeamId"]}).json()
    assert anonymous.post("/v2/enqueue", json=event(other)).status_code == 202  # its own limit
    bad = api.put(f"/services/{service['Id']}", json={"EventsPerMinute": 0})
    assert bad.status_code == 400 and "EventsPerMinute" in bad.text
