"""Reopening a resolved incident (`incidents.unresolve`, the console's Undo): back to the state
it was resolved from, with who did it on the timeline and in Slack; refused when it is not
resolved or its dedup key has opened another incident since. On both backends."""

from __future__ import annotations

from datetime import timedelta

import pytest

from oncall_opt.engine import incidents, services, timeline
from oncall_opt.engine.jobs import JobState, escalation, timeouts
from oncall_opt.engine.shifts import PRIMARY, SECONDARY, create_schedule
from oncall_opt.engine.users import create_user
from oncall_opt.errors import ConflictError, NotFoundError


@pytest.fixture
def people(store, clock):
    """Katy primary and Bob secondary of the Default team for the day (the Default policy:
    the primary at once, the secondary 15 minutes later)."""
    now = clock.now()
    katy = create_user(store, "Katy", "Smith", "katy", now)
    bob = create_user(store, "Bob", "Jones", "bob", now)
    create_schedule(store, katy.id, now, now + timedelta(hours=12), PRIMARY)
    create_schedule(store, bob.id, now, now + timedelta(hours=12), SECONDARY)
    return {"katy": katy, "bob": bob}


def messages(store) -> list[tuple[str, str]]:
    return [(r["kind"], r["text"]) for r in store.rows("SELECT kind, text FROM outbox ORDER BY id")]


def kinds(store, incident_id: int) -> list[str]:
    return [entry.kind for entry in timeline.entries(store, incident_id)]


def test_a_triggered_incident_resolved_then_reopened_is_triggered_and_escalates_on(
    store, clock, people
):
    katy, bob = people["katy"], people["bob"]
    incident, _ = incidents.trigger(store, "Checkout down", clock.now())
    assert incident.escalation_step == 1 and incident.assignee == katy
    clock.advance(minutes=5)
    resolved = incidents.resolve(store, incident.id, clock.now(), katy.id)
    assert resolved.acknowledged_at is None  # resolving is not acknowledging (issue 22)
    clock.advance(minutes=1)
    reopened = incidents.unresolve(store, incident.id, clock.now(), bob.id)

    assert reopened.status == incidents.TRIGGERED
    assert reopened.resolved_at is None and reopened.resolved_by is None
    assert reopened.acknowledged_at is None and reopened.acknowledged_by is None
    assert reopened.assignee == katy and reopened.escalation_step == 1
    # Nobody is paged at once: the next step (the secondary) its 15 minutes from now.
    assert reopened.next_escalation_at == clock.now() + timedelta(minutes=15)
    assert incidents.get_incident(store, incident.id) == reopened
    assert incidents.list_incidents(store, "triggered") == [reopened]

    state = JobState()
    clock.advance(minutes=14)
    assert escalation.run(store, clock.now(), state) == 0
    clock.advance(minutes=1)
    assert escalation.run(store, clock.now(), state) == 1
    assert incidents.get_incident(store, incident.id).escalated_to == bob


def test_an_acknowledged_incident_resolved_then_reopened_is_acknowledged_by_the_same_person(
    store, clock, people
):
    katy, bob = people["katy"], people["bob"]
    incident, _ = incidents.trigger(store, "Disk full", clock.now())
    clock.advance(minutes=2)
    acked = incidents.acknowledge(store, incident.id, clock.now(), katy.id)
    clock.advance(minutes=3)
    incidents.resolve(store, incident.id, clock.now(), bob.id)
    reopened = incidents.unresolve(store, incident.id, clock.now(), bob.id)

    assert reopened.status == incidents.ACKNOWLEDGED
    assert reopened.acknowledged_at == acked.acknowledged_at and reopened.acknowledged_by == katy
    assert reopened.resolved_at is None and reopened.resolved_by is None
    assert reopened.next_escalation_at is None and reopened.retrigger_at is None
    assert incidents.list_incidents(store, "acknowledged") == [reopened]
    assert escalation.run(store, clock.now() + timedelta(hours=1), JobState()) == 0


