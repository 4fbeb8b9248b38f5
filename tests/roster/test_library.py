"""The library as a notebook uses it: rosters as DataFrames, what-ifs, and reasons for failure."""

from __future__ import annotations

import os

import pyomo.environ as pyo
import pytest
from pyomo.repn import generate_standard_repn
from testkit import ROOT, team

import oncall_opt as oo


@pytest.fixture(scope="module")
def baseline():
    problem = oo.load_problem(ROOT / "data" / "input.json")
    return problem, oo.solve(problem)


def test_roster_dataframes(baseline):
    problem, roster = baseline
    frame = roster.assignments
    assert len(frame) == problem.n_slots
    assert list(frame["slot"]) == list(range(problem.n_slots))
    assert frame["start"].iloc[1] == frame["end"].iloc[0]
    per_user = roster.per_user
    assert per_user["shifts"].sum() == problem.n_slots
    assert per_user["fair_share"].sum() == pytest.approx(problem.n_slots, abs=0.05)
    counted = frame.groupby("user_id")["preferred"].sum()
    for row in per_user.itertuples():
        assert row.preferred_granted == counted.get(row.user_id, 0)
    stats = roster.statistics
    assert stats["status"] == "optimal" and stats["gap"] == 0
    assert stats["objective"] == stats["terms"]["balance"] - stats["terms"]["min_happiness"]
    assert stats["terms"]["balance"] == (per_user["shifts"] ** 2).sum()


def test_what_ifs_return_new_problems_and_leave_the_original(baseline):
    problem, roster = baseline
    before = problem.to_input_json()
    ana = problem.users[0].id
    away = problem.with_unavailable(ana, "2026-12-07", "2026-12-18")
    assert problem.to_input_json() == before
    assert away.available[0] == problem.available[0] - set(range(6, 18))
    fresh = oo.solve(away)
    days_off = fresh.assignments.query("user_id == @ana and slot >= 6 and slot < 18")
    assert days_off.empty

    grown = problem.with_user("PZ9", name="Zoe New")
    assert grown.n_users == problem.n_users + 1
    assert oo.solve(grown).per_user["shifts"].max() <= roster.per_user["shifts"].max()

    smaller = problem.without_user(problem.users[1].id)
    assert [u.id for u in smaller.users] == [
        u.id for u in problem.users if u.id != problem.users[1].id
    ]


def test_half_time_weight_carries_about_half():
    problem = oo.load_problem(team(days=28, people=4))
    roster = oo.solve(problem.with_weight("u0", 0.5))
    shifts = dict(zip(roster.per_user["user_id"], roster.per_user["shifts"], strict=True))
    assert shifts["u0"] == 4 and all(shifts[u] == 8 for u in ("u1", "u2", "u3"))


def test_without_user_drops_their_pins_and_history():
    doc = team(days=5, people=3)
    doc["fixed"] = [{"user": "u1", "start": "2027-01-05T00:00:00Z"}]
    doc["history"] = {"u1": 3}
    smaller = oo.load_problem(doc).without_user("u1")
    assert smaller.pins == {} and smaller.document.history == {}


def test_stable_replan_changes_fewer_slots_than_a_fresh_solve(baseline):
    problem, roster = baseline
    sick = problem.users[2].id
    ill = problem.with_unavailable(sick, "2026-12-14", "2026-12-16")
    fresh = oo.solve(ill)
    stable = oo.solve(ill.with_previous(roster.to_output(), stability=10))

    def changed(other):
        return sum(other.assignment[key] != roster.assignment[key] for key in roster.assignment)

    sick_slots = sum(1 for t in (13, 14, 15) if roster.assignment[t, 1] == problem.user_index(sick))
    assert sick_slots <= changed(stable) < changed(fresh)
    assert stable.statistics["terms"]["changed"] == changed(stable)


def test_model_reads_like_its_specification():
    """Each rule is a constraint family named after it, documented by its sentence, and its
    constraints say what the sentence says: here 3 daily slots, 2 people, at most 2 in a row,
    nobody preferring anything."""
    model = oo.build_model(oo.load_problem(team(days=3, people=2, max_consecutive_shifts=2)))

    def rule(name: str) -> dict:
        """index -> (lower bound, {variable: coefficient}, upper bound) of each constraint"""
        found = {}
        for index, constraint in getattr(model, name).items():
            body = generate_standard_repn(constraint.body)
            assert body.constant == 0 and not body.nonlinear_vars
            found[index] = (
                None if constraint.lower is None else pyo.value(constraint.lower),
                {str(v): c for v, c in zip(body.linear_vars, body.linear_coefs, strict=True)},
                None if constraint.upper is None else pyo.value(constraint.upper),
            )
        return found

    def x(u: int, *slots: int) -> dict[str, int]:
        return {f"x[{u},{t},1]": 1 for t in slots}

    assert rule("one_person_per_slot") == {(t, 1): (1, x(0, t) | x(1, t), 1) for t in range(3)}
    assert "exactly one person" in model.one_person_per_slot.doc
    assert rule("shift_limits") == {u: (0, x(u, 0, 1, 2), 3) for u in (0, 1)}
    assert "min_shifts" in model.shift_limits.doc and "max_shifts" in model.shift_limits.doc
    assert rule("at_most_consecutive") == {(u, 0): (None, x(u, 0, 1, 2), 2) for u in (0, 1)}
    assert "max_consecutive_shifts slots in a row" in model.at_most_consecutive.doc
    assert rule("happiness_floor") == {u: (None, {"min_happiness": 1}, 0) for u in (0, 1)}
    assert "least-happy" in model.happiness_floor.doc


