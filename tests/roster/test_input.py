"""Reading input.json: the template's format unchanged, entries mapped to slots, strict errors."""

from __future__ import annotations

import pytest
from testkit import team

import oncall_opt as oo


def problems_of(doc) -> dict[str, str]:
    with pytest.raises(oo.InputError) as caught:
        oo.load_problem(doc)
    return dict(caught.value.problems)


def test_bundled_input_is_the_template_format(bundled_input):
    problem = oo.load_problem(bundled_input)
    assert problem.n_slots == 31  # 1 to 31 December, the end day included
    assert problem.n_users == 7
    assert problem.warnings == ()


@pytest.mark.parametrize(
    ("start", "end", "slots"),
    [
        ("2027-01-01T00:00:00Z", "2027-01-01T00:00:00Z", 1),
        ("2027-01-01T00:00:00Z", "2027-01-07T00:00:00Z", 7),
        ("2027-01-01T00:00:00Z", "2027-01-07T23:59:59Z", 7),  # floor((end - start) / 24h) + 1
        ("2027-01-01T00:00:00-06:00", "2027-01-31T00:00:00-06:00", 31),
        ("2024-01-01T00:00:00Z", "2024-12-31T00:00:00Z", 366),
    ],
)
def test_day_grid_is_the_templates(start, end, slots):
    problem = oo.load_problem(
        {"schedule_start": start, "schedule_end": end, "users": [{"id": "a"}]}
    )
    assert problem.n_slots == slots
    assert problem.grid.starts[1:] == problem.grid.ends[:-1]


def test_entries_match_the_slot_they_fall_in():
    doc = team(
        days=5,
        people=1,
        start="2027-01-04T00:00:00-06:00",
        users=[
            {
                "id": "a",
                "unavailable": [
                    "2027-01-04T00:00:00-06:00",  # exact slot start, as the template matches
                    "2027-01-05T15:30:00Z",  # mid-slot instant in another offset
                ],
                "preferences": {"days": ["2027-01-07T06:00:00Z"]},  # = 2027-01-07T00:00-06:00
            }
        ],
    )
    problem = oo.load_problem(doc)
    assert problem.available[0] == {2, 3, 4}
    assert problem.preferred[0] == {3}


def test_bare_dates_and_ranges_in_the_schedule_zone():
    doc = {
        "schedule_start": "2027-01-04T09:00:00Z",  # handoffs at 09:00
        "schedule_end": "2027-01-10T09:00:00Z",
        "users": [
            {
                "id": "a",
                # all of 5 January overlaps the slots starting the 4th and the 5th at 09:00
                "unavailable": ["2027-01-05"],
                "preferences": {"days": ["2027-01-08"], "avoid_days": ["2027-01-09"]},
            },
            {
                "id": "b",
                "unavailable": [
                    {"start": "2027-01-07", "end": "2027-01-07"},  # a date end includes that day
                    {"start": "2027-01-09T09:00:00Z", "end": "2027-01-10T09:00:00Z"},  # exclusive
                ],
            },
        ],
    }
    problem = oo.load_problem(doc)
    assert problem.available[0] == {2, 3, 4, 5, 6}
    assert problem.preferred[0] == {4}  # the slot on call at noon on the 8th
    assert problem.avoided[0] == {5}
    assert problem.available[1] == {0, 1, 4, 6}


def test_entries_outside_the_window_are_ignored_with_a_warning():
    doc = team(days=3, people=1)
    doc["users"][0]["unavailable"] = ["2026-01-01T00:00:00Z", "2027-01-05T00:00:00Z"]
    doc["users"][0]["preferences"] = {"days": ["2030-01-01"]}
    problem = oo.load_problem(doc)
    assert problem.available[0] == {0, 2}
    assert len(problem.warnings) == 2
    assert problem.warnings[0].startswith(
        "users[0].unavailable[0]: 2026-01-01T00:00:00Z is outside"
    )
    assert problem.warnings[1].startswith("users[0].preferences.days[0]")


def test_preferences_may_be_absent_or_null():
    doc = team(days=2, people=2)
    doc["users"][1]["preferences"] = {"days": None}
    problem = oo.load_problem(doc)
    assert problem.preferred == (frozenset(), frozenset())


