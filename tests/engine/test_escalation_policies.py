"""Escalation policies with a fake clock: who is paged at which minute, what stops it (an
acknowledgement, a snooze, resolving), low urgency, steps with nobody on call, repeats,
escalating by hand, per-service acknowledgement and auto-resolve timeouts, and two teams whose
services page their own people."""

from __future__ import annotations

import pytest

from oncall_opt.engine import incidents, policies, services, teams, timeline
from oncall_opt.engine.jobs import JobState, autoassign, escalation, timeouts
from oncall_opt.engine.policies import Step, Target
from oncall_opt.engine.shifts import PRIMARY, SECONDARY, create_schedule
from oncall_opt.engine.users import create_user
from oncall_opt.errors import ConflictError, InvalidRequestError, NotFoundError


def layer(team_id: int, number: int = PRIMARY) -> Target:
    return Target("layer", team_id=team_id, layer=number)


def person(user) -> Target:
    return Target("user", user_id=user.id)


@pytest.fixture
def world(store, clock):
    """The Payments team (ana primary, ben secondary all week) with a three-step policy, repeat
    once 10 minutes after the last step: step 1 the primary at once, step 2 the secondary 5
    minutes later, step 3 cy (by name) 10 minutes after that."""
    now = clock.now()
    ana, ben, cy = (create_user(store, n, "X", n.lower(), now) for n in ("Ana", "Ben", "Cy"))
    payments = teams.create_team(store, "Payments", now, [ana.id, ben.id])
    week = (now.replace(hour=0), now.replace(hour=0).replace(day=now.day + 7))
    create_schedule(store, ana.id, *week, PRIMARY, payments.id)
    create_schedule(store, ben.id, *week, SECONDARY, payments.id)
    policy = policies.create_policy(
        store,
        "Payments policy",
        [
            Step(0, (layer(payments.id),)),
            Step(5, (layer(payments.id, SECONDARY),)),
            Step(10, (person(cy),)),
        ],
        now,
        repeats=1,
        repeat_after_minutes=10,
    )
    service, key = services.create_service(store, "payments-api", now, payments.id, policy.id)
    return {
        "ana": ana,
        "ben": ben,
        "cy": cy,
        "team": payments,
        "policy": policy,
        "service": service,
        "key": key,
    }


