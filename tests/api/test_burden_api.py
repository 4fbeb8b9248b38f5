"""Fair by burden over the API: `GET /teams/{id}/burden` (what the planner hands the optimizer,
and why), `POST /roster/solve` with `BalanceBy: burden`, who may read a team's burden, and bad
options refused naming the field. The page history is tests/burden_history.py's (known rates,
worked out by hand in tests/engine/test_burden.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from burden_history import PLANNED, WINDOW_START, Paged, build
from fake_clock import FakeClock
from fastapi.testclient import TestClient
from pydantic import SecretStr
from testkit import wait_for

from oncall_opt.api import create_app
from oncall_opt.engine import burden
from oncall_opt.engine.auth import create_key
from oncall_opt.engine.settings import Settings
from oncall_opt.engine.teams import create_team
from oncall_opt.engine.users import create_user

TOKEN = "burden-admin-token"
FORTNIGHT = {"Start": PLANNED.isoformat(), "End": (PLANNED + timedelta(days=13)).isoformat()}


@pytest.fixture
def daemon(store, mail) -> Iterator[tuple[TestClient, Paged, dict[str, dict[str, str]]]]:
    """The history, the daemon over it, and who asks: Ana (Payments), Mallory (another team)."""
    paged = build(store, mail.settings())
    other = create_team(store, "Elsewhere", WINDOW_START, [])
    mallory = create_user(store, "Mallory", "X", "mallory", WINDOW_START, team_ids=(other.id,))
    keys = {
        "ana": create_key(store, paged.ana, "tests", WINDOW_START)[1],
        "mallory": create_key(store, mallory.id, "tests", WINDOW_START)[1],
        "admin": TOKEN,
    }
    headers = {who: {"Authorization": f"Bearer {key}"} for who, key in keys.items()}
    app = create_app(
        store, Settings(api_token=SecretStr(TOKEN)), FakeClock(WINDOW_START), run_jobs=False
    )
    with TestClient(app) as api:
        yield api, paged, headers


def test_a_teams_burden_per_slot_and_in_words(store, daemon):
    api, paged, headers = daemon
    answer = api.get(f"/teams/{paged.team_id}/burden", params=FORTNIGHT, headers=headers["ana"])
    assert answer.status_code == 200, answer.text
    body = answer.json()
    found = burden.estimate(store, paged.team_id, WINDOW_START, "UTC")
    assert [s["Points"] for s in body["Slots"]] == [
        found.slot(WINDOW_START + k * timedelta(days=1),
                   WINDOW_START + (k + 1) * timedelta(days=1)).points
        for k in range(14)
    ]  # fmt: skip
    assert body["Slots"][6]["Start"] == "2026-04-05T00:00:00Z"  # the first Sunday
    assert body["Slots"][6]["NightPages"] == pytest.approx(11 / 14, abs=0.02)
    assert (body["Pages"], body["Weeks"], body["NightWeight"]) == (17, 12, 3)
    assert len(body["HourOfWeek"]) == 168
    assert "17 pages in the 12.0 weeks before" in body["Explanation"]
    assert "busiest hour Sunday 23:00" in body["Explanation"]


def test_only_the_team_and_admins_read_its_burden(daemon):
    api, paged, headers = daemon
    url = f"/teams/{paged.team_id}/burden"
    assert api.get(url, params=FORTNIGHT, headers=headers["mallory"]).status_code == 403
    assert api.get(url, params=FORTNIGHT, headers=headers["admin"]).status_code == 200
    assert api.get(url, params=FORTNIGHT).status_code == 401


def test_another_teams_member_cannot_read_its_burden_through_the_planner(daemon):
    """GET /teams/{id}/burden is the team's own business; the planner's BalanceBy burden puts
    the same figures (each slot's expected pages, what each person bore) in the input.json and
    the solve's statistics, so for another team's member it is refused there too. A what-if by
    shifts stays open to every member, as before."""
    api, paged, headers = daemon
    burdened = {**FORTNIGHT, "TeamId": paged.team_id, "BalanceBy": "burden"}
    for asked in (
        api.get("/roster/input", params=burdened, headers=headers["mallory"]),
        api.post("/roster/solve", json=burdened, headers=headers["mallory"]),
    ):
        assert asked.status_code == 403, asked.text
        assert "TeamId" in asked.text and "slot_weights" not in asked.text
    by_shifts = {**burdened, "BalanceBy": "shifts"}
    assert api.get("/roster/input", params=by_shifts, headers=headers["mallory"]).status_code == 200
    mine = api.get("/roster/input", params=burdened, headers=headers["ana"])
    assert mine.status_code == 200 and len(mine.json()["slot_weights"]) == 14
    assert api.get("/roster/input", params=burdened, headers=headers["admin"]).status_code == 200


def test_another_teams_member_cannot_read_a_solve_balanced_by_its_burden(daemon):
    """A solve by burden hands back each person's burden points (Statistics) and the roster
    it made from them: another team's member may not read that job, nor its Statistics in the
    list of solves; the team's members and admins still do."""
    api, paged, headers = daemon
    body = {**FORTNIGHT, "TeamId": paged.team_id, "BalanceBy": "burden", "FreezeHours": 0}
    job = api.post("/roster/solve", json=body, headers=headers["ana"])
    assert job.status_code == 202, job.text
    url = f"/roster/solve/{job.json()['JobId']}"
    wait_for(lambda: api.get(url, headers=headers["ana"]).json()["Status"] == "done", 60)
    mine = api.get(url, headers=headers["ana"]).json()
    assert all("burden" in u for u in mine["Statistics"]["users"])
    assert api.get(url, headers=headers["admin"]).status_code == 200
    theirs = api.get(url, headers=headers["mallory"])
    assert theirs.status_code == 403, theirs.text
    assert set(theirs.json()) == {"code", "message", "details"}
    assert f"team {paged.team_id}'s burden" in theirs.json()["message"]
    listed = api.get("/roster/solve", headers=headers["mallory"]).json()["Items"]
    assert [j["JobId"] for j in listed] == [job.json()["JobId"]]
    assert "Statistics" not in listed[0]
    shown = api.get("/roster/solve", headers=headers["ana"]).json()["Items"]
    assert shown[0]["Statistics"] == mine["Statistics"]


def test_a_slot_heavier_than_the_optimizer_takes_is_refused_naming_balance_by(daemon):
    """The optimizer takes slot weights up to 1,000 points. A team paged 150 times a day (a
    third at night) makes a weekly slot weigh 7 + 700 + 3 x 350 = 1,757 points, and any slot
    of 1,200 days weighs 1,200 for its days alone: planned by burden that was a 400 about
    `input.slot_weights[0]`, a field the planner's user never wrote. It names what they asked
    for, and what to change."""
    api, paged, headers = daemon
    asked = {**FORTNIGHT, "TeamId": paged.team_id, "BalanceBy": "burden", "ShiftLength": "P1200D"}
    estimate = api.get(f"/teams/{paged.team_id}/burden", headers=headers["ana"],
                       params={**FORTNIGHT, "ShiftLength": "P1200D"}).json()  # fmt: skip
    points = estimate["Slots"][0]["Points"]
    assert points >= 1200
    for answer in (
        api.get("/roster/input", params=asked, headers=headers["ana"]),
        api.post("/roster/solve", json=asked, headers=headers["ana"]),
    ):
        assert answer.status_code == 400, answer.text
        message = answer.json()["message"]
        assert message.startswith("BalanceBy: ") and "slot_weights" not in message, message
        assert f"would weigh {points:,} points" in message
        assert "ShiftLength" in message and "NightWeight" in message
    by_shifts = api.get("/roster/input", params={**asked, "BalanceBy": "shifts"},
                        headers=headers["ana"])  # fmt: skip
    assert by_shifts.status_code == 200, by_shifts.text


@pytest.mark.parametrize("field", ["TimeZone", "Handoff", "ShiftLength"])
def test_a_very_long_option_is_refused_without_echoing_it_whole(daemon, field):
    """A 5,000-character option came back whole in the error (and in any log of it)."""
    api, paged, headers = daemon
    params = {**FORTNIGHT, field: "P" + "9X" * 2500}
    answer = api.get(f"/teams/{paged.team_id}/burden", params=params, headers=headers["ana"])
    assert answer.status_code == 400, answer.text[:300]
    assert answer.json()["message"].startswith(f"{field}: ") and len(answer.text) < 400


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"NightWeight": "0.5"}, "NightWeight"),
        ({"NightWeight": "lots"}, "NightWeight"),
        ({"End": "2026-03-01"}, "End"),
        ({"TimeZone": "Mars/Olympus"}, "TimeZone"),
        ({"Start": "tomorrow"}, "Start"),
        ({"ShiftLength": "P99999999999D"}, "ShiftLength"),  # more days than a timedelta holds
        ({"Start": "0001-01-01", "End": "0001-01-14"}, "Start"),  # 12 weeks before: no calendar
        # one slot of 383 years, read hour by hour: 18 s of one request
        ({"ShiftLength": "P20000W"}, "ShiftLength"),
    ],
)
def test_bad_options_are_refused_naming_the_field(daemon, change, field):
    api, paged, headers = daemon
    answer = api.get(
        f"/teams/{paged.team_id}/burden", params={**FORTNIGHT, **change}, headers=headers["ana"]
    )
    assert answer.status_code == 400, answer.text
    assert field in answer.text


