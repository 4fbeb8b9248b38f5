"""What a member who names a hostile server cannot do to everyone else's pages (each found by
an attacker's review): a server that answers a byte at a time holds a send at most
`SEND_DEADLINE` and never a page behind it; pages go before codes and tests; an answer of
gigabytes is read no further than 64 KB; the operator's ntfy token goes only to the operator's
ntfy server."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from oncall_opt.api import create_app
from oncall_opt.engine.jobs.loop import JobLoop
from oncall_opt.engine.paging import deliver
from oncall_opt.engine.paging.channels import capped
from oncall_opt.engine.settings import Settings

LOCAL = "http://127.0.0.1"


def ok(response, status: int = 200):
    assert response.status_code == status, response.text
    return response.json()


class Server:
    """An HTTP server on 127.0.0.1 whose answer to a POST the test chooses: `drip` sends the
    status line a byte a second; `huge` answers `huge` bytes; else a plain 200."""

    def __init__(self, drip: bool = False, huge: int = 0) -> None:
        self.posts: list[tuple[dict, bytes]] = []
        self.written = 0
        self.stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                server.posts.append((dict(self.headers), body))
                try:
                    if drip:
                        for byte in b"HTTP/1.1 200 OK\r\n":
                            if server.stop.wait(1):
                                return
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                        return
                    self.send_response(200)
                    self.send_header("Content-Length", str(huge))
                    self.end_headers()
                    chunk = b"x" * 65536
                    while server.written < huge and not server.stop.is_set():
                        self.wfile.write(chunk)
                        server.written += len(chunk)
                except OSError:
                    pass  # the daemon stopped reading: what this test wants

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    made: list[Server] = []
    yield made
    for server in made:
        server.close()


def app_with(store, clock, **settings):
    settings = Settings(allow_private_webhooks=True, **settings)
    client = TestClient(base_url=LOCAL, app=create_app(store, settings, clock, run_jobs=False))
    client.jobs = JobLoop(store, settings, clock, sleep=lambda s: None)
    return client


def person_on_call(api, clock, handle: str) -> dict:
    from datetime import timedelta

    user = ok(api.post("/users", json={"FirstName": handle.title(), "LastName": "X",
                                       "SlackHandle": handle}))  # fmt: skip
    shift = {"Start": (clock.now() - timedelta(hours=1)).isoformat(),
             "End": (clock.now() + timedelta(days=1)).isoformat()}  # fmt: skip
    ok(api.post(f"/users/{user['Id']}/schedules", json=shift))
    return user


def test_a_dripping_server_holds_a_send_only_until_the_deadline_and_pages_go_first(
    store, clock, servers, monkeypatch
):
    monkeypatch.setattr(deliver, "SEND_DEADLINE", 1.0)
    drip, fine = Server(drip=True), Server()
    servers += [drip, fine]
    with app_with(store, clock) as api:
        mal = ok(api.post("/users", json={"FirstName": "Mal", "LastName": "X",
                                          "SlackHandle": "mal"}))  # fmt: skip
        ok(api.post(f"/users/{mal['Id']}/contact-methods",  # a push topic: sent a code
                    json={"Type": "push", "Address": f"{drip.url}/topic"}), 201)  # fmt: skip
        ana = person_on_call(api, clock, "ana")
        ok(api.post(f"/users/{ana['Id']}/contact-methods",
                    json={"Type": "webhook", "Address": f"{fine.url}/hook"}), 201)  # fmt: skip
        incident = ok(api.post("/incidents", json={"Body": "checkout down"}))
        api.jobs.run_once()
        subjects = [json.loads(body)["subject"] for _, body in fine.posts]
        assert any(f"#{incident['Id']}:" in s for s in subjects), subjects
        found = api.app.state.store.rows("SELECT kind, status, last_error FROM notifications")
        rows = {r["kind"]: r for r in found}
        assert rows["page"]["status"] == "sent"
        assert rows["verify"]["status"] == "queued"
        assert rows["verify"]["last_error"] == "no answer within 1 s"  # not 17 s of dripping


def test_an_answer_of_gigabytes_is_read_no_further_than_64_kb(servers):
    huge = Server(huge=1 << 30)
    servers.append(huge)
    with httpx.Client(timeout=10) as client:
        response = capped.post(client, f"{huge.url}/hook", content=b"{}")
    assert response.status_code == 200
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not huge.stop.wait(0.05):
        if huge.written > 64 << 20:
            break
    assert huge.written < 64 << 20, f"the server wrote {huge.written} bytes: it was read on"


def test_the_ntfy_token_goes_only_to_the_operators_ntfy_server(store, clock, servers):
    theirs, ours = Server(), Server()
    servers += [theirs, ours]
    token = SecretStr("tk_OPERATORS_NTFY_TOKEN")
    with app_with(store, clock, ntfy_token=token, ntfy_server=ours.url) as api:
        ana = ok(api.post("/users", json={"FirstName": "A", "LastName": "X",
                                          "SlackHandle": "a"}))  # fmt: skip
        for server in (theirs, ours):
            ok(api.post(f"/users/{ana['Id']}/contact-methods",
                        json={"Type": "push", "Address": f"{server.url}/topic"}), 201)  # fmt: skip
        api.jobs.run_once()
    [(their_headers, _)] = theirs.posts
    [(our_headers, _)] = ours.posts
    assert "Authorization" not in their_headers
    assert our_headers["Authorization"] == "Bearer tk_OPERATORS_NTFY_TOKEN"


def test_a_closed_port_is_a_retry_not_a_hang(store, clock):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with app_with(store, clock) as api:
        ana = person_on_call(api, clock, "ana")
        closed = {"Type": "webhook", "Address": f"http://127.0.0.1:{port}/h"}
        ok(api.post(f"/users/{ana['Id']}/contact-methods", json=closed), 201)
        ok(api.post("/incidents", json={"Body": "disk full"}))
        api.jobs.run_once()
        [row] = api.app.state.store.rows("SELECT status, last_error FROM notifications")
        assert row["status"] == "queued" and "network error" in row["last_error"]