def paged_by_minute(store, clock, incident_id: int, minutes: int) -> dict[int, list[str]]:
    """Run the jobs each minute for `minutes`; who each minute's escalation paged."""
    state, start, seen = JobState(), clock.now(), 0
    paged: dict[int, list[str]] = {}
    for _ in range(minutes + 1):  # in the job loop's order
        timeouts.run(store, clock.now())
        escalation.run(store, clock.now(), state)
        entries = [
            e for e in timeline.entries(store, incident_id) if e.kind in ("paged", "escalated")
        ]
        for entry in entries[seen:]:
            minute = int((entry.at - start).total_seconds() // 60)
            paged.setdefault(minute, []).append(entry.user.first_name if entry.user else "nobody")
        seen = len(entries)
        clock.advance(minutes=1)
    return paged


def test_three_steps_repeated_once_page_who_at_which_minute(store, clock, world):
    incident, _ = incidents.trigger(
        store, "card payments fail", clock.now(), service_id=world["service"].id
    )
    assert incident.assignee == world["ana"] and incident.team_id == world["team"].id
    paged = paged_by_minute(store, clock, incident.id, 60)
    # 0 ana; +5 ben; +10 cy (15); repeat 10 later (25): ana, +5 ben (30), +10 cy (40); done.
    assert paged == {0: ["Ana"], 5: ["Ben"], 15: ["Cy"], 25: ["Ana"], 30: ["Ben"], 40: ["Cy"]}
    final = incidents.get_incident(store, incident.id)
    assert final.next_escalation_at is None and final.escalated_to == world["cy"]
    assert final.assignee == world["ana"]  # escalation pages; it does not take the incident


def test_acknowledging_or_resolving_stops_escalation(store, clock, world):
    service = world["service"].id
    acked, _ = incidents.trigger(store, "a", clock.now(), service_id=service)
    resolved, _ = incidents.trigger(store, "b", clock.now(), service_id=service)
    clock.advance(minutes=6)
    assert escalation.run(store, clock.now()) == 2  # both paged step 2 at minute 6
    incidents.acknowledge(store, acked.id, clock.now(), world["ben"].id)
    incidents.resolve(store, resolved.id, clock.now())
    for _ in range(60):
        clock.advance(minutes=1)
        assert escalation.run(store, clock.now()) == 0
    for incident_id in (acked.id, resolved.id):
        kinds = [e.kind for e in timeline.entries(store, incident_id)]
        assert kinds.count("escalated") == 1


def test_a_snooze_silences_then_triggers_again_from_the_first_step(store, clock, world):
    incident, _ = incidents.trigger(store, "x", clock.now(), service_id=world["service"].id)
    snoozed = incidents.snooze(store, incident.id, 30, clock.now(), world["ana"].id)
    assert snoozed.status == "acknowledged" and snoozed.retrigger_at is not None
    paged = paged_by_minute(store, clock, incident.id, 36)
    assert paged == {0: ["Ana"], 30: ["Ana"], 35: ["Ben"]}  # again from step 1 at minute 30
    again = incidents.get_incident(store, incident.id)
    assert again.status == "triggered" and again.acknowledged_by is None
    kinds = [e.kind for e in timeline.entries(store, incident.id)]
    assert "snoozed" in kinds and "retriggered" in kinds
    with pytest.raises(InvalidRequestError, match="Minutes"):
        incidents.snooze(store, incident.id, 0, clock.now())


def test_low_urgency_pages_the_first_step_only(store, clock, world):
    low, _ = incidents.trigger(
        store, "disk 80%", clock.now(), service_id=world["service"].id, urgency="low"
    )
    assert low.next_escalation_at is None
    assert paged_by_minute(store, clock, low.id, 45) == {0: ["Ana"]}
    warning, _ = incidents.trigger(
        store, "w", clock.now(), service_id=world["service"].id, severity="warning"
    )
    assert warning.urgency == "low"
    listed = incidents.list_incidents(store, "open", urgency="low")
    assert [i.id for i in listed] == [warning.id, low.id]


def test_a_step_with_nobody_on_call_is_passed_but_the_last_one_waits(store, clock, world):
    empty = teams.create_team(store, "Nobody", clock.now())
    policy = policies.create_policy(
        store,
        "gappy",
        [
            Step(0, (layer(empty.id),)),
            Step(5, (person(world["cy"]),)),
            Step(5, (layer(empty.id, SECONDARY),)),
        ],
        clock.now(),
    )
    service, _ = services.create_service(store, "gappy", clock.now(), empty.id, policy.id)
    incident, _ = incidents.trigger(store, "x", clock.now(), service_id=service.id)
    assert incident.assignee is None  # step 1 found nobody: unassigned, and the policy goes on
    paged = paged_by_minute(store, clock, incident.id, 20)
    assert paged == {0: ["nobody"], 5: ["Cy"]}  # step 3 waits for someone to be on call
    create_schedule(
        store, world["ben"].id, clock.now(), clock.now().replace(hour=23), SECONDARY, empty.id
    )
    assert escalation.run(store, clock.now()) == 1
    assert incidents.get_incident(store, incident.id).escalated_to == world["ben"]
    # Auto-assign hands it to step 1's person once there is one.
    create_schedule(
        store, world["ana"].id, clock.now(), clock.now().replace(hour=23), PRIMARY, empty.id
    )
    assert autoassign.run(store, clock.now()) == 1
    assert incidents.get_incident(store, incident.id).assignee == world["ana"]


def test_escalate_by_hand_pages_a_step_and_reassigns(store, clock, world):
    incident, _ = incidents.trigger(store, "x", clock.now(), service_id=world["service"].id)
    after = escalation.escalate(store, incident.id, 3, clock.now())
    assert after.assignee == world["cy"] and after.escalation_step == 3
    clock.advance(minutes=10)
    assert escalation.run(store, clock.now()) == 1  # the repeat: step 1 again
    with pytest.raises(InvalidRequestError, match="steps 1 to 3"):
        escalation.escalate(store, incident.id, 4, clock.now())
    incidents.resolve(store, incident.id, clock.now())
    with pytest.raises(ConflictError):
        escalation.escalate(store, incident.id, 1, clock.now())


def test_acknowledgement_timeout_and_auto_resolve_per_service(store, clock, world):
    service = services.update_service(
        store, world["service"].id, ack_timeout_minutes=20, auto_resolve_minutes=120
    )
    acked, _ = incidents.trigger(store, "x", clock.now(), service_id=service.id)
    incidents.acknowledge(store, acked.id, clock.now(), world["ana"].id)
    clock.advance(minutes=19)
    assert timeouts.run(store, clock.now()) == {"retriggered": 0, "auto_resolved": 0}
    clock.advance(minutes=1)
    assert timeouts.run(store, clock.now()) == {"retriggered": 1, "auto_resolved": 0}
    assert incidents.get_incident(store, acked.id).status == "triggered"
    incidents.resolve(store, acked.id, clock.now())

    quiet, _ = incidents.trigger(store, "y", clock.now(), service_id=service.id)
    clock.advance(minutes=60)
    incidents.trigger(store, "y again", clock.now(), dedup_key=None, service_id=service.id)
    repeated, _ = incidents.trigger(store, "z", clock.now(), dedup_key="z", service_id=service.id)
    clock.advance(minutes=60)
    incidents.trigger(store, "z", clock.now(), dedup_key="z", service_id=service.id)
    assert timeouts.run(store, clock.now())["auto_resolved"] == 1  # quiet for 120 minutes
    assert incidents.get_incident(store, quiet.id).status == "resolved"
    assert incidents.get_incident(store, repeated.id).status == "triggered"  # triggered again
    # The Default service has neither timeout.
    other, _ = incidents.trigger(store, "w", clock.now())
    incidents.acknowledge(store, other.id, clock.now())
    clock.advance(days=3)
    timeouts.run(store, clock.now())
    assert incidents.get_incident(store, other.id).status == "acknowledged"


def test_two_teams_page_their_own_people(store, clock, world):
    now = clock.now()
    dee = create_user(store, "Dee", "Y", "dee", now)
    create_schedule(store, dee.id, now.replace(hour=0), now.replace(hour=23))  # Default team
    default, _ = incidents.trigger(store, "default service", now)
    payments, _ = incidents.trigger(store, "payments service", now, service_id=world["service"].id)
    assert default.assignee == dee and default.team_id == teams.DEFAULT_TEAM
    assert payments.assignee == world["ana"]
    # Dedup keys are per service: one key on two services opens two incidents.
    first, created = incidents.trigger(store, "k", now, dedup_key="k")
    second, created_too = incidents.trigger(
        store, "k", now, dedup_key="k", service_id=world["service"].id
    )
    assert created and created_too and first.id != second.id
    again, created_again = incidents.trigger(store, "k", now, dedup_key="k")
    assert (again.id, again.trigger_count, created_again) == (first.id, 2, False)
    assert incidents.get_incident(store, second.id).trigger_count == 1


def test_policies_check_their_steps_and_what_depends_on_them(store, clock, world):
    now = clock.now()
    with pytest.raises(NotFoundError, match=r"Steps\[0\].Targets\[0\].TeamId"):
        policies.create_policy(store, "bad", [Step(0, (layer(999),))], now)
    with pytest.raises(NotFoundError, match=r"Steps\[1\].Targets\[0\].UserId"):
        policies.create_policy(
            store, "bad", [Step(0, (layer(1),)), Step(1, (Target("user", user_id=999),))], now
        )
    with pytest.raises(InvalidRequestError, match="Steps"):
        policies.create_policy(store, "bad", [], now)
    with pytest.raises(ConflictError, match="exists already"):
        policies.create_policy(store, "payments POLICY", [Step(0, (layer(1),))], now)
    with pytest.raises(ConflictError, match="payments-api"):
        policies.delete_policy(store, world["policy"].id)
    with pytest.raises(ConflictError, match="services 'payments-api'"):
        teams.delete_team(store, world["team"].id, now)
    with pytest.raises(ConflictError, match="Default"):
        teams.delete_team(store, teams.DEFAULT_TEAM, now)


def test_routing_changes_apply_at_once_and_other_processes_within_the_ttl(
    store, clock, world, monkeypatch
):
    service = world["service"].id
    policies.update_policy(store, world["policy"].id, steps=[Step(0, (person(world["cy"]),))])
    first, _ = incidents.trigger(store, "a", clock.now(), service_id=service)
    assert first.assignee == world["cy"]  # the engine's own change: at once
    # Behind the engine's back, as another daemon on the same database would write it:
    store.write(lambda tx: tx.execute("UPDATE services SET team_id = 1 WHERE id = ?", [service]))
    second, _ = incidents.trigger(store, "b", clock.now(), service_id=service)
    assert second.team_id == world["team"].id  # still the remembered routing
    monkeypatch.setattr(services, "ROUTING_TTL", 0.0)
    third, _ = incidents.trigger(store, "c", clock.now(), service_id=service)
    assert third.team_id == 1  # read again once the memo is older than ROUTING_TTL
    made, _ = services.create_service(store, "new", clock.now())
    assert incidents.trigger(store, "d", clock.now(), service_id=made.id)[0].service_id == made.id
