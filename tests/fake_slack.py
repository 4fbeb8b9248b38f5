"""A fake Slack incoming webhook: a real HTTP server on 127.0.0.1 that records messages.

Replies can be scripted (`reply(500)`, `reply(429, retry_after=30)`, `hang()`: answer only after
the client's timeout). The test must account for every message Slack accepted (`take`), and a
malformed request (wrong method, path or body) is an error: `check()` at the end of a test
fails on either, so an unexpected message fails the test.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pydantic import SecretStr


@dataclass
class Reply:
    status: int = 200
    body: str = "ok"
    headers: dict[str, str] = field(default_factory=dict)
    hang: float = 0.0  # seconds to wait before answering (past the client's timeout)


@dataclass
class Received:
    text: str
    status: int  # what the fake answered; 0 when it hung
    at: float  # time.monotonic()


class FakeSlack:
    def __init__(self) -> None:
        self.token = secrets.token_hex(12)
        self.path = f"/services/T0FAKE/B0FAKE/{self.token}"
        self._lock = threading.Lock()
        self._script: deque[Reply] = deque()
        self.received: list[Received] = []  # every well-formed request, in order
        self.errors: list[str] = []  # malformed requests
        self._taken = 0  # accepted messages the test has looked at
        self._released = threading.Event()
        self._failing: dict[str, int] = {}  # text -> the status every post of it gets
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                fake._error(f"GET {self.path}")
                self._answer(Reply(405, "method_not_allowed"))

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                if self.path != fake.path:
                    fake._error(f"POST to the wrong path {self.path}")
                    return self._answer(Reply(404, "no_service"))
                try:
                    payload = json.loads(raw)
                except ValueError:
                    payload = None
                if (
                    not isinstance(payload, dict)
                    or set(payload) != {"text"}
                    or not isinstance(payload["text"], str)
                ):
                    fake._error(f"malformed payload {raw[:200]!r}")
                    return self._answer(Reply(400, "invalid_payload"))
                failing = fake._failing.get(payload["text"])
                reply = Reply(failing, "internal_error") if failing else fake._next_reply()
                if reply.hang:
                    fake._record(payload["text"], 0)
                    fake._released.wait(reply.hang)
                else:
                    fake._record(payload["text"], reply.status)
                self._answer(reply)

            def _answer(self, reply: Reply) -> None:
                try:
                    body = reply.body.encode()
                    self.send_response(reply.status)
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.send_header("content-type", "text/plain")
                    self.send_header("content-length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up (timeout)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    # ----- for the code under test ---------------------------------------------------------
    @property
    def url(self) -> SecretStr:
        return SecretStr(f"http://127.0.0.1:{self.port}{self.path}")

    # ----- scripting -----------------------------------------------------------------------
    def reply(
        self, status: int, body: str = "error", retry_after: str | float | None = None
    ) -> None:
        """The next request gets this answer (queued after earlier scripted ones)."""
        headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
        with self._lock:
            self._script.append(Reply(status, body, headers))

    def fail_text(self, text: str, status: int) -> None:
        """Every post of exactly `text` is answered `status`, however often it comes."""
        with self._lock:
            self._failing[text] = status

    def hang(self, seconds: float = 5.0) -> None:
        """The next request is answered only after `seconds` (the client times out first)."""
        with self._lock:
            self._script.append(Reply(200, "ok", hang=seconds))

    def _next_reply(self) -> Reply:
        with self._lock:
            return self._script.popleft() if self._script else Reply()

    def _record(self, text: str, status: int) -> None:
        with self._lock:
            self.received.append(Received(text, status, time.monotonic()))

    def _error(self, message: str) -> None:
        with self._lock:
            self.errors.append(message)

    # ----- looking at what arrived -----------------------------------------------------------
    def accepted(self) -> list[str]:
        """Every message answered 200, in order."""
        with self._lock:
            return [r.text for r in self.received if r.status == 200]

    def take(self, count: int, timeout: float = 0.0) -> list[str]:
        """The next `count` accepted messages the test has not looked at yet; fails if fewer
        arrive within `timeout` seconds or if more than `count` are waiting."""
        deadline = time.monotonic() + timeout
        while True:
            fresh = self.accepted()[self._taken :]
            if len(fresh) >= count or time.monotonic() >= deadline:
                break
            time.sleep(0.02)
        assert len(fresh) == count, f"expected {count} new Slack message(s), got {fresh!r}"
        self._taken += count
        return fresh

    def check(self) -> None:
        """Fails on malformed requests and on accepted messages the test did not take."""
        assert not self.errors, f"malformed requests to the fake Slack: {self.errors}"
        left = self.accepted()[self._taken :]
        assert not left, f"unexpected Slack message(s): {left!r}"

    def release(self) -> None:
        """Answer hanging requests now."""
        self._released.set()

    def close(self) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeSlack:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if exc[0] is None:
                self.check()
        finally:
            self.close()
