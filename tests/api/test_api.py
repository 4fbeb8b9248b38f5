"""The HTTP API: the Encore tutorial's curl flow, each of its defects fixed, errors, the token."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from live_server import serve
from pydantic import SecretStr

from oncall_opt.api import create_app
from oncall_opt.engine.settings import Settings
from oncall_opt.engine.store import Store

LOCAL = "http://127.0.0.1"  # the daemon answers loopback names without a token

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
FORM = {"Content-Type": "application/x-www-form-urlencoded"}  # what `curl -d` sends
KATY = '{ "FirstName":"Katy", "LastName":"Smith", "SlackHandle":"katy" }'
BODY = "An unexpected error happened on example-website.com on line 38. It needs addressing now!"


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture
def app(store, clock):
    return create_app(store, Settings(), clock, run_jobs=False)


@pytest.fixture
def api(app):
    with TestClient(base_url=LOCAL, app=app) as client:
        yield client


def curl_d(api: TestClient, path: str, body: str) -> httpx.Response:
    """POST like `curl -d '<body>' URL`: the JSON text with a form content type."""
    return api.post(path, content=body, headers=FORM)


def user(api: TestClient, first="Katy", last="Smith", handle="katy") -> dict:
    response = api.post(
        "/users", json={"FirstName": first, "LastName": last, "SlackHandle": handle}
    )
    assert response.status_code == 200, response.text
    return response.json()


def shift(api: TestClient, user_id: int, start: datetime, end: datetime, layer: int = 1):
    body = {"Start": iso(start), "End": iso(end), "Layer": layer}
    return api.post(f"/users/{user_id}/schedules", json=body)


def outbox(store: Store) -> list[tuple[str, str]]:
    return [(r["kind"], r["text"]) for r in store.rows("SELECT kind, text FROM outbox ORDER BY id")]


def assert_error(response: httpx.Response, status: int, code: str, *words: str) -> None:
    assert response.status_code == status, response.text
    payload = response.json()
    assert set(payload) == {"code", "message", "details"} and payload["code"] == code, payload
    assert payload["details"] is None
    for word in words:
        assert word in payload["message"], payload


# ----- the tutorial -----------------------------------------------------------------------------
def test_tutorial_flow_step_by_step_as_curl_sends_it(api, store):
    katy = {"Id": 1, "FirstName": "Katy", "LastName": "Smith", "SlackHandle": "katy"}
    # Step 1: create a user
    response = curl_d(api, "/users", KATY)
    assert response.status_code == 200, response.text
    assert response.json() == {**katy, "TimeZone": None, "Role": "member"}
    # Step 2: a schedule for that user, covering now
    start, end = iso(NOW - timedelta(hours=1)), iso(NOW + timedelta(hours=23))
    response = curl_d(api, "/users/1/schedules", f'{{ "Start":"{start}", "End":"{end}" }}')
    assert response.status_code == 200, response.text
    assert response.json() == {
        "Id": 1,
        "User": {**katy, "TimeZone": None, "Role": "member"},
        "Time": {"Start": start, "End": end},
        "Layer": 1,
        "TeamId": 1,
        "Source": "roster",
    }
    assert api.get("/scheduled").json()["User"]["Id"] == 1
    # Step 3: trigger an incident: it goes to Katy
    response = curl_d(api, "/incidents", f'{{ "Body":"{BODY}" }}')
    assert response.status_code == 200, response.text
    incident = response.json()
    assert {k: incident[k] for k in ("Id", "Body", "CreatedAt", "Acknowledged")} == {
        "Id": 1,
        "Body": BODY,
        "CreatedAt": iso(NOW),
        "Acknowledged": False,
    }
    assert incident["AcknowledgedAt"] is None and incident["Assignee"]["Id"] == 1
    assert incident["Created"] is True and incident["Status"] == "triggered"
    assert api.get("/incidents").json()["Items"][0]["Id"] == 1
    # Step 4: acknowledge it: `curl -X PUT` sends no body at all
    response = api.put("/incidents/1/acknowledge")
    assert response.status_code == 200, response.text
    assert response.json()["Acknowledged"] is True
    assert response.json()["AcknowledgedAt"] == iso(NOW)
    assert api.get("/incidents").json()["Items"] == []  # the list is of unacknowledged ones
    assert outbox(store) == [
        ("created", f"Incident #1 created and assigned to Katy Smith <@katy>\n{BODY}"),
        (
            "acknowledged",
            f"Incident #1 assigned to Katy Smith <@katy> has been acknowledged:\n{BODY}",
        ),
    ]


def test_the_tutorials_curl_commands_verbatim_against_a_real_server(app, store):
    if shutil.which("curl") is None:  # skipped on a laptop without it, never in CI
        message = "curl not found: apt-get install curl"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)

    def curl(*args: str) -> dict:
        done = subprocess.run(
            ["curl", "-s", *args], capture_output=True, text=True, timeout=30, check=True
        )
        return json.loads(done.stdout)

    start, end = iso(NOW - timedelta(hours=1)), iso(NOW + timedelta(hours=23))
    with serve(app) as url:
        # The seed's four commands, with only the address changed.
        katy = curl("-d", KATY, f"{url}/users")
        schedule = curl("-d", f'{{ "Start":"{start}", "End":"{end}" }}', f"{url}/users/1/schedules")
        incident = curl("-d", f'{{ "Body":"{BODY}" }}', f"{url}/incidents")
        acked = curl("-X", "PUT", f"{url}/incidents/1/acknowledge")
        again = curl("-X", "PUT", f"{url}/incidents/1/acknowledge")
    assert katy == {"Id": 1, "FirstName": "Katy", "LastName": "Smith", "SlackHandle": "katy",
                    "TimeZone": None, "Role": "member"}  # fmt: skip
    assert schedule["Time"] == {"Start": start, "End": end}
    assert incident["Assignee"] == katy and incident["Body"] == BODY
    assert acked["Acknowledged"] is True and acked["Status"] == "acknowledged"
    assert again["code"] == "already_exists"
    assert [kind for kind, _ in outbox(store)] == ["created", "acknowledged"]


# ----- users ------------------------------------------------------------------------------------
def test_users_create_get_list_and_edit(api):
    katy = user(api, handle="@katy")
    assert katy["SlackHandle"] == "katy"  # a leading @ goes
    assert api.get(f"/users/{katy['Id']}").json() == katy
    response = api.post(
        "/users",
        json={
            "FirstName": "Bob",
            "LastName": "Jones",
            "SlackHandle": "bob",
            "TimeZone": "Europe/Oslo",
        },
    )
    bob = response.json()
    assert bob["TimeZone"] == "Europe/Oslo"
    assert api.get("/users").json() == {"Items": [katy, bob]}
    edited = api.put(f"/users/{katy['Id']}", json={"LastName": "Jones-Smith"}).json()
    assert edited == {**katy, "LastName": "Jones-Smith"}
    assert api.put(f"/users/{bob['Id']}", json={"TimeZone": ""}).json()["TimeZone"] is None
    assert_error(
        api.put("/users/1", json={"FirstName": "  "}), 400, "invalid_argument", "FirstName"
    )
    assert_error(api.get("/users/999"), 404, "not_found", "999")
    assert_error(api.put("/users/999", json={"FirstName": "X"}), 404, "not_found")


@pytest.mark.parametrize("field", ["FirstName", "LastName", "SlackHandle"])
def test_empty_names_are_refused(api, field):
    body = {"FirstName": "Katy", "LastName": "Smith", "SlackHandle": "katy", field: ""}
    assert_error(api.post("/users", json=body), 400, "invalid_argument", field)
    assert api.get("/users").json() == {"Items": []}


# ----- schedules: the seed's defects ------------------------------------------------------------
def test_a_shift_containing_another_is_refused(api):
    """The seed only checked whether the new shift's start or end fell inside an existing one."""
    katy, bob = user(api), user(api, "Bob", "Jones", "bob")
    day = NOW.replace(hour=0)
    assert shift(api, katy["Id"], day + timedelta(hours=10), day + timedelta(hours=12)).is_success
    response = shift(api, bob["Id"], day + timedelta(hours=8), day + timedelta(hours=14))
    assert_error(response, 409, "already_exists", "overlaps shift 1")
    response = shift(
        api, bob["Id"], day + timedelta(hours=11), day + timedelta(hours=11, minutes=30)
    )
    assert_error(response, 409, "already_exists")
    assert len(api.get("/users").json()["Items"]) == 2
    assert shift(api, bob["Id"], day + timedelta(hours=8), day + timedelta(hours=14), 2).is_success
    # another layer is another rota: the secondary may overlap the primary
    assert len(store_rows(api, "SELECT id FROM schedules")) == 2


