"""Nobody without credentials can exhaust the daemon: a real runner.py with an API token, hit by
40 sign-ins at once with made-up handles and by 64 MB bodies (declared and streamed) on the
routes anyone may call. Its resident memory stays within a bound and it answers throughout.
(Before the bounds, 40 sign-ins took it from 184 MB to 2.7 GB, and four 128 MB bodies added
858 MB.)"""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import httpx
from test_daemon import Daemon

TOKEN = "load-test-token-0123456789"
MB = 1024 * 1024
# What the daemon may grow by under the attack: two password checks at a time (64 MiB each)
# and the bodies' shared budget (32 MB), with room for the allocator's own slack.
GROWTH_BOUND = 400 * MB


def resident(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def stream_body(url: str, path: str, size: int) -> None:
    """A body sent in chunks with no declared length, as fast as the daemon takes it."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        sock.sendall(head.encode())
        piece = b"x" * MB
        chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
        try:
            for _ in range(size // MB):
                sock.sendall(chunk)
            sock.sendall(b"0\r\n\r\n")
            sock.recv(1024)
        except OSError:
            pass  # the daemon answered 413 and closed: what it should do


def test_sign_ins_and_huge_bodies_from_strangers_keep_memory_bounded(tmp_path):
    daemon = Daemon(tmp_path, None, ONCALL_API_TOKEN=TOKEN).wait_ready(token=TOKEN)
    try:
        admin = {"Authorization": f"Bearer {TOKEN}"}
        httpx.post(f"{daemon.url}/users", headers=admin,
                   json={"FirstName": "A", "LastName": "S", "SlackHandle": "ana"})  # fmt: skip
        # Warm up what one sign-in loads (argon2, the comparison hash) before measuring.
        httpx.post(f"{daemon.url}/auth/login", json={"SlackHandle": "x", "Password": "y" * 12})
        before = resident(daemon.process.pid)
        peak = [before]
        health: list[int] = []
        done = threading.Event()

        def watch() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], resident(daemon.process.pid))
                try:
                    health.append(httpx.get(f"{daemon.url}/healthz", timeout=30).status_code)
                except httpx.TransportError:
                    health.append(0)
                done.wait(0.05)

        answers: list[int] = []

        def sign_in(i: int) -> None:
            body = {"SlackHandle": f"nobody{i}", "Password": "a made-up password"}
            response = httpx.post(f"{daemon.url}/auth/login", json=body, timeout=120)
            answers.append(response.status_code)

        def declared(i: int) -> None:
            response = httpx.post(
                f"{daemon.url}/v2/enqueue",
                content=b"x" * (64 * MB),
                headers={"Content-Type": "application/json"},
                timeout=120,
            )
            answers.append(response.status_code)

        watcher = threading.Thread(target=watch)
        watcher.start()
        attackers = [threading.Thread(target=sign_in, args=(i,)) for i in range(40)]
        attackers += [threading.Thread(target=declared, args=(i,)) for i in range(2)]
        attackers += [
            threading.Thread(target=stream_body, args=(daemon.url, path, 64 * MB))
            for path in ("/v2/enqueue", "/auth/login")
        ]
        for thread in attackers:
            thread.start()
        for thread in attackers:
            thread.join(timeout=300)
        done.set()
        watcher.join(timeout=60)
        peak[0] = max(peak[0], resident(daemon.process.pid))

        assert all(not t.is_alive() for t in attackers)
        growth = peak[0] - before
        assert growth < GROWTH_BOUND, f"grew {growth / MB:.0f} MB (bound {GROWTH_BOUND / MB:.0f})"
        assert health and all(code == 200 for code in health), health
        # Sign-ins are 401 (checked) or 503 (told to retry); bodies 413; never a 5xx otherwise.
        assert set(answers) <= {401, 413, 503}, answers
        assert answers.count(401) >= 2
        assert httpx.get(f"{daemon.url}/users", headers=admin).status_code == 200
        assert "Traceback" not in daemon.log()
    finally:
        daemon.stop()
