"""What every request passes before a route, tried as an attacker would: another site's page
against the no-token daemon (cross-site form posts and fetches, DNS rebinding), bodies that are
too large or come too slowly, clients that hang up mid-upload, credentials in URLs of the access
log, and a database that is down."""

from __future__ import annotations

import json
import logging
import socket
import time

import httpx
import pytest
from fastapi.testclient import TestClient
from live_server import serve
from pydantic import SecretStr

from oncall_opt.api import create_app
from oncall_opt.api.guards import MaskSecretsInAccessLog, body_limit
from oncall_opt.engine.settings import Settings, load_settings

LOCAL = "http://127.0.0.1"  # the daemon answers loopback names without a token
USER = {"FirstName": "Eve", "LastName": "Admin", "SlackHandle": "eve", "Role": "admin"}


def count(store, table: str) -> int:
    return store.row(f"SELECT count(*) AS n FROM {table}")["n"]


@pytest.fixture
def api(store, clock):
    app = create_app(store, Settings(allowed_hosts=("oncall.internal",)), clock, run_jobs=False)
    with TestClient(base_url=LOCAL, app=app) as client:
        yield client


# ----- another site's page against the daemon without a token --------------------------------
def test_a_form_post_from_another_site_is_refused_and_changes_nothing(api, store):
    for headers in (
        # What Chromium sends for an auto-submitted <form method=post> on evil.example:
        {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site",
         "Content-Type": "application/x-www-form-urlencoded"},
        # A fetch() with a JSON body from another origin (a preflight would not stop a
        # text/plain one, and our routes read any body as JSON):
        {"Origin": "http://evil.example", "Content-Type": "text/plain"},
        # Another port of this very host is another origin, but the same site:
        {"Origin": "http://127.0.0.1:9999", "Sec-Fetch-Site": "same-site"},
        {"Origin": "null"},  # a sandboxed frame or a data: page
    ):  # fmt: skip
        response = api.post("/users", content=json.dumps(USER), headers=headers)
        assert response.status_code == 403, (headers, response.text)
        assert "another site" in response.json()["message"]
    evil = {"Origin": "http://evil.example"}
    assert api.put("/incidents/1/acknowledge", headers=evil).status_code == 403
    assert count(store, "users") == 0


def test_same_origin_pages_scripts_and_curl_still_work(api, store):
    assert api.post("/users", json=USER).status_code == 200  # curl, scripts: no Origin at all
    same = {"Origin": "http://127.0.0.1", "Sec-Fetch-Site": "same-origin"}  # the /docs page
    assert api.post("/incidents", json={"Body": "x"}, headers=same).status_code == 200
    assert api.get("/users", headers={"Origin": "http://evil.example"}).status_code == 200
    assert count(store, "users") == 1


def test_only_the_daemons_own_names_are_answered_without_a_token(api, store):
    for host in ("evil.example", "evil.example:8080", "127.0.0.1.nip.io", "oncall.internal.evil"):
        response = api.get("/users", headers={"Host": host})
        assert response.status_code == 400 and "Host" in response.json()["message"], host
        assert api.post("/users", json=USER, headers={"Host": host}).status_code == 400
    assert count(store, "users") == 0
    for host in ("127.0.0.1:8080", "localhost", "localhost:8080", "[::1]:8080", "10.0.0.5",
                 "oncall.internal", "ONCALL.internal:80", "app.localhost"):  # fmt: skip
        assert api.get("/healthz", headers={"Host": host}).status_code == 200, host


def test_allowed_hosts_come_from_the_environment_with_the_bind_address():
    settings = load_settings({"ONCALL_ALLOWED_HOSTS": "oncall.lan, pager.lan",
                              "ONCALL_BIND": "pager-box:8080"})  # fmt: skip
    assert settings.allowed_hosts == ("oncall.lan", "pager.lan", "pager-box")


def test_with_a_token_the_host_is_not_checked_and_a_bearer_is_needed(store, clock):
    app = create_app(store, Settings(api_token=SecretStr("t0k")), clock, run_jobs=False)
    with TestClient(base_url="http://oncall.example.com", app=app) as api:
        cross = {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}
        assert api.post("/users", json=USER, headers=cross).status_code == 401
        admin = {"Authorization": "Bearer t0k"}
        assert api.post("/users", json=USER, headers=admin).status_code == 200