def store_rows(api: TestClient, sql: str) -> list[dict]:
    return api.app.state.store.rows(sql)


def test_back_to_back_shifts_are_fine(api):
    """Shifts are half-open: one may start exactly when the previous one ends."""
    katy, bob = user(api), user(api, "Bob", "Jones", "bob")
    assert shift(api, katy["Id"], NOW, NOW + timedelta(hours=8)).status_code == 200
    assert shift(api, bob["Id"], NOW + timedelta(hours=8), NOW + timedelta(hours=16)).is_success
    assert shift(api, bob["Id"], NOW - timedelta(hours=8), NOW).is_success
    handover = iso(NOW + timedelta(hours=8))
    assert api.get(f"/scheduled/{handover}").json()["User"]["Id"] == bob["Id"]
    assert api.get(f"/scheduled/{iso(NOW)}").json()["User"]["Id"] == katy["Id"]


def race(url: str, requests: list[tuple[str, dict]]) -> list[int]:
    """POST each (path, body) from its own thread, all released at once; the statuses."""
    barrier = threading.Barrier(len(requests))
    statuses: list[int] = []

    def post(path: str, body: dict) -> None:
        with httpx.Client(base_url=url) as http:
            barrier.wait()
            statuses.append(http.post(path, json=body).status_code)

    threads = [threading.Thread(target=post, args=request) for request in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(statuses)


def test_concurrent_overlapping_creates_exactly_one_wins(app, store):
    """Two requests at once for overlapping shifts: the check and the insert are one
    serialised transaction, so one gets in and the other gets 409."""
    with serve(app) as url:
        for who in ("Katy", "Bob"):
            body = {"FirstName": who, "LastName": "X", "SlackHandle": who.lower()}
            assert httpx.post(f"{url}/users", json=body).is_success
        for round_ in range(4):
            day = NOW + timedelta(days=round_)
            first = {"Start": iso(day), "End": iso(day + timedelta(hours=8))}
            second = {"Start": iso(day + timedelta(hours=4)), "End": iso(day + timedelta(hours=12))}
            statuses = race(url, [("/users/1/schedules", first), ("/users/2/schedules", second)])
            assert statuses == [200, 409]
    assert store.row("SELECT count(*) AS n FROM schedules")["n"] == 4


def test_list_and_delete_act_on_overlapping_shifts(api):
    """The seed listed and deleted only shifts lying wholly inside the range."""
    katy = user(api)
    day = NOW.replace(hour=0)
    for hours in ((8, 10), (10, 12), (12, 14)):
        start, end = day + timedelta(hours=hours[0]), day + timedelta(hours=hours[1])
        assert shift(api, katy["Id"], start, end).is_success
    query = {"Start": iso(day + timedelta(hours=9)), "End": iso(day + timedelta(hours=11))}
    listed = api.get("/schedules", params=query).json()["Items"]
    assert [s["Id"] for s in listed] == [1, 2]
    # A range that touches a shift only at its end does not overlap it.
    touching = {"Start": iso(day + timedelta(hours=14)), "End": iso(day + timedelta(hours=15))}
    assert api.get("/schedules", params=touching).json() == {"Items": []}
    gone = api.delete("/schedules", params={
        "Start": iso(day + timedelta(hours=11)), "End": iso(day + timedelta(hours=11, minutes=30))
    }).json()["Items"]  # fmt: skip
    assert [s["Id"] for s in gone] == [2]
    remaining = api.get(
        "/schedules", params={"Start": iso(day), "End": iso(day + timedelta(days=1))}
    )
    assert [s["Id"] for s in remaining.json()["Items"]] == [1, 3]
    one = api.delete("/schedules/3")
    assert one.status_code == 200 and one.json()["Id"] == 3
    assert_error(api.delete("/schedules/3"), 404, "not_found")


def test_naive_and_garbage_timestamps_are_rejected_naming_the_field(api):
    katy = user(api)
    naive = api.post("/users/1/schedules", json={"Start": "2026-01-05T10:00:00", "End": iso(NOW)})
    assert_error(naive, 400, "invalid_argument", "Start", "no UTC offset")
    response = api.get("/schedules", params={"Start": iso(NOW), "End": "2026-01-06T00:00:00"})
    assert_error(response, 400, "invalid_argument", "End", "no UTC offset")
    assert_error(api.get("/scheduled/2026-01-05T10:00:00"), 400, "invalid_argument", "timestamp")
    for bad in ("tomorrow", "2026-13-01T00:00:00Z", "2026-01-05", "{junk}", 1767600000, None):
        body = {"Start": bad, "End": iso(NOW)}
        response = api.post(f"/users/{katy['Id']}/schedules", json=body)
        assert_error(response, 400, "invalid_argument", "Start")
    assert_error(api.get("/scheduled/not-a-time"), 400, "invalid_argument", "timestamp")
    end_first = {"Start": iso(NOW), "End": iso(NOW - timedelta(hours=1))}
    assert_error(api.post("/users/1/schedules", json=end_first), 400, "invalid_argument", "End")
    assert store_rows(api, "SELECT id FROM schedules") == []


def test_offsets_are_accepted_and_times_come_back_in_utc(api):
    user(api)
    body = {"Start": "2026-01-05T11:00:00+02:00", "End": "2026-01-05T12:30:00.5-05:00"}
    created = api.post("/users/1/schedules", json=body).json()
    assert created["Time"] == {
        "Start": "2026-01-05T09:00:00Z",
        "End": "2026-01-05T17:30:00.500000Z",
    }
    # An unencoded `+` in a query string arrives as a space; it is understood all the same.
    response = api.get("/schedules?Start=2026-01-05T10:00:00+01:00&End=2026-01-05T10:00:01+01:00")
    assert [s["Id"] for s in response.json()["Items"]] == [1]
    assert api.get("/scheduled/2026-01-05T10:00:00+01:00").json()["Id"] == 1


def test_who_is_scheduled_now_at_a_time_and_per_layer(api, clock):
    katy, bob = user(api), user(api, "Bob", "Jones", "bob")
    assert_error(api.get("/scheduled"), 404, "not_found", "no schedule found")
    assert shift(api, katy["Id"], NOW, NOW + timedelta(hours=8)).is_success
    assert shift(api, bob["Id"], NOW, NOW + timedelta(hours=8), layer=2).is_success
    assert api.get("/scheduled").json()["User"]["Id"] == katy["Id"]
    secondary = api.get("/scheduled", params={"Layer": 2}).json()
    assert secondary["User"]["Id"] == bob["Id"] and secondary["Layer"] == 2
    assert len(api.get("/schedules", params={"Start": iso(NOW), "End": iso(NOW + timedelta(1))})
               .json()["Items"]) == 2  # fmt: skip
    only_2 = {"Start": iso(NOW), "End": iso(NOW + timedelta(1)), "Layer": 2}
    assert [s["Layer"] for s in api.get("/schedules", params=only_2).json()["Items"]] == [2]
    assert_error(api.get("/scheduled", params={"Layer": 3}), 400, "invalid_argument", "Layer")
    clock.advance(hours=8)  # the shift has ended: [start, end) is half-open
    assert_error(api.get("/scheduled"), 404, "not_found", "no schedule found")
    assert_error(shift(api, 999, NOW, NOW + timedelta(hours=1)), 404, "not_found", "999")


# ----- incidents --------------------------------------------------------------------------------
def test_acknowledging_an_unassigned_incident_works(api, store):
    """The seed dereferenced the missing assignee while writing the Slack text."""
    created = api.post("/incidents", json={"Body": "Disk full"}).json()
    assert created["Assignee"] is None
    response = api.put(f"/incidents/{created['Id']}/acknowledge")
    assert response.status_code == 200, response.text
    assert response.json()["Acknowledged"] is True
    assert outbox(store) == [
        ("created", "Incident #1 created and unassigned\nDisk full"),
        ("acknowledged", "Incident #1 (unassigned) has been acknowledged:\nDisk full"),
    ]


def test_assigning_to_an_unknown_user_is_404_and_changes_nothing(api, store):
    """The seed set the unknown id first and only then failed to look the user up."""
    katy = user(api)
    shift(api, katy["Id"], NOW, NOW + timedelta(hours=1))
    incident = api.post("/incidents", json={"Body": "Disk full"}).json()
    assert_error(api.put("/incidents/1/assign", json={"UserId": 999}), 404, "not_found", "999")
    assert api.get("/incidents/1").json() == {k: v for k, v in incident.items() if k != "Created"}
    assert [kind for kind, _ in outbox(store)] == ["created"]


def test_acknowledging_twice_is_409_and_unknown_incidents_are_404(api):
    katy = user(api)
    api.post("/incidents", json={"Body": "Disk full"})
    assert_error(api.put("/incidents/1/acknowledge", json={"UserId": 999}), 404, "not_found")
    assert api.get("/incidents/1").json()["Status"] == "triggered"
    acked = api.put("/incidents/1/acknowledge", json={"UserId": katy["Id"]}).json()
    assert acked["AcknowledgedBy"] == katy and acked["Status"] == "acknowledged"
    assert_error(api.put("/incidents/1/acknowledge"), 409, "already_exists", "already acknowledged")
    for verb in ("acknowledge", "resolve"):
        assert_error(api.put(f"/incidents/42/{verb}"), 404, "not_found", "42")
    assert_error(api.put("/incidents/42/assign", json={"UserId": katy["Id"]}), 404, "not_found")
    assert_error(api.get("/incidents/42"), 404, "not_found")


def test_outbox_messages_in_the_seeds_wording(api, store):
    katy, bob = user(api), user(api, "Bob", "Jones", "bob")
    shift(api, katy["Id"], NOW, NOW + timedelta(hours=8))
    api.post("/incidents", json={"Body": "Checkout down"})
    api.put("/incidents/1/acknowledge", json={"UserId": katy["Id"]})
    api.put("/incidents/1/assign", json={"UserId": bob["Id"]})
    resolved = api.put("/incidents/1/resolve", json={"UserId": bob["Id"]}).json()
    assert resolved["ResolvedBy"] == bob and resolved["ResolvedAt"] == iso(NOW)
    assert outbox(store) == [
        ("created", "Incident #1 created and assigned to Katy Smith <@katy>\nCheckout down"),
        (
            "acknowledged",
            "Incident #1 assigned to Katy Smith <@katy> has been acknowledged by "
            "Katy Smith <@katy>:\nCheckout down",
        ),
        ("assigned", "Incident #1 is re-assigned to Bob Jones <@bob>\nCheckout down"),
        ("resolved", "Incident #1 has been resolved by Bob Jones <@bob>:\nCheckout down"),
    ]
    assert_error(api.put("/incidents/1/resolve"), 409, "already_exists", "already resolved")
    assert_error(api.put("/incidents/1/assign", json={"UserId": katy["Id"]}), 409, "already_exists")


def test_dedup_key_counts_repeats_until_resolved(api, clock, store):
    first = api.post("/incidents", json={"Body": "CPU hot", "DedupKey": "cpu"}).json()
    assert first["Created"] is True and first["Count"] == 1 and first["DedupKey"] == "cpu"
    clock.advance(minutes=5)
    again = api.post("/incidents", json={"Body": "CPU hot", "DedupKey": "cpu"}).json()
    assert again["Id"] == first["Id"] and again["Created"] is False and again["Count"] == 2
    assert again["LastTriggeredAt"] == iso(NOW + timedelta(minutes=5))
    assert again["CreatedAt"] == iso(NOW)
    other = api.post("/incidents", json={"Body": "CPU hot", "DedupKey": "cpu-2"}).json()
    assert other["Created"] is True and other["Id"] != first["Id"]
    api.put(f"/incidents/{first['Id']}/resolve")
    fresh = api.post("/incidents", json={"Body": "CPU hot", "DedupKey": "cpu"}).json()
    assert fresh["Created"] is True and fresh["Id"] not in (first["Id"], other["Id"])
    assert [kind for kind, _ in outbox(store)] == ["created", "created", "resolved", "created"]


def test_incident_lists_filter_by_status_and_assignee(api):
    katy = user(api)
    shift(api, katy["Id"], NOW, NOW + timedelta(hours=1))
    for body in ("one", "two", "three"):
        api.post("/incidents", json={"Body": body})
    api.put("/incidents/2/acknowledge")
    api.put("/incidents/3/resolve")

    def ids(**params) -> list[int]:
        response = api.get("/incidents", params=params)
        assert response.status_code == 200, response.text
        return [i["Id"] for i in response.json()["Items"]]

    assert ids() == [1] == ids(Status="unacknowledged") == ids(Status="triggered")
    assert ids(Status="acknowledged") == [2]
    assert ids(Status="resolved") == [3]
    assert ids(Status="open") == [2, 1]  # newest first
    assert ids(Status="all") == [3, 2, 1] == ids(Status="all", AssigneeId=katy["Id"])
    assert ids(Status="all", AssigneeId=999) == []
    assert_error(
        api.get("/incidents", params={"Status": "done"}), 400, "invalid_argument", "Status"
    )


# ----- bad requests -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path", "body", "status", "words"),
    [
        ("POST", "/users", '{"FirstName": "Katy",', 400, ["malformed JSON"]),
        ("POST", "/users", "not json", 400, ["malformed JSON"]),
        ("POST", "/users", '{"FirstName": "Katy"}', 400, ["LastName", "SlackHandle"]),
        ("POST", "/users", '{"FirstName": 7, "LastName": "S", "SlackHandle": "k"}', 400,
         ["FirstName"]),
        ("POST", "/users", '{"Firstname": "K", "LastName": "S", "SlackHandle": "k"}', 400,
         ["Firstname", "FirstName"]),
        ("POST", "/users", "[1, 2]", 400, ["body"]),
        ("POST", "/users", None, 400, ["body"]),
        ("POST", "/users", '{"FirstName": "K", "LastName": "S", "SlackHandle": "k", '
         '"TimeZone": "Mars/Base"}', 400, ["TimeZone"]),
        ("GET", "/users/abc", None, 400, ["id"]),
        ("GET", "/users/0", None, 400, ["id"]),
        ("GET", "/users/99999999999999999999999", None, 400, ["id"]),
        ("GET", "/users/1", None, 404, ["no user with id 1"]),
        ("POST", "/users/1/schedules", '{"Start": "2026-01-05T10:00:00Z"}', 400, ["End"]),
        ("POST", "/users/1/schedules",
         '{"Start": "2026-01-05T10:00:00Z", "End": "2026-01-05T11:00:00Z", "Layer": 3}', 400,
         ["Layer"]),
        ("POST", "/users/x/schedules", "{}", 400, ["id"]),
        ("GET", "/schedules", None, 400, ["Start", "End"]),
        ("GET", "/schedules?Start=2026-01-05T10:00:00Z&End=soon", None, 400, ["End"]),
        ("DELETE", "/schedules?Start=yesterday&End=2026-01-05T10:00:00Z", None, 400, ["Start"]),
        ("DELETE", "/schedules/abc", None, 400, ["id"]),
        ("GET", "/scheduled?Layer=x", None, 400, ["Layer"]),
        ("POST", "/incidents", "{}", 400, ["Body"]),
        ("POST", "/incidents", '{"Body": "   "}', 400, ["Body"]),
        ("POST", "/incidents", '{"Body": ["x"]}', 400, ["Body"]),
        ("PUT", "/incidents/1/assign", None, 400, ["body"]),
        ("PUT", "/incidents/1/assign", "{}", 400, ["UserId"]),
        ("PUT", "/incidents/1/assign", '{"UserId": "bob"}', 400, ["UserId"]),
        ("PUT", "/incidents/1/assign", '{"UserId": 1e30}', 400, ["UserId"]),
        ("PUT", "/incidents/1/acknowledge", '{"UserId": ', 400, ["malformed JSON"]),
        ("PUT", "/incidents/1/acknowledge", '{"Who": 1}', 400, ["Who"]),
        ("PUT", "/incidents/zzz/resolve", None, 400, ["id"]),
        ("GET", "/incidents?AssigneeId=me", None, 400, ["AssigneeId"]),
        ("GET", "/nowhere", None, 404, []),
        ("PATCH", "/users", None, 405, []),
    ],
)  # fmt: skip
def test_bad_requests_get_a_json_error_never_a_500(api, method, path, body, status, words):
    codes = {400: "invalid_argument", 404: "not_found", 405: "unimplemented"}
    response = api.request(method, path, content=body, headers=FORM if body else {})
    assert_error(response, status, codes[status], *words)


