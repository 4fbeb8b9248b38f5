"""What-if analysis as a team lead asks it: roster diffs, weight sweeps, team size, re-plans."""

from __future__ import annotations

import math
from itertools import groupby, pairwise

import altair as alt
import pandas as pd
import pytest
from testkit import ROOT, team

import oncall_opt as oo

ANA, BEN, GRETA = "PA1B2C3", "PB4D5E6", "PG1P2Q3"
HOLIDAYS = list(pd.date_range("2026-12-21", "2026-12-31").date)


@pytest.fixture(scope="module")
def problem():
    return oo.load_problem(ROOT / "data" / "input.json")


@pytest.fixture(scope="module")
def baseline(problem):
    return oo.solve(problem)


@pytest.fixture(scope="module")
def away(problem):
    return oo.solve(problem.with_unavailable(ANA, "2026-12-07", "2026-12-18"))


def ids(roster: oo.Roster) -> dict[tuple[int, int], str]:
    return {key: roster.problem.users[u].id for key, u in roster.assignment.items()}


# ----- compare -----------------------------------------------------------------------------------
def test_compare_lists_exactly_the_slots_that_differ(baseline, away):
    diff = oo.compare(baseline, away)
    assert len(diff) == len(baseline.assignment)
    before, after = ids(baseline), ids(away)
    differ = {key for key in before if before[key] != after[key]}
    assert differ  # Ana away for twelve days moves something
    changed = diff.query("changed")
    assert set(zip(changed["slot"], changed["layer"], strict=True)) == differ
    for row in diff.itertuples():
        assert row.before_id == before[row.slot, row.layer]
        assert row.after_id == after[row.slot, row.layer]
        assert row.before == baseline.problem.users[baseline.user_of(row.slot)].label
    assert not oo.compare(baseline, baseline)["changed"].any()


def test_compare_matches_people_by_id_across_teams(problem, baseline):
    smaller = oo.solve(problem.without_user(BEN))  # user indices shift after Ben
    diff = oo.compare(baseline, smaller)
    assert BEN not in set(diff["after_id"])
    bens = diff[diff["before_id"] == BEN]
    assert len(bens) == baseline.per_user.set_index("user_id").at[BEN, "shifts"]
    assert bens["changed"].all()
    same = diff[~diff["changed"]]
    assert (same["before"] == same["after"]).all()


def test_compare_refuses_rosters_of_different_windows(baseline):
    other = oo.solve(oo.load_problem(team(days=31, people=3, start="2026-12-01T00:00:00Z")))
    assert len(other.assignment) == len(baseline.assignment)  # same size, other start
    shifted = oo.solve(oo.load_problem(team(days=31, people=3, start="2026-12-02T00:00:00Z")))
    with pytest.raises(ValueError, match="different slots"):
        oo.compare(baseline, shifted)
    assert len(oo.compare(baseline, other)) == len(baseline.assignment)


def test_compare_people_adds_up(problem, baseline, away):
    joined = oo.solve(problem.with_user("PH4R5S6", name="Hana Ito").without_user(BEN))
    for after in (away, joined):
        people = oo.compare_people(baseline, after).set_index("user_id")
        moved = oo.compare(baseline, after)["changed"].sum()
        assert people["gained"].sum() == people["lost"].sum() == moved
        assert (people["change"] == people["gained"] - people["lost"]).all()
        assert (people["change"] == people["shifts_after"] - people["shifts_before"]).all()
        for roster, column in ((baseline, "shifts_before"), (after, "shifts_after")):
            for row in roster.per_user.itertuples():
                assert people.at[row.user_id, column] == row.shifts
        if after is joined:
            assert people.at["PH4R5S6", "team"] == "joins" and people.at[BEN, "team"] == "leaves"
            assert people.at[BEN, "shifts_after"] == 0 and people.at["PH4R5S6", "lost"] == 0
            assert list(people.index[:7]) == [u.id for u in problem.users]
        else:
            assert set(people["team"]) == {"stays"}
            assert people.at[ANA, "lost"] >= 1


def test_calendar_frame_lays_slots_out_by_weekday_and_week(baseline, away):
    frame = oo.calendar_frame(away, before=baseline)
    assert len(frame) == len(away.assignment)
    for row in frame.itertuples():
        assert row.date == row.start.date() and row.day == row.start.day
        assert row.weekday == row.start.strftime("%a")
        assert row.week.weekday() == 0 and 0 <= (row.date - row.week).days < 7
    diff = oo.compare(baseline, away)
    assert list(frame["changed"]) == list(diff["changed"])
    assert list(frame["before"]) == list(diff["before"])
    # Without `before`, `changed` is the roster's own (no previous roster: nothing changed).
    assert not oo.calendar_frame(away)["changed"].any()


