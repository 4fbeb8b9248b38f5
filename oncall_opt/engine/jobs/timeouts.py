"""Per-service timeouts, every minute with escalation (as PagerDuty's services have):

- an incident snoozed, or acknowledged on a service with an acknowledgement timeout, whose
  `retrigger_at` has passed is triggered again: acknowledgement cleared, reminded and paged
  from the first step of its policy (due at once);
- an open incident of a service with an auto-resolve timeout that has not been triggered again
  for that long is resolved.

Each is one conditional `UPDATE ... RETURNING` with its Slack messages and timeline entries in
the same transaction: a second run, or a second daemon, finds nothing left to do.
"""

from __future__ import annotations

from datetime import datetime

from oncall_opt.engine import outbox, timeline
from oncall_opt.engine.incidents import (
    ACKNOWLEDGED,
    COLUMNS,
    RESOLVED,
    TRIGGERED,
    incidents_from_rows,
)
from oncall_opt.engine.services import routing
from oncall_opt.engine.store import Store, Transaction


def run(store: Store, now: datetime) -> dict[str, int]:
    """Re-trigger what is due and auto-resolve what has gone quiet; counts of each."""

    def work(tx: Transaction) -> dict[str, int]:
        again = tx.rows(
            "UPDATE incidents SET status = ?, acknowledged_at = NULL, acknowledged_by = NULL, "
            "retrigger_at = NULL, escalation_step = 0, escalation_round = 0, "
            "next_escalation_at = ?, last_reminded_at = NULL, last_triggered_at = ? "
            f"WHERE status = ? AND retrigger_at <= ? RETURNING {COLUMNS}",
            [TRIGGERED, now, now, ACKNOWLEDGED, now],
        )
        for incident in incidents_from_rows(tx, sorted(again, key=lambda r: r["id"])):
            why = "the snooze or acknowledgement timeout is over"
            outbox.enqueue(
                tx, "retriggered", outbox.retriggered(incident, why), now, [incident.id],
                incident.team_id,
            )  # fmt: skip
            timeline.add(tx, incident.id, "retriggered", f"triggered again: {why}", now)
        quiet = tx.rows(
            "UPDATE incidents SET status = ?, resolved_at = ?, next_escalation_at = NULL, "
            "retrigger_at = NULL WHERE status <> ? AND service_id IN "
            "(SELECT id FROM services WHERE auto_resolve_minutes IS NOT NULL) "
            "AND last_triggered_at <= ? - (SELECT auto_resolve_minutes FROM services "
            "WHERE services.id = incidents.service_id) * INTERVAL '1 minute' "
            f"RETURNING {COLUMNS}",
            [RESOLVED, now, RESOLVED, now],
        )
        resolved = incidents_from_rows(tx, sorted(quiet, key=lambda r: r["id"]))
        services = routing(tx).services
        for incident in resolved:
            minutes = services[incident.service_id].auto_resolve_minutes or 0
            outbox.enqueue(
                tx, "resolved", outbox.auto_resolved(incident, minutes), now, [incident.id],
                incident.team_id,
            )  # fmt: skip
            timeline.add(
                tx, incident.id, "resolved", f"resolved automatically after {minutes} min", now
            )
        return {"retriggered": len(again), "auto_resolved": len(quiet)}

    return store.write(work)