# ----- bodies ---------------------------------------------------------------------------------
def raw_request(url: str, head: str, body_parts=(), pause: float = 0.0) -> bytes:
    """Send a request by hand on a socket (to stall or stream it as no client library would);
    returns what the server answered."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head.encode())
        for part in body_parts:
            try:
                sock.sendall(part)
            except (BrokenPipeError, ConnectionResetError):
                break
            if pause:
                time.sleep(pause)
        chunks = []
        while True:
            try:
                data = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not data:
                break
            chunks.append(data)
            if b"\r\n\r\n" in b"".join(chunks) and b'"}' in data:
                break
        return b"".join(chunks)


def test_a_declared_oversized_body_is_refused_before_it_is_read(store, clock):
    app = create_app(store, Settings(), clock, run_jobs=False)
    limit = body_limit("/v2/enqueue")
    with serve(app) as url:
        head = (
            "POST /v2/enqueue HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {64 * 1024 * 1024}\r\n\r\n"
        )
        answer = raw_request(url, head)  # not one byte of the 64 MB is sent
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert str(limit).encode() in answer
        assert httpx.get(f"{url}/healthz").status_code == 200


def test_a_body_that_stalls_is_answered_408_and_the_daemon_serves_others(store, clock, caplog):
    app = create_app(store, Settings(body_timeout=0.3), clock, run_jobs=False)
    with serve(app) as url:
        head = (
            "POST /incidents HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            "Content-Length: 1000\r\n\r\n"
        )
        with caplog.at_level(logging.INFO, logger="oncall_opt.api"):
            answer = raw_request(url, head, [b'{"Body": "slow'], pause=3.0)
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert httpx.post(f"{url}/incidents", json={"Body": "fast"}).status_code == 200
    assert count(store, "incidents") == 1
    assert "came too slowly" in caplog.text and "Traceback" not in caplog.text


def test_a_path_with_a_credential_is_masked_in_our_own_log_lines(store, clock, caplog):
    app = create_app(store, Settings(), clock, run_jobs=False)
    with serve(app) as url, caplog.at_level(logging.INFO, logger="oncall_opt.api"):
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as sock:
            sock.sendall(b"POST /integrations/alertmanager/oo_int_SECRET123 HTTP/1.1\r\n"
                         b"Host: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n{")  # fmt: skip
        deadline = time.monotonic() + 30
        while "went away" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.05)
    assert "POST /integrations/alertmanager/***: the client went away" in caplog.text
    assert "SECRET123" not in caplog.text


def test_a_client_that_hangs_up_mid_upload_costs_one_log_line(store, clock, caplog):
    app = create_app(store, Settings(), clock, run_jobs=False)
    with serve(app) as url, caplog.at_level(logging.INFO):
        host, port = url.removeprefix("http://").split(":")
        for _ in range(20):
            with socket.create_connection((host, int(port))) as sock:
                sock.sendall(
                    b"POST /incidents HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    b"Content-Length: 100000\r\n\r\n" + b"x" * 5000
                )

        def logged() -> int:
            return sum("went away" in r.getMessage() for r in caplog.records)

        deadline = time.monotonic() + 30
        while logged() < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert httpx.get(f"{url}/healthz").status_code == 200
    assert logged() == 20
    assert not any(r.exc_info for r in caplog.records), [r.getMessage() for r in caplog.records]
    assert count(store, "incidents") == 0


def test_a_declared_length_costs_nothing_until_it_is_sent(store, clock):
    """Eight strangers declare 4 MB bodies and send one byte each (and would go on trickling):
    that holds almost nothing, and an event from someone else is taken at once."""
    app = create_app(store, Settings(api_token=SecretStr("t0k")), clock, run_jobs=False)
    guard = next(m for m in app.user_middleware if m.cls.__name__ == "BodyLimit")
    guard.kwargs.update(budget=3 * 1024 * 1024, per_address=2 * 1024 * 1024)
    with serve(app) as url:
        host, port = url.removeprefix("http://").split(":")
        held = []
        try:
            for _ in range(8):
                sock = socket.create_connection((host, int(port)))
                sock.sendall(
                    b"POST /integrations/alertmanager/x HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    + f"Content-Length: {4 * 1024 * 1024}\r\n\r\n{{".encode()
                )
                held.append(sock)
            event = {"routing_key": "nope", "event_action": "trigger"}
            answer = httpx.post(f"{url}/v2/enqueue", json=event)
            assert answer.status_code == 400, answer.text  # read and judged, not 503
        finally:
            for sock in held:
                sock.close()


def test_bytes_a_stranger_actually_sends_are_bounded_per_address(store, clock):
    """One address that sends more than its share of unauthenticated bytes at once is told to
    retry (503); someone authenticated is not held up by it."""
    app = create_app(store, Settings(api_token=SecretStr("t0k")), clock, run_jobs=False)
    guard = next(m for m in app.user_middleware if m.cls.__name__ == "BodyLimit")
    guard.kwargs.update(budget=8 * 1024 * 1024, per_address=2 * 1024 * 1024)
    with serve(app) as url:
        host, port = url.removeprefix("http://").split(":")
        head = (
            "POST /integrations/alertmanager/x HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Length: {4 * 1024 * 1024}\r\n\r\n"
        ).encode()
        first = socket.create_connection((host, int(port)))
        try:
            first.sendall(head + b"{" + b" " * (1536 * 1024))  # 1.5 MB held, not finished
            time.sleep(0.5)  # let the server take it in (no assertion on time)
            answer = raw_request(url, head.decode(), [b" " * (1024 * 1024)])
            assert answer.startswith(b"HTTP/1.1 503"), answer[:200]
            authed = httpx.post(f"{url}/incidents", json={"Body": "x"},
                                headers={"Authorization": "Bearer t0k"})  # fmt: skip
            assert authed.status_code == 200
        finally:
            first.close()


def test_the_budget_counts_in_all_and_per_address():
    from oncall_opt.api.guards import _Budget

    budget = _Budget(capacity=10, per_address=6)
    assert budget.take("a", 6) and not budget.take("a", 1)  # a's share is full
    assert budget.take("b", 4) and not budget.take("c", 1)  # all of it is full
    budget.give("a", 6)
    assert budget.take("c", 5) and budget.by_address == {"b": 4, "c": 5}


# ----- the access log -------------------------------------------------------------------------
def test_calendar_tokens_and_integration_keys_are_masked_in_the_access_log():
    mask = MaskSecretsInAccessLog()
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d', (
            "127.0.0.1:5000", "GET", "/calendar/oo_cal_SECRETtoken123.ics?x=1", "1.1", 200,
        ), None,
    )  # fmt: skip
    mask.filter(record)
    assert "SECRET" not in record.getMessage() and "/calendar/***.ics" in record.getMessage()
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "POST", "/integrations/alertmanager/KEYSECRET", "1.1", 200), None,
    )  # fmt: skip
    mask.filter(record)
    assert "KEYSECRET" not in record.getMessage()
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "POST", "/integrations/twilio/voice?token=oo_act_CALLSECRET&x=1",
         "1.1", 200), None,
    )  # fmt: skip
    mask.filter(record)
    assert "CALLSECRET" not in record.getMessage() and "?token=***&x=1" in record.getMessage()
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/heartbeat/oo_hb_BEATSECRET", "1.1", 200), None,
    )  # fmt: skip
    mask.filter(record)
    assert "BEATSECRET" not in record.getMessage() and "/heartbeat/***" in record.getMessage()


def test_a_calendar_feed_token_never_reaches_the_real_access_log(store, clock, caplog):
    app = create_app(store, Settings(), clock, run_jobs=False)
    with serve(app, log_level="info") as url, caplog.at_level(logging.INFO, "uvicorn.access"):
        user = httpx.post(f"{url}/users", json=USER).json()
        feed = httpx.post(f"{url}/users/{user['Id']}/calendar").json()["Url"]
        token = feed.rsplit("/", 1)[1].removesuffix(".ics")
        assert httpx.get(feed).status_code == 200
        deadline = time.monotonic() + 10
        while "/calendar/" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.05)
    assert "/calendar/***.ics" in caplog.text
    assert token not in caplog.text


# ----- a database that is down ----------------------------------------------------------------
def test_requests_fail_with_a_clear_503_while_postgresql_is_down(clock, pg_cluster):
    """`pg_cluster` (the shared cluster) only makes sure PostgreSQL is there; this test stops
    a cluster of its own."""
    import pg_cluster as pg

    from oncall_opt.engine.store import Store

    cluster = pg.start()
    store = Store(cluster.database())
    try:
        app = create_app(store, Settings(), clock, run_jobs=False)
        with TestClient(base_url=LOCAL, app=app) as api:
            assert api.post("/users", json=USER).status_code == 200
            cluster.stop()
            for response in (api.get("/healthz"), api.post("/incidents", json={"Body": "x"})):
                assert response.status_code == 503, response.text
                body = response.json()
                assert body["code"] == "unavailable" and "database" in body["message"], body
                assert "postgresql://" not in body["message"]
    finally:
        store.close()
        cluster.stop()
