"""A stand-in for Twilio's REST API on 127.0.0.1, in its documented shapes: `POST
/2010-04-01/Accounts/{AccountSid}/Messages.json` and `.../Calls.json` (HTTP basic auth with the
account SID and auth token, form-encoded) answer 201 with the new resource's `sid`; a number it
was told is unreachable gets Twilio's 400 error 21211. The real `twilio` client talks to it."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

SID = "AC" + "0" * 32
TOKEN = "twilio-auth-token-for-tests"


class FakeTwilio:
    def __init__(self) -> None:
        self.messages: list[dict[str, str]] = []
        self.calls: list[dict[str, str]] = []
        self.invalid_numbers: set[str] = set()
        fake = self

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
                raw = self.rfile.read(int(self.headers.get("content-length") or 0)).decode()
                form = dict(parse_qsl(raw))
                expected = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
                if self.headers.get("Authorization") != expected:
                    self._answer(401, {"code": 20003, "message": "Authenticate", "status": 401})
                    return
                if form.get("To") in fake.invalid_numbers:
                    invalid = "The 'To' number is not a valid phone number."
                    self._answer(400, {"code": 21211, "status": 400, "message": invalid})
                    return
                base = f"/2010-04-01/Accounts/{SID}/"
                if self.path == base + "Messages.json":
                    fake.messages.append(form)
                    sid = f"SM{len(fake.messages):032d}"
                elif self.path == base + "Calls.json":
                    fake.calls.append(form)
                    sid = f"CA{len(fake.calls):032d}"
                else:
                    self._answer(404, {"code": 20404, "message": "Not found", "status": 404})
                    return
                self._answer(201, {"sid": sid, "status": "queued", "account_sid": SID,
                                   "to": form.get("To"), "from": form.get("From")})  # fmt: skip

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def settings(self) -> dict:
        from pydantic import SecretStr

        return {
            "twilio_account_sid": SID,
            "twilio_auth_token": SecretStr(TOKEN),
            "twilio_from": "+15005550006",
            "twilio_api_url": self.url,
        }

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
