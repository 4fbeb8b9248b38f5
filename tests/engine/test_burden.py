"""Expected burden per slot (engine/burden.py) from a synthetic page history with known rates,
made under the fake clock through the real engine (incidents triggered, pages sent by the
notify job to a real SMTP server on 127.0.0.1), on DuckDB and PostgreSQL. Every expected
figure is worked out by hand here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from burden_history import (
    PLANNED,
    SUNDAY_NIGHT,
    WEDNESDAY_MORNING,
    WINDOW_START,
    Paged,
    build,
)

from oncall_opt.engine import burden, planning
from oncall_opt.engine.teams import create_team
from oncall_opt.errors import InvalidRequestError
from oncall_opt.roster.load import load_problem


@pytest.fixture
def paged(store, mail) -> Paged:
    return build(store, mail.settings())


def test_rates_per_hour_of_the_week_are_the_counts_shrunk_towards_the_average(store, paged):
    found = burden.estimate(store, paged.team_id, WINDOW_START, "UTC")
    average = 17 / (12 * 168)  # pages per hour over the 12 weeks
    prior = 2 * average  # PRIOR_WEEKS = 2 average weeks
    assert found.pages == 17 and found.weeks == 12
    assert found.rates[SUNDAY_NIGHT] == pytest.approx((11 + prior) / 14)
    assert found.rates[WEDNESDAY_MORNING] == pytest.approx((6 + prior) / 14)
    quiet = [r for h, r in enumerate(found.rates) if h not in (SUNDAY_NIGHT, WEDNESDAY_MORNING)]
    assert quiet == pytest.approx([prior / 14] * 166)
    assert sum(found.rates) == pytest.approx(17 / 12)  # the smoothing keeps the weekly total


def test_a_slots_points_are_a_day_plus_its_pages_with_night_pages_weighed(store, paged):
    found = burden.estimate(store, paged.team_id, WINDOW_START, "UTC", night_weight=3)
    base = 2 * (17 / (12 * 168)) / 14  # a quiet hour's rate
    sunday_night, wednesday = (11 + 14 * base) / 14, (6 + 14 * base) / 14
    day = timedelta(days=1)
    # Sunday 2026-04-05: the 23:00 hour plus 23 quiet ones; night is 00-07 and 22-24: the 23:00
    # hour and 8 quiet ones.
    sunday = found.slot(WINDOW_START + 6 * day, WINDOW_START + 7 * day)
    assert sunday.pages == pytest.approx(sunday_night + 23 * base)
    assert sunday.night_pages == pytest.approx(sunday_night + 8 * base)
    day_pages = 15 * base
    assert sunday.points == round(1 + day_pages + 3 * (sunday_night + 8 * base))
    assert sunday.points == 3  # a day (1) + 0.79 of a night page counting 3
    weds = found.slot(WINDOW_START + 2 * day, WINDOW_START + 3 * day)
    assert weds.pages == pytest.approx(wednesday + 23 * base)
    assert weds.points == round(1 + wednesday + 14 * base + 3 * 9 * base)
    assert weds.points == 1  # a day and under half a day page (the first 6 weeks' Wednesdays)
    tuesday = found.slot(WINDOW_START + day, WINDOW_START + 2 * day)
    assert tuesday.points == round(1 + 15 * base + 3 * 9 * base) == 1
    half = found.slot(WINDOW_START + 6 * day + timedelta(hours=12), WINDOW_START + 7 * day)
    assert half.pages == pytest.approx(sunday_night + 11 * base)  # 12:00-24:00 only
    assert half.points == round(0.5 + 4 * base + 3 * (sunday_night + 7 * base))


def test_hours_of_the_week_follow_the_rosters_clock(store, paged):
    """The same pages read on New York's clock (UTC-4 in spring, UTC-5 in winter): the
    Sunday 23:00Z pages fall at 18:00 or 19:00 on Sunday, no longer at night."""
    found = burden.estimate(store, paged.team_id, WINDOW_START, "America/New_York")
    sunday_evening = [6 * 24 + 18, 6 * 24 + 19]
    assert sum(found.rates[h] for h in sunday_evening) > 11 / 14
    assert found.rates[SUNDAY_NIGHT] < 0.01


def test_no_history_means_every_slot_weighs_its_length_alone(store):
    now = datetime(2026, 1, 1, tzinfo=UTC)
    team = create_team(store, "Quiet", now, [])
    found = burden.estimate(store, team.id, WINDOW_START, "UTC")
    assert found.pages == 0 and set(found.rates) == {0.0}
    assert "fair by burden is fair by shifts" in found.explain()
    day = found.slot(WINDOW_START, WINDOW_START + timedelta(days=1))
    assert (day.pages, day.points) == (0.0, 1)


@pytest.mark.parametrize("bad", [0.5, 21, float("nan")])
def test_a_night_weight_out_of_range_is_refused_naming_the_field(store, bad):
    with pytest.raises(InvalidRequestError) as info:
        burden.estimate(store, 1, WINDOW_START, "UTC", night_weight=bad)
    assert info.value.field == "NightWeight"


def test_the_planner_hands_the_optimizer_the_slot_points_and_what_each_bore(store, paged):
    """BalanceBy burden: input.json's slot_weights are the estimate's points, and history
    carries what Ana bore in the fortnight before (14 days on call, 2 Sunday night pages and
    a Wednesday page outside it: 14 + 3 x 2 = 20 points); Ben bore nothing."""
    options = planning.RosterOptions(team_id=paged.team_id, balance_by="burden")
    end = PLANNED + timedelta(days=13)
    document = planning.build_input(store, PLANNED, end, options, WINDOW_START)
    w = planning.window(PLANNED, end, options)
    found = burden.estimate(store, paged.team_id, WINDOW_START, "UTC")
    starts = [WINDOW_START + k * timedelta(days=1) for k in range(14)]
    expected = [found.slot(a, a + timedelta(days=1)).points for a in starts]
    assert document["slot_weights"] == expected and w.slots == 14
    assert expected.count(3) == 2 and expected.count(1) == 12  # the two Sundays
    assert document["history"][str(paged.ana)]["burden"] == 14 + 3 * 2
    assert str(paged.ben) not in document.get("history", {})
    problem = load_problem(document)
    assert problem.weighted and problem.history[0][0] == 20
    shifts_only = planning.build_input(
        store, PLANNED, end, planning.RosterOptions(team_id=paged.team_id), WINDOW_START
    )
    assert "slot_weights" not in shifts_only


def test_a_history_shorter_than_the_lookback_counts_only_the_weeks_seen(store, paged):
    """Four weeks after the first incident (Wed 7 Jan), the estimate divides by the whole
    weeks since then (4), not by 12: three Sunday and four Wednesday pages so far."""
    before = WINDOW_START - timedelta(weeks=8)  # Mon 2 Feb
    found = burden.estimate(store, paged.team_id, before, "UTC")
    average = 7 / (4 * 168)
    assert (found.pages, found.weeks) == (7, 4)
    assert found.rates[SUNDAY_NIGHT] == pytest.approx((3 + 2 * average) / 6)
    assert found.rates[WEDNESDAY_MORNING] == pytest.approx((4 + 2 * average) / 6)
    assert "7 pages in the 4.0 weeks before" in found.explain()


def test_a_window_that_starts_later_reads_the_weeks_before_now(store, paged):
    """Planned a fortnight ahead, the weeks read end now: the future has paged nobody yet."""
    later = WINDOW_START + timedelta(weeks=2)
    ahead = burden.estimate(store, paged.team_id, later, "UTC", now=WINDOW_START)
    today = burden.estimate(store, paged.team_id, WINDOW_START, "UTC")
    assert (ahead.pages, ahead.weeks, ahead.rates) == (today.pages, today.weeks, today.rates)
    unaware = burden.estimate(store, paged.team_id, later, "UTC")  # no `now`: up to `later`
    assert unaware.rates[SUNDAY_NIGHT] < today.rates[SUNDAY_NIGHT]
