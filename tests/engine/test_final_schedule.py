"""The final schedule with a fake clock: overrides on the roster (the last created wins, across
a handoff, deleted while under way), auto-assign and escalation following an override, swap
requests with their Slack texts, handoff and gap notices (once, also after a restart), and the
fairness report on a hand-checked example across a daylight-saving change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from oncall_opt.engine import final, incidents, overrides, report
from oncall_opt.engine.availability import set_days
from oncall_opt.engine.jobs import JobState, autoassign, escalation, handoffs
from oncall_opt.engine.settings import Settings
from oncall_opt.engine.shifts import SECONDARY, create_schedule
from oncall_opt.engine.store import Store
from oncall_opt.engine.users import create_user
from oncall_opt.errors import ConflictError

MON = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # the fake clock's start
KNOW = {"i_know": True}  # an admin's "I know": the override breaks a rule, on purpose


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


@pytest.fixture
def team(store, clock):
    """Ana on call Mon 09:00 - Tue 09:00, Ben Tue 09:00 - Wed 09:00 (Default team, primary);
    Cy on the secondary layer all three days. Cy (or Ana) on primary and secondary at once
    breaks a rule (`change_rules`): the tests of how overrides stack make them with an
    admin's "I know" (KNOW)."""
    now = clock.now()
    ana = create_user(store, "Ana", "Silva", "ana", now, "Europe/Berlin")
    ben = create_user(store, "Ben", "Okafor", "ben", now)
    cy = create_user(store, "Cy", "Lee", "cy", now)
    create_schedule(store, ana.id, MON, MON + hours(24))
    create_schedule(store, ben.id, MON + hours(24), MON + hours(48))
    create_schedule(store, cy.id, MON, MON + hours(72), SECONDARY)
    return {"ana": ana, "ben": ben, "cy": cy}


def who(store, at: datetime, layer: int = 1) -> str | None:
    found = final.segments(store, 1, at, at + timedelta(seconds=1), [layer])
    return found[0].user.first_name if found else None


def test_the_last_override_created_wins_and_one_can_cross_a_handoff(store, clock, team):
    ana, ben, cy = team["ana"], team["ben"], team["cy"]
    first = overrides.create_override(
        store, 1, cy.id, MON + hours(20), MON + hours(30), clock.now(), **KNOW
    )
    overrides.create_override(store, 1, ben.id, MON + hours(22), MON + hours(23), clock.now())
    assert [who(store, MON + hours(h)) for h in (19, 21, 22.5, 23.5, 29, 31)] == [
        "Ana",
        "Cy",
        "Ben",
        "Cy",
        "Cy",
        "Ben",
    ]
    segments = final.segments(store, 1, MON, MON + hours(48), [1])
    assert [(s.user.first_name, s.source, s.start - MON, s.end - MON) for s in segments] == [
        ("Ana", "roster", hours(0), hours(20)),
        ("Cy", "override", hours(20), hours(22)),
        ("Ben", "override", hours(22), hours(23)),
        ("Cy", "override", hours(23), hours(24)),
        ("Cy", "override", hours(24), hours(30)),  # across the handoff: now covering Ben
        ("Ben", "roster", hours(30), hours(48)),
    ]
    assert segments[3].covers == ana and segments[4].covers == ben
    assert first.user == cy


def test_deleting_an_override_under_way_ends_it_now(store, clock, team):
    made = overrides.create_override(
        store, 1, team["cy"].id, MON + hours(1), MON + hours(10), clock.now(), **KNOW
    )
    later = overrides.create_override(
        store, 1, team["cy"].id, MON + hours(30), MON + hours(31), clock.now(), **KNOW
    )
    clock.advance(hours=3)
    ended = overrides.delete_override(store, made.id, clock.now())
    assert ended.end == clock.now() and who(store, clock.now()) == "Ana"
    assert who(store, MON + hours(2)) == "Cy"  # the past stays as it was
    overrides.delete_override(store, later.id, clock.now())  # not begun: gone
    assert who(store, MON + hours(30.5)) == "Ben"
    clock.advance(hours=20)
    with pytest.raises(ConflictError, match="over"):
        overrides.delete_override(store, made.id, clock.now())


