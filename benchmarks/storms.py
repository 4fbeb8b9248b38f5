"""Alerts under load (issue 22): `python benchmarks/storms.py [--reference TREE] [--output PATH]`.

- **Events over TLS and plain http**: two `runner.py` daemons (DuckDB, default settings), one
  serving HTTPS with a certificate from a throwaway CA (`trustme`), the other plain http. In
  each round, `--requests` Events API triggers (`POST /v2/enqueue`, a dedup key each, the
  key's rate limit raised out of the way) from one client keeping 16 in flight, first to one
  daemon and then to the other; reported: the median events per second of each, and the ratio.
- **A new incident while a storm drains**: a daemon whose Slack channel is a receiver on
  127.0.0.1, at Slack's pace (one post a second). 5,000 events at once on one service from 8
  clients (all accepted: its rate limit raised), then one event on another service: the time
  from that event until its "created" message reaches the channel, and how many posts about
  the storm the channel got by then and in all (within `--drain` seconds).

`--reference TREE` runs the storm against another checkout's `runner.py` (a `git worktree` of an
earlier commit) in the same run. With `--output`, the tables go between `<!-- storms:start -->`
and `<!-- storms:end -->`.
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import paging
from engine import environment, write_results
from paging import Receiver

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- storms:start -->", "<!-- storms:end -->"
STORM, CLIENTS, IN_FLIGHT = 5_000, 8, 16


def texts(channel: Receiver) -> list[tuple[float, str]]:
    """When each channel message arrived, and its text."""
    with channel.lock:
        return [(at, body.get("text", "")) for at, body in channel.got]


class Daemon(paging.Daemon):
    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60, verify=self.verify)

    def service(self, name: str) -> str:
        """A new service that takes 100,000 events a minute; its integration key."""
        with self.client() as api:
            made = api.post("/services", json={"Name": name}).json()
            api.put(f"/services/{made['Id']}", json={"EventsPerMinute": 100_000})
            return made["IntegrationKey"]


def event(key: str, dedup: str, summary: str) -> dict:
    return {"routing_key": key, "event_action": "trigger", "dedup_key": dedup,
            "payload": {"summary": summary, "source": "bench", "severity": "critical"}}  # fmt: skip


def enqueue_rate(daemon: Daemon, key: str, n: int, tag: str) -> float:
    """`n` triggers from one client keeping IN_FLIGHT going: events per second."""
    failed: list[int] = []

    async def worker(client: httpx.AsyncClient, numbers: range) -> None:
        for i in numbers:
            answer = await client.post("/v2/enqueue", json=event(key, f"{tag}-{i}", f"disk {i}"))
            if answer.status_code != 202:
                failed.append(answer.status_code)

    async def run() -> float:
        limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
        async with httpx.AsyncClient(base_url=daemon.url, timeout=60, limits=limits,
                                     verify=daemon.verify) as client:  # fmt: skip
            await asyncio.gather(*(client.get("/healthz") for _ in range(IN_FLIGHT)))
            began = time.perf_counter()
            await asyncio.gather(*(worker(client, range(w, n, IN_FLIGHT))
                                   for w in range(IN_FLIGHT)))  # fmt: skip
            return time.perf_counter() - began

    elapsed = asyncio.run(run())
    if failed:
        raise RuntimeError(f"{len(failed)} events were not accepted: {failed[:5]}")
    return n / elapsed


def tls_against_plain(requests: int, rounds: int) -> dict[str, list[float]]:
    import trustme

    ca = trustme.CA()
    context = ssl.create_default_context()
    ca.configure_trust(context)
    rates: dict[str, list[float]] = {"https": [], "http": []}
    with tempfile.TemporaryDirectory() as tls_dir, tempfile.TemporaryDirectory() as plain_dir:
        cert = ca.issue_cert("127.0.0.1")
        cert_path, key_path = Path(tls_dir) / "cert.pem", Path(tls_dir) / "key.pem"
        cert.cert_chain_pems[0].write_to_path(str(cert_path))
        cert.private_key_pem.write_to_path(str(key_path))
        secure = Daemon(ROOT, Path(tls_dir), (cert_path, key_path), context)
        plain = Daemon(ROOT, Path(plain_dir))
        try:
            keys = {"https": secure.service("bench"), "http": plain.service("bench")}
            for daemon, name in ((secure, "https"), (plain, "http")):  # warm-up
                enqueue_rate(daemon, keys[name], 300, "warm")
            for r in range(rounds):
                for daemon, name in ((secure, "https"), (plain, "http")):
                    rates[name].append(enqueue_rate(daemon, keys[name], requests, f"r{r}"))
                print(f"round {r}: https {rates['https'][-1]:.0f}/s, "
                      f"http {rates['http'][-1]:.0f}/s", file=sys.stderr)  # fmt: skip
        finally:
            secure.stop()
            plain.stop()
    return rates


def new_incident_in_a_storm(tree: Path, drain: float) -> dict[str, float | int | None]:
    channel = Receiver()
    with tempfile.TemporaryDirectory() as folder:
        daemon = Daemon(tree, Path(folder), ONCALL_SLACK_WEBHOOK_URL=channel.url)
        try:
            payments, search = daemon.service("payments"), daemon.service("search")

            def fire(first: int) -> None:
                with daemon.client() as client:
                    for n in range(first, STORM, CLIENTS):
                        sent = client.post("/v2/enqueue", json=event(
                            payments, f"storm-{n}", f"disk full on db-{n % 7}"))  # fmt: skip
                        if sent.status_code != 202:
                            raise RuntimeError(f"the storm's event {n}: {sent.status_code}")

            clients = [threading.Thread(target=fire, args=(c,)) for c in range(CLIENTS)]
            began_storm = time.perf_counter()
            for client in clients:
                client.start()
            for client in clients:
                client.join()
            stormed = time.perf_counter() - began_storm
            began = time.perf_counter()
            with daemon.client() as api:
                quiet = event(search, "s1", "search is down")
                api.post("/v2/enqueue", json=quiet).raise_for_status()
            deadline, arrived = began + drain, None
            while time.perf_counter() < deadline and arrived is None:
                arrived = next((at for at, text in texts(channel) if "search is down" in text),
                               None)  # fmt: skip
                time.sleep(0.01)
            before = [t for at, t in texts(channel) if arrived is None or at < arrived]
            if arrived is not None:  # the rest of the drain: how many posts the storm makes
                while time.perf_counter() < deadline:
                    time.sleep(0.5)
            storm_posts = [t for _, t in texts(channel) if "search is down" not in t]
        finally:
            daemon.stop()
            channel.close()
    return {
        "storm_seconds": stormed,
        "seconds": (arrived - began) if arrived is not None else None,
        "posts_before": len(before),
        "storm_posts": len(storm_posts),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="events per TLS round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--drain", type=float, default=60.0, help="seconds the storm drains")
    parser.add_argument("--reference", type=Path, help="another checkout to compare with")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    env = environment()
    rates = tls_against_plain(args.requests, args.rounds)
    https, http = statistics.median(rates["https"]), statistics.median(rates["http"])
    runs = {"this tree": ROOT} | ({f"reference ({args.reference.name})": args.reference}
                                  if args.reference else {})  # fmt: skip
    storms = {}
    for name, tree in runs.items():
        print(f"{name}: a new incident while {STORM:,} events drain…", file=sys.stderr)
        storms[name] = new_incident_in_a_storm(tree, args.drain)
    lines = [
        START, "", env, "",
        f"`POST /v2/enqueue`, one client, {IN_FLIGHT} in flight, {args.requests:,} triggers a "
        f"round, {args.rounds} rounds alternating between the two daemons:", "",
        "| daemon | events/s, median | range |", "|---|---|---|",
        f"| HTTPS (runner.py --tls-cert/--tls-key) | {https:.0f} | "
        f"{min(rates['https']):.0f}–{max(rates['https']):.0f} |",
        f"| plain http | {http:.0f} | {min(rates['http']):.0f}–{max(rates['http']):.0f} |", "",
        f"HTTPS runs at **{https / http:.2f}x** the plain rate.", "",
        f"A new incident on another service while {STORM:,} events at once on one service drain "
        f"(8 clients; the channel at Slack's pace, one post a second; watched for "
        f"{args.drain:g} s):", "",
        "| run | storm sent in | new incident → its channel message | channel posts before "
        "it | posts about the storm in the window |", "|---|---|---|---|---|",
    ]  # fmt: skip
    for name, row in storms.items():
        took = f"{row['seconds']:.2f} s" if row["seconds"] is not None else (
            f"not within {args.drain:g} s")  # fmt: skip
        lines.append(f"| {name} | {row['storm_seconds']:.1f} s | {took} | {row['posts_before']} "
                     f"| {row['storm_posts']} |")  # fmt: skip
    lines += ["", END]
    text = "\n".join(lines)
    print(text)
    if args.output:
        write_results(args.output, text, START, END, "Alerts under load (issue 22)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
