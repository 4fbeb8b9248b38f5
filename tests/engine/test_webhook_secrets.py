"""The webhook URL is a secret in every part after the host: a server that echoes the request
(its path and query string, raw or percent-encoded) must not get the token into a log line, a
stored error or an answer of the API."""

from __future__ import annotations

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from oncall_opt.api import create_app
from oncall_opt.engine import outbox
from oncall_opt.engine.jobs import delivery
from oncall_opt.engine.settings import Settings
from oncall_opt.engine.slack import SlackWebhook

LOCAL = "http://127.0.0.1"  # the daemon answers loopback names without a token

TOKEN = "xoxb-Secret-Query-Token-1234"


class Echo(BaseHTTPRequestHandler):
    """Answers every post with `status` and a body quoting the request line back."""

    status = 400
    style = "raw"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        line = self.requestline if self.style == "raw" else quote(self.requestline, safe="")
        body = f"bad request: {line}".encode()
        self.send_response(self.status)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def echo():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("style", ["raw", "percent-encoded"])
@pytest.mark.parametrize("status", [400, 500])
def test_an_echoed_query_string_never_reaches_a_log_an_error_or_the_api(
    store, clock, echo, caplog, monkeypatch, style, status
):
    monkeypatch.setattr(Echo, "status", status)
    monkeypatch.setattr(Echo, "style", style)
    caplog.set_level(logging.DEBUG)
    url = SecretStr(f"{echo}/hooks/incoming?token={TOKEN}&channel=ops")
    settings = Settings(slack_webhook_url=url, slack_min_interval=0)
    store.write(lambda tx: outbox.enqueue(tx, "test", "hello", clock.now()))
    webhook = SlackWebhook(url, timeout=5)
    try:
        result = webhook.send("direct")
        delivery.run(store, clock.now(), webhook, settings, sleep=lambda s: None)
    finally:
        webhook.close()
    assert not result.ok and TOKEN not in (result.error or "")
    with TestClient(base_url=LOCAL, app=create_app(store, settings, clock, run_jobs=False)) as api:
        answer = api.get("/messages?Status=all").text
    [row] = store.rows("SELECT last_error FROM outbox")
    assert row["last_error"].startswith(f"HTTP {status}")
    logged = caplog.text + " ".join(str(r.args) for r in caplog.records)
    for where in (answer, row["last_error"], logged, repr(webhook), repr(settings)):
        assert TOKEN not in where and quote(TOKEN) not in where
    assert "HTTP Request: POST" in caplog.text  # httpx did log the request, masked
