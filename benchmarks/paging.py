"""How fast a page reaches a person: `python benchmarks/paging.py [--triggers N]
[--reference TREE] [--output PATH]`.

- **Trigger to page**: `runner.py` (DuckDB, default settings) with one person on call whose
  contact method is a webhook to a receiver on 127.0.0.1. Each round POSTs an incident and
  waits for its page at the receiver; the incident is then resolved. Reported: the median and
  90th percentile from the client's POST to the page's arrival, and the daemon's own figure
  (the notification's `SentAt`, when it was claimed for sending, minus the incident's
  `CreatedAt`).
- **A page in a storm**: 1,000 Slack channel messages queued (`POST /messages/test`), posted to
  a receiver at the daemon's default pace (one a second); once the first has gone, one
  incident: the time until its page arrives, and how many channel messages were still queued.

`--reference TREE` runs the same against another checkout's `runner.py` (a `git worktree` of
an earlier commit), in the same run, for the ratio. With `--output`, the table goes between
`<!-- paging:start -->` and `<!-- paging:end -->`.
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from engine import environment, free_port, write_results

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- paging:start -->", "<!-- paging:end -->"


class Receiver:
    """Keeps when each POST arrived (`time.perf_counter`) and its JSON body."""

    def __init__(self) -> None:
        self.got: list[tuple[float, dict]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                at = time.perf_counter()
                with receiver.lock:
                    receiver.got.append((at, json.loads(body or b"{}")))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def arrival(self, words: str) -> float | None:
        with self.lock:
            return next((at for at, body in self.got if words in body.get("subject", "")), None)

    def count(self) -> int:
        with self.lock:
            return len(self.got)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Daemon:
    """`runner.py` of `tree` on a free port with a database in `folder`; over HTTPS with `tls`
    (a certificate and its key), trusting `verify`."""

    def __init__(self, tree: Path, folder: Path, tls: tuple[Path, Path] | None = None,
                 verify: ssl.SSLContext | bool = True, **env: str):  # fmt: skip
        self.port = free_port()
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.verify = verify
        environ = {k: v for k, v in os.environ.items() if not k.startswith("ONCALL_")}
        environ.update(
            ONCALL_DB=str(folder / "oncall.duckdb"),
            ONCALL_BIND=f"127.0.0.1:{self.port}",
            ONCALL_ALLOW_PRIVATE_WEBHOOKS="true",
            **env,
        )
        if tls:
            environ.update(ONCALL_TLS_CERT=str(tls[0]), ONCALL_TLS_KEY=str(tls[1]))
        self.log = (folder / "daemon.log").open("w")
        self.process = subprocess.Popen(
            [sys.executable, str(tree / "runner.py")], cwd=folder, env=environ,
            stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/users", timeout=1, verify=verify).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None:
                raise RuntimeError(f"the daemon exited: see {folder / 'daemon.log'}")
            time.sleep(0.1)
        raise RuntimeError("the daemon did not answer within 60 s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def on_call_with_webhook(api: httpx.Client, url: str) -> None:
    user = api.post("/users", json={"FirstName": "Ana", "LastName": "Silva",
                                    "SlackHandle": "ana"}).json()  # fmt: skip
    now = datetime.now(UTC)
    shift = {"Start": (now - timedelta(hours=1)).isoformat(),
             "End": (now + timedelta(days=1)).isoformat()}  # fmt: skip
    api.post(f"/users/{user['Id']}/schedules", json=shift).raise_for_status()
    api.post(f"/users/{user['Id']}/contact-methods",
             json={"Type": "webhook", "Address": url}).raise_for_status()  # fmt: skip


def wait_page(receiver: Receiver, incident_id: int, timeout: float) -> float | None:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        at = receiver.arrival(f"#{incident_id}:")
        if at is not None:
            return at
        time.sleep(0.002)
    return None


def recorded_sent(api: httpx.Client, incident_id: int) -> datetime:
    """When the daemon recorded the incident's first page as sent (just after the receiver
    answered it)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        items = api.get(f"/incidents/{incident_id}/notifications").json()["Items"]
        sent = [datetime.fromisoformat(p["SentAt"]) for p in items if p["SentAt"]]
        if sent:
            return min(sent)
        time.sleep(0.005)
    raise RuntimeError(f"incident {incident_id}'s page was never recorded as sent")


