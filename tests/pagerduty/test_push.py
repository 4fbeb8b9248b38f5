"""`oncall-opt pagerduty push` and `oncall_opt.pagerduty.push` against a fake PagerDuty account
(tests/pagerduty/fake_pagerduty.py), with PagerDuty's official client doing the HTTP."""

from __future__ import annotations

import json
import re
import traceback
from datetime import UTC, datetime, timedelta

import pytest
from pagerduty_account import PEOPLE, ROTATION_START, SCHEDULE, TOKEN

from oncall_opt import pagerduty as bridge
from oncall_opt.cli import main
from oncall_opt.pagerduty.write_roster import BATCH

FIRST_DAY = datetime(2030, 2, 4, tzinfo=UTC)
NAMES = {pd_id: name for pd_id, name, _ in PEOPLE}


def stamp(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def daily_roster(who: list[str], first_day: datetime = FIRST_DAY) -> dict:
    """An output.json with one daily slot per entry of `who` (PagerDuty ids or emails)."""
    overrides = []
    for day, person in enumerate(who):
        start = first_day + timedelta(days=day)
        name = next((n for pd_id, n, email in PEOPLE if person in (pd_id, email)), person)
        overrides.append({"start": stamp(start), "end": stamp(start + timedelta(days=1)),
                          "user": {"id": person, "name": name, "type": "user_reference"},
                          "time_zone": "UTC"})  # fmt: skip
    return {"overrides": overrides, "min_days_worked": 0, "statistics": {}}


def pd_id_of(person: str) -> str:
    return next(
        pd_id for pd_id, _, email in PEOPLE if person.casefold() in (pd_id.casefold(), email)
    )


def write(path, document: dict) -> str:
    path.write_text(json.dumps(document), encoding="utf-8")
    return str(path)


def run(capsys, *args: str) -> tuple[int, str, str]:
    """The command line in this process: exit code, stdout, stderr (never holding the token)."""
    code = main(["pagerduty", *args])
    out, err = capsys.readouterr()
    assert TOKEN not in out + err and TOKEN[-4:] not in out + err
    return code, out, err


def assert_final_schedule_is(fake, roster: dict) -> None:
    """Slot by slot, PagerDuty's final schedule puts the roster's person on call, alone."""
    for slot in roster["overrides"]:
        start, end = datetime.fromisoformat(slot["start"]), datetime.fromisoformat(slot["end"])
        entries = fake.final_schedule(SCHEDULE, start, end)
        who = [(e["user"]["id"], e["start"], e["end"]) for e in entries]
        assert who == [(pd_id_of(slot["user"]["id"]), slot["start"], slot["end"])], slot


def overrides_by_start(fake) -> dict[str, tuple[str, str]]:
    return {stamp(o.start): (o.id, o.user) for o in fake.schedules[SCHEDULE].overrides}


def test_a_solved_roster_is_pushed_slot_by_slot_and_a_second_push_writes_nothing(
    pd, tmp_path, capsys
):
    import oncall_opt as oo

    problem = oo.load_problem({
        "schedule_start": stamp(FIRST_DAY), "schedule_end": stamp(FIRST_DAY + timedelta(days=20)),
        "users": [{"id": pd_id, "name": name, "type": "user_reference"}
                  for pd_id, name, _ in PEOPLE],
    })  # fmt: skip
    roster = oo.solve(problem).to_output()
    path = write(tmp_path / "output.json", roster)

    code, out, _ = run(capsys, "push", path, "--schedule", SCHEDULE)
    assert code == 0
    assert_final_schedule_is(pd, roster)
    slots = len(roster["overrides"])
    batches = -(-slots // BATCH)
    assert pd.writes == [f"POST /schedules/{SCHEDULE}/overrides ({min(BATCH, slots - i * BATCH)})"
                         for i in range(batches)]  # fmt: skip
    assert f"created {slots} override(s)" in out
    assert pd.requests.count("GET /users") == -(-len(pd.users) // pd.page)  # every page read

    code, out, _ = run(capsys, "push", path, "--schedule", SCHEDULE)
    assert code == 0
    assert len(pd.writes) == batches  # nothing more written
    assert "created 0 override(s)" in out and f"{slots} already right" in out
    assert_final_schedule_is(pd, roster)


def test_changing_two_slots_changes_exactly_those(pd, tmp_path, capsys):
    ids = [p[0] for p in PEOPLE]
    who = [ids[day % 4] for day in range(10)]
    first = daily_roster(who)
    assert run(capsys, "push", write(tmp_path / "a.json", first), "--schedule", SCHEDULE)[0] == 0
    before = overrides_by_start(pd)
    writes = len(pd.writes)

    changed = list(who)
    changed[3], changed[7] = ids[(3 + 1) % 4], ids[(7 + 2) % 4]
    second = daily_roster(changed)
    code, out, _ = run(capsys, "push", write(tmp_path / "b.json", second), "--schedule", SCHEDULE)
    assert code == 0
    moved = {second["overrides"][i]["start"] for i in (3, 7)}
    deleted = sorted(f"DELETE /schedules/{SCHEDULE}/overrides/{before[s][0]}" for s in moved)
    assert sorted(pd.writes[writes:]) == sorted([f"POST /schedules/{SCHEDULE}/overrides (2)",
                                                 *deleted])  # fmt: skip
    after = overrides_by_start(pd)
    assert {s for s in after if after[s] != before.get(s)} == moved
    assert {s: after[s][1] for s in moved} == {
        second["overrides"][i]["start"]: changed[i] for i in (3, 7)
    }
    assert_final_schedule_is(pd, second)
    assert "created 2 override(s)" in out and "deleted 2 created earlier" in out


def test_a_persons_own_override_is_left_alone_and_reported(pd, tmp_path, capsys):
    ids = [p[0] for p in PEOPLE]
    roster = daily_roster([ids[day % 4] for day in range(6)])
    # Olu swapped in by hand for an afternoon of the third day; the fifth day's person arranged
    # it themselves exactly as the roster has it (then it is simply right).
    third, fifth = roster["overrides"][2], roster["overrides"][4]
    own_start = datetime.fromisoformat(third["start"]) + timedelta(hours=12)
    olu = pd.add_override(SCHEDULE, own_start, own_start + timedelta(hours=6), "POUT005")
    theirs = pd.add_override(SCHEDULE, datetime.fromisoformat(fifth["start"]),
                           datetime.fromisoformat(fifth["end"]), fifth["user"]["id"])  # fmt: skip

    code, out, _ = run(capsys, "push", write(tmp_path / "o.json", roster), "--schedule", SCHEDULE)
    assert code == 0
    remaining = {o.id for o in pd.schedules[SCHEDULE].overrides}
    assert {olu, theirs} <= remaining
    assert "left alone: Olu Outsider's own override" in out and third["start"] in out
    assert pd.writes == [f"POST /schedules/{SCHEDULE}/overrides (4)"]  # not the 3rd, not the 5th
    others = dict(roster, overrides=[s for i, s in enumerate(roster["overrides"]) if i != 2])
    assert_final_schedule_is(pd, others)

    # The roster changes its mind about the fifth day: their own override stays all the same.
    changed = json.loads(json.dumps(roster))
    other = ids[(ids.index(fifth["user"]["id"]) + 1) % 4]
    changed["overrides"][4]["user"] = {"id": other, "name": NAMES[other]}
    code, out, _ = run(capsys, "push", write(tmp_path / "c.json", changed), "--schedule", SCHEDULE)
    assert code == 0
    assert {olu, theirs} <= {o.id for o in pd.schedules[SCHEDULE].overrides}
    assert f"left alone: {NAMES[fifth['user']['id']]}'s own override" in out
    assert f"the roster's {fifth['start']} – {fifth['end']} {NAMES[other]}" in out
    assert len(pd.writes) == 1  # nothing else to do


def test_a_slot_someone_arranged_after_a_push_keeps_the_pushed_override(pd):
    ids = [p[0] for p in PEOPLE]
    roster = daily_roster([ids[(day + 2) % 4] for day in range(3)])  # not the rotation's Ben
    first = {stamp(o.start): o.id for o in bridge.push(roster, SCHEDULE).created}
    middle = roster["overrides"][1]
    evening = datetime.fromisoformat(middle["start"]) + timedelta(hours=18)
    pd.add_override(SCHEDULE, evening, evening + timedelta(hours=6), "POUT005")

    changed = json.loads(json.dumps(roster))
    changed["overrides"][1]["user"] = {"id": "PANA001", "name": "Ana Silva"}
    result = bridge.push(changed, SCHEDULE)
    assert result.writes == 0 and [slot.start for _, slot in result.left_alone] == [
        datetime.fromisoformat(middle["start"])
    ]
    assert first[middle["start"]] in {o.id for o in pd.schedules[SCHEDULE].overrides}
    morning = pd.final_schedule(SCHEDULE, datetime.fromisoformat(middle["start"]), evening)
    assert [e["user"]["id"] for e in morning] == [middle["user"]["id"]] != ["PBEN002"]


def test_people_are_matched_by_email_when_the_id_is_not_pagerdutys(pd):
    emails = [email.upper() for _, _, email in PEOPLE]  # emails match whatever their case
    roster = daily_roster([emails[day % 4] for day in range(4)])
    result = bridge.push(roster, SCHEDULE)
    assert result.complete and len(result.created) == 4
    assert_final_schedule_is(pd, roster)


def test_unmatched_people_are_named_and_nothing_is_written(pd, tmp_path, capsys):
    roster = daily_roster(["PANA001", "PNOBODY", "zed@example.org", "PNOBODY"])
    roster["overrides"][1]["user"]["name"] = "Nora Body"
    code, _, err = run(capsys, "push", write(tmp_path / "u.json", roster), "--schedule", SCHEDULE)
    assert code == 2
    assert "2 of the roster's people match no PagerDuty user" in err
    assert "Nora Body (PNOBODY)" in err and "zed@example.org" in err and "Ana" not in err
    assert pd.writes == []


def test_a_dry_run_prints_slot_now_after_and_writes_nothing(pd, tmp_path, capsys):
    ids = [p[0] for p in PEOPLE]
    roster = daily_roster([ids[(day + 1) % 4] for day in range(9)])
    code, out, _ = run(capsys, "push", write(tmp_path / "d.json", roster), "--schedule",
                       SCHEDULE, "--dry-run")  # fmt: skip
    assert code == 0 and pd.writes == []
    lines = out.splitlines()
    assert lines[0].split() == ["slot", "(UTC)", "now", "after"]
    rows = lines[1 : 1 + len(roster["overrides"])]
    for row, slot in zip(rows, roster["overrides"], strict=True):
        start = datetime.fromisoformat(slot["start"])
        rotation = PEOPLE[((start - ROTATION_START).days // 7) % 4][1]  # weekly, from Jan 1
        cells = re.split(r"\s{2,}", row)
        span = f"{slot['start']} – {slot['end']}"
        assert cells == [span, rotation, NAMES[slot["user"]["id"]], "create"]
    assert "would create 9 override(s)" in out and "nothing was written" in out


def test_a_failure_half_way_reports_what_was_written_and_a_rerun_finishes(pd, tmp_path, capsys):
    ids = [p[0] for p in PEOPLE]
    slots = 2 * BATCH + 10
    roster = daily_roster([ids[(day * 3) % 4] for day in range(slots)])
    path = write(tmp_path / "f.json", roster)
    pd.fail_post = {2}  # the second batch meets a server error

    code, out, err = run(capsys, "push", path, "--schedule", SCHEDULE)
    assert code == 1
    assert "PagerDuty answered 500" in err
    assert f"created {BATCH} override(s)" in err
    assert f"not written ({slots - BATCH}; run the push again to finish)" in err
    assert len(pd.schedules[SCHEDULE].overrides) == BATCH
    written = {stamp(o.start) for o in pd.schedules[SCHEDULE].overrides}
    assert written == {s["start"] for s in roster["overrides"][:BATCH]}

    code, out, _ = run(capsys, "push", path, "--schedule", SCHEDULE)
    assert code == 0
    assert f"created {slots - BATCH} override(s)" in out and f"{BATCH} already right" in out
    assert len(pd.schedules[SCHEDULE].overrides) == slots
    assert_final_schedule_is(pd, roster)


def test_rate_limits_are_waited_out(pd):
    ids = [p[0] for p in PEOPLE]
    roster = daily_roster([ids[day % 4] for day in range(5)])
    pd.rate_limit = 2
    result = bridge.push(roster, SCHEDULE)
    assert len(pd.rate_limited) == 2 and result.complete and len(result.created) == 5
    assert_final_schedule_is(pd, roster)


def test_a_roster_longer_than_an_override_query_is_read_in_pieces(pd):
    ids = [p[0] for p in PEOPLE]
    roster = daily_roster([ids[(day // 2) % 4] for day in range(200)])  # PagerDuty reads 3 months
    assert len(bridge.push(roster, SCHEDULE).created) == 200
    again = bridge.push(roster, SCHEDULE)
    assert (len(again.kept), again.writes, len(again.left_alone)) == (200, 0, 0)
    assert_final_schedule_is(pd, roster)


def test_the_secondary_layer_is_pushed_with_layer_2(pd, tmp_path, capsys):
    ids = [p[0] for p in PEOPLE]
    primary = daily_roster([ids[day % 4] for day in range(4)])
    secondary = daily_roster([ids[(day + 2) % 4] for day in range(4)])
    both = dict(primary, secondary_overrides=secondary["overrides"])
    path = write(tmp_path / "two.json", both)
    code, _, _ = run(capsys, "push", path, "--schedule", SCHEDULE, "--layer", "2")
    assert code == 0
    assert_final_schedule_is(pd, secondary)

    code, _, err = run(capsys, "push", write(tmp_path / "one.json", primary), "--schedule",
                       SCHEDULE, "--layer", "2")  # fmt: skip
    assert code == 2 and "secondary_overrides: holds no slot to push" in err


def test_endless_rate_limits_are_reported_after_the_clients_retries(pd):
    pd.rate_limit = 1000
    with pytest.raises(bridge.PagerDutyError, match=r"answered 429 .*\(rate limited"):
        bridge.push(daily_roster(["PANA001"]), SCHEDULE)
    assert 1 < len(pd.rate_limited) < 1000 and pd.writes == []


def test_overrides_pagerduty_refuses_are_reported_and_a_rerun_adds_them(pd, tmp_path, capsys):
    ids = [p[0] for p in PEOPLE]
    roster = daily_roster([ids[day % 4] for day in range(5)])
    refused = roster["overrides"][1]
    pd.refuse = {refused["start"]}
    path = write(tmp_path / "r.json", roster)
    code, _, err = run(capsys, "push", path, "--schedule", SCHEDULE)
    assert code == 1
    assert f"refused by PagerDuty: {refused['start']} – {refused['end']}" in err
    assert "Override must end after it starts" in err and "created 4 override(s)" in err
    assert "not written (1; run the push again to finish)" in err

    pd.refuse = set()
    code, out, _ = run(capsys, "push", path, "--schedule", SCHEDULE)
    assert code == 0 and "created 1 override(s)" in out and "4 already right" in out
    assert_final_schedule_is(pd, roster)


def test_the_token_never_shows_not_even_when_it_is_refused(pd, tmp_path, capsys, monkeypatch):
    roster = daily_roster(["PANA001"])
    wrong = "u+WrongTokenAlsoSecret9876"
    monkeypatch.setenv("PAGERDUTY_API_TOKEN", wrong)
    with pytest.raises(bridge.PagerDutyError) as caught:
        bridge.push(roster, SCHEDULE)
    shown = "".join(traceback.format_exception(caught.value)) + repr(caught.value)
    assert "401" in shown and "PAGERDUTY_API_TOKEN" in shown
    assert wrong not in shown and wrong[-4:] not in shown and TOKEN not in shown

    code, out, err = run(capsys, "push", write(tmp_path / "t.json", roster), "--schedule", SCHEDULE)
    assert code == 1 and wrong not in out + err and wrong[-4:] not in out + err
    assert pd.refused_auth >= 2 and pd.writes == []

    monkeypatch.delenv("PAGERDUTY_API_TOKEN")
    code, _, err = run(capsys, "push", str(tmp_path / "t.json"), "--schedule", SCHEDULE)
    assert code == 2 and "PAGERDUTY_API_TOKEN is not set" in err

    secrets = tmp_path / "secrets.env"
    secrets.write_text(f"PAGERDUTY_API_TOKEN={TOKEN}\n", encoding="utf-8")
    monkeypatch.setenv("ONCALL_SECRETS_FILE", str(secrets))
    assert run(capsys, "push", str(tmp_path / "t.json"), "--schedule", SCHEDULE)[0] == 0


def test_an_unknown_schedule_or_a_malformed_roster_is_a_clear_error(pd, tmp_path, capsys):
    path = write(tmp_path / "r.json", daily_roster(["PANA001"]))
    code, _, err = run(capsys, "push", path, "--schedule", "PNOPE99")
    assert code == 1 and "PagerDuty has no schedule 'PNOPE99'" in err

    broken = daily_roster(["PANA001", "PBEN002"])
    broken["overrides"][1]["start"] = "tomorrow"
    code, _, err = run(capsys, "push", write(tmp_path / "b.json", broken), "--schedule", SCHEDULE)
    assert code == 2 and "Traceback" not in err
    assert "overrides[1].start: 'tomorrow' is not an RFC 3339 timestamp" in err
    assert pd.writes == []
