"""The command line's JSON path (issue 14): writing output.json loads neither pandas nor
icalendar nor Pyomo, and the plain per-person rows it uses say what the DataFrame said."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import oncall_opt as oo

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import json, sys
from oncall_opt.cli import main
code = main(["solve", sys.argv[1], "-o", sys.argv[2], *sys.argv[3:]])
loaded = {name: name in sys.modules for name in ("pandas", "icalendar", "pyomo")}
loaded["code"] = code
print(json.dumps(loaded))
"""


def _run(tmp_path: Path, *flags: str) -> dict:
    out = tmp_path / "output.json"
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(ROOT / "data" / "input.json"), str(out), *flags],
        capture_output=True, text=True, check=True, cwd=tmp_path,
    )  # fmt: skip
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    loaded["output"] = json.loads(out.read_text())
    loaded["stderr"] = done.stderr
    return loaded


def test_writing_output_json_loads_no_pandas_icalendar_or_pyomo(tmp_path):
    for flags in ((), ("-q",), ("--merge",)):
        run = _run(tmp_path, *flags)
        assert run["code"] == 0 and run["output"]["overrides"]
        assert not run["pandas"] and not run["icalendar"] and not run["pyomo"], (flags, run)
    assert "fair share" in _run(tmp_path)["stderr"]  # the summary printed, still without them


def test_calendars_and_csv_still_load_what_they_need(tmp_path):
    out = tmp_path / "roster.ics"
    subprocess.run(
        [sys.executable, "-m", "oncall_opt", "solve", str(ROOT / "data" / "input.json"),
         "-o", str(out), "--format", "ics", "-q"],
        check=True, cwd=tmp_path,
    )  # fmt: skip
    assert out.read_text().startswith("BEGIN:VCALENDAR")


def test_the_plain_rows_match_the_dataframe_built_from_the_assignments():
    problem = oo.load_problem(ROOT / "data" / "input_extended.json")
    roster = oo.solve(problem, time_limit=60)
    frame = roster.assignments
    counts = frame.groupby("user_id").agg(
        shifts=("slot", "size"),
        weekend_shifts=("weekend", "sum"),
        preferred_granted=("preferred", "sum"),
        avoided_given=("avoided", "sum"),
    )
    for row in roster.per_user_rows:
        if row["user_id"] in counts.index:
            c = counts.loc[row["user_id"]]
            expected = {k: int(c[k]) for k in counts.columns}
        else:
            expected = dict.fromkeys(counts.columns, 0)
        assert {k: row[k] for k in counts.columns} == expected, row["user_id"]
    assert roster.per_user.to_dict("records") == roster.per_user_rows
    assert roster.to_output()["min_days_worked"] == int(roster.per_user["shifts"].min())