def test_write_atomic_replaces_the_file_whole_or_not_at_all(tmp_path, monkeypatch):
    """A new file is renamed over the old one (never written in place): a hard link to the old
    file keeps the old text, and a write that fails leaves the old file whole and no temporary
    file behind."""
    target = tmp_path / "output.json"
    target.write_text("old roster\n", encoding="utf-8")
    target.chmod(0o640)
    old = tmp_path / "old-link.json"
    os.link(target, old)

    oo.write_atomic(target, "new roster\n")
    assert target.read_text(encoding="utf-8") == "new roster\n"
    assert old.read_text(encoding="utf-8") == "old roster\n"  # a new inode, not the old one
    assert target.stat().st_ino != old.stat().st_ino
    assert target.stat().st_mode & 0o777 == 0o640  # the mode it had
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old-link.json", "output.json"]

    # Failing after all the text went out (the sync to disk fails), and failing to encode it.
    def disk_error(fd: int) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", disk_error)
        with pytest.raises(OSError, match="No space left"):
            oo.write_atomic(target, "newer roster\n" * 1000)
    with pytest.raises(UnicodeEncodeError):
        oo.write_atomic(target, "newer roster\n" * 1000 + "\udc80")
    assert target.read_text(encoding="utf-8") == "new roster\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old-link.json", "output.json"]


# ----- infeasibility in words ------------------------------------------------------------------
def reasons_for(doc) -> list[str]:
    with pytest.raises(oo.InfeasibleError) as caught:
        oo.solve(oo.load_problem(doc))
    return caught.value.reasons


def test_pin_on_an_unavailable_day():
    doc = team(days=3, people=2)
    doc["users"][0]["unavailable"] = ["2027-01-05T00:00:00Z"]
    doc["fixed"] = [{"user": "u0", "start": "2027-01-05T00:00:00Z"}]
    assert reasons_for(doc) == ["User 0 is pinned to Tue 2027-01-05 but is unavailable then"]


def test_a_pin_on_a_shift_that_ends_on_a_day_away_names_the_whole_shift():
    """Shifts hand over at 09:00 and Ana is away on Wednesday: the shift pinned to her runs
    from Tuesday 09:00 into Wednesday, which is what the reason must say (not 'Tue 09:00',
    which sends her looking at the wrong day)."""
    doc = {
        "schedule_start": "2027-01-04T09:00:00+01:00",
        "schedule_end": "2027-01-08T09:00:00+01:00",
        "shift": {"length": "P1D", "time_zone": "Europe/Berlin"},
        "users": [{"id": "ana", "name": "Ana", "unavailable": ["2027-01-06"]}, {"id": "ben"}],
        "fixed": [{"user": "ana", "start": "2027-01-05T09:00:00+01:00"}],
    }
    assert reasons_for(doc) == [
        "Ana is pinned to the shift from Tue 2027-01-05 09:00 to Wed 2027-01-06 09:00 "
        "but is unavailable then"
    ]


def test_when_the_time_runs_out_the_reason_claims_no_more_than_it_knows():
    """The rule families clash, but no check finished in time: the reason must not say a
    roster exists without one of them, nor that none does."""
    from oncall_opt.roster.diagnose import explain

    reasons = explain(oo.load_problem(_min_shifts_beyond_the_run_limit()), lambda p: None)
    assert len(reasons) == 1 and "the time ran out" in reasons[0], reasons
    assert "even with one" not in reasons[0] and "a roster exists" not in reasons[0]


def test_pins_breaking_limits():
    doc = team(days=6, people=2, max_consecutive_shifts=2, min_rest_shifts=2)
    doc["users"][0]["max_shifts"] = 2
    doc["fixed"] = [{"user": "u0", "start": f"2027-01-0{d}T00:00:00Z"} for d in (4, 5, 6)] + [
        {"user": "u1", "start": "2027-01-07T00:00:00Z"},
        {"user": "u1", "start": "2027-01-09T00:00:00Z"},
    ]
    reasons = reasons_for(doc)
    assert "User 0 is pinned to 3 slots but max_shifts is 2" in reasons
    assert (
        "User 0 is pinned to 3 slots in a row from Mon 2027-01-04, more than "
        "max_consecutive_shifts 2" in reasons
    )
    assert (
        "User 1 is pinned to Thu 2027-01-07 and Sat 2027-01-09 with only 1 free slot(s) "
        "between, less than min_rest_shifts 2" in reasons
    )