def test_paging_follows_the_final_schedule(store, clock, team):
    overrides.create_override(store, 1, team["ben"].id, MON, MON + hours(2), clock.now())
    incident, _ = incidents.trigger(store, "db down", clock.now())
    assert incident.assignee == team["ben"]  # the override, not Ana's shift
    clock.advance(hours=3)  # the override is over: Ana again
    unassigned, _ = incidents.trigger(store, "queue", clock.now() + hours(100))
    assert unassigned.assignee is None  # nobody on call then
    overrides.create_override(
        store, 1, team["ana"].id, clock.now(), clock.now() + hours(1), clock.now(), layer=SECONDARY,
        **KNOW,
    )  # fmt: skip
    clock.advance(minutes=15)
    escalated, _ = incidents.trigger(store, "later", clock.now() - timedelta(minutes=15))
    assert escalation.run(store, clock.now(), JobState()) >= 1
    after = incidents.get_incident(store, escalated.id)
    assert after.escalated_to == team["ana"]  # the secondary's override
    # Auto-assign hands a waiting incident to whoever the final schedule says.
    store.write(lambda tx: tx.execute("UPDATE incidents SET assigned_user_id = NULL"))
    overrides.create_override(
        store, 1, team["cy"].id, clock.now(), clock.now() + hours(1), clock.now(), **KNOW
    )
    assert autoassign.run(store, clock.now()) >= 1
    assert incidents.get_incident(store, escalated.id).assignee == team["cy"]


def test_take_it_from_now(store, clock, team):
    clock.advance(hours=5)
    taken = overrides.take_now(store, 1, team["cy"].id, clock.now(), i_know=True)
    assert (taken.start, taken.end) == (clock.now(), MON + hours(24))  # Ana's stretch's end
    assert who(store, clock.now()) == "Cy" and who(store, MON + hours(25)) == "Ben"
    with pytest.raises(ConflictError, match="already"):
        overrides.take_now(store, 1, team["cy"].id, clock.now())
    clock.advance(hours=100)
    with pytest.raises(ConflictError, match="nobody is on call"):
        overrides.take_now(store, 1, team["cy"].id, clock.now())


def test_swap_requests_accept_refuse_cancel_with_their_slack_texts(store, clock, team, slack):
    from oncall_opt.engine.jobs import delivery
    from oncall_opt.engine.slack import SlackWebhook

    ana, ben, cy = team["ana"], team["ben"], team["cy"]
    dee = create_user(store, "Dee", "Ray", "dee", clock.now())
    set_days(
        store,
        dee.id,
        MON.date(),
        (MON + hours(72)).date(),
        {(MON + hours(30)).date(): "unavailable"},
    )
    swap = overrides.request_swap(
        store, 1, ben.id, MON + hours(24), MON + hours(48), clock.now(), "dentist"
    )
    with pytest.raises(ConflictError, match="Dee Ray marked Tue 6 Jan 2026 away"):
        overrides.accept_swap(store, swap.id, dee.id, clock.now())
    with pytest.raises(ConflictError, match="cancel it instead"):
        overrides.accept_swap(store, swap.id, ben.id, clock.now())
    with pytest.raises(ConflictError, match="Cy Lee would be on primary and secondary at once"):
        overrides.accept_swap(store, swap.id, cy.id, clock.now())
    done = overrides.accept_swap(store, swap.id, ana.id, clock.now())
    assert done.status == "accepted" and done.accepted_by == ana
    assert who(store, MON + hours(30)) == "Ana"
    with pytest.raises(ConflictError, match="accepted"):
        overrides.accept_swap(store, swap.id, cy.id, clock.now())
    other = overrides.request_swap(store, 1, ana.id, MON + hours(2), MON + hours(4), clock.now())
    assert overrides.cancel_swap(store, other.id, clock.now()).status == "cancelled"
    assert who(store, MON + hours(3)) == "Ana"

    sender = SlackWebhook(slack.url, 2.0)
    delivery.run(store, clock.now(), sender, Settings(slack_min_interval=0), state=JobState())
    texts = slack.take(4)
    sender.close()
    assert texts[0].startswith("Ben Okafor <@ben> asks for someone to take Default (primary) from ")
    assert texts[0].endswith(f": dentist (swap #{swap.id}: accept it in the console)")
    assert "|Tue 6 Jan 09:00 UTC>" in texts[0] and "|Wed 7 Jan 09:00 UTC>" in texts[0]
    assert texts[1].startswith("Ana Silva <@ana> takes Default (primary) from ")
    assert texts[1].endswith(f"for Ben Okafor <@ben> (swap #{swap.id} accepted)")
    assert texts[2].startswith("Ana Silva <@ana> asks for someone")
    assert texts[3].startswith("Ana Silva <@ana> no longer needs someone for Default")
    assert texts[3].endswith(f"(swap #{other.id} cancelled)")