@pytest.mark.parametrize(
    ("change", "path", "words"),
    [
        (lambda d: d.pop("schedule_start"), "schedule_start", "required field is missing"),
        (lambda d: d.update(users="x"), "users", "expected an array, got a string"),
        (lambda d: d["users"][1].update(id=7), "users[1].id", "expected a string, got a number"),
        (lambda d: d["users"][0].update(id=""), "users[0].id", "at least 1 character"),
        (
            lambda d: d["users"][0].update(unavailable=["2027-01-05T00:00:00"]),
            "users[0].unavailable[0]",
            "has no UTC offset",
        ),
        (
            lambda d: d["users"][0].update(preferences={"days": ["next monday"]}),
            "users[0].preferences.days[0]",
            "is not an RFC 3339 timestamp",
        ),
        (
            lambda d: d["users"][0].update(unavailable=[{"start": "2027-01-05"}]),
            "users[0].unavailable[0].end",
            "required field is missing",
        ),
        (lambda d: d.update(schedule_end="2027-01-01T00:00:00Z"), "schedule_end", "before"),
        (lambda d: d["users"][2].update(id="u0"), "users[2].id", "duplicate id 'u0'"),
        (lambda d: d.update(users=[]), "users", "no users"),
        (lambda d: d["users"][0].update(prefs={}), "users[0]", "unknown field 'prefs'"),
        (
            lambda d: d.update(max_consecutive_shift=3),
            "top level",
            "did you mean 'max_consecutive_shifts'",
        ),
        (lambda d: d["users"][0].update(weight=0), "users[0].weight", "greater than 0"),
        (lambda d: d["users"][0].update(max_shifts=2.5), "users[0].max_shifts", "whole number"),
        (lambda d: d.update(layers=3), "layers", "1 or 2"),
        (lambda d: d.update(shift={"length": "1 day"}), "shift.length", "ISO 8601"),
        (lambda d: d.update(shift={"time_zone": "Mars/Base"}), "shift.time_zone", "unknown"),
        (
            lambda d: d.update(fixed=[{"user": "nobody", "start": "2027-01-05T00:00:00Z"}]),
            "fixed[0].user",
            "no user has id 'nobody'",
        ),
        (
            lambda d: d.update(fixed=[{"user": "u0", "start": "2030-01-05T00:00:00Z"}]),
            "fixed[0].start",
            "outside the window",
        ),
        (lambda d: d.update(history={"ghost": 3}), "history.ghost", "no user has id"),
        (
            lambda d: d.update(history={"u0": {"shifts": 1, "weekend_shifts": 2}}),
            "history.u0.weekend_shifts",
            "more than shifts",
        ),
        (
            lambda d: d["users"][0].update(min_shifts=4, max_shifts=2),
            "users[0].min_shifts",
            "above max_shifts",
        ),
    ],
)
def test_every_problem_names_its_path(change, path, words):
    doc = team()
    change(doc)
    found = problems_of(doc)
    assert path in found, found
    assert words in found[path]


def test_all_type_problems_are_reported_at_once():
    doc = team()
    doc["users"][0]["unavailable"] = ["2027-01-05"]
    doc["users"][0]["prefrences"] = {}
    doc["users"][1]["weight"] = "heavy"
    assert set(problems_of(doc)) == {"users[0]", "users[1].weight"}


def test_not_an_object():
    assert problems_of([1, 2]) == {"top level": "expected a JSON object, got an array"}


def test_malformed_json_file(tmp_path):
    path = tmp_path / "input.json"
    path.write_text('{"schedule_start": ', encoding="utf-8")
    (message,) = problems_of(path).values()
    assert message.startswith("malformed JSON at line 1 column 20")


def test_missing_file(tmp_path):
    (message,) = problems_of(tmp_path / "nope.json").values()
    assert "cannot read the file" in message


def test_round_trip_to_input_json():
    doc = team(days=4, max_consecutive_shifts=2, layers=2)
    doc["users"][0]["unavailable"] = ["2027-01-05", {"start": "2027-01-06", "end": "2027-01-06"}]
    problem = oo.load_problem(doc)
    again = oo.load_problem(problem.to_input_json())
    assert again.available == problem.available
    assert again.to_input_json() == problem.to_input_json()


@pytest.mark.parametrize("field", ["max_consecutive_shifts", "min_rest_shifts"])
def test_run_and_rest_rules_beyond_any_team_are_refused_before_any_work(field):
    """An attacker's 10**9 once meant slots x 10**9 rows to build (hours of one worker);
    refused at reading, naming the field, on the team and on a person."""
    doc = team(days=3, people=2, **{field: 10**9})
    assert "less than or equal to 1000" in problems_of(doc)[field]
    doc = team(days=3, people=2)
    doc["users"][1][field] = 10**9
    assert field in "".join(problems_of(doc))
    doc = team(days=3, people=2, **{field: 1000})
    doc["carry_in"] = [{"user": "u0", "start": "2026-12-01T00:00:00Z",
                        "end": "2027-01-04T00:00:00Z"}]  # fmt: skip
    assert oo.solve(oo.load_problem(doc)).status == "optimal"


def test_rules_whose_rows_no_solve_could_build_are_refused_with_the_sizes():
    """Hourly shifts for two years (17,544 slots), 20 people, 1,000 slots' rest: about 3.5e8
    checks to build. Refused at once, naming the field and the sizes."""
    doc = team(days=3, people=20, min_rest_shifts=1000)
    doc["shift"] = {"length": "PT1H"}
    doc["schedule_end"] = "2029-01-03T23:00:00Z"
    message = problems_of(doc)["min_rest_shifts"]
    assert "with 20 people and 17544 slots" in message and "shorten" in message
