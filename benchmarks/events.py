"""Benchmark the integrations on loopback: `python benchmarks/events.py [--output PATH]`.

- `POST /v2/enqueue` (PagerDuty's Events API v2) sustained from one client with 16 requests in
  flight (`httpx.AsyncClient`), every event a trigger with its own dedup key on one of five
  services: requests per second, p50 and p99. The same run measures `POST /incidents` the same
  way, as the reference the ratio is taken against (the machine's speed varies from day to
  day; the ratio does not).
- An alert storm: 10,000 events over 20 dedup keys on 5 services (4 keys each) from 4
  concurrent clients must end as exactly 20 incidents whose counts are 500 each.

The API runs in its own process (uvicorn, one worker, `run_jobs=False`, a temporary database),
started by `engine.Server`. Figures are medians of `--rounds`. With `--output`, the Markdown
table goes between `<!-- events:start -->` and `<!-- events:end -->` in that file.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from engine import Server, environment, someone_on_call, write_results

START, END = "<!-- events:start -->", "<!-- events:end -->"
SERVICES, KEYS = 5, 20


def setup(url: str) -> list[str]:
    """A person on call now and five services; their integration keys."""
    with httpx.Client(base_url=url, timeout=30) as client:
        someone_on_call(client)
        made = [client.post("/services", json={"Name": f"service-{i}"}).json()
                for i in range(SERVICES)]  # fmt: skip
        for service in made:  # throughput, not the keys' rate limit (a 400 on older trees)
            client.put(f"/services/{service['Id']}", json={"EventsPerMinute": 100_000})
        return [service["IntegrationKey"] for service in made]


def event(key: str, dedup: str, i: int) -> dict:
    return {
        "routing_key": key,
        "event_action": "trigger",
        "dedup_key": dedup,
        "payload": {"summary": f"disk full on db-{i}", "source": f"db-{i}", "severity": "error"},
    }


def rate(url: str, n: int, in_flight: int, request) -> tuple[float, float, float]:
    """`n` POSTs made by `request(i) -> (path, json)` from one client keeping `in_flight`
    going: (requests per second, p50 ms, p99 ms)."""
    latencies: list[float] = []
    errors: list[str] = []

    async def worker(client: httpx.AsyncClient, numbers: range) -> None:
        for i in numbers:
            path, body = request(i)
            t0 = time.perf_counter()
            r = await client.post(path, json=body)
            latencies.append(time.perf_counter() - t0)
            if r.status_code not in (200, 202):
                errors.append(f"{r.status_code}: {r.text}")

    async def run() -> float:
        limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
        async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
            await asyncio.gather(*(client.get("/healthz") for _ in range(in_flight)))
            began = time.perf_counter()
            await asyncio.gather(
                *(worker(client, range(w, n, in_flight)) for w in range(in_flight))
            )
            return time.perf_counter() - began

    elapsed = asyncio.run(run())
    if errors:
        raise RuntimeError(f"{len(errors)} requests failed, first: {errors[0]}")
    latencies.sort()
    return n / elapsed, 1000 * latencies[n // 2], 1000 * latencies[int(n * 0.99)]


def storm(url: str, keys: list[str], round_: int, events: int, clients: int = 4):
    """`events` over KEYS dedup keys on the services, from `clients` threads: (seconds,
    incidents, counts)."""
    prefix = f"storm-{round_}-"
    errors: list[str] = []

    def fire(worker: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            for i in range(worker, events, clients):
                k = i % KEYS
                body = event(keys[k % SERVICES], f"{prefix}{k}", k)
                r = client.post("/v2/enqueue", json=body)
                if r.status_code != 202:
                    errors.append(f"{r.status_code}: {r.text}")

    threads = [threading.Thread(target=fire, args=(w,)) for w in range(clients)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise RuntimeError(f"{len(errors)} events failed, first: {errors[0]}")
    mine = []
    cursor = None
    with httpx.Client(base_url=url, timeout=60) as client:
        while True:
            params = {"Status": "all", "Limit": 1000} | ({"Cursor": cursor} if cursor else {})
            page = client.get("/incidents", params=params).json()
            mine += [i for i in page["Items"] if (i["DedupKey"] or "").startswith(prefix)]
            cursor = page.get("NextCursor")
            if cursor is None:
                break
    return elapsed, len(mine), sorted(i["Count"] for i in mine), {i["ServiceId"] for i in mine}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="events per rate round")
    parser.add_argument("--in-flight", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--events", type=int, default=10_000, help="events per storm")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    env = environment()
    print(env, flush=True)
    enqueue, incidents, storms = [], [], []
    with tempfile.TemporaryDirectory(prefix="oncall-events-") as tmp:
        server = Server(Path(tmp) / "api.duckdb")
        try:
            keys = setup(server.url)
            per_round = args.events // KEYS
            for r in range(args.rounds):
                storms.append(storm(server.url, keys, r, args.events))
                elapsed, n, counts, services = storms[-1]
                print(
                    f"storm {r}: {elapsed:.2f} s, {n} incidents on {len(services)} services, "
                    f"counts {sorted(set(counts))}",
                    flush=True,
                )
                if n != KEYS or counts != [per_round] * KEYS or len(services) != SERVICES:
                    raise RuntimeError(f"storm {r}: {n} incidents with counts {counts}")

            def enqueue_request(i: int, r: int = 0):
                return "/v2/enqueue", event(keys[i % SERVICES], f"rate-{r}-{i}", i)

            def incident_request(i: int):
                return "/incidents", {"Body": f"disk full on db-{i}"}

            rate(server.url, 300, args.in_flight, lambda i: enqueue_request(i, -1))  # warm-up
            rate(server.url, 300, args.in_flight, incident_request)
            for r in range(args.rounds):
                enqueue.append(
                    rate(
                        server.url,
                        args.requests,
                        args.in_flight,
                        lambda i, r=r: enqueue_request(i, r),
                    )
                )
                incidents.append(rate(server.url, args.requests, args.in_flight, incident_request))
                print(
                    f"round {r}: /v2/enqueue {enqueue[-1][0]:.0f}/s (p99 "
                    f"{enqueue[-1][2]:.0f} ms), /incidents {incidents[-1][0]:.0f}/s",
                    flush=True,
                )
        finally:
            server.stop()

    def med(values, index):
        return statistics.median(v[index] for v in values)

    ratio = med(enqueue, 0) / med(incidents, 0)
    storm_s = [s[0] for s in storms]
    rows = [
        (
            f"`POST /v2/enqueue` triggers, one client, {args.in_flight} in flight",
            f"{args.requests:,} events x {args.rounds}, 5 services, a dedup key each",
            f"{med(enqueue, 0):.0f} /s",
            f"{min(e[0] for e in enqueue):.0f}–{max(e[0] for e in enqueue):.0f} /s; p50 "
            f"{med(enqueue, 1):.1f} ms, p99 {med(enqueue, 2):.1f} ms",
        ),
        (
            f"Reference: `POST /incidents`, one client, {args.in_flight} in flight",
            f"{args.requests:,} requests x {args.rounds}, alternated with the above",
            f"{med(incidents, 0):.0f} /s",
            f"p50 {med(incidents, 1):.1f} ms, p99 {med(incidents, 2):.1f} ms; events run at "
            f"{ratio:.2f}x this rate",
        ),
        (
            f"Alert storm: {args.events:,} events, {KEYS} dedup keys on {SERVICES} services, "
            "4 clients",
            f"{args.rounds} storms",
            f"{statistics.median(storm_s):.2f} s ({args.events / statistics.median(storm_s):.0f} "
            "events/s)",
            f"{min(storm_s):.2f}–{max(storm_s):.2f} s; every storm: exactly {KEYS} incidents on "
            f"{SERVICES} services, counts {args.events // KEYS:,} each",
        ),
    ]
    table = "\n".join(
        ["| what | workload | median | range / detail |", "|---|---|---|---|"]
        + ["| " + " | ".join(row) + " |" for row in rows]
    )
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = (
        f"{START}\n- Date: {when}\n- Command: `python benchmarks/events.py`\n{env}\n\n"
        f"{table}\n{END}"
    )
    print()
    print(table)
    if args.output:
        write_results(args.output, text, START, END, "Integrations (issue 10)")
        print(f"\nwritten to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
