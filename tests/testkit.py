"""Plain helpers the tests share (not fixtures): the repository's root, a small input.json,
polling with a deadline. Tests import them from here, never `from conftest import`: the
bridge's and the importers' folders have conftest.py files of their own, and which one a bare
`conftest` names depends on the order pytest collected them in."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def wait_for(
    condition: Callable[[], Any], timeout: float = 30.0, message: str = "the condition"
) -> Any:
    """Poll `condition()` until it returns something truthy, and return that. `timeout` only
    bounds a hang (it is never a speed requirement): past it the test fails with `message`."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {message}")
        time.sleep(0.01)
