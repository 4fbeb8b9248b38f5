"""oncall_opt.client against a real uvicorn server (and a mock transport for odd answers)."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest
from live_server import serve
from pydantic import SecretStr

from oncall_opt.api import create_app
from oncall_opt.client import ApiError, Client, DaemonUnavailable
from oncall_opt.engine.settings import Settings

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
def url(store, clock):
    with serve(create_app(store, Settings(), clock, run_jobs=False)) as url:
        yield url


@pytest.fixture
def api(url):
    with Client(url) as client:
        yield client


def test_the_tutorial_through_the_client(api, store):
    katy = api.create_user("Katy", "Smith", "katy")
    assert katy == {"Id": 1, "FirstName": "Katy", "LastName": "Smith", "SlackHandle": "katy",
                    "TimeZone": None, "Role": "member"}  # fmt: skip
    assert api.scheduled() is None
    schedule = api.create_schedule(katy["Id"], NOW - timedelta(hours=1), "2026-01-06T09:00:00Z")
    assert schedule["Time"] == {"Start": "2026-01-05T08:00:00Z", "End": "2026-01-06T09:00:00Z"}
    assert api.scheduled()["Id"] == schedule["Id"]
    incident = api.trigger_incident("Checkout is down")
    assert incident["Assignee"] == katy and incident["Created"] is True
    assert [i["Id"] for i in api.list_incidents()] == [incident["Id"]]
    acked = api.acknowledge(incident["Id"], user_id=katy["Id"])
    assert acked["Acknowledged"] is True and acked["AcknowledgedBy"] == katy
    assert api.list_incidents() == []
    assert [i["Status"] for i in api.list_incidents("open")] == ["acknowledged"]
    assert api.resolve(incident["Id"])["Status"] == "resolved"
    assert [r["kind"] for r in store.rows("SELECT kind FROM outbox")] == [
        "created",
        "acknowledged",
        "resolved",
    ]


def test_every_endpoint(api):
    katy = api.create_user("Katy", "Smith", "@katy", time_zone="Europe/Berlin")
    bob = api.create_user("Bob", "Jones", "bob")
    assert api.get_user(katy["Id"])["TimeZone"] == "Europe/Berlin"
    assert [u["Id"] for u in api.list_users()] == [katy["Id"], bob["Id"]]
    assert api.update_user(bob["Id"], first_name="Robert")["FirstName"] == "Robert"
    assert api.update_user(katy["Id"], time_zone="")["TimeZone"] is None

    berlin = timezone(timedelta(hours=1))
    day = datetime(2026, 1, 5, tzinfo=berlin)
    first = api.create_schedule(katy["Id"], day, day + timedelta(hours=12))
    second = api.create_schedule(bob["Id"], day + timedelta(hours=12), day + timedelta(days=1))
    backup = api.create_schedule(bob["Id"], day, day + timedelta(days=1), layer=2)
    assert first["Time"]["Start"] == "2026-01-04T23:00:00Z"
    assert api.scheduled(day + timedelta(hours=13))["Id"] == second["Id"]  # a "+01:00" in a path
    assert api.scheduled("2026-01-05T00:00:00+01:00", layer=2)["Id"] == backup["Id"]
    assert api.scheduled("2027-01-01T00:00:00Z") is None
    window = (day + timedelta(hours=11), day + timedelta(hours=13))
    assert [s["Id"] for s in api.list_schedules(*window)] == [
        first["Id"],
        backup["Id"],
        second["Id"],
    ]
    assert [s["Id"] for s in api.list_schedules(*window, layer=2)] == [backup["Id"]]
    assert [s["Id"] for s in api.delete_schedules(*window, layer=1)] == [first["Id"], second["Id"]]
    assert api.delete_schedule(backup["Id"])["Layer"] == 2
    assert api.list_schedules(day, day + timedelta(days=1)) == []

    one = api.trigger_incident("CPU hot", dedup_key="cpu")
    again = api.trigger_incident("CPU hot", dedup_key="cpu")
    assert again["Id"] == one["Id"] and again["Count"] == 2 and again["Created"] is False
    assert api.assign(one["Id"], bob["Id"])["Assignee"]["Id"] == bob["Id"]
    assert [i["Id"] for i in api.list_incidents(assignee_id=bob["Id"])] == [one["Id"]]
    assert api.get_incident(one["Id"])["Assignee"]["FirstName"] == "Robert"
    assert api.acknowledge(one["Id"])["AcknowledgedBy"] is None
    assert api.resolve(one["Id"], user_id=bob["Id"])["ResolvedBy"]["Id"] == bob["Id"]
    assert [i["Id"] for i in api.list_incidents("resolved")] == [one["Id"]]


def test_errors_raise_api_error_with_status_code_and_message(api):
    with pytest.raises(ApiError) as caught:
        api.get_user(999)
    assert (caught.value.status, caught.value.code) == (404, "not_found")
    assert "no user with id 999" in caught.value.message and "404" in str(caught.value)
    katy = api.create_user("Katy", "Smith", "katy")
    api.create_schedule(katy["Id"], NOW, NOW + timedelta(hours=8))
    with pytest.raises(ApiError) as caught:
        api.create_schedule(katy["Id"], NOW - timedelta(hours=1), NOW + timedelta(hours=9))
    assert (caught.value.status, caught.value.code) == (409, "already_exists")
    with pytest.raises(ApiError) as caught:
        api.create_schedule(katy["Id"], "2026-01-05T10:00:00", "2026-01-05T11:00:00Z")
    assert caught.value.status == 400 and "Start" in caught.value.message
    with pytest.raises(ApiError) as caught:
        api.create_user("", "Smith", "k")
    assert caught.value.status == 400 and "FirstName" in caught.value.message
    with pytest.raises(ValueError, match="no time zone"):
        api.create_schedule(katy["Id"], datetime(2026, 1, 5), NOW)
    with pytest.raises(ApiError) as caught:
        api.list_incidents("finished")
    assert caught.value.status == 400 and not isinstance(caught.value, DaemonUnavailable)


def test_the_token_is_sent_when_given(store, clock):
    app = create_app(store, Settings(api_token=SecretStr("s3cret")), clock, run_jobs=False)
    with serve(app) as url:
        with Client(url) as anonymous:
            for call in (anonymous.list_users, lambda: anonymous.create_user("K", "S", "k")):
                with pytest.raises(ApiError) as caught:
                    call()
                assert (caught.value.status, caught.value.code) == (401, "unauthenticated")
        with Client(url, token="s3cret") as trusted:
            assert trusted.create_user("Katy", "Smith", "katy")["Id"] == 1
        settings = Settings(port=int(url.rsplit(":", 1)[1]), api_token=SecretStr("s3cret"))
        with Client.from_settings(settings) as configured:
            assert configured.base_url == url
            assert configured.trigger_incident("Disk full")["Id"] == 1


def test_an_unreachable_daemon_says_how_to_start_it():
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with (
        Client(f"http://127.0.0.1:{port}", timeout=2) as api,
        pytest.raises(DaemonUnavailable) as caught,
    ):
        api.list_users()
    error = caught.value
    assert isinstance(error, ApiError) and error.status == 503 and error.code == "unavailable"
    assert "python runner.py" in error.message and str(port) in error.message


def test_a_transport_is_passed_through_and_odd_answers_are_reported():
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/users":
            return httpx.Response(200, json={"Items": [{"Id": 1}]})
        return httpx.Response(502, text="<html>Bad gateway</html>")

    with Client("http://daemon.test/", token="t", transport=httpx.MockTransport(answer)) as api:
        assert api.list_users() == [{"Id": 1}]
        with pytest.raises(ApiError) as caught:
            api.get_incident(1)
    assert seen[0].headers["authorization"] == "Bearer t"
    assert str(seen[1].url) == "http://daemon.test/incidents/1"
    assert (caught.value.status, caught.value.code) == (502, "error")
    assert "Bad gateway" in caught.value.message