def test_json_content_type_and_no_content_type_work_too(api):
    assert api.post("/users", content=KATY, headers={"Content-Type": "application/json"}).is_success
    assert api.post("/users", content=KATY.replace("katy", "k2")).is_success
    plain = {"Content-Type": "text/plain"}
    assert api.post("/incidents", content='{"Body": "x"}', headers=plain).is_success


# ----- the token --------------------------------------------------------------------------------
def test_every_request_needs_the_token_when_one_is_set(store, clock):
    app = create_app(store, Settings(api_token=SecretStr("s3cret")), clock, run_jobs=False)
    with TestClient(base_url=LOCAL, app=app) as api:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
            response = api.post("/users", content=KATY, headers={**FORM, **headers})
            assert_error(response, 401, "unauthenticated", "Authorization: Bearer")
            assert response.headers["WWW-Authenticate"] == "Bearer"
            assert "s3cret" not in response.text
        assert_error(api.put("/incidents/1/acknowledge"), 401, "unauthenticated")
        assert_error(api.delete("/schedules/1"), 401, "unauthenticated")
        for read in ("/users", "/incidents", "/messages", "/scheduled", "/availability"):
            assert_error(api.get(read), 401, "unauthenticated")  # reads hold names and bodies
        # the token is looked at first: a malformed body without it is a 401, not a 400
        assert_error(api.post("/users", content="{not json", headers=FORM), 401, "unauthenticated")
        assert api.get("/healthz").json() == {"Status": "ok"}  # open: it holds no data
        assert api.get("/openapi.json").status_code == 200
        good = {"Authorization": "Bearer s3cret"}
        assert api.post("/users", content=KATY, headers={**FORM, **good}).status_code == 200
        assert api.get("/users/1", headers=good).status_code == 200
        assert api.get("/incidents", headers=good).status_code == 200
        lower = {"Authorization": "bearer s3cret"}  # RFC 7235: the scheme is case-insensitive
        assert api.get("/users", headers=lower).json()["Items"][0]["SlackHandle"] == "katy"