def trigger_to_page(tree: Path, triggers: int) -> dict[str, float]:
    receiver = Receiver()
    with tempfile.TemporaryDirectory() as folder:
        daemon = Daemon(tree, Path(folder))
        try:
            api = httpx.Client(base_url=daemon.url, timeout=30)
            on_call_with_webhook(api, receiver.url)
            client_side, daemon_side = [], []
            for n in range(triggers):
                began = time.perf_counter()
                incident = api.post("/incidents", json={"Body": f"bench {n}"}).json()
                arrived = wait_page(receiver, incident["Id"], 60)
                if arrived is None:
                    raise RuntimeError(f"no page for incident {incident['Id']} within 60 s")
                client_side.append(arrived - began)
                first = recorded_sent(api, incident["Id"])
                created = datetime.fromisoformat(incident["CreatedAt"])
                daemon_side.append((first - created).total_seconds())
                api.put(f"/incidents/{incident['Id']}/resolve").raise_for_status()
            api.close()
        finally:
            daemon.stop()
            receiver.close()
    deciles = statistics.quantiles(client_side, n=10)
    return {
        "median": statistics.median(client_side),
        "p90": deciles[-1],
        "daemon_median": statistics.median(daemon_side),
        "n": triggers,
    }


def page_in_a_storm(tree: Path, backlog: int = 1000, timeout: float = 300) -> dict[str, float]:
    pages, channel = Receiver(), Receiver()
    with tempfile.TemporaryDirectory() as folder:
        daemon = Daemon(tree, Path(folder), ONCALL_SLACK_WEBHOOK_URL=channel.url)
        try:
            api = httpx.Client(base_url=daemon.url, timeout=30)
            on_call_with_webhook(api, pages.url)
            for n in range(backlog):
                api.post("/messages/test", json={"Text": f"backlog {n}"}).raise_for_status()
            deadline = time.monotonic() + 60
            while channel.count() == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            began = time.perf_counter()
            incident = api.post("/incidents", json={"Body": "checkout down"}).json()
            arrived = wait_page(pages, incident["Id"], timeout)
            queued = backlog - channel.count()  # channel messages not posted when it arrived
            api.close()
        finally:
            daemon.stop()
            pages.close()
            channel.close()
    return {
        "seconds": (arrived - began) if arrived is not None else float("inf"),
        "posted": channel.count(),
        "still_queued": queued,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--triggers", type=int, default=200)
    parser.add_argument("--reference", type=Path, help="another checkout to compare with")
    parser.add_argument("--reference-triggers", type=int, default=50)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    runs = {"this tree": (ROOT, args.triggers)}
    if args.reference:
        runs[f"reference ({args.reference.name})"] = (args.reference, args.reference_triggers)
    rows, storms = {}, {}
    env = environment()
    for name, (tree, triggers) in runs.items():
        print(f"{name}: trigger to page, {triggers} triggers…", file=sys.stderr)
        rows[name] = trigger_to_page(tree, triggers)
        print(f"{name}: a page behind 1,000 channel messages…", file=sys.stderr)
        storms[name] = page_in_a_storm(tree)
    mine = rows["this tree"]
    lines = [
        START, "", env, "",
        "| run | triggers | trigger → page arrives, median | 90th pct | daemon: created → "
        "claimed for sending, median | page behind 1,000 channel messages | channel messages "
        "posted meanwhile |",
        "|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for name, row in rows.items():
        storm = storms[name]
        lines.append(
            f"| {name} | {row['n']} | {row['median'] * 1000:.0f} ms | {row['p90'] * 1000:.0f} ms "
            f"| {row['daemon_median'] * 1000:.0f} ms | {storm['seconds']:.2f} s "
            f"({storm['still_queued']} still queued) | {storm['posted']} |"
        )
    if len(rows) > 1:
        ref = next(row for name, row in rows.items() if name != "this tree")
        ref_storm = next(s for name, s in storms.items() if name != "this tree")
        lines += [
            "",
            f"Ratios, this tree against the reference: trigger to page "
            f"{mine['median'] / ref['median']:.3f}x; a page in a storm "
            f"{storms['this tree']['seconds'] / ref_storm['seconds']:.3f}x.",
        ]
    lines += ["", END]
    text = "\n".join(lines)
    print(text)
    if args.output:
        write_results(args.output, text, START, END, "Paging people (issue 21)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