def test_acknowledged_and_resolved_at_the_same_instant_reopens_acknowledged(store, clock, people):
    """The fake clock stands still: the acknowledgement and the resolution share a moment,
    and the timeline still tells an acknowledgement of its own from the one resolving made."""
    incident, _ = incidents.trigger(store, "Queue backlog", clock.now())
    incidents.acknowledge(store, incident.id, clock.now(), people["katy"].id)
    incidents.resolve(store, incident.id, clock.now())
    assert incidents.unresolve(store, incident.id, clock.now()).status == incidents.ACKNOWLEDGED

    other, _ = incidents.trigger(store, "CPU hot", clock.now())
    incidents.resolve(store, other.id, clock.now(), people["katy"].id)
    assert incidents.unresolve(store, other.id, clock.now()).status == incidents.TRIGGERED


def test_a_snoozed_incident_reopens_acknowledged_with_the_services_ack_timeout(
    store, clock, people
):
    services.update_service(store, services.DEFAULT_SERVICE, ack_timeout_minutes=30)
    incident, _ = incidents.trigger(store, "Latency", clock.now())
    incidents.snooze(store, incident.id, 60, clock.now(), people["katy"].id)
    clock.advance(minutes=10)
    incidents.resolve(store, incident.id, clock.now())
    clock.advance(minutes=1)
    reopened = incidents.unresolve(store, incident.id, clock.now())
    assert reopened.status == incidents.ACKNOWLEDGED
    assert reopened.acknowledged_by == people["katy"]
    assert reopened.retrigger_at == clock.now() + timedelta(minutes=30)
    clock.advance(minutes=30)
    assert timeouts.run(store, clock.now())["retriggered"] == 1


def test_an_incident_auto_resolved_reopens_to_what_it_was(store, clock, people):
    services.update_service(store, services.DEFAULT_SERVICE, auto_resolve_minutes=60)
    incident, _ = incidents.trigger(store, "Flapping check", clock.now())
    clock.advance(minutes=61)
    assert timeouts.run(store, clock.now())["auto_resolved"] == 1
    assert incidents.unresolve(store, incident.id, clock.now()).status == incidents.TRIGGERED


def test_reopening_writes_the_timeline_and_a_slack_message(store, clock, people):
    katy, bob = people["katy"], people["bob"]
    incident, _ = incidents.trigger(store, "Checkout down", clock.now())
    incidents.acknowledge(store, incident.id, clock.now(), katy.id)
    incidents.resolve(store, incident.id, clock.now(), katy.id)
    clock.advance(minutes=1)
    incidents.unresolve(store, incident.id, clock.now(), bob.id)
    other, _ = incidents.trigger(store, "Disk full", clock.now())
    incidents.resolve(store, other.id, clock.now())
    incidents.unresolve(store, other.id, clock.now())

    [entry] = [e for e in timeline.entries(store, incident.id) if e.kind == "unresolved"]
    assert entry.user == bob and entry.at == clock.now()
    assert entry.message == "reopened: acknowledged again"
    assert timeline.entries(store, other.id)[-1].message == "reopened: triggered again"
    assert timeline.entries(store, other.id)[-1].user is None
    assert kinds(store, incident.id) == [
        "triggered", "paged", "acknowledged", "resolved", "unresolved",
    ]  # fmt: skip
    reopened = [m for m in messages(store) if m[0] == "unresolved"]
    assert reopened == [
        (
            "unresolved",
            "Incident #1 has been reopened by Bob Jones <@bob> (acknowledged by Katy Smith "
            "<@katy>):\nCheckout down",
        ),
        (
            "unresolved",
            "Incident #2 has been reopened (triggered, assigned to Katy Smith <@katy>):\nDisk full",
        ),
    ]


