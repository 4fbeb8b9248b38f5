"""On-call analytics from a fixed incident history (tests/engine/analytics_history.py) made
through the real engine under the fake clock, on DuckDB and PostgreSQL. Every expected figure
is worked out by hand here from the history's timeline."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from analytics_history import WINDOW, History, build, utc

from oncall_opt.engine import incidents
from oncall_opt.engine.analytics import (
    Durations,
    Figures,
    PersonBurden,
    median,
    percentile,
    person_burden,
    team_analytics,
)
from oncall_opt.errors import InvalidRequestError


@pytest.fixture
def history(store, mail) -> History:
    return build(store, mail.settings())


def test_person_burden_counts_pages_sent_nights_and_weekends_in_each_persons_zone(store, history):
    h = history
    got = person_burden(store, h.team_id, *WINDOW)
    # Ana: I1 20:30Z (Berlin Fri 21:30); I2 22:50Z (Fri 23:50 night) and 23:00Z (Sat 00:00,
    # night and weekend); I3 04:30Z, 04:40Z (Sat 05:30, 05:40: night, weekend); I5 00:30Z,
    # 00:40Z (Sun 01:30, 01:40 CET: night, weekend); I4 05:30Z (Sun 07:30 CEST: weekend only);
    # I6 12:00Z (Mon 14:00). Her second e-mails for I1, I4 and I6 were cancelled: 9 pages.
    # Primary 96 hours less Chloé's 6-hour override.
    assert got[h.ana] == PersonBurden(h.ana, pages=9, night_pages=6, weekend_pages=6,
                                      hours_on_call=90.0)  # fmt: skip
    # Ben: I2 23:05Z (New York Fri 19:05), I5 00:45Z (Sat 20:45: weekend); I7's page at
    # 00:05Z on the 31st is after the window. Secondary all 96 hours of the window.
    assert got[h.ben] == PersonBurden(h.ben, 2, 0, 1, 96.0)
    # Chloé: I7 23:50Z Monday (UTC: night); Ops' page to her is not Payments'; her Ops shift
    # is not Payments' hours, the 6-hour override is.
    assert got[h.chloe] == PersonBurden(h.chloe, 1, 1, 0, 6.0)
    assert list(got) == sorted([h.ana, h.ben, h.chloe])


def test_person_burden_over_a_shorter_window_and_with_nobody_paged(store, history):
    h = history
    saturday = person_burden(store, h.team_id, utc(2026, 3, 28), utc(2026, 3, 29))
    # Only I3's two pages fall on Saturday UTC (I2's 23:00Z page is Friday 23:00 UTC).
    assert saturday[h.ana] == PersonBurden(h.ana, 2, 2, 2, 24.0)
    assert saturday[h.ben] == PersonBurden(h.ben, 0, 0, 0, 24.0)
    assert saturday[h.chloe] == PersonBurden(h.chloe, 0, 0, 0, 0.0)
    # Ops: Chloé alone, her one Ops page at Sunday 10:00Z, on call 96 hours.
    ops = person_burden(store, h.other_team_id, *WINDOW)
    assert ops == {h.chloe: PersonBurden(h.chloe, 1, 0, 1, 96.0)}


@pytest.mark.parametrize(
    ("start", "end", "field", "problem"),
    [
        (utc(2026, 3, 2), utc(2026, 3, 1), "End", "must be after Start"),
        (utc(2026, 3, 1), utc(2026, 3, 1), "End", "must be after Start"),
        (utc(2025, 1, 1), utc(2025, 1, 1) + timedelta(days=401), "End", "at most 400 days"),
        (datetime(2026, 3, 1), utc(2026, 3, 2), "Start", "offset"),
        (utc(2026, 3, 1), datetime(2026, 3, 2), "End", "offset"),
    ],
)
def test_a_window_that_is_backwards_too_long_or_without_offset_is_refused(
    store, start, end, field, problem
):
    with pytest.raises(InvalidRequestError) as refused:
        person_burden(store, 1, start, end)
    assert refused.value.field == field and problem in str(refused.value)


def test_400_days_exactly_is_allowed(store):
    start = utc(2025, 1, 1)
    assert person_burden(store, 1, start, start + timedelta(days=400)) == {}


def test_team_analytics_per_team_service_person_and_month(store, history):
    h = history
    got = team_analytics(store, h.team_id, *WINDOW)
    assert (got.team_name, got.time_zone, got.start, got.end) == ("Payments", "UTC", *WINDOW)
    # Opened in the window: I1..I7 but Ops' (7). Minutes to the first acknowledgement: I1 8,
    # I2 30 (Ben), I5 20 (Ben), I4 3, I6 6; I3 was resolved unacknowledged, I7 never
    # acknowledged. Sorted 3 6 8 20 30: median 8, p90 the ceil(0.9*5) = 5th = 30.
    # To resolve: I1 60, I2 80, I3 14, I5 120, I4 30 (I6, I7 open): 14 30 60 80 120.
    # Escalated past step 1: I2, I5 and I7 (its escalation after the window counts: it opened
    # within). Pages: Ana 9 + Ben 2 + Chloé 1; nights 6 + 0 + 1; weekends 6 + 1 + 0.
    team = Figures(
        incidents=7, pages=12, night_pages=7, weekend_pages=7,
        to_acknowledge=Durations(5, 8.0, 30.0), to_resolve=Durations(5, 60.0, 120.0),
        resolved_without_acknowledgement=1, escalated_past_first_step=3,
        hours_by_layer={1: 96.0, 2: 96.0},
    )  # fmt: skip
    assert got.team == team
    assert got.team.hours_on_call == 192.0
    checkout, web = got.services
    # Checkout: all but I6. To acknowledge 3 8 20 30: median (8 + 20) / 2, p90 the 4th.
    assert checkout == (h.checkout, "Checkout", Figures(
        incidents=6, pages=11, night_pages=7, weekend_pages=7,
        to_acknowledge=Durations(4, 14.0, 30.0), to_resolve=Durations(5, 60.0, 120.0),
        resolved_without_acknowledgement=1, escalated_past_first_step=3,
    ))  # fmt: skip
    # Web: I6, acknowledged after 6 minutes, open; its one page Monday 14:00 in Berlin.
    assert web == (h.web, "Web", Figures(
        incidents=1, pages=1, to_acknowledge=Durations(1, 6.0, 6.0),
    ))  # fmt: skip

    ana, ben, chloe = got.people
    assert [p.user.id for p in got.people] == [h.ana, h.ben, h.chloe]
    assert all(p.member for p in got.people)
    # Ana is assigned I1..I6 (the first paged; escalating does not hand on); her step 1 page
    # went on to step 2 for I2 and I5.
    assert ana.figures == Figures(
        incidents=6, pages=9, night_pages=6, weekend_pages=6,
        to_acknowledge=Durations(5, 8.0, 30.0), to_resolve=Durations(5, 60.0, 120.0),
        resolved_without_acknowledgement=1, escalated_past_first_step=2,
        hours_by_layer={1: 90.0},
    )  # fmt: skip
    assert ben.figures == Figures(pages=2, weekend_pages=1, hours_by_layer={2: 96.0})
    assert chloe.figures == Figures(
        incidents=1, pages=1, night_pages=1, escalated_past_first_step=1,
        hours_by_layer={1: 6.0},
    )  # fmt: skip
    # One month on the team's clock (UTC): March holds everything.
    assert got.months == [("2026-03", team)]
    assert got.person_months == {p.user.id: [("2026-03", p.figures)] for p in got.people}
    # Pages by hour of the week, UTC (Monday 0): Ana Fri 20:30, 22:50, 23:00, Sat 04:30,
    # 04:40, Sun 00:30, 00:40, 05:30, Mon 12:00; Ben Fri 23:05, Sun 00:45; Chloé Mon 23:50.
    expected = {(4, 20): 1, (4, 22): 1, (4, 23): 2, (5, 4): 2, (6, 0): 3, (6, 5): 1,
                (0, 12): 1, (0, 23): 1}  # fmt: skip
    assert got.pages_by_hour_of_week == [
        [expected.get((day, hour), 0) for hour in range(24)] for day in range(7)
    ]


def test_months_and_hours_of_the_week_on_the_teams_clock_across_the_dst_change(store, history):
    h = history
    # The team last published a roster in Berlin's time (as planning's publish remembers it).
    store.write(lambda tx: tx.execute(
        "UPDATE teams SET roster_rules = ? WHERE id = ?",
        [json.dumps({"TimeZone": "Europe/Berlin", "Handoff": "09:00", "Layers": 2}), h.team_id],
    ))  # fmt: skip
    got = team_analytics(store, h.team_id, utc(2026, 3, 27), utc(2026, 4, 2))
    assert got.time_zone == "Europe/Berlin"
    # Berlin's April starts 2026-03-31 22:00Z (CEST). Ben's secondary 03-27..04-02: 118 hours
    # in March, 26 in April. Ana's primary ends 03-31 00:00Z (90 h), Chloé's override 6 h.
    # Ben's I7 page at 03-31 00:05Z now counts (New York Mon 20:05: neither night nor
    # weekend); it is 02:05 on Berlin's March 31.
    march, april = got.months
    assert march[0] == "2026-03" and april[0] == "2026-04"
    assert (march[1].incidents, march[1].pages, march[1].night_pages, march[1].weekend_pages,
            march[1].hours_by_layer) == (7, 13, 7, 7, {1: 96.0, 2: 118.0})  # fmt: skip
    assert april[1] == Figures(hours_by_layer={2: 26.0})
    ben_months = dict(got.person_months[h.ben])
    assert ben_months["2026-03"] == Figures(pages=3, weekend_pages=1, hours_by_layer={2: 118.0})
    assert ben_months["2026-04"] == Figures(hours_by_layer={2: 26.0})
    # Hours of the week on Berlin's clock: +1 until Sun 01:00Z, +2 after. Ana Fri 21:30,
    # 23:50, Sat 00:00, 05:30, 05:40, Sun 01:30, 01:40, 07:30 (CEST), Mon 14:00; Ben Sat
    # 00:05, Sun 01:45, Tue 02:05; Chloé Tue 01:50.
    expected = {(4, 21): 1, (4, 23): 1, (5, 0): 2, (5, 5): 2, (6, 1): 3, (6, 7): 1,
                (0, 14): 1, (1, 2): 1, (1, 1): 1}  # fmt: skip
    assert got.pages_by_hour_of_week == [
        [expected.get((day, hour), 0) for hour in range(24)] for day in range(7)
    ]


def test_an_acknowledgement_filled_in_by_an_old_resolve_is_not_one(store, history):
    """Before issue 22, resolving filled an empty acknowledged_at with the resolution's time;
    such a row still reads as resolved without an acknowledgement (the timeline has none)."""
    h = history
    store.write(lambda tx: tx.execute(
        "UPDATE incidents SET acknowledged_at = resolved_at, acknowledged_by = resolved_by "
        "WHERE id = ?", [h.incident["I3"]],
    ))  # fmt: skip
    got = team_analytics(store, h.team_id, *WINDOW)
    assert got.team.resolved_without_acknowledgement == 1
    assert got.team.to_acknowledge == Durations(5, 8.0, 30.0)


def test_percentiles_by_nearest_rank_and_the_median():
    assert percentile([], 90) is None and median([]) is None
    assert percentile([7.0], 90) == 7.0 and median([7.0]) == 7.0
    ten = [float(v) for v in range(10, 0, -1)]  # 10..1, unsorted on purpose
    assert percentile(ten, 90) == 9.0  # ceil(9.0) = 9th smallest
    assert percentile(ten, 50) == 5.0 and median(ten) == 5.5
    eleven = [float(v) for v in range(1, 12)]
    assert percentile(eleven, 90) == 10.0  # ceil(9.9) = 10th
    assert median(eleven) == 6.0


def test_a_snooze_is_an_acknowledgement_and_a_page_never_sent_is_no_page(store, history):
    h = history
    # On Web, Mon 15:00Z: Ana's e-mail is queued, and the snooze at 15:04 cancels it before
    # the notify job runs (no page); the snooze is an acknowledgement (4 minutes); resolved at
    # 15:20.
    incident, _ = incidents.trigger(store, "I8 snoozed", utc(2026, 3, 30, 15), service_id=h.web)
    incidents.snooze(store, incident.id, 30, utc(2026, 3, 30, 15, 4), h.ana)
    incidents.resolve(store, incident.id, utc(2026, 3, 30, 15, 20), h.ana)
    got = team_analytics(store, h.team_id, *WINDOW)
    _, _, web = got.services[1]
    # Web: I6 acknowledged after 6 minutes, I8 after 4: median 5, p90 the 2nd = 6.
    assert web == Figures(
        incidents=2, pages=1, to_acknowledge=Durations(2, 5.0, 6.0),
        to_resolve=Durations(1, 20.0, 20.0),
    )  # fmt: skip
    assert got.team.pages == 12 and got.team.resolved_without_acknowledgement == 1
    assert person_burden(store, h.team_id, *WINDOW)[h.ana].pages == 9


def test_postgresql_reads_a_window_of_incidents_and_pages_by_index(store, backend):
    """Analytics and the burden estimate read incidents by created_at and pages by kind and
    sent_at over a window: PostgreSQL has indexes that answer those ranges (DuckDB none)."""
    if backend != "postgresql":
        names = {r["index_name"] for r in store.rows("SELECT index_name FROM duckdb_indexes()")}
        assert not names & {"incidents_created", "notifications_pages_sent"}
        return
    names = {r["indexname"] for r in store.rows("SELECT indexname FROM pg_indexes")}
    assert {"incidents_created", "notifications_pages_sent"} <= names

    def plan(sql: str) -> str:
        def explain(tx):
            tx.execute("SET LOCAL enable_seqscan = off")
            return tx.rows("EXPLAIN " + sql)

        return json.dumps(store.write(explain), default=str)

    assert "incidents_created" in plan(
        "SELECT id FROM incidents WHERE created_at >= now() - interval '7 days' "
        "AND created_at < now()"
    )
    assert "notifications_pages_sent" in plan(
        "SELECT id FROM notifications WHERE kind = 'page' "
        "AND sent_at >= now() - interval '7 days' AND sent_at < now()"
    )