def test_the_token_is_compared_exactly_letter_case_included(store, clock):
    """A token that differs from the configured one only in letter case is a wrong token."""
    token = "S3cret-Token-xYz"
    app = create_app(store, Settings(api_token=SecretStr(token)), clock, run_jobs=False)
    with TestClient(base_url=LOCAL, app=app) as api:
        for wrong in (token.lower(), token.upper(), token.swapcase()):
            bearer = {"Authorization": f"Bearer {wrong}"}
            response = api.post("/users", content=KATY, headers={**FORM, **bearer})
            assert_error(response, 401, "unauthenticated", "Authorization: Bearer")
            response = api.post("/incidents", json={"Body": BODY}, headers=bearer)
            assert_error(response, 401, "unauthenticated")
        assert store.rows("SELECT id FROM users") == []
        assert store.rows("SELECT id FROM incidents") == []
        bearer = {"Authorization": f"Bearer {token}"}
        response = api.post("/users", content=KATY, headers={**FORM, **bearer})
        assert response.status_code == 200, response.text
        response = api.post("/incidents", json={"Body": BODY}, headers=bearer)
        assert response.status_code == 200, response.text
        users = api.get("/users", headers=bearer).json()["Items"]
        assert [u["SlackHandle"] for u in users] == ["katy"]


# ----- documentation ----------------------------------------------------------------------------
def test_openapi_document_and_docs_are_served(api):
    spec = api.get("/openapi.json").json()
    for path in ("/users", "/users/{id}", "/users/{id}/schedules", "/scheduled",
                 "/scheduled/{timestamp}", "/schedules", "/schedules/{id}", "/incidents",
                 "/incidents/{id}", "/incidents/{id}/acknowledge", "/incidents/{id}/assign",
                 "/incidents/{id}/resolve"):  # fmt: skip
        assert path in spec["paths"], path
    schemas = spec["components"]["schemas"]
    assert {"FirstName", "LastName", "SlackHandle"} <= set(schemas["UserCreate"]["properties"])
    assert {"Count", "DedupKey", "Assignee", "Status"} <= set(schemas["IncidentOut"]["properties"])
    assert schemas["ScheduleCreate"]["properties"]["Start"]["format"] == "date-time"
    conflict = spec["paths"]["/users/{id}/schedules"]["post"]["responses"]["409"]
    assert conflict["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorOut")
    docs = api.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
