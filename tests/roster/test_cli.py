"""The command line as a user runs it: a real subprocess, exit codes, files written or not."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import icalendar
import pandas as pd
import pytest
from testkit import ROOT, team

sys.path.insert(0, str(ROOT / "benchmarks"))
from instances import instance


def current_umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def run(*args: str, stdin: str | None = None, cwd: Path | None = None):
    return subprocess.run(
        [sys.executable, "-m", "oncall_opt", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def test_solves_the_bundled_input_into_output_json(tmp_path, bundled_input):
    out = tmp_path / "output.json"
    result = run("solve", str(bundled_input), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert out.stat().st_mode & 0o777 == 0o666 & ~current_umask()
    output = json.loads(out.read_text(encoding="utf-8"))
    assert len(output["overrides"]) == 31
    assert output["statistics"]["status"] == "optimal"
    assert output["min_days_worked"] == min(u["shifts"] for u in output["statistics"]["users"])
    # the summary names every person and their shifts
    for user in output["statistics"]["users"]:
        assert user["name"] in result.stderr
    assert "optimal" in result.stderr
    # people asked for preferred days: the time spent granting them after the proof is shown
    stats = output["statistics"]
    assert 0 < stats["wishes_seconds"] <= stats["solve_seconds"]
    assert f"of which wishes {stats['wishes_seconds']:.2f}s" in result.stderr


def test_stdin_to_stdout():
    result = run("solve", "-", "-q", stdin=json.dumps(team(days=3, people=2)))
    assert result.returncode == 0
    assert result.stderr == ""
    assert len(json.loads(result.stdout)["overrides"]) == 3


def test_merge_joins_runs_of_one_person():
    doc = team(days=4, people=2)
    doc["users"][1]["unavailable"] = ["2027-01-04T00:00:00Z", "2027-01-05T00:00:00Z"]
    doc["users"][0]["unavailable"] = ["2027-01-06T00:00:00Z", "2027-01-07T00:00:00Z"]
    result = run("solve", "-", "--merge", "-q", stdin=json.dumps(doc))
    overrides = json.loads(result.stdout)["overrides"]
    assert [(o["start"], o["end"], o["user"]["id"]) for o in overrides] == [
        ("2027-01-04T00:00:00Z", "2027-01-06T00:00:00Z", "u0"),
        ("2027-01-06T00:00:00Z", "2027-01-08T00:00:00Z", "u1"),
    ]


def test_csv_format(tmp_path, bundled_input):
    out = tmp_path / "roster.csv"
    assert run("solve", str(bundled_input), "--format", "csv", "-o", str(out)).returncode == 0
    frame = pd.read_csv(out)
    assert list(frame.columns[:5]) == ["layer", "start", "end", "user_id", "user_name"]
    assert len(frame) == 31 and set(frame["layer"]) == {"primary"}


def test_ics_format_imports_as_a_calendar(tmp_path):
    doc = json.loads((ROOT / "data" / "input_extended.json").read_text(encoding="utf-8"))
    out = tmp_path / "roster.ics"
    result = run("solve", "-", "--format", "ics", "-o", str(out), stdin=json.dumps(doc))
    assert result.returncode == 0, result.stderr
    calendar = icalendar.Calendar.from_ical(out.read_bytes())
    events = list(calendar.walk("VEVENT"))
    assert events
    covered = {}
    for event in events:
        layer = "secondary" if "(secondary)" in str(event["summary"]) else "primary"
        covered[layer] = (
            covered.get(layer, 0.0)
            + (event.decoded("dtend") - event.decoded("dtstart")).total_seconds()
        )
        assert str(event["summary"]).startswith("On call (")
    # 42 daily slots (1 March to 11 April), one an hour short for DST, in both layers
    assert covered == {"primary": 42 * 86400 - 3600, "secondary": 42 * 86400 - 3600}
    assert len({str(e["uid"]) for e in events}) == len(events)


def test_invalid_input_exit_2_without_traceback_or_output(tmp_path):
    out = tmp_path / "output.json"
    out.write_text("previous roster", encoding="utf-8")
    doc = team()
    doc["users"][0]["unavailable"] = ["2027-01-05T00:00:00"]
    doc["users"][1]["prefrences"] = {}
    result = run("solve", "-", "-o", str(out), stdin=json.dumps(doc))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "users[0].unavailable[0]: timestamp '2027-01-05T00:00:00' has no UTC offset" in (
        result.stderr
    )
    assert "users[1]: unknown field 'prefrences' (did you mean 'preferences'?)" in result.stderr
    assert out.read_text(encoding="utf-8") == "previous roster"  # nothing touched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["output.json"]  # no temp files left


@pytest.mark.parametrize("text", ["", "{", '{"users": [}', "[1]", "null"])
def test_malformed_json_exit_2(text):
    result = run("solve", "-", stdin=text)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "error: invalid input" in result.stderr


def test_missing_input_file_exit_2(tmp_path):
    result = run("solve", str(tmp_path / "nope.json"))
    assert result.returncode == 2
    assert "cannot read the file" in result.stderr


@pytest.mark.parametrize(
    ("option", "value", "words"),
    [
        ("--time-limit", "-3", "must be a positive number"),
        ("--gap", "2", "must be a fraction"),
        ("--threads", "0", "at least 1"),
        ("--format", "pdf", "invalid choice"),
    ],
)
def test_bad_option_exit_2(option, value, words):
    result = run("solve", "-", option, value, stdin="{}")
    assert result.returncode == 2
    assert words in result.stderr


def test_infeasible_exit_3_with_reasons(tmp_path):
    out = tmp_path / "output.json"
    doc = team(days=4, people=2)
    for user in doc["users"]:
        user["unavailable"] = ["2027-01-05T00:00:00Z"]
        user["max_shifts"] = 1
    result = run("solve", "-", "-o", str(out), stdin=json.dumps(doc))
    assert result.returncode == 3
    assert "nobody can take Tue 2027-01-05: everyone is unavailable" in result.stderr
    assert "max_shifts (capped by availability) add up to 2 but there are 4 slots" in (
        result.stderr
    )
    assert not out.exists()


def test_time_limit_returns_best_roster_with_its_gap(tmp_path):
    """Far too little time even to build the model: the greedy roster comes back, valid and
    marked feasible (the time limit covers the whole solve)."""
    out = tmp_path / "output.json"
    doc = instance(100, 365, extended=True)
    result = run("solve", "-", "-o", str(out), "--time-limit", "0.05", stdin=json.dumps(doc))
    assert result.returncode == 0, result.stderr
    output = json.loads(out.read_text(encoding="utf-8"))
    stats = output["statistics"]
    assert stats["status"] == "feasible"
    assert len(output["overrides"]) == len(output["secondary_overrides"]) == 365
    if stats["bound"] is None:  # stopped before the solver had a bound: the gap is unknown
        assert stats["gap"] is None
    else:
        assert stats["bound"] <= stats["objective"]
        gap = (stats["objective"] - stats["bound"]) / stats["objective"]
        assert stats["gap"] == pytest.approx(gap)


def test_no_roster_in_time_exit_4(tmp_path):
    doc = instance(50, 365, extended=True)
    doc["users"][0]["min_shifts"] = 40  # the greedy start cannot see this coming
    result = run("solve", "-", "--time-limit", "0.01", stdin=json.dumps(doc))
    assert result.returncode == 4, result.stderr
    assert "no roster found within the time limit" in result.stderr


def test_an_impossible_rotation_is_infeasible_at_once_with_its_dates_and_people(tmp_path):
    """100 people, two layers, one shift in four (three days' rest after it), and a fortnight
    when only 7 are not away, in Berlin: no solver could cover 8 shifts in 4 days with 7
    people who can each take one, and the count says so before any solver runs, under a
    one-second limit too, naming the days in the team's zone and the 7 people."""
    from datetime import date, timedelta

    away_from = date(2027, 3, 15)
    users = [{"id": f"p{i}", "name": f"Person {i}"} for i in range(100)]
    for user in users[7:]:
        user["unavailable"] = [{"start": str(away_from), "end": str(away_from + timedelta(13))}]
    doc = {
        "schedule_start": "2027-03-01T09:00:00+01:00",
        "schedule_end": "2027-04-25T09:00:00+02:00",
        "shift": {"length": "P1D", "time_zone": "Europe/Berlin"},
        "users": users,
        "layers": 2,
        "max_consecutive_shifts": 1,
        "min_rest_shifts": 3,
    }
    out = tmp_path / "output.json"
    result = run("solve", "-", "-o", str(out), "--time-limit", "1", stdin=json.dumps(doc))
    assert result.returncode == 3, result.stderr
    assert not out.exists()
    # Shifts hand over at 09:00: a day away from the 15th blocks the shift that ends then,
    # so the first stretch nobody can cover is the four shifts from the 14th at 09:00.
    day = away_from - timedelta(days=1)
    stretch = (f"the shifts from {day:%a %Y-%m-%d} 09:00 to "
               f"{day + timedelta(days=4):%a %Y-%m-%d} 09:00")  # fmt: skip
    assert stretch in result.stderr, result.stderr
    assert "8 shifts to fill (2 layers x 4 slots), but at most 7 can be taken" in result.stderr
    named = ", ".join(f"Person {i}" for i in range(7))
    assert f"1 each by {named}; nobody else can be on call then" in result.stderr
