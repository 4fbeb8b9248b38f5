"""DuckDB against PostgreSQL side by side: `python benchmarks/backends.py [--output PATH]`.

- `POST /incidents` sequentially (one keep-alive connection) and with 16 in flight
  (`httpx.AsyncClient`) on: one daemon on a DuckDB file; one daemon on PostgreSQL; three
  daemons on one PostgreSQL database, the client spreading its requests over them round-robin
  (as a balancer would).
- The reminder and auto-assign jobs with 10,000 open incidents on each backend (one run each on
  fresh data).

PostgreSQL is a throwaway cluster made for the run with Debian's `postgresql` binaries
(`tests/pg_cluster.py`, as the `postgres` user when run as root). Each daemon is the API in its
own process (uvicorn, one worker, `run_jobs=False`). Figures are medians of the rounds; the
ratios against the DuckDB daemon of the same run are what compare across machines. With
`--output`, the table goes between `<!-- backends:start -->` and `<!-- backends:end -->`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

import httpx
from engine import (
    BODY,
    NOW,
    Server,
    environment,
    fmt_range,
    post_rate,
    post_rate_concurrent,
    someone_on_call,
    write_results,
)

from oncall_opt.engine.jobs import autoassign, reminders
from oncall_opt.engine.settings import Settings
from oncall_opt.engine.shifts import create_schedule
from oncall_opt.engine.store import Store
from oncall_opt.engine.users import create_user

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import pg_cluster  # the tests' throwaway cluster

START, END = "<!-- backends:start -->", "<!-- backends:end -->"


def spread_sequential(urls: list[str], n: int) -> tuple[float, float, float]:
    """`n` POST /incidents one at a time, each to the next daemon round-robin."""
    clients = [httpx.Client(base_url=u, timeout=30) for u in urls]
    try:
        if len(clients) == 1:
            return post_rate(clients[0], n)
        latencies = []
        began = time.perf_counter()
        for i in range(n):
            t0 = time.perf_counter()
            r = clients[i % len(clients)].post("/incidents", json={"Body": f"{BODY} #{i}"})
            latencies.append(time.perf_counter() - t0)
            if r.status_code != 200:
                raise RuntimeError(f"POST /incidents answered {r.status_code}: {r.text}")
        elapsed = time.perf_counter() - began
        latencies.sort()
        return n / elapsed, 1000 * latencies[n // 2], 1000 * latencies[int(n * 0.99)]
    finally:
        for client in clients:
            client.close()


def measure(urls: list[str], requests: int, in_flight: int, rounds: int) -> dict[str, list]:
    with httpx.Client(base_url=urls[0], timeout=30) as client:
        someone_on_call(client)
    spread_sequential(urls, 200)  # warm-up
    post_rate_concurrent(urls, 500, in_flight)
    concurrent, sequential = [], []
    for _ in range(rounds):
        concurrent.append(post_rate_concurrent(urls, requests, in_flight))
        sequential.append(spread_sequential(urls, requests))
    return {"concurrent": concurrent, "sequential": sequential}


# ----- jobs ----------------------------------------------------------------------------------
def fresh_store(target: str, incidents: int, assigned: bool) -> Store:
    """20 users and `incidents` triggered incidents created 11 minutes ago (as engine.py)."""
    store = Store(target)
    people = [create_user(store, f"First{i}", f"Last{i}", f"user{i}", NOW).id for i in range(20)]
    created = NOW - timedelta(minutes=11)
    postgresql = store.dialect.name == "postgresql"
    series = "generate_series(0, ? - 1) AS t(i)" if postgresql else "range(?) t(i)"
    assignee = (
        f"(SELECT min(id) + i % {len(people)} FROM users)" if assigned else "CAST(NULL AS BIGINT)"
    )
    store.write(
        lambda tx: tx.execute(
            "INSERT INTO incidents (body, status, created_at, last_triggered_at, assigned_user_id, "
            "escalation_step) "
            f"SELECT ? || ' #' || CAST(i AS VARCHAR), 'triggered', ?, ?, {assignee}, 1 "
            f"FROM {series}",
            [BODY, created, created, incidents],
        )
    )
    if not assigned:
        create_schedule(store, people[0], NOW - timedelta(hours=1), NOW + timedelta(hours=23))
    return store


def time_job(
    new_target: Callable[[], str], runs: int, incidents: int, assigned: bool, job: Callable
) -> list[float]:
    seconds = []
    for _ in range(runs):
        store = fresh_store(new_target(), incidents, assigned)
        try:
            t0 = time.perf_counter()
            done = job(store)
            seconds.append(time.perf_counter() - t0)
            if done != incidents or job(store) != 0:
                raise RuntimeError(f"the job handled {done} of {incidents}, or left some")
        finally:
            store.close()
    return seconds


# ----- report --------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="POSTs per round")
    parser.add_argument("--in-flight", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--job-runs", type=int, default=5)
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    if pg_cluster.binaries() is None:
        print("error: PostgreSQL's initdb not found (apt-get install postgresql)", file=sys.stderr)
        return 1
    env = environment()
    print(env, flush=True)
    cluster = pg_cluster.start(durable=True)
    results: dict[str, dict[str, list]] = {}
    jobs: dict[tuple[str, str], list[float]] = {}
    try:
        version = Store(cluster.url)
        pg_version = version.row("SHOW server_version")["server_version"]
        version.close()
        with TemporaryDirectory(prefix="oncall-backends-") as tmp:
            setups = {
                "DuckDB, 1 daemon": lambda: [Path(tmp) / "api.duckdb"],
                "PostgreSQL, 1 daemon": lambda: [cluster.database()],
                "PostgreSQL, 3 daemons": lambda: [cluster.database()] * 3,
            }
            for name, targets in setups.items():
                servers = []
                try:
                    for target in targets():
                        servers.append(Server(target))
                    urls = [s.url for s in servers]
                    results[name] = measure(urls, args.requests, args.in_flight, args.rounds)
                finally:
                    for server in servers:
                        server.stop()
                c = [r[0] for r in results[name]["concurrent"]]
                s = [r[0] for r in results[name]["sequential"]]
                print(f"{name}: {c} /s in flight, {s} /s sequential", flush=True)

            counter = iter(range(10**6))
            backends = {
                "DuckDB": lambda: str(Path(tmp) / f"jobs{next(counter)}.duckdb"),
                "PostgreSQL": cluster.database,
            }
            for backend, new_target in backends.items():
                for job_name, assigned, job in (
                    ("reminders", True, lambda s: reminders.run(s, NOW, Settings())),
                    ("autoassign", False, lambda s: autoassign.run(s, NOW)),
                ):
                    jobs[(backend, job_name)] = time_job(
                        new_target, args.job_runs, args.incidents, assigned, job
                    )
                    print(f"{backend} {job_name}: {jobs[(backend, job_name)]}", flush=True)
    finally:
        cluster.stop()

    reference = statistics.median(r[0] for r in results["DuckDB, 1 daemon"]["concurrent"])
    reference_seq = statistics.median(r[0] for r in results["DuckDB, 1 daemon"]["sequential"])
    rows = []
    for name, result in results.items():
        for kind, label, ref in (
            ("concurrent", f"{args.in_flight} in flight", reference),
            ("sequential", "sequential", reference_seq),
        ):
            rates = [r[0] for r in result[kind]]
            median = statistics.median(rates)
            p50 = statistics.median(r[1] for r in result[kind])
            p99 = statistics.median(r[2] for r in result[kind])
            rows.append(
                f"| `POST /incidents`, {label} | {name} | {median:.0f} /s | "
                f"{median / ref:.2f}x | {min(rates):.0f}–{max(rates):.0f} /s; p50 {p50:.1f} ms, "
                f"p99 {p99:.1f} ms |"
            )
    for job_name, label in (("reminders", "Reminder job"), ("autoassign", "Auto-assign job")):
        ref = statistics.median(jobs[("DuckDB", job_name)])
        for backend in ("DuckDB", "PostgreSQL"):
            seconds = jobs[(backend, job_name)]
            median = statistics.median(seconds)
            rows.append(
                f"| {label}, {args.incidents:,} open incidents | {backend} | {median:.3f} s | "
                f"{median / ref:.2f}x | {fmt_range(seconds)} s, {args.job_runs} fresh runs |"
            )
    table = "\n".join(
        [
            "| what | backend | median | vs DuckDB | range / detail |",
            "|---|---|---|---|---|",
            *rows,
        ]
    )
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = "python benchmarks/backends.py" + (f" --output {args.output}" if args.output else "")
    text = (
        f"{START}\n- Date: {when}\n- Command: `{command}`\n{env}\n"
        f"- PostgreSQL {pg_version}: a throwaway cluster on 127.0.0.1 with PostgreSQL's "
        "durable defaults (fsync, synchronous commit, full page writes), over TCP; each "
        "daemon is the API in its own process, `run_jobs=False`; the three "
        "daemons share one database and the client spreads its requests over them round-robin. "
        f"`POST /incidents`: {args.requests:,} requests x {args.rounds} rounds per setting, "
        "someone on call, so each incident is assigned and queues its Slack message. "
        "Everything (client, daemons, PostgreSQL) shares the machine's cores.\n\n"
        f"{table}\n{END}"
    )
    print()
    print(table)
    if args.output:
        write_results(
            args.output, text, START, END, "DuckDB and PostgreSQL, one and three daemons (issue 12)"
        )
        print(f"\nwritten to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
