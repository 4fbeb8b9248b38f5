"""A day marked away, read as the team says (`AwayMeans`): the whole local day blocks both
24-hour shifts that overlap it when the handoff is 09:00; "shift-start" blocks only that day's
shift; "working-hours" only the shifts overlapping 09:00-17:00. Checked on the input.json the
daemon builds, loaded by the optimizer, and on a solve that can only succeed with the narrower
reading."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fake_clock import FakeClock
from fastapi.testclient import TestClient
from test_roster_api import finished, ok, refused

import oncall_opt as oo
from oncall_opt.api import create_app
from oncall_opt.engine.settings import Settings
from oncall_opt.engine.users import create_user

LOCAL = "http://127.0.0.1"  # the daemon answers loopback names without a token

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
ZONE = "Europe/Berlin"
# Mon 7 Dec to Thu 10 Dec 2026; Ana marks Tuesday 8 Dec away.
WINDOW = {"Start": "2026-12-07", "End": "2026-12-10", "TimeZone": ZONE, "Handoff": "09:00"}
TUESDAY = "2026-12-08"


@pytest.fixture
def api(store):
    with TestClient(
        base_url=LOCAL, app=create_app(store, Settings(), FakeClock(NOW), run_jobs=False)
    ) as client:
        client.people = [  # type: ignore[attr-defined]
            create_user(store, first, "X", first.lower(), NOW).id for first in ("Ana", "Ben")
        ]
        yield client


def blocked_starts(api, **query) -> list[str]:
    """The local start times of the shifts Ana cannot take, per the optimizer's problem."""
    ana = str(api.people[0])
    document = ok(api.get("/roster/input", params={**WINDOW, **query}))
    problem = oo.load_problem(document)
    u = [user.id for user in problem.users].index(ana)
    grid = problem.grid
    return [
        f"{grid.local(grid.starts[t]):%a %H:%M}"
        for t in range(problem.n_slots)
        if t not in problem.available[u]
    ]


def mark_tuesday_away(api) -> None:
    ana = api.people[0]
    ok(api.put(f"/users/{ana}/availability", json={
        "Start": TUESDAY, "End": TUESDAY, "Days": {TUESDAY: "unavailable"}}))  # fmt: skip


@pytest.mark.parametrize(
    ("away_means", "length", "expected"),
    [
        ("day", "P1D", ["Mon 09:00", "Tue 09:00"]),
        ("shift-start", "P1D", ["Tue 09:00"]),
        ("working-hours", "P1D", ["Tue 09:00"]),
        ("day", "PT12H", ["Mon 21:00", "Tue 09:00", "Tue 21:00"]),
        ("shift-start", "PT12H", ["Tue 09:00", "Tue 21:00"]),
        ("working-hours", "PT12H", ["Tue 09:00"]),
    ],
)
def test_the_team_setting_decides_what_an_away_day_blocks(api, away_means, length, expected):
    mark_tuesday_away(api)
    team = ok(api.put("/teams/1", json={"AwayMeans": away_means}))
    assert team["AwayMeans"] == away_means
    assert blocked_starts(api, ShiftLength=length) == expected
    # A request may read it another way for a what-if, without changing the team.
    other = "day" if away_means != "day" else "shift-start"
    assert blocked_starts(api, ShiftLength=length, AwayMeans=other) != expected
    assert ok(api.get("/teams/1"))["AwayMeans"] == away_means


def test_the_default_is_the_whole_day_and_bad_values_are_named(api):
    assert ok(api.get("/teams/1"))["AwayMeans"] == "day"
    refused(api.put("/teams/1", json={"AwayMeans": "weekends"}), 400, "AwayMeans", "shift-start")
    refused(api.get("/roster/input", params={**WINDOW, "AwayMeans": "x"}), 400, "AwayMeans")
    created = ok(api.post("/teams", json={"Name": "Ops", "AwayMeans": "working-hours"}), 201)
    assert created["AwayMeans"] == "working-hours"


def test_a_roster_exists_only_when_an_away_day_blocks_one_shift(api):
    """Ana away Tuesday, Ben away Monday, 24-hour shifts from 09:00. Read as whole days, both
    block Monday 09:00 to Tuesday 09:00: nobody can take it, no roster. Read as the shifts
    that start that day, Ana takes Monday's and Ben Tuesday's."""
    ana, ben = api.people
    mark_tuesday_away(api)
    monday = "2026-12-07"
    ok(api.put(f"/users/{ben}/availability",
               json={"Start": monday, "End": monday, "Days": {monday: "unavailable"}}))  # fmt: skip

    def solve(away_means: str) -> dict:
        body = {"Start": WINDOW["Start"], "End": WINDOW["End"], "TimeZone": ZONE,
                "Handoff": "09:00", "AwayMeans": away_means, "TimeLimit": 20}  # fmt: skip
        job = ok(api.post("/roster/solve", json=body), 202)
        return finished(api, job["JobId"])

    refused_job = solve("day")
    assert refused_job["Status"] == "failed", refused_job
    # The reason names the shift by its start and end: Monday's, which ends on Tuesday.
    assert (
        "nobody can take the shift from Mon 2026-12-07 09:00 to Tue 2026-12-08 09:00"
        in " ".join(refused_job["Reasons"])
    ), refused_job["Reasons"]
    done = solve("shift-start")
    assert done["Status"] == "done", done
    overrides = done["Output"]["overrides"]
    by_start = {o["start"][:10]: o["user"]["id"] for o in overrides}
    assert by_start["2026-12-07"] == str(ana) and by_start["2026-12-08"] == str(ben)
