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