def test_a_roster_balanced_by_burden_and_one_by_shifts(store, daemon):
    """Three people, a fortnight, night pages counting 20 (NightWeight): each Sunday's expected
    night page makes it weigh about 18 points against 1 or 2 for the other days. Balanced by
    shifts everyone gets 4 or 5 days; balanced by burden the two Sundays go to two people and
    the third takes all twelve other days. Both proven optimal."""
    api, paged, headers = daemon
    create_user(store, "Chloé", "Martin", "chloe", WINDOW_START, team_ids=(paged.team_id,))

    def solved(balance_by: str) -> dict:
        body = {**FORTNIGHT, "TeamId": paged.team_id, "BalanceBy": balance_by,
                "NightWeight": 20, "HistoryFromReport": False, "FreezeHours": 0}  # fmt: skip
        job = api.post("/roster/solve", json=body, headers=headers["admin"])
        assert job.status_code == 202, job.text
        url = f"/roster/solve/{job.json()['JobId']}"
        wait_for(lambda: api.get(url, headers=headers["admin"]).json()["Status"] == "done", 60)
        return api.get(url, headers=headers["admin"]).json()

    by_shifts, by_burden = solved("shifts"), solved("burden")
    assert by_shifts["Statistics"]["status"] == by_burden["Statistics"]["status"] == "optimal"
    assert "burden" not in by_shifts["Statistics"]["users"][0]
    assert sorted(u["shifts"] for u in by_shifts["Statistics"]["users"]) == [4, 5, 5]
    assert sorted(u["shifts"] for u in by_burden["Statistics"]["users"]) == [1, 1, 12]
    sundays = [by_burden["Output"]["overrides"][k]["user"]["id"] for k in (6, 13)]
    assert sundays[0] != sundays[1]
    assert (
        api.post(
            "/roster/solve", json={**FORTNIGHT, "BalanceBy": "hours"}, headers=headers["admin"]
        ).status_code
        == 400
    )
