"""Benchmark the on-call engine on loopback: `python benchmarks/engine.py [--output PATH]`.

- `POST /incidents` sustained from one client process, each incident assigned to the person on
  call and its Slack message queued in the same transaction: with `--in-flight` requests
  going at once (`httpx.AsyncClient`, as many keep-alive connections; target 500 per second
  or more: concurrent requests are group-committed, see `oncall_opt.engine.batching`) and
  sequentially over one keep-alive connection (each request its own transaction; reported,
  no target).
- An alert storm: 10,000 triggers over 10 dedup keys from 4 concurrent clients must end as
  exactly 10 incidents whose counts are 1,000 each (checked with `GET /incidents?Status=all`).
- The reminder and auto-assign jobs with 10,000 open incidents: one run each on fresh data,
  target 0.5 s or less.

The API runs in its own process (uvicorn, one worker, `run_jobs=False`, a temporary database);
the jobs are timed in this process on their own temporary databases. Figures are medians.
With `--output`, the Markdown table goes between `<!-- engine:start -->` and
`<!-- engine:end -->` in that file (the section is appended when missing; the rest is kept).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from oncall_opt.engine.jobs import autoassign, reminders
from oncall_opt.engine.settings import Settings
from oncall_opt.engine.shifts import create_schedule
from oncall_opt.engine.store import Store
from oncall_opt.engine.users import create_user

START, END = "<!-- engine:start -->", "<!-- engine:end -->"
BODY = "An unexpected error happened on example-website.com on line 38. It needs addressing now!"

SERVER = textwrap.dedent(
    """
    import sys, uvicorn
    from oncall_opt.api import create_app
    from oncall_opt.engine.settings import Settings
    from oncall_opt.engine.store import Store
    store = Store(sys.argv[1])
    app = create_app(store, Settings(db_path=sys.argv[1]), run_jobs=False)
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), workers=1,
                log_level="warning", access_log=False)
    """
)


# ----- the API in a subprocess ---------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, db: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen([sys.executable, "-c", SERVER, str(db), str(self.port)])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{self.url}/users", timeout=1).raise_for_status()
                return
            except httpx.HTTPError:
                if self.process.poll() is not None:
                    raise RuntimeError("the API process exited at start-up") from None
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("the API did not answer within 30 s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def post_rate(client: httpx.Client, n: int) -> tuple[float, float, float]:
    """`n` sequential POST /incidents: (requests per second, p50 ms, p99 ms)."""
    latencies = []
    began = time.perf_counter()
    for i in range(n):
        t0 = time.perf_counter()
        r = client.post("/incidents", json={"Body": f"{BODY} #{i}"})
        latencies.append(time.perf_counter() - t0)
        if r.status_code != 200:
            raise RuntimeError(f"POST /incidents answered {r.status_code}: {r.text}")
    elapsed = time.perf_counter() - began
    latencies.sort()
    return n / elapsed, 1000 * latencies[n // 2], 1000 * latencies[int(n * 0.99)]


def post_rate_concurrent(
    url: str | list[str], n: int, in_flight: int
) -> tuple[float, float, float]:
    """`n` POST /incidents from one client (`httpx.AsyncClient`, one event loop) keeping
    `in_flight` requests going over as many keep-alive connections: (requests per second, p50
    ms, p99 ms). Requests that wait while a batch is written share the next transaction. With
    several daemons' `url`s, worker `w` sends to daemon `w % len(url)`, as a balancer would."""
    urls = [url] if isinstance(url, str) else list(url)
    latencies: list[float] = []
    errors: list[str] = []

    async def worker(client: httpx.AsyncClient, numbers: range) -> None:
        for i in numbers:
            t0 = time.perf_counter()
            r = await client.post("/incidents", json={"Body": f"{BODY} #{i}"})
            latencies.append(time.perf_counter() - t0)
            if r.status_code != 200:
                errors.append(f"{r.status_code}: {r.text}")

    async def run() -> float:
        per = -(-in_flight // len(urls))  # connections per daemon, rounded up
        limits = httpx.Limits(max_connections=per, max_keepalive_connections=per)
        clients = [httpx.AsyncClient(base_url=u, timeout=30, limits=limits) for u in urls]
        try:
            # open the connections first, so the measured rate is that of a warm client
            await asyncio.gather(*(clients[w % len(urls)].get("/users") for w in range(in_flight)))
            began = time.perf_counter()
            workers = [
                worker(clients[w % len(urls)], range(w, n, in_flight)) for w in range(in_flight)
            ]
            await asyncio.gather(*workers)
            return time.perf_counter() - began
        finally:
            for client in clients:
                await client.aclose()

    elapsed = asyncio.run(run())
    if errors:
        raise RuntimeError(f"{len(errors)} POST /incidents failed, first: {errors[0]}")
    latencies.sort()
    return n / elapsed, 1000 * latencies[n // 2], 1000 * latencies[int(n * 0.99)]


def get_rate(client: httpx.Client, path: str, n: int) -> float:
    """`n` sequential GETs: requests per second (what the HTTP stack alone allows)."""
    began = time.perf_counter()
    for _ in range(n):
        client.get(path).raise_for_status()
    return n / (time.perf_counter() - began)


def trigger_rate(directory: Path, n: int) -> float:
    """`incidents.trigger` called in-process (no HTTP), someone on call: calls per second."""
    from oncall_opt.engine.incidents import trigger

    store = Store(directory / "trigger.duckdb")
    try:
        user = create_user(store, "Katy", "Smith", "katy", NOW)
        create_schedule(store, user.id, NOW - timedelta(hours=1), NOW + timedelta(hours=23))
        for i in range(100):
            trigger(store, f"{BODY} #{i}", NOW)  # warm-up
        began = time.perf_counter()
        for i in range(n):
            trigger(store, f"{BODY} #{i}", NOW)
        return n / (time.perf_counter() - began)
    finally:
        store.close()


def batch_rate(directory: Path, n: int, size: int) -> float:
    """`incidents.trigger_batch` in-process, `size` triggers a transaction: triggers per second."""
    from oncall_opt.engine.incidents import Trigger, trigger_batch

    store = Store(directory / "batch.duckdb")
    try:
        user = create_user(store, "Katy", "Smith", "katy", NOW)
        create_schedule(store, user.id, NOW - timedelta(hours=1), NOW + timedelta(hours=23))
        batches = [[Trigger(f"{BODY} #{i + j}") for j in range(size)] for i in range(0, n, size)]
        for batch in batches[:5]:  # warm-up
            store.write(lambda tx, batch=batch: trigger_batch(tx, batch, NOW))
        began = time.perf_counter()
        for batch in batches:
            store.write(lambda tx, batch=batch: trigger_batch(tx, batch, NOW))
        return sum(map(len, batches)) / (time.perf_counter() - began)
    finally:
        store.close()


def storm(url: str, round_: int, triggers: int, keys: int = 10, clients: int = 4):
    """`triggers` over `keys` dedup keys from `clients` threads: (seconds, incidents, counts)."""
    prefix = f"storm-{round_}-"
    errors: list[str] = []

    def fire(worker: int) -> None:
        with httpx.Client(base_url=url, timeout=30) as client:
            for i in range(worker, triggers, clients):
                body = {"Body": f"disk full on db-{i % keys}", "DedupKey": f"{prefix}{i % keys}"}
                r = client.post("/incidents", json=body)
                if r.status_code != 200:
                    errors.append(f"{r.status_code}: {r.text}")

    threads = [threading.Thread(target=fire, args=(w,)) for w in range(clients)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise RuntimeError(f"{len(errors)} triggers failed, first: {errors[0]}")
    items = httpx.get(f"{url}/incidents", params={"Status": "all"}, timeout=60).json()["Items"]
    mine = [i for i in items if (i["DedupKey"] or "").startswith(prefix)]
    counts = sorted(i["Count"] for i in mine)
    return elapsed, len(mine), counts


# ----- the jobs on fresh data ----------------------------------------------------------------
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def fresh_store(directory: Path, name: str, incidents: int, assigned: bool) -> Store:
    """A database with 20 users and `incidents` triggered incidents, created 11 minutes ago."""
    store = Store(directory / f"{name}.duckdb")
    people = [create_user(store, f"First{i}", f"Last{i}", f"user{i}", NOW).id for i in range(20)]
    created = NOW - timedelta(minutes=11)
    assignee = (
        f"(SELECT min(id) + i % {len(people)} FROM users)" if assigned else "CAST(NULL AS BIGINT)"
    )
    store.write(
        lambda tx: tx.execute(
            "INSERT INTO incidents (body, status, created_at, last_triggered_at, assigned_user_id, "
            "escalation_step) "  # step 1 paged at the trigger, as POST /incidents leaves them
            f"SELECT ? || ' #' || CAST(i AS VARCHAR), 'triggered', ?, ?, {assignee}, 1 "
            "FROM range(?) t(i)",
            [BODY, created, created, incidents],
        )
    )
    return store


def time_job(
    directory: Path, name: str, repeat: int, incidents: int, prepare: Callable, run: Callable
) -> tuple[list[float], int]:
    seconds, done = [], 0
    for k in range(repeat):
        store = prepare(directory, f"{name}{k}", incidents)
        try:
            t0 = time.perf_counter()
            done = run(store)
            seconds.append(time.perf_counter() - t0)
            if done != incidents:
                raise RuntimeError(f"{name} handled {done} incidents, expected {incidents}")
            if run(store) != 0:
                raise RuntimeError(f"a second {name} run found work left")
        finally:
            store.close()
    return seconds, done


def prepare_reminders(directory: Path, name: str, n: int) -> Store:
    return fresh_store(directory, name, n, assigned=True)


def prepare_autoassign(directory: Path, name: str, n: int) -> Store:
    store = fresh_store(directory, name, n, assigned=False)
    create_schedule(store, 1, NOW - timedelta(hours=1), NOW + timedelta(hours=23))
    return store


# ----- report --------------------------------------------------------------------------------
def environment() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "unknown"
    import duckdb
    import fastapi
    import uvicorn

    return (
        f"- Machine: {platform.platform()}, {os.cpu_count()} logical CPUs ({cpu}), "
        f"load average at start {load}\n"
        f"- Python {platform.python_version()}, duckdb {duckdb.__version__}, fastapi "
        f"{fastapi.__version__}, uvicorn {uvicorn.__version__} (one worker, h11, asyncio), "
        f"httpx {httpx.__version__}"
    )


def fmt_range(values: list[float], scale: float = 1.0, digits: int = 3) -> str:
    return f"{min(values) * scale:.{digits}f}–{max(values) * scale:.{digits}f}"


def write_results(
    path: Path,
    text: str,
    start: str = START,
    end: str = END,
    title: str = "On-call engine (issue 3)",
) -> None:
    """Put `text` (which begins with `start` and ends with `end`) in place of that section of
    the Markdown file, or append it under `title`; the rest of the file is kept."""
    old = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    if start in old and end in old:
        head, rest = old.split(start, 1)
        new = head + text + rest.split(end, 1)[1]
    else:
        new = old.rstrip("\n") + f"\n\n## {title}\n\n" + text + "\n"
    path.write_text(new, encoding="utf-8")


def someone_on_call(client: httpx.Client) -> dict:
    """A person on call from an hour ago for a day (so every trigger is assigned); the person."""
    user = client.post(
        "/users", json={"FirstName": "Katy", "LastName": "Smith", "SlackHandle": "katy"}
    ).json()
    now = datetime.now(UTC)
    client.post(
        f"/users/{user['Id']}/schedules",
        json={
            "Start": (now - timedelta(hours=1)).isoformat(),
            "End": (now + timedelta(days=1)).isoformat(),
        },
    ).raise_for_status()
    return user


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000, help="POSTs per rate round")
    parser.add_argument(
        "--in-flight", type=int, default=16, help="concurrent POSTs of the one client (16)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="rate and storm rounds (median)")
    parser.add_argument("--job-runs", type=int, default=5, help="runs per job, fresh data each")
    parser.add_argument("--incidents", type=int, default=10_000, help="open incidents for jobs")
    parser.add_argument("--triggers", type=int, default=10_000, help="triggers per storm")
    parser.add_argument("--output", type=Path, help="Markdown file to write the table into")
    args = parser.parse_args(argv)
    env = environment()
    print(env, flush=True)

    with tempfile.TemporaryDirectory(prefix="oncall-bench-") as tmp:
        directory = Path(tmp)
        server = Server(directory / "api.duckdb")
        try:
            with httpx.Client(base_url=server.url, timeout=30) as client:
                user = someone_on_call(client)
                storms = []
                for r in range(args.rounds):
                    storms.append(storm(server.url, r, args.triggers))
                    elapsed, n, counts = storms[-1]
                    print(f"storm {r}: {elapsed:.2f} s, {n} incidents, counts {counts}", flush=True)
                    if n != 10 or counts != [args.triggers // 10] * 10:
                        raise RuntimeError(f"storm {r}: {n} incidents with counts {counts}")
                post_rate(client, 200)  # warm-up
                post_rate_concurrent(server.url, 500, args.in_flight)
                rates, sequential = [], []
                for r in range(args.rounds):
                    rates.append(post_rate_concurrent(server.url, args.requests, args.in_flight))
                    sequential.append(post_rate(client, args.requests))
                    print(
                        f"POST /incidents round {r}: {rates[-1][0]:.0f}/s with "
                        f"{args.in_flight} in flight, {sequential[-1][0]:.0f}/s sequential",
                        flush=True,
                    )
                floor = get_rate(client, "/openapi.json", 1000)
                read = get_rate(client, f"/users/{user['Id']}", 2000)
        finally:
            server.stop()

        in_process = trigger_rate(directory, 2000)
        batched = batch_rate(directory, 4000, args.in_flight)
        print(
            f"floor {floor:.0f}/s, one read {read:.0f}/s, trigger {in_process:.0f}/s, "
            f"batches of {args.in_flight} {batched:.0f}/s",
            flush=True,
        )
        jobs = {}
        for name, prepare, run in (
            ("reminders", prepare_reminders, lambda s: reminders.run(s, NOW, Settings())),
            ("autoassign", prepare_autoassign, lambda s: autoassign.run(s, NOW)),
        ):
            jobs[name], _ = time_job(directory, name, args.job_runs, args.incidents, prepare, run)
            print(f"{name}: {[round(x, 3) for x in jobs[name]]} s", flush=True)

    rate = [r[0] for r in rates]
    seq = [r[0] for r in sequential]
    storm_s = [s[0] for s in storms]
    rows = [
        (f"`POST /incidents`, one client, {args.in_flight} in flight (the target's figure)",
         f"{args.requests:,} requests x {args.rounds}; `httpx.AsyncClient`, "
         f"{args.in_flight} keep-alive connections", f"{statistics.median(rate):.0f} /s",
         f"{min(rate):.0f}–{max(rate):.0f} /s; p50 {statistics.median(r[1] for r in rates):.1f} "
         f"ms, p99 {statistics.median(r[2] for r in rates):.1f} ms; concurrent triggers are "
         "group-committed (one transaction per batch)", "≥ 500 /s",
         "met" if statistics.median(rate) >= 500 else "NOT met"),
        ("`POST /incidents`, one client, sequential",
         f"{args.requests:,} requests x {args.rounds}; `httpx.Client`, one keep-alive "
         "connection", f"{statistics.median(seq):.0f} /s",
         f"{min(seq):.0f}–{max(seq):.0f} /s; p50 "
         f"{statistics.median(r[1] for r in sequential):.1f} ms, p99 "
         f"{statistics.median(r[2] for r in sequential):.1f} ms; one request at a time, so one "
         "transaction each", "", ""),
        (f"Alert storm: {args.triggers:,} triggers, 10 dedup keys, 4 clients",
         f"{args.rounds} storms", f"{statistics.median(storm_s):.2f} s "
         f"({args.triggers / statistics.median(storm_s):.0f} triggers/s)",
         f"{fmt_range(storm_s, digits=2)} s; every storm: 10 incidents, counts "
         f"{args.triggers // 10:,} each (sum {args.triggers:,})",
         "exactly 10 incidents, exact counts", "met"),
        ("Reminder job (`jobs.reminders.run`)", f"{args.incidents:,} due incidents, "
         f"{args.job_runs} fresh runs", f"{statistics.median(jobs['reminders']):.3f} s",
         f"{fmt_range(jobs['reminders'])} s", "≤ 0.5 s",
         "met" if statistics.median(jobs["reminders"]) <= 0.5 else "NOT met"),
        ("Auto-assign job (`jobs.autoassign.run`)", f"{args.incidents:,} unassigned incidents, "
         f"{args.job_runs} fresh runs", f"{statistics.median(jobs['autoassign']):.3f} s",
         f"{fmt_range(jobs['autoassign'])} s", "≤ 0.5 s",
         "met" if statistics.median(jobs["autoassign"]) <= 0.5 else "NOT met"),
        ("Context: `GET /openapi.json` (no database), one client", "1,000 requests",
         f"{floor:.0f} /s", "the HTTP stack alone: uvicorn (h11) + FastAPI", "", ""),
        ("Context: `GET /users/{id}` (one read), one client", "2,000 requests",
         f"{read:.0f} /s", "HTTP + one DuckDB query", "", ""),
        ("Context: `incidents.trigger` in-process (no HTTP)", "2,000 calls",
         f"{in_process:.0f} /s", f"{1000 / in_process:.1f} ms per call: the transaction "
         "behind one `POST /incidents` alone", "", ""),
        ("Context: `incidents.trigger_batch` in-process (no HTTP)",
         f"4,000 triggers, {args.in_flight} a transaction", f"{batched:.0f} /s",
         f"{1000 / batched:.2f} ms per trigger, {args.in_flight * 1000 / batched:.1f} ms per "
         "batch", "", ""),
    ]  # fmt: skip
    table = "\n".join(
        [
            "| what | workload | median | range / detail | target | result |",
            "|---|---|---|---|---|---|",
        ]
        + ["| " + " | ".join(row) + " |" for row in rows]
    )
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = "python benchmarks/engine.py" + (f" --output {args.output}" if args.output else "")
    text = (
        f"{START}\n- Date: {when}\n- Command: `{command}`\n{env}\n"
        "- The API in its own process on 127.0.0.1 (`run_jobs=False`, a temporary DuckDB file), "
        "the client in this one; every incident is assigned to the person on call and queues "
        "its Slack message in the same transaction. Concurrent `POST /incidents` are "
        "group-committed: one writer thread writes whatever triggers are waiting in one "
        "transaction, answering each as if triggered one by one. Jobs are timed in-process, one "
        "run on fresh data each (20 users; a second run finds nothing left to do).\n\n"
        f"{table}\n{END}"
    )
    print()
    print(table)
    if args.output:
        write_results(args.output, text)
        print(f"\nwritten to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
