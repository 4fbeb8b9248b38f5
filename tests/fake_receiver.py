"""An HTTP server on 127.0.0.1 that keeps every POST (headers, body, path) and answers 200:
the stand-in for a webhook, an ntfy topic or any receiver of pages in the tests; `delay`
seconds before each answer make a slow one."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    def __init__(self, delay: float = 0.0) -> None:
        self.posts: list[tuple[dict[str, str], bytes, str]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                if delay:
                    time.sleep(delay)
                with receiver.lock:
                    receiver.posts.append((dict(self.headers), body, self.path))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def bodies(self) -> list[dict]:
        """Every POST's JSON body, in arrival order."""
        with self.lock:
            return [json.loads(body) for _, body, _ in self.posts]

    def subjects(self) -> list[str]:
        """The `subject` of every page a webhook method received."""
        return [body.get("subject", "") for body in self.bodies()]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
