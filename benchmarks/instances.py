"""Deterministic benchmark instances: users x days, 10% of days unavailable, 10% preferred."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

START = date(2027, 1, 1)


def instance(
    users: int, days: int, seed: int = 0, extended: bool = False, **rules: Any
) -> dict[str, Any]:
    """An input.json document; `extended` adds the side rules of the issue's extended instance,
    `rules` any other top-level fields (layers, max_consecutive_shifts, shift_duration, ...)."""
    rnd = random.Random(f"{users}x{days}:{seed}")
    calendar = [START + timedelta(days=d) for d in range(days)]
    team = []
    for i in range(users):
        picked = rnd.sample(calendar, k=max(1, round(0.2 * days)))
        half = len(picked) // 2
        team.append(
            {
                "name": f"Person {i:03d}",
                "id": f"P{i:03d}",
                "type": "user_reference",
                "unavailable": [f"{d}T00:00:00Z" for d in sorted(picked[:half])],
                "preferences": {"days": [f"{d}T00:00:00Z" for d in sorted(picked[half:])]},
            }
        )
    doc: dict[str, Any] = {
        "schedule_start": f"{calendar[0]}T00:00:00Z",
        "schedule_end": f"{calendar[-1]}T00:00:00Z",
        "users": team,
    }
    if extended:
        doc.update(max_consecutive_shifts=7, min_rest_shifts=2, weekend_balance=True, layers=2)
    doc.update(rules)
    return doc


CASES = {
    "10x28": dict(users=10, days=28),
    "30x365": dict(users=30, days=365),
    "100x365": dict(users=100, days=365),
    "200x365": dict(users=200, days=365),
    "extended 50x365": dict(users=50, days=365, extended=True),
}

# A tight rotation: 10 people for two layers, one shift in a row, 3 rest slots after it, weekend
# balance. The LP bound is weak there and the full MIP still had a 2.7% gap after 60 s
# (2 cores, 2026-12-02): the tests that need HiGHS busy for a long time solve this one.
TIGHT_ROTATION = dict(
    users=10, days=365, layers=2, max_consecutive_shifts=1, min_rest_shifts=3, weekend_balance=True
)


def rotation(
    users: int,
    weeks: int,
    one_in: int,
    layers: int = 1,
    history: bool = False,
    preferences: bool = False,
    seed: int = 0,
) -> dict[str, Any]:
    """A tight rotation: nobody on call two days running, `one_in - 1` days' rest after a
    shift, weekend balance; holidays (a block of 4 to 9 days each, never more people away at
    once than the rotation can spare), avoided days, and optionally preferred days and
    history (shifts already worked, weekdays and weekends). Always feasible by construction:
    at most `users - layers * one_in` people are away on any day."""
    key = f"rotation {users} {weeks} {one_in} {layers} {history} {preferences}:{seed}"
    rnd = random.Random(key)
    days = 7 * weeks
    calendar = [START + timedelta(days=d) for d in range(days)]
    spare = users - layers * one_in
    if spare < 0:
        raise ValueError(f"{users} people cannot cover {layers} layer(s) one day in {one_in}")
    away_count = [0] * days
    team = []
    for i in range(users):
        away: list[date] = []
        if spare > 0:
            for _ in range(10):  # a few tries at a block that fits beside the others'
                length = rnd.randint(4, 9)
                first = rnd.randrange(0, max(1, days - length))
                block = range(first, min(days, first + length))
                if all(away_count[d] < spare for d in block):
                    for d in block:
                        away_count[d] += 1
                    away = [calendar[d] for d in block]
                    break
        free = [d for d in calendar if d not in away]
        person: dict[str, Any] = {
            "name": f"Person {i:02d}",
            "id": f"R{i:02d}",
            "type": "user_reference",
            "unavailable": [f"{d}T00:00:00Z" for d in away],
        }
        wishes: dict[str, Any] = {
            "avoid_days": [f"{d}T00:00:00Z" for d in sorted(rnd.sample(free, k=days // 20))]
        }
        if preferences:
            wishes["days"] = [f"{d}T00:00:00Z" for d in sorted(rnd.sample(free, k=days // 20))]
        person["preferences"] = wishes
        team.append(person)
    doc: dict[str, Any] = {
        "schedule_start": f"{calendar[0]}T00:00:00Z",
        "schedule_end": f"{calendar[-1]}T00:00:00Z",
        "users": team,
        "layers": layers,
        "max_consecutive_shifts": 1,
        "min_rest_shifts": one_in - 1,
        "weekend_balance": True,
    }
    if history:
        doc["history"] = {
            p["id"]: {"shifts": rnd.randint(28, 56), "weekend_shifts": rnd.randint(8, 16)}
            for p in team
        }
    return doc