def test_handoff_notices_once_each_even_after_a_restart(tmp_path, clock):
    path = tmp_path / "notices.duckdb"
    store = Store(path)
    ana = create_user(store, "Ana", "Silva", "ana", clock.now())
    ben = create_user(store, "Ben", "Okafor", "ben", clock.now())
    create_schedule(store, ana.id, MON, MON + hours(24))
    create_schedule(store, ben.id, MON + hours(24), MON + hours(30))
    settings = Settings(handoff_notice_minutes=30)

    def texts() -> list[str]:
        return [r["kind"] for r in store.rows("SELECT kind FROM outbox ORDER BY id")]

    sent = []
    for minute in range(0, 40 * 60, 5):  # every 5 minutes for 40 hours, with a restart at 24 h
        if minute == 24 * 60:
            store.close()
            store = Store(path)
        sent.append(handoffs.run(store, MON + timedelta(minutes=minute), settings))
    kinds = texts()
    # Ana's handoff at the first run (Mon 09:00; her heads-up was before the test began); Ben:
    # heads-up at 08:30 Tuesday, handoff at 09:00; the gap after Ben (Tue 15:00) a day ahead.
    assert kinds == ["handoff", "gap", "upcoming", "handoff"]
    rows = store.rows("SELECT kind, text, created_at FROM outbox ORDER BY id")
    at = {r["kind"]: r["created_at"] - MON for r in rows[1:]}
    assert at["gap"] == hours(30) - hours(24)  # a day ahead of Tue 15:00
    assert at["upcoming"] == hours(24) - timedelta(minutes=30)
    assert at["handoff"] == hours(24)
    handoff = rows[-1]["text"]
    assert handoff.startswith("Ben Okafor <@ben> is on call for Default (primary) until <!date^")
    assert handoff.endswith("|Tue 6 Jan 15:00 UTC>")
    store.close()


def test_the_fairness_report_across_a_daylight_saving_change(store, clock):
    # Berlin leaves summer time on Sun 25 Oct 2026 at 03:00 (back to 02:00): that night is an
    # hour longer. Eve (Berlin) is on call Sat 24 Oct 20:00 UTC to Sun 25 Oct 20:00 UTC.
    eve = create_user(store, "Eve", "Berg", "eve", clock.now(), "Europe/Berlin")
    flo = create_user(store, "Flo", "Diaz", "flo", clock.now())  # UTC
    start = datetime(2026, 10, 24, 20, 0, tzinfo=UTC)
    create_schedule(store, eve.id, start, start + hours(24))
    create_schedule(store, flo.id, start, start + hours(24), SECONDARY)
    # Flo stands in for Eve from 02:00 to 04:00 UTC on Sunday (04:00-05:00 CET: night).
    overrides.create_override(
        store, 1, flo.id, start + hours(6), start + hours(8), start, **KNOW
    )  # Flo is also the secondary then: on both layers, as an admin allowed
    incidents.trigger(store, "x", start + hours(1))  # Eve's
    rows = {r.user.first_name: r for r in report.team_report(store, 1, start, start + hours(24))}
    e, f = rows["Eve"], rows["Flo"]
    # Eve: 22 h primary. Her local time runs Sat 22:00 CEST to Sun 21:00 CET: all weekend.
    assert e.hours_by_layer == {1: 22.0} and e.weekend_hours == 22.0
    # Night 22:00-07:00 Berlin: Sat 22:00 CEST (20:00 UTC) to Sun 07:00 CET (06:00 UTC) is 10 h
    # (the extra hour), minus Flo's 2 h; Sun 22:00 CET is after her shift.
    assert e.night_hours == 8.0
    assert e.given_away_hours == 2.0 and e.covered_hours == 0.0 and e.incidents == 1
    # Flo (UTC): 24 h secondary + 2 h primary, all on Saturday or Sunday; night 22-07 UTC:
    # 20:00 Sat to 20:00 Sun holds 22:00-07:00 (9 h) on the secondary, 02:00-04:00 (2 h) primary.
    assert f.hours_by_layer == {1: 2.0, 2: 24.0} and f.covered_hours == 2.0
    assert f.night_hours == 11.0 and f.weekend_hours == 26.0