# ----- sweep -------------------------------------------------------------------------------------
def non_decreasing(values) -> bool:
    values = list(values)
    return all(a <= b + 1e-9 for a, b in pairwise(values))


def test_sweep_happiness_never_lowers_min_happiness(problem):
    weights = [0, 0.5, 1, 2, 5, 20]
    frame = oo.sweep(problem, weights)
    assert list(frame["weight"]) == weights
    assert (frame["status"] == "optimal").all()
    assert list(frame["current"]) == [w == problem.weights.happiness for w in weights]
    assert non_decreasing(frame["min_happiness"])
    rest = frame["objective"] + frame["weight"] * frame["min_happiness"]
    assert non_decreasing(rest)  # what the other terms cost never gets cheaper
    assert (frame["spread"] == frame["max_shifts"] - frame["min_shifts"]).all()
    assert frame["min_happiness"].iloc[-1] > frame["min_happiness"].iloc[0]


def holiday_wishes(problem: oo.Problem) -> oo.Problem:
    """Everyone but Greta would rather not be on call from 21 to 31 December."""
    for user in problem.users:
        if user.id != GRETA:
            problem = problem.with_preferences(user.id, avoid_days=HOLIDAYS)
    return problem


def test_sweep_avoid_trades_balance_for_avoided_slots(problem):
    wishes = holiday_wishes(problem)
    frame = oo.sweep(wishes, [0, 1, 3, 10], term="avoid")
    assert non_decreasing(-frame["avoided"])
    assert non_decreasing(frame["balance"])
    assert frame["avoided"].iloc[-1] < frame["avoided"].iloc[0]
    assert frame["balance"].iloc[-1] > frame["balance"].iloc[0]  # it is a trade-off here


def test_sweep_refuses_an_unknown_term(problem):
    with pytest.raises(ValueError, match="term must be one of"):
        oo.sweep(problem, [1], term="fairness")


def test_with_preferences_adds_to_what_was_asked(problem):
    wishes = problem.with_preferences(ANA, days=["2026-12-09"], avoid_days=HOLIDAYS[:2])
    ana = problem.user_index(ANA)
    assert wishes.preferred[ana] == problem.preferred[ana] | {8}
    assert wishes.avoided[ana] == {20, 21}
    assert problem.avoided[ana] == frozenset()  # the original is unchanged
    assert wishes.preferred[1:] == problem.preferred[1:]


# ----- team size ---------------------------------------------------------------------------------
def runs(on_call: list[bool]) -> list[tuple[bool, int]]:
    return [(value, len(list(group))) for value, group in groupby(on_call)]


def assert_within(roster: oo.Roster, max_shifts: int, max_consecutive: int, min_rest: int):
    assert roster.per_user["shifts"].max() <= max_shifts
    for u in range(roster.problem.n_users):
        on_call = [roster.user_of(t) == u for t in range(roster.problem.n_slots)]
        pieces = runs(on_call)
        assert all(n <= max_consecutive for on, n in pieces if on)
        inner_gaps = [n for i, (on, n) in enumerate(pieces) if not on and 0 < i < len(pieces) - 1]
        assert all(n >= min_rest for n in inner_gaps)


@pytest.mark.parametrize("max_shifts", [4, 6])
def test_smallest_team_works_and_one_fewer_does_not(problem, max_shifts):
    rules = {"max_consecutive_shifts": 1, "min_rest_shifts": 2}
    found = oo.smallest_team(problem, max_shifts, **rules)
    assert found.size == len(found.people) == found.roster.problem.n_users
    assert_within(found.roster, max_shifts, 1, 2)
    assert found.people[: problem.n_users] == [u.id for u in problem.users][: found.size]
    assert found.attempts["feasible"].iloc[-1] and not found.attempts["feasible"][:-1].any()
    with pytest.raises(oo.InfeasibleError):
        oo.solve(oo.team_of_size(problem, found.size - 1, max_shifts, **rules))
    assert found.size >= math.ceil(problem.n_slots / max_shifts)


def test_smallest_team_adds_newcomers_when_availability_and_rest_need_them():
    doc = team(days=12, people=3, max_consecutive_shifts=1, min_rest_shifts=2)
    doc["users"][0]["unavailable"] = ["2027-01-04", "2027-01-08", "2027-01-12"]
    problem = oo.load_problem(doc)
    found = oo.smallest_team(problem, max_shifts=4)
    # Counting alone says three people suffice; the solver proves they cannot.
    assert list(found.attempts["size"]) == [3, 4]
    assert found.people == ["u0", "u1", "u2", "NEW1"]
    assert_within(found.roster, 4, 1, 2)
    with pytest.raises(oo.InfeasibleError):
        oo.solve(oo.team_of_size(problem, 3, max_shifts=4))
    with pytest.raises(oo.InfeasibleError, match="no team of up to 3 people"):
        oo.smallest_team(problem, max_shifts=4, max_new=0)


