"""Paging a person: when an escalation step or an assignment pages someone, their notification
rules for the incident's urgency become notifications, each due after its rule's delay, in the
transaction that pages them; acknowledging or resolving the incident cancels those not yet
sent. A person with no verified method is reached through the team's Slack channel only, and
the timeline says so."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

from oncall_opt.engine.paging import notifications
from oncall_opt.engine.records import Incident, User
from oncall_opt.engine.store import Transaction


def _when(delay: int) -> str:
    return "at once" if delay == 0 else f"after {delay} min"


def page(
    tx: Transaction, wanted: Sequence[tuple[Incident, Sequence[User]]], now: datetime
) -> dict[tuple[int, int], str | None]:
    """Queue the notifications of each (incident, people paged for it); answers, per
    (incident id, user id), what was planned in words ("email at once, push after 2 min"), or
    None when the person has no verified method for this urgency."""
    user_ids = sorted({user.id for _, people in wanted for user in people})
    if not user_ids:
        return {}
    marks = ", ".join("?" for _ in user_ids)
    rows = tx.rows(
        "SELECT r.id, r.user_id, r.contact_method_id, r.delay_minutes, r.urgency, m.type "
        "FROM notification_rules r JOIN contact_methods m ON m.id = r.contact_method_id "
        f"WHERE m.verified_at IS NOT NULL AND r.user_id IN ({marks}) "
        "ORDER BY r.delay_minutes, r.id",
        user_ids,
    )
    by_user: dict[int, list[dict]] = defaultdict(list)
    for row in rows:
        by_user[row["user_id"]].append(row)
    planned: dict[tuple[int, int], str | None] = {}
    queued: list[tuple[int, int, int, int, datetime]] = []
    for incident, people in wanted:
        for user in people:
            mine = [r for r in by_user.get(user.id, []) if r["urgency"] == incident.urgency]
            if not mine:
                planned[(incident.id, user.id)] = None
                continue
            for rule in mine:
                due = now + timedelta(minutes=rule["delay_minutes"])
                queued.append((incident.id, user.id, rule["contact_method_id"], rule["id"], due))
            planned[(incident.id, user.id)] = ", ".join(
                f"{r['type']} {_when(r['delay_minutes'])}" for r in mine
            )
    notifications.queue_pages(tx, queued, now)
    return planned


def cancel(tx: Transaction, incident_ids: Sequence[int], why: str) -> None:
    """The pages of these incidents not sent yet are no longer wanted."""
    notifications.cancel_pages(tx, incident_ids, why)