def test_only_a_resolved_incident_may_be_reopened(store, clock, people):
    incident, _ = incidents.trigger(store, "Disk full", clock.now())
    with pytest.raises(ConflictError, match="is triggered, not resolved"):
        incidents.unresolve(store, incident.id, clock.now())
    incidents.acknowledge(store, incident.id, clock.now())
    with pytest.raises(ConflictError, match="is acknowledged, not resolved"):
        incidents.unresolve(store, incident.id, clock.now())
    incidents.resolve(store, incident.id, clock.now())
    incidents.unresolve(store, incident.id, clock.now())
    with pytest.raises(ConflictError, match="not resolved"):  # a second undo
        incidents.unresolve(store, incident.id, clock.now())
    with pytest.raises(NotFoundError, match="42"):
        incidents.unresolve(store, 42, clock.now())
    assert kinds(store, incident.id).count("unresolved") == 1
    assert [kind for kind, _ in messages(store)].count("unresolved") == 1


def test_an_unknown_user_changes_nothing(store, clock, people):
    incident, _ = incidents.trigger(store, "Disk full", clock.now())
    incidents.resolve(store, incident.id, clock.now())
    with pytest.raises(NotFoundError, match="999"):
        incidents.unresolve(store, incident.id, clock.now(), 999)
    assert incidents.get_incident(store, incident.id).status == incidents.RESOLVED
    assert "unresolved" not in kinds(store, incident.id)


def test_a_dedup_key_held_by_a_newer_open_incident_refuses_the_reopening(store, clock, people):
    first, _ = incidents.trigger(store, "CPU hot", clock.now(), dedup_key="cpu")
    incidents.resolve(store, first.id, clock.now())
    second, created = incidents.trigger(store, "CPU hot", clock.now(), dedup_key="cpu")
    assert created and second.id != first.id
    with pytest.raises(ConflictError, match=f"open incident {second.id} .* dedup key"):
        incidents.unresolve(store, first.id, clock.now())
    assert incidents.get_incident(store, first.id).status == incidents.RESOLVED
    assert "unresolved" not in kinds(store, first.id)
    assert [kind for kind, _ in messages(store)].count("unresolved") == 0

    # The same key on another service is no obstacle; once the holder is resolved, it reopens
    # and later triggers with the key count against it again.
    service, _ = services.create_service(store, "search", clock.now())
    incidents.trigger(store, "CPU hot", clock.now(), dedup_key="cpu", service_id=service.id)
    incidents.resolve(store, second.id, clock.now())
    assert incidents.unresolve(store, first.id, clock.now()).status == incidents.TRIGGERED
    again, created = incidents.trigger(store, "CPU hot", clock.now(), dedup_key="cpu")
    assert not created and again.id == first.id and again.trigger_count == 2


def test_resolve_undo_resolve_undo_keeps_the_first_acknowledgement(store, clock, people):
    katy = people["katy"]
    incident, _ = incidents.trigger(store, "Disk full", clock.now())
    acked = incidents.acknowledge(store, incident.id, clock.now(), katy.id)
    for _ in range(2):
        clock.advance(minutes=1)
        incidents.resolve(store, incident.id, clock.now())
        clock.advance(minutes=1)
        reopened = incidents.unresolve(store, incident.id, clock.now())
        assert reopened.status == incidents.ACKNOWLEDGED
        assert reopened.acknowledged_at == acked.acknowledged_at


def test_acknowledged_then_triggered_again_by_its_timeout_reopens_triggered(store, clock, people):
    """Only the acknowledgement current when it was resolved counts, not an earlier one."""
    services.update_service(store, services.DEFAULT_SERVICE, ack_timeout_minutes=10)
    incident, _ = incidents.trigger(store, "Disk full", clock.now())
    incidents.acknowledge(store, incident.id, clock.now(), people["katy"].id)
    clock.advance(minutes=10)
    assert timeouts.run(store, clock.now())["retriggered"] == 1
    clock.advance(minutes=1)
    incidents.resolve(store, incident.id, clock.now())
    reopened = incidents.unresolve(store, incident.id, clock.now())
    assert reopened.status == incidents.TRIGGERED and reopened.acknowledged_by is None
