"""The rule checker every hand-made change goes through (`change_rules.check_cover`): each rule
alone on a hand-built roster in Europe/Berlin (daily slots from 09:00 local = 08:00 UTC in
January), the messages naming the person and the team's local times, a partial-slot override
holding its whole slot, AwayMeans' three readings, and many people checked at once agreeing
with one at a time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from oncall_opt.engine import overrides, teams
from oncall_opt.engine.availability import set_days
from oncall_opt.engine.change_rules import Broken, check_cover, check_covers
from oncall_opt.engine.shifts import SECONDARY, create_schedule
from oncall_opt.engine.users import create_user
from oncall_opt.errors import InvalidRequestError, NotFoundError

D0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)  # Mon 5 Jan 09:00 in Berlin (UTC+1)
RULES = {
    "TimeZone": "Europe/Berlin",
    "Handoff": "09:00",
    "ShiftLength": "P1D",
    "MaxConsecutiveShifts": 2,
    "MinRestShifts": 2,
}


def day(k: float) -> datetime:
    return D0 + timedelta(days=k)


@pytest.fixture
def rota(store, clock):
    """Primary: Ana days 0-1, Ben 2-3, Dee 4-5, Ana 6-7; secondary: Cy days 0-7; Eve on
    nothing. Day k is the slot from 09:00 Berlin on 5 + k January."""
    now = clock.now()
    people = {
        handle: create_user(store, handle.title(), last, handle, now)
        for handle, last in (
            ("ana", "Silva"),
            ("ben", "Okafor"),
            ("cy", "Lee"),
            ("dee", "Moss"),
            ("eve", "Hart"),
        )
    }
    for handle, first, last in (("ana", 0, 2), ("ben", 2, 4), ("dee", 4, 6), ("ana", 6, 8)):
        create_schedule(store, people[handle].id, day(first), day(last))
    create_schedule(store, people["cy"].id, day(0), day(8), SECONDARY)
    teams.update_team(store, 1, roster_rules=RULES)
    return {k: v.id for k, v in people.items()}


def test_a_third_shift_in_a_row_is_named_with_its_local_days(store, rota):
    found = check_cover(store, 1, rota["ana"], 1, day(2), day(3))  # Ana over Ben's day 2
    assert found == [
        Broken(
            "in-a-row",
            "Ana Silva would be on call 3 shifts in a row, Mon 5 Jan 2026 09:00 CET to "
            "Thu 8 Jan 2026 09:00 CET (the team's MaxConsecutiveShifts is 2)",
        )
    ]


def test_too_little_rest_between_two_runs(store, rota):
    # Ana over Dee's day 4: Ana's runs are days 0-1, 4, 6-7; day 5 alone lies between 4 and 6.
    found = check_cover(store, 1, rota["ana"], 1, day(4), day(5))
    assert found == [
        Broken(
            "rest",
            "Ana Silva would have only 1 free shift(s) between Sat 10 Jan 2026 09:00 CET and "
            "Sun 11 Jan 2026 09:00 CET (the team's MinRestShifts is 2)",
        )
    ]


def test_an_hour_in_a_slot_holds_the_whole_slot(store, rota):
    # One hour at the end of day 3 (Fri 08:00-09:00 Berlin) is day 3 on call: one free day
    # (day 2) after Ana's days 0-1.
    found = check_cover(store, 1, rota["ana"], 1, day(4) - timedelta(hours=1), day(4))
    assert [b.rule for b in found] == ["rest"]
    assert "between Wed 7 Jan 2026 09:00 CET and Thu 8 Jan 2026 09:00 CET" in found[0].message
    # The same hour a day later touches day 4 instead (Fri 09:00-10:00 Berlin): the rest
    # before day 6 is again one slot, day 5.
    later = check_cover(store, 1, rota["ana"], 1, day(4), day(4) + timedelta(hours=1))
    assert [b.rule for b in later] == ["rest"]
    assert "between Sat 10 Jan 2026 09:00 CET and Sun 11 Jan 2026 09:00 CET" in later[0].message


def test_two_layers_at_once(store, rota):
    found = check_cover(
        store, 1, rota["cy"], 1, day(4) + timedelta(hours=1), day(4) + timedelta(hours=3)
    )
    # Cy's eight secondary days in a row were there before: the change does not lengthen them.
    assert found == [
        Broken(
            "two-layers",
            "Cy Lee would be on primary and secondary at once from Fri 9 Jan 2026 10:00 CET to "
            "Fri 9 Jan 2026 12:00 CET",
        )
    ]


def test_nothing_breaks_and_a_team_without_run_rules_checks_no_runs(store, rota):
    assert check_cover(store, 1, rota["eve"], 1, day(2), day(4)) == []
    assert check_cover(store, 1, rota["ben"], 1, day(3), day(4)) == []  # his own shift
    teams.update_team(store, 1, roster_rules={"TimeZone": "Europe/Berlin"})
    assert check_cover(store, 1, rota["ana"], 1, day(2), day(3)) == []
    assert [b.rule for b in check_cover(store, 1, rota["cy"], 1, day(2), day(3))] == ["two-layers"]


def test_a_long_cover_counts_each_slot_once(store, rota):
    # Ana over Ben's days 2-3 and Dee's day 4: days 0-4 are hers, then day 5 alone before 6.
    found = check_cover(store, 1, rota["ana"], 1, day(2), day(5))
    assert [b.rule for b in found] == ["in-a-row", "rest"]
    assert "5 shifts in a row, Mon 5 Jan 2026 09:00 CET to Sat 10 Jan 2026 09:00 CET" in (
        found[0].message
    )
    assert "only 1 free shift(s) between Sat 10 Jan 2026 09:00 CET" in found[1].message
    # Over her own day 1 and on: only day 2 is new, and the run 0-2 is too long.
    own = check_cover(store, 1, rota["ana"], 1, day(1), day(3))
    assert [b.rule for b in own] == ["in-a-row"] and "3 shifts in a row" in own[0].message


@pytest.mark.parametrize(
    "away_means, start, end, broken",
    [
        # Fri 9 Jan marked away. "day": Fri 00:00-24:00, so Thursday's slot (to Fri 09:00) too.
        ("day", day(3), day(4), True),
        ("day", day(5), day(6), False),
        # "shift-start": Fri 09:00 to Sat 09:00, the slot that starts that day only.
        ("shift-start", day(3), day(4), False),
        ("shift-start", day(4), day(5), True),
        # "working-hours": Fri 09:00-17:00.
        ("working-hours", day(4) + timedelta(hours=9), day(4) + timedelta(hours=11), False),
        ("working-hours", day(4) + timedelta(hours=7), day(4) + timedelta(hours=9), True),
    ],
)
def test_a_day_marked_away_as_the_team_reads_it(store, rota, away_means, start, end, broken):
    teams.update_team(store, 1, away_means=away_means)
    set_days(store, rota["eve"], date(2026, 1, 9), date(2026, 1, 9), {"2026-01-09": "unavailable"})
    found = check_cover(store, 1, rota["eve"], 1, start, end)
    spans = {
        "day": "Fri 9 Jan 2026 00:00 CET to Sat 10 Jan 2026 00:00 CET",
        "shift-start": "Fri 9 Jan 2026 09:00 CET to Sat 10 Jan 2026 09:00 CET",
        "working-hours": "Fri 9 Jan 2026 09:00 CET to Fri 9 Jan 2026 17:00 CET",
    }
    reading = {
        "day": "the whole day",
        "shift-start": "the shift that starts that day",
        "working-hours": "its working hours",
    }
    expected = [
        Broken(
            "away",
            f"Eve Hart marked Fri 9 Jan 2026 away ({reading[away_means]}: {spans[away_means]})",
        )
    ]
    assert found == (expected if broken else [])


def test_overrides_are_part_of_the_schedule_checked(store, rota, clock):
    # Eve already covers Dee's day 5: Eve over day 4 now makes two in a row, and day 6 a third.
    overrides.create_override(store, 1, rota["eve"], day(5), day(6), clock.now())
    assert check_cover(store, 1, rota["eve"], 1, day(4), day(5)) == []
    assert [b.rule for b in check_cover(store, 1, rota["eve"], 1, day(4), day(7))] == ["in-a-row"]


def test_many_at_once_agree_with_one_at_a_time(store, rota):
    set_days(store, rota["eve"], date(2026, 1, 7), date(2026, 1, 7), {"2026-01-07": "unavailable"})
    everyone = list(rota.values())
    together = check_covers(store, 1, [*everyone, 999], 1, day(2), day(3))
    assert set(together) == set(everyone)  # an unknown id is left out
    for user_id in everyone:
        assert together[user_id] == check_cover(store, 1, user_id, 1, day(2), day(3))
    assert {k: [b.rule for b in v] for k, v in together.items()} == {
        rota["ana"]: ["in-a-row"],
        rota["ben"]: [],
        rota["cy"]: ["two-layers"],
        rota["dee"]: ["rest"],  # day 2, then days 4-5: one free day
        rota["eve"]: ["away"],
    }
    with pytest.raises(NotFoundError):
        check_cover(store, 1, 999, 1, day(2), day(3))


def test_a_teams_rules_are_checked_naming_the_field(store, rota):
    for rules, field in (
        ({"MinRestShifts": -1}, "RosterRules.MinRestShifts"),
        ({"MaxConsecutiveShifts": 0}, "RosterRules.MaxConsecutiveShifts"),
        ({"MaxConsecutiveShifts": 1001}, "RosterRules.MaxConsecutiveShifts"),
        ({"MinRestShifts": "2"}, "RosterRules.MinRestShifts"),
        ({"ShiftLength": "1 day"}, "RosterRules.ShiftLength"),
        ({"TimeZone": "Mars/Olympus"}, "RosterRules.TimeZone"),
        ({"Handoff": "25:00"}, "RosterRules.Handoff"),
        ({"Rest": 2}, "RosterRules.Rest"),
        ([1], "RosterRules"),
    ):
        with pytest.raises(InvalidRequestError) as caught:
            teams.update_team(store, 1, roster_rules=rules)
        assert caught.value.field == field
    assert teams.get_team(store, 1).roster_rules == RULES  # nothing half-written
    teams.update_team(store, 1, roster_rules=None)
    assert teams.get_team(store, 1).roster_rules is None


def test_slots_keep_their_local_handoff_across_daylight_saving(store, clock):
    # Berlin springs forward on Sun 29 Mar 2026: Saturday's slot runs 09:00 CET (08:00 UTC) to
    # Sunday 09:00 CEST (07:00 UTC), 23 hours. An hour from Sunday 07:00 UTC is Sunday's slot,
    # the second in a row; a grid of 24-hour slots would have put it in Saturday's.
    ana = create_user(store, "Ana", "Silva", "ana", clock.now())
    saturday = datetime(2026, 3, 28, 8, 0, tzinfo=UTC)
    sunday = datetime(2026, 3, 29, 7, 0, tzinfo=UTC)
    create_schedule(store, ana.id, saturday, sunday)
    teams.update_team(store, 1, roster_rules={**RULES, "MaxConsecutiveShifts": 1})
    found = check_cover(store, 1, ana.id, 1, sunday, sunday + timedelta(hours=1))
    assert found == [
        Broken(
            "in-a-row",
            "Ana Silva would be on call 2 shifts in a row, Sat 28 Mar 2026 09:00 CET to "
            "Mon 30 Mar 2026 09:00 CEST (the team's MaxConsecutiveShifts is 1)",
        )
    ]
    # The hour before it is still Saturday's slot, hers already: nothing new.
    assert check_cover(store, 1, ana.id, 1, sunday - timedelta(hours=1), sunday) == []


def test_a_change_longer_than_the_planners_grid_is_refused_naming_end(store, rota):
    # 20,000 slots is the planner's own bound; a day's slots make that about 55 years.
    with pytest.raises(InvalidRequestError) as caught:
        check_cover(store, 1, rota["eve"], 1, day(0), day(20_001))
    assert caught.value.field == "End"
    long = check_cover(store, 1, rota["eve"], 1, day(8), day(8 + 19_000))
    assert [b.message for b in long] == [
        "Eve Hart would be on call 19000 shifts in a row, Tue 13 Jan 2026 09:00 CET to "
        "Thu 20 Jan 2078 09:00 CET (the team's MaxConsecutiveShifts is 2)"
    ]


def test_a_long_change_over_a_busy_schedule_is_checked_in_one_pass(store, clock):
    """Hourly slots, runs of up to 1,000 with 1,000 free after: 120 days of the person's
    hourly shifts (every other hour) under a 120-day override. The checker compared every
    slot with every one of the person's shifts (about 6,900 slots x 1,440 shifts, twice):
    5.6 s on this machine, and 19 s for a 400-day override over a year of such shifts; each
    shift marking its slots once, 0.4 s (measured by hand: no speed is asserted here, only
    the answer on this large case). What it finds is worked out by hand: the hour before
    the window is the person's, so with the override they are on call 2,880 + 1 hours in a
    row."""
    now = clock.now()
    ana = create_user(store, "Ana", "Silva", "ana", now)
    ben = create_user(store, "Ben", "Okafor", "ben", now)
    start = datetime(2026, 3, 2, tzinfo=UTC)
    teams.update_team(
        store,
        1,
        roster_rules={"ShiftLength": "PT1H", "MaxConsecutiveShifts": 1000, "MinRestShifts": 1000},
    )

    def hourly(tx) -> None:
        for k in range(-1, 24 * 120):  # Ana the odd hours (and the one before the window)
            tx.execute(
                "INSERT INTO schedules (user_id, layer, start_time, end_time, team_id) "
                "VALUES (?, 1, ?, ?, 1)",
                [ana.id if k % 2 else ben.id, start + timedelta(hours=k),
                 start + timedelta(hours=k + 1)],
            )  # fmt: skip

    store.write(hourly)
    found = check_cover(store, 1, ana.id, 1, start, start + timedelta(days=120))
    assert [b.rule for b in found] == ["in-a-row"]
    assert "would be on call 2881 shifts in a row" in found[0].message