def test_team_of_size_keeps_the_first_of_the_order():
    doc = team(days=7, people=4)
    doc["users"][1]["max_shifts"] = 2
    doc["users"][2]["max_shifts"] = 6
    doc["fixed"] = [{"user": "u3", "start": "2027-01-05T00:00:00Z"}]
    doc["history"] = {"u3": 4, "u1": 1}
    problem = oo.load_problem(doc)
    cut = oo.team_of_size(problem, 2, max_shifts=3, order=["u3", "u1", "u0"])
    assert [u.id for u in cut.users] == ["u3", "u1"]
    assert [u.max_shifts for u in cut.users] == [3, 2]  # lowered, never raised
    assert cut.pins == {(1, 1): 0} and set(cut.document.history) == {"u3", "u1"}
    grown = oo.team_of_size(problem, 6, min_rest_shifts=1)
    assert [u.id for u in grown.users] == ["u0", "u1", "u2", "u3", "NEW1", "NEW2"]
    assert grown.available[5] == frozenset(range(7)) and grown.preferred[5] == frozenset()
    assert grown.document.min_rest_shifts == 1 and problem.document.min_rest_shifts is None
    with pytest.raises(ValueError, match="not in the team"):
        oo.team_of_size(problem, 2, order=["u0", "nobody"])


# ----- re-planning mid-period --------------------------------------------------------------------
def test_keep_past_pins_what_already_happened(problem, baseline):
    ill = problem.with_unavailable(BEN, "2026-12-14", "2026-12-20")
    kept = oo.keep_past(ill, baseline, "2026-12-14")
    assert set(kept.pins) == {(t, 1) for t in range(13)}
    fresh = oo.solve(kept)
    stable = oo.solve(kept.with_previous(baseline.to_output(), stability=10))
    for roster in (fresh, stable):
        diff = oo.compare(baseline, roster)
        assert not diff[diff["slot"] < 13]["changed"].any()
        assert not roster.assignments.query("user_id == @BEN and 13 <= slot <= 19").size
    moved = {
        name: oo.compare(baseline, r)["changed"].sum() for name, r in [("f", fresh), ("s", stable)]
    }
    bens_days = sum(baseline.user_of(t) == problem.user_index(BEN) for t in range(13, 20))
    assert bens_days <= moved["s"] <= moved["f"]
    assert ill.pins == {}  # the problem it came from is unchanged


def test_keep_past_refuses_someone_who_is_no_longer_in_the_team(problem, baseline):
    first = baseline.problem.users[baseline.user_of(0)].id
    with pytest.raises(ValueError, match="not in the team"):
        oo.keep_past(problem.without_user(first), baseline, "2026-12-05")
    # A timestamp works too, and a slot under way at that instant is kept.
    kept = oo.keep_past(problem, baseline, "2026-12-03T12:00:00+00:00")
    assert set(kept.pins) == {(0, 1), (1, 1), (2, 1)}
    with pytest.raises(ValueError, match="no UTC offset"):
        oo.keep_past(problem, baseline, "2026-12-03T12:00:00")


# ----- charts ------------------------------------------------------------------------------------
def test_charts_build_valid_specs(problem, baseline, away):
    from oncall_opt.roster import charts

    cal = charts.calendar(away, before=baseline)
    spec = cal.to_dict()  # validates against the Vega-Lite schema
    assert len(cal.data) == problem.n_slots
    changed = int(oo.compare(baseline, away)["changed"].sum())
    assert spec["title"] == f"{changed} slot(s) changed"
    # Workload: shifts against the fair share beside preferences, a bar per person with the
    # shifts they work in the roster.
    work = charts.workload(baseline).to_dict()
    assert [panel["title"] for panel in work["hconcat"]] == ["Shifts", "Preferences"]
    assert [[layer["encoding"]["x"]["field"] for layer in panel["layer"]]
            for panel in work["hconcat"]] == [
        ["shifts", "fair_share"], ["preferred_asked", "preferred_granted"]
    ]  # fmt: skip
    [rows] = work["datasets"].values()
    worked = baseline.assignments["user_id"].value_counts()
    assert {row["user_name"]: row["shifts"] for row in rows} == {
        user.name: worked.get(user.id, 0) for user in problem.users
    }
    frame = oo.sweep(problem, [0, 1, 2])
    curve = charts.tradeoff(frame)
    curve.to_dict()
    points = curve.data
    assert len(points) == len(frame.groupby(["min_happiness", "balance"]))
    assert points["current"].sum() == 1
    assert isinstance(cal, alt.LayerChart)
