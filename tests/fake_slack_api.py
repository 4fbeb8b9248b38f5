"""A stand-in for Slack's Web API on 127.0.0.1, in its documented shapes: `POST
/api/chat.postMessage` (Bearer token, JSON) answers `{"ok": true, "channel", "ts"}`, or
`{"ok": false, "error": "user_not_found"}` for a user id it was told is unknown; `POST
/response/<id>` stands for a message's response_url. The real `slack_sdk` client talks to it."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeSlackApi:
    def __init__(self, token: str = "xoxb-test-token") -> None:
        self.token = token
        self.posted: list[dict] = []  # chat.postMessage bodies
        self.responses: list[dict] = []  # what was sent to response URLs
        self.unknown_users: set[str] = set()
        self.refused_auth: list[str] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                if self.path.startswith("/response/"):
                    api.responses.append(json.loads(raw or b"{}"))
                    self._answer(200, {"ok": True})
                    return
                if self.headers.get("Authorization") != f"Bearer {api.token}":
                    api.refused_auth.append(self.path)
                    self._answer(200, {"ok": False, "error": "invalid_auth"})
                    return
                if self.path == "/api/chat.postMessage":
                    body = json.loads(raw or b"{}")
                    if body.get("channel") in api.unknown_users:
                        self._answer(200, {"ok": False, "error": "user_not_found"})
                        return
                    api.posted.append(body)
                    self._answer(200, {"ok": True, "channel": "D0DM",
                                       "ts": f"{time.time():.6f}"})  # fmt: skip
                    return
                self._answer(404, {"ok": False, "error": "unknown_method"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
