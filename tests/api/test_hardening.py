"""Bad requests get a clear 4xx naming the field and change nothing: text that is not valid
Unicode, timestamps whose UTC value does not exist, oversized bodies, loose types, control
characters that could forge a log line or a Slack message."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
from fastapi.testclient import TestClient

from oncall_opt.api import create_app
from oncall_opt.api.guards import body_limit
from oncall_opt.engine import text
from oncall_opt.engine.settings import Settings
from oncall_opt.engine.store import Store

LOCAL = "http://127.0.0.1"  # the daemon answers loopback names without a token

SURROGATE = '"x\\ud800y"'  # JSON for a lone surrogate, which no database can store


@pytest.fixture
def api(store, clock):
    with TestClient(
        base_url=LOCAL, app=create_app(store, Settings(), clock, run_jobs=False)
    ) as client:
        client.post("/users", json={"FirstName": "Ana", "LastName": "Silva", "SlackHandle": "ana"})
        yield client


def dump(store: Store) -> dict[str, list]:
    tables = ("users", "schedules", "incidents", "outbox", "availability")
    return {t: store.rows(f"SELECT * FROM {t} ORDER BY 1") for t in tables}


def refused(response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) >= {"code", "message"}, body
    for word in words:
        assert word in body["message"], body


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/incidents", f'{{"Body": {SURROGATE}}}', "Body"),
        ("/incidents", f'{{"Body": "disk", "DedupKey": {SURROGATE}}}', "DedupKey"),
        (
            "/users",
            f'{{"FirstName": "A", "LastName": "B", "SlackHandle": {SURROGATE}}}',
            "SlackHandle",
        ),
        (
            "/users",
            f'{{"FirstName": {SURROGATE}, "LastName": "B", "SlackHandle": "b"}}',
            "FirstName",
        ),
        ("/messages/test", f'{{"Text": {SURROGATE}}}', "Text"),
    ],
)  # fmt: skip
def test_a_lone_surrogate_is_refused_naming_the_field(api, store, path, body, field):
    before = dump(store)
    refused(api.post(path, content=body), 400, field, "not valid Unicode")
    assert dump(store) == before


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/users/1/schedules",
         {"Start": "9999-12-30T00:00:00Z", "End": "9999-12-31T23:59:59-14:00"}, "End"),
        ("POST", "/users/1/schedules",
         {"Start": "0001-01-01T00:00:00+01:00", "End": "2026-01-01T00:00:00Z"}, "Start"),
        ("GET", "/roster/input?Start=9999-12-29&End=9999-12-31", None, "End"),
        ("GET", "/scheduled/9999-12-31T23:59:59-14:00", None, "out of range"),
        ("POST", "/roster/publish", {"Output": {"overrides": [{
            "start": "9999-12-31T00:00:00Z", "end": "9999-12-31T23:59:59-14:00",
            "user": {"id": "1"}}]}}, "Output.overrides[0].end"),
        ("POST", "/roster/solve", {"Start": "9999-12-29", "End": "9999-12-31"}, "End"),
        ("POST", "/roster/solve", {"Input": {
            "schedule_start": "9999-12-29T00:00:00Z", "schedule_end": "9999-12-31T00:00:00Z",
            "users": [{"id": "a"}]}}, "Input.schedule_end"),
        ("POST", "/roster/solve", {"Input": {
            "schedule_start": "9999-12-30T00:00:00Z", "schedule_end": "9999-12-31T23:00:00-14:00",
            "users": [{"id": "a"}]}}, "Input.schedule_end"),
    ],
)  # fmt: skip
def test_times_near_years_1_and_9999_are_refused_naming_the_field(
    api, store, method, path, body, field
):
    before = dump(store)
    response = api.request(method, path, json=body)
    assert 400 <= response.status_code < 500, response.text
    refused(response, response.status_code, field)
    assert dump(store) == before


MAX_REQUEST_BYTES = body_limit("/incidents")


def test_an_oversized_request_body_is_refused_with_413(api, store):
    before = dump(store)
    huge = json.dumps({"Body": "x" * (MAX_REQUEST_BYTES + 1)})
    refused(api.post("/incidents", content=huge), 413, str(MAX_REQUEST_BYTES))

    def chunks():  # no Content-Length: the server must stop reading past the limit
        yield b'{"Body": "'
        for _ in range(MAX_REQUEST_BYTES // (1 << 20) + 1):
            yield b"x" * (1 << 20)
        yield b'"}'

    refused(api.post("/incidents", content=chunks()), 413)
    assert dump(store) == before
    assert api.post("/incidents", json={"Body": "still fine"}).status_code == 200


def test_text_longer_than_its_limit_is_refused_naming_the_field_and_the_limit(api, store):
    before = dump(store)
    refused(
        api.post("/incidents", json={"Body": "x" * (text.MAX_BODY + 1000)}),
        400, "Body", f"at most {text.MAX_BODY}",
    )  # fmt: skip
    long_name = {"FirstName": "N" * (text.MAX_NAME + 1), "LastName": "B", "SlackHandle": "b"}
    refused(api.post("/users", json=long_name), 400, "FirstName", f"at most {text.MAX_NAME}")
    assert dump(store) == before
    at_limit = {"FirstName": "N" * text.MAX_NAME, "LastName": "B", "SlackHandle": "b"}
    assert api.post("/users", json=at_limit).status_code == 200


@pytest.mark.parametrize("user_id", [True, "1", 1.0, False])
def test_an_id_must_be_a_json_number(api, store, user_id):
    incident = api.post("/incidents", json={"Body": "disk"}).json()
    before = dump(store)
    path = f"/incidents/{incident['Id']}/acknowledge"
    refused(api.put(path, json={"UserId": user_id}), 400, "UserId")
    assert dump(store) == before
    assert api.put(path, json={"UserId": 1}).json()["AcknowledgedBy"]["Id"] == 1


@pytest.mark.parametrize("layer", [True, "2", 2.0])
def test_a_layer_must_be_a_json_number(api, store, layer):
    before = dump(store)
    body = {"Start": "2026-01-01T00:00:00Z", "End": "2026-01-02T00:00:00Z", "Layer": layer}
    refused(api.post("/users/1/schedules", json=body), 400, "Layer")
    assert dump(store) == before


def test_control_characters_never_reach_a_name_a_log_line_or_slack(api, store, caplog):
    caplog.set_level(logging.DEBUG)
    forged = {
        "FirstName": "Eve\n2026-01-05 09:00:00 INFO oncall_opt: all clear",
        "LastName": "\x1b[31mRed\x00\u2028",
        "SlackHandle": "eve\r\n",
    }
    eve = api.post("/users", json=forged).json()
    assert eve["FirstName"] == "Eve2026-01-05 09:00:00 INFO oncall_opt: all clear"
    assert (eve["LastName"], eve["SlackHandle"]) == ("[31mRed", "eve")
    incident = api.post("/incidents", json={"Body": "line 1\nline 2\x07", "DedupKey": "k\n1"})
    assert incident.json()["Body"] == "line 1\nline 2"  # a body keeps its lines
    assert incident.json()["DedupKey"] == "k1"
    for row in store.rows("SELECT first_name, last_name, slack_handle FROM users"):
        assert not any(ch in value for value in row.values() for ch in "\n\r\x1b\x00\u2028")
    assert not any("\n" in record.getMessage() for record in caplog.records)


def test_slack_texts_cut_a_long_body_with_a_marker(api, store):
    body = "y" * (text.SLACK_BODY + 500)
    api.post("/incidents", json={"Body": body})
    [message] = store.rows("SELECT text FROM outbox WHERE kind = 'created'")
    assert "y" * text.SLACK_BODY + "… (500 more characters in the incident)" in message["text"]
    assert "y" * (text.SLACK_BODY + 1) not in message["text"]
    [stored] = store.rows("SELECT body FROM incidents")
    assert stored["body"] == body  # the incident keeps all of it


def test_a_fault_of_ours_is_one_logged_500_and_the_connection_stays_open(
    store, clock, monkeypatch, caplog
):
    from live_server import serve

    from oncall_opt.engine import users

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(users, "list_users", broken)
    connections: list[object] = []
    hooks = {"request": [lambda request: connections.append(request.extensions.get("trace"))]}
    with (
        serve(create_app(store, Settings(), clock, run_jobs=False)) as url,
        httpx.Client(base_url=url, event_hooks=hooks) as client,
    ):
        caplog.clear()
        response = client.get("/users")
        assert response.status_code == 500 and response.json()["code"] == "internal"
        assert "disk on fire" not in response.text  # the details stay in the log
        assert response.headers.get("connection") != "close"
        assert client.get("/incidents").status_code == 200  # the same client goes on
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert len(tracebacks) == 1 and "disk on fire" in caplog.text


def test_405_says_which_methods_are_allowed(api):
    response = api.delete("/users")
    refused(response, 405)
    assert set(response.headers["Allow"].replace(" ", "").split(",")) == {"GET", "POST"}


def test_the_example_apps_calls_work_too(api, store):
    """encoredev/example-app-oncall also sends `POST /incidents/acknowledge_all` and lower-case
    `start`/`end` on `GET|DELETE /schedules`."""
    for body in ("disk", "cpu"):
        api.post("/incidents", json={"Body": body})
    done = api.post("/incidents/acknowledge_all", json={"UserId": 1})
    assert done.status_code == 200, done.text
    assert [(i["Body"], i["Status"], i["AcknowledgedBy"]["Id"]) for i in done.json()["Items"]] == [
        ("disk", "acknowledged", 1), ("cpu", "acknowledged", 1)
    ]  # fmt: skip
    assert api.post("/incidents/acknowledge_all").json()["Items"] == []  # none left
    kinds = [r["kind"] for r in store.rows("SELECT kind FROM outbox ORDER BY id")]
    assert kinds == ["created", "created", "acknowledged", "acknowledged"]

    shift = {"Start": "2026-01-05T00:00:00Z", "End": "2026-01-06T00:00:00Z"}
    assert api.post("/users/1/schedules", json=shift).status_code == 200
    lower = {"start": "2026-01-05T12:00:00Z", "end": "2026-01-05T13:00:00Z"}
    upper = {"Start": "2026-01-05T12:00:00Z", "End": "2026-01-05T13:00:00Z"}
    assert api.get("/schedules", params=lower).json() == api.get("/schedules", params=upper).json()
    assert len(api.get("/schedules", params=lower).json()["Items"]) == 1
    assert len(api.delete("/schedules", params=lower).json()["Items"]) == 1
    refused(api.get("/schedules", params={"start": lower["start"]}), 400, "End: Field required")


def test_acknowledging_many_at_once_sends_one_summary(api, store):
    for n in range(8):
        api.post("/incidents", json={"Body": f"alert {n}"})
    assert len(api.post("/incidents/acknowledge_all").json()["Items"]) == 8
    [summary] = store.rows("SELECT text FROM outbox WHERE kind = 'acknowledged'")
    assert summary["text"].startswith("8 incidents acknowledged:")
    assert all(f"alert {n}" in summary["text"] for n in range(8))


@pytest.mark.parametrize("path", ["/incidents?Status=all", "/messages?Status=all"])
def test_lists_come_newest_first_a_page_at_a_time(api, store, clock, path):
    for n in range(7):
        clock.advance(minutes=1)  # no storm: each its own 'created' message
        api.post("/incidents", json={"Body": f"alert {n}"})
    everything = api.get(path, params={"Limit": 1000}).json()
    assert everything["NextCursor"] is None
    ids = [item["Id"] for item in everything["Items"]]
    assert ids == sorted(ids, reverse=True) and len(ids) == 7
    pages, cursor = [], None
    while True:
        params = {"Limit": 3, **({"Cursor": cursor} if cursor else {})}
        page = api.get(path, params=params).json()
        pages.append([item["Id"] for item in page["Items"]])
        if (cursor := page["NextCursor"]) is None:
            break
        api.post("/incidents", json={"Body": "arrives while paging"})  # pages stay stable
    assert pages == [ids[0:3], ids[3:6], ids[6:7]]
    refused(api.get(path, params={"Cursor": "x1"}), 400, "Cursor")
    refused(api.get(path, params={"Limit": 1001}), 400, "Limit")


def test_the_client_follows_pages_to_the_end(store, clock, monkeypatch):
    from live_server import serve

    import oncall_opt.client as client_module
    from oncall_opt.client import Client

    with serve(create_app(store, Settings(), clock, run_jobs=False)) as url, Client(url) as api:
        for n in range(5):
            api.trigger_incident(f"alert {n}")
        import oncall_opt.client as client_module

        old_page = client_module.PAGE
        client_module.PAGE = 2  # small pages, so that following them is what is tested
        try:
            assert [i["Body"] for i in api.list_incidents()] == [
                f"alert {n}" for n in range(4, -1, -1)
            ]
            assert len(api.list_incidents(limit=3)) == 3
        finally:
            client_module.PAGE = old_page
