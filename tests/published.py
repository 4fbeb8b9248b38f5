"""A roster solved and published through the daemon's API, as the planner does it (tests in
tests/console and tests/e2e plan over what is already published)."""

from __future__ import annotations

import time
from datetime import date, timedelta
from typing import Any

from oncall_opt.client import Client

BERLIN_TWO_LAYERS = {"TimeZone": "Europe/Berlin", "Handoff": "09:00", "Layers": 2}


def solve_and_publish(api: Client, first: date, days: int, **rules: Any) -> list[dict]:
    """Solve [first, first + days] with `rules` (the API's: TimeZone, Handoff, Layers, ...)
    and publish it from now on; returns the shifts published."""
    job = api.start_solve(first, first + timedelta(days=days), time_limit=30, **rules)
    deadline = time.monotonic() + 120
    while job["Status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.2)  # polling the job, with a deadline
        job = api.solve_job(job["JobId"])
    assert job["Status"] == "done", job
    return api.publish_roster(job_id=job["JobId"], freeze_hours=0)
