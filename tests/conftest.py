from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def team(days: int = 7, people: int = 3, start: str = "2027-01-04T00:00:00Z", **extra: Any) -> dict:
    """A small input.json document: `people` users, a `days`-day window from `start`."""
    from datetime import datetime, timedelta

    first = datetime.fromisoformat(start)
    end = (first + timedelta(days=days - 1)).isoformat().replace("+00:00", "Z")
    doc = {
        "schedule_start": start,
        "schedule_end": end,
        "users": [{"id": f"u{i}", "name": f"User {i}"} for i in range(people)],
    }
    doc.update(copy.deepcopy(extra))
    return doc


@pytest.fixture
def bundled_input() -> Path:
    return ROOT / "data" / "input.json"
