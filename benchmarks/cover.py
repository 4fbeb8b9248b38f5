"""How fast cover is ranked: `python benchmarks/cover.py [--people 50] [--days 365]
[--pages-per-day 8] [--repeat 7]`.

A DuckDB store with one team of `--people` people, `--days` of history before now: a daily
24-hour shift in each of two layers, in turn, and `--pages-per-day` pages a day (incidents on
the team's service, each paged to the primary on call, a third of them at night), plus the
days each person marked away (one in ten). Then the ranking of a one-day gap tomorrow
(`engine.cover.rank`: every member checked against the team's rules on the final schedule,
burden over the last quarter, the why of each) is timed `--repeat` times; the median and the
slowest go to stdout. Target: under 2 s for 50 people and a year.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from oncall_opt.engine import cover  # noqa: E402
from oncall_opt.engine.store import Store  # noqa: E402
from oncall_opt.engine.users import create_user  # noqa: E402

NOW = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)


def build(store: Store, people: int, days: int, pages_per_day: int, seed: int = 1) -> list[int]:
    rng = random.Random(seed)
    ids = [
        create_user(store, f"P{n:03d}", "Bench", f"p{n:03d}", NOW - timedelta(days=days)).id
        for n in range(people)
    ]
    first = (NOW - timedelta(days=days)).replace(hour=9, minute=0)

    def work(tx) -> None:
        shifts, notifications, away = [], [], []
        incident_id = 0
        for day in range(days + 3):  # and a few days ahead: tomorrow's shift is the gap's
            start = first + timedelta(days=day)
            primary, secondary = ids[day % people], ids[(day + people // 2) % people]
            shifts += [[primary, start, start + timedelta(days=1), 1, 1],
                       [secondary, start, start + timedelta(days=1), 2, 1]]  # fmt: skip
            if start >= NOW:
                continue
            for n in range(pages_per_day):
                incident_id += 1
                hour = rng.choice([23, 2, 4]) if n % 3 == 0 else rng.randrange(9, 21)
                at = start.replace(hour=hour) + timedelta(days=1 if hour < 9 else 0)
                notifications.append([incident_id, primary, at])
        for user_id in ids:
            for day in rng.sample(range(days), days // 10):
                away.append([user_id, (first + timedelta(days=day)).date(), "unavailable"])
        tx.insert_many("schedules", ["user_id", "start_time", "end_time", "layer", "team_id"],
                       shifts)  # fmt: skip
        tx.insert_many(
            "incidents",
            ["id", "body", "status", "created_at", "last_triggered_at", "service_id"],
            [[i, f"incident {i}", "resolved", at, at, 1] for i, _, at in notifications],
        )
        tx.insert_many(
            "notifications",
            ["kind", "incident_id", "user_id", "contact_method_id", "status", "due_at",
             "next_attempt_at", "created_at", "sent_at"],
            [["page", i, u, 1, "sent", at, at, at, at] for i, u, at in notifications],
        )  # fmt: skip
        tx.insert_many("availability", ["user_id", "day", "kind"], away)

    store.write(work)
    return ids


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=50)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--pages-per-day", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        store = Store(Path(folder) / "bench.duckdb")
        started = time.perf_counter()
        build(store, args.people, args.days, args.pages_per_day)
        print(f"history built in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        gap_start = NOW.replace(hour=9) + timedelta(days=1)
        gap_end = gap_start + timedelta(days=1)
        covered = cover.on_call_then(store, 1, 1, gap_start, gap_end)
        timings, ranked = [], []
        for _ in range(args.repeat):
            started = time.perf_counter()
            ranked = cover.rank(store, 1, 1, gap_start, gap_end, NOW, covered.id)
            timings.append(time.perf_counter() - started)
        store.close()
    print(
        f"cover ranking, one-day gap, {args.people} people, {args.days} days of history, "
        f"{args.pages_per_day} pages a day: median {statistics.median(timings):.3f} s, "
        f"slowest {max(timings):.3f} s over {args.repeat} runs; {len(ranked)} candidates, "
        f"first: {ranked[0].why if ranked else 'nobody'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
