"""`oncall-opt pagerduty pull` and `oncall_opt.pagerduty.pull`: an input.json from a fake
PagerDuty schedule (a weekly rotation of four from 2030-01-01, see conftest.py), with its
overrides as pinned slots and its final schedule before the window as history."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from pagerduty_account import PEOPLE, ROTATION_START, SCHEDULE, TOKEN

import oncall_opt as oo
from oncall_opt.cli import main

START = datetime(2030, 2, 4, tzinfo=UTC)
DAYS = 7  # --start 2030-02-04 --end 2030-02-10: slots start on seven days
DAY = timedelta(days=1)


def stamp(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def rotation_on(day: datetime) -> str:
    return PEOPLE[((day - ROTATION_START).days // 7) % 4][0]


def arranged(pd) -> list[tuple[datetime, datetime, str]]:
    """Overrides people made: two whole days, one whole day of someone outside the rotation, an
    afternoon (part of a slot), and two days in the week before the window."""
    made = [
        (START + DAY, START + 3 * DAY, "PDEV004"),
        (START + 4 * DAY, START + 5 * DAY, "POUT005"),
        (START + 5 * DAY + timedelta(hours=8), START + 5 * DAY + timedelta(hours=20), "PCHL003"),
        (START - 5 * DAY, START - 3 * DAY, "PBEN002"),
    ]
    for start, end, who in made:
        pd.add_override(SCHEDULE, start, end, who)
    return made


def on_call(day: datetime, made) -> str:
    """Who PagerDuty has on call for the whole of `day` (no override in `made` cuts a day)."""
    whole = [who for start, end, who in made if start <= day and day + DAY <= end]
    return whole[-1] if whole else rotation_on(day)


def test_pull_writes_an_input_the_optimizer_loads_with_pins_and_history(pd, tmp_path, capsys):
    made = arranged(pd)
    path = tmp_path / "input.json"
    code = main(["pagerduty", "pull", "--schedule", SCHEDULE, "--start", "2030-02-04",
                 "--end", "2030-02-10", "-o", str(path)])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0 and TOKEN not in out + err
    assert "covers part of the slot from 2030-02-09T00:00:00Z only: not pinned" in err

    document = json.loads(path.read_text(encoding="utf-8"))
    problem = oo.load_problem(path)
    assert problem.n_slots == DAYS
    assert [u["id"] for u in document["users"]] == [p[0] for p in PEOPLE] + ["POUT005"]

    expected_pins = []
    for k in range(DAYS):
        day = START + k * DAY
        whole = [who for start, end, who in made if start <= day and day + DAY <= end]
        if whole:
            expected_pins.append({"user": whole[-1], "start": stamp(day)})
    assert document["fixed"] == expected_pins
    assert len(problem.pins) == len(expected_pins)

    worked: dict[str, int] = {}
    for k in range(DAYS):  # the week before the window, as long as the window
        who = on_call(START - (k + 1) * DAY, made)
        worked[who] = worked.get(who, 0) + 1
    assert document["history"] == worked

    roster = oo.solve(problem).to_output()
    chosen = {slot["start"]: slot["user"]["id"] for slot in roster["overrides"]}
    assert all(chosen[pin["start"]] == pin["user"] for pin in expected_pins)


def test_a_longer_history_and_the_notebook_api(pd):
    made = arranged(pd)
    result = oo.pagerduty.pull(SCHEDULE, "2030-02-04", "2030-02-10", history_days=30)
    worked: dict[str, int] = {}
    for k in range(30):
        day = START - (k + 1) * DAY
        if day >= ROTATION_START:  # nobody was on call before the rotation began
            who = on_call(day, made)
            worked[who] = worked.get(who, 0) + 1
    assert result.history == worked == result.document["history"]
    assert result.path is None and result.pinned == 3
    oo.load_problem(result.document)
    assert "history" not in oo.pagerduty.pull(SCHEDULE, START.date(), START.date(),
                                              history_days=0).document  # fmt: skip


def test_pull_to_standard_output(pd, capsys):
    arranged(pd)
    code = main(["pagerduty", "pull", "--schedule", SCHEDULE, "--start", "2030-02-04",
                 "--end", "2030-02-10", "-o", "-"])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0 and "made an input.json" in err
    assert oo.load_problem(json.loads(out)).n_slots == DAYS


def test_a_schedule_in_berlin_pins_its_local_days(pd):
    pd.schedules[SCHEDULE].time_zone = "Europe/Berlin"
    berlin_midnight = datetime(2030, 2, 5, 23, tzinfo=UTC)  # Feb 6, 00:00 in Berlin (CET)
    pd.add_override(SCHEDULE, berlin_midnight, berlin_midnight + DAY, "PANA001")
    result = oo.pagerduty.pull(SCHEDULE, "2030-02-04", "2030-02-10")
    assert result.document["schedule_start"] == "2030-02-04T00:00:00+01:00"
    assert result.document["shift"] == {"length": "P1D", "time_zone": "Europe/Berlin"}
    assert result.document["fixed"] == [{"user": "PANA001", "start": stamp(berlin_midnight)}]


def test_nothing_is_written_when_the_pull_fails(pd, tmp_path, capsys, monkeypatch):
    path = tmp_path / "input.json"
    path.write_text("kept\n", encoding="utf-8")
    monkeypatch.setenv("PAGERDUTY_API_TOKEN", "u+NotTheAccountsKey")
    code = main(["pagerduty", "pull", "--schedule", SCHEDULE, "--start", "2030-02-04",
                 "--end", "2030-02-10", "-o", str(path)])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 1 and "401" in err and "NotTheAccountsKey" not in out + err
    monkeypatch.setenv("PAGERDUTY_API_TOKEN", TOKEN)
    code = main(["pagerduty", "pull", "--schedule", "PNOPE99", "--start", "2030-02-04",
                 "--end", "2030-02-10", "-o", str(path)])  # fmt: skip
    _, err = capsys.readouterr()
    assert code == 1 and "PagerDuty has no schedule 'PNOPE99'" in err
    code = main(["pagerduty", "pull", "--schedule", SCHEDULE, "--start", "2030-02-10",
                 "--end", "2030-02-04", "-o", str(path)])  # fmt: skip
    _, err = capsys.readouterr()
    assert code == 2 and "end: " in err and "is before start" in err
    assert path.read_text(encoding="utf-8") == "kept\n"
    assert sorted(p.name for p in tmp_path.iterdir() if "input" in p.name) == ["input.json"]


def test_overrides_an_earlier_push_made_are_previous_not_pins(pd):
    ids = [p[0] for p in PEOPLE]
    roster = [
        {"start": stamp(START + k * DAY), "end": stamp(START + (k + 1) * DAY),
         "user": {"id": ids[(k * 3) % 4], "name": ""}}
        for k in range(DAYS)
    ]  # fmt: skip
    oo.pagerduty.push({"overrides": roster}, SCHEDULE)
    own_start = START + 3 * DAY  # someone's own arrangement, made after the push, wins the day
    pd.add_override(SCHEDULE, own_start, own_start + DAY, "POUT005")

    result = oo.pagerduty.pull(SCHEDULE, "2030-02-04", "2030-02-10")
    assert result.document["fixed"] == [{"user": "POUT005", "start": stamp(own_start)}]
    previous = [(o["start"], o["end"], o["user"]["id"])
                for o in result.document["previous"]["overrides"]]  # fmt: skip
    assert previous == [(o["start"], o["end"], o["user"]["id"]) for o in roster]
    assert (result.pinned, result.previous) == (1, DAYS)
    problem = oo.load_problem(result.document)
    assert len(problem.previous) == DAYS