def test_slots_nobody_can_take_are_folded_into_spans():
    doc = team(days=7, people=2)
    for user in doc["users"]:
        user["unavailable"] = [{"start": "2027-01-05", "end": "2027-01-07"}, "2027-01-10"]
    assert reasons_for(doc) == [
        "nobody can take Tue 2027-01-05 to Thu 2027-01-07: everyone is unavailable",
        "nobody can take Sun 2027-01-10: everyone is unavailable",
    ]


def test_shift_limits_that_cannot_add_up():
    capped = team(days=28, people=3)
    for user in capped["users"]:
        user["max_shifts"] = 5
    capped["users"][1]["unavailable"] = ["2027-01-04T00:00:00Z"] * 2
    assert reasons_for(capped) == [
        "max_shifts (capped by availability) add up to 15 but there are 28 slots to fill"
    ]
    floored = team(days=28, people=3)
    floored["users"][0]["min_shifts"] = 30
    floored["users"][0]["unavailable"] = ["2027-01-04T00:00:00Z"]
    assert reasons_for(floored) == [
        "User 0 must work at least 30 slots (min_shifts) but can take only 27 (available and "
        "not pinned to someone else)",
        "min_shifts add up to 30 but there are only 28 slots",
    ]


def test_two_layers_need_two_people():
    doc = team(days=3, people=2, layers=2)
    doc["users"][1]["unavailable"] = ["2027-01-05T00:00:00Z"]
    assert reasons_for(doc) == [
        "only one person is available on Tue 2027-01-05, but primary and secondary must be two "
        "different people"
    ]


def test_two_people_cannot_keep_one_in_three_and_the_count_says_where():
    doc = team(days=4, people=2, max_consecutive_shifts=1, min_rest_shifts=2)
    assert reasons_for(doc) == [
        "Mon 2027-01-04 to Wed 2027-01-06: 3 shifts to fill (3 slots), but at most 2 can be "
        "taken under max_consecutive_shifts, min_rest_shifts and availability: 1 each by "
        "User 0, User 1"
    ]


def _min_shifts_beyond_the_run_limit() -> dict:
    """User 0 must work 3 of 4 days but never two running: no count of slots sees it."""
    doc = team(days=4, people=2, max_consecutive_shifts=1)
    doc["users"][0]["min_shifts"] = 3
    return doc


def test_clashing_rule_families_are_named():
    assert reasons_for(_min_shifts_beyond_the_run_limit()) == [
        "min_shifts, max_consecutive_shifts cannot all hold with this availability; a "
        "roster exists without min_shifts or without max_consecutive_shifts"
    ]


@pytest.mark.parametrize("weight", [1.0, 0.1])
def test_network_method_is_exact_when_someone_carries_far_more_than_a_fair_share(weight):
    # u0 is the only one available on most days: far beyond the steps first offered near the
    # fair share (and, with a small weight, beyond a small fair share).
    doc = team(days=40, people=4)
    mostly_away = [{"start": "2027-01-04", "end": "2027-02-06"}]
    for user in doc["users"][1:]:
        user["unavailable"] = mostly_away
        user["preferences"] = {"days": ["2027-02-08"]}
    doc["users"][0]["weight"] = weight
    doc["users"][0]["preferences"] = {"days": ["2027-01-05", "2027-01-06"]}
    problem = oo.load_problem(doc)
    network = oo.solve(problem, method="network")
    mip = oo.solve(problem, method="mip")
    assert network.status == mip.status == "optimal"
    assert network.objective == pytest.approx(mip.objective)
    assert network.per_user["shifts"].iloc[0] >= 34


def test_someone_who_asked_for_nothing_does_not_make_every_wish_worthless():
    """Three people each prefer one day, the fourth none: the least-happy level counts only
    those who asked, so each of them gets their day (with everyone counted, the level was
    0 whatever the roster and no wish counted at all)."""
    day = "2027-03-0{}T00:00:00Z"
    users = [{"name": name, "id": name, "type": "user_reference", "unavailable": [],
              "preferences": {"days": [day.format(d)] if d else []}}
             for name, d in (("Ana", 1), ("Ben", 2), ("Chloe", 3), ("Dev", None))]  # fmt: skip
    doc = {"schedule_start": day.format(1), "schedule_end": day.format(4), "users": users}
    problem = oo.load_problem(doc)
    assert problem.wishers == [0, 1, 2]
    roster = oo.solve(problem, time_limit=30)
    assert roster.status == "optimal"
    granted = dict(
        zip(roster.per_user["user_name"], roster.per_user["preferred_granted"], strict=True)
    )
    assert granted == {"Ana": 1, "Ben": 1, "Chloe": 1, "Dev": 0}
    assert roster.breakdown.min_happiness == 1
    nobody_asked = oo.load_problem(
        {**doc, "users": [{**u, "preferences": {"days": []}} for u in users]}
    )
    assert nobody_asked.wishers == [0, 1, 2, 3]  # then everyone, and the level is 0
    assert oo.solve(nobody_asked, time_limit=30).breakdown.min_happiness == 0
