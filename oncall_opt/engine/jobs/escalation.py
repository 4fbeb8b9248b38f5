"""Escalate incidents nobody acknowledged in time to the secondary on call, once.

An incident still `triggered`, never escalated, and created at least `escalate_after` seconds
(15 minutes) ago is escalated to whoever is on call in the secondary layer: one
`UPDATE ... WHERE escalated_at IS NULL ... RETURNING` sets `escalated_at`/`escalated_to`, and the
'escalated' messages are written in the same transaction, so an incident is escalated exactly
once however often the job runs. With nobody on the secondary layer the incidents are left for
a later run, and the gap is logged once, not every minute.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from oncall_opt.engine import outbox
from oncall_opt.engine.incidents import COLUMNS, TRIGGERED, incidents_from_rows
from oncall_opt.engine.jobs import SUMMARY_ABOVE, JobState, summary
from oncall_opt.engine.settings import Settings
from oncall_opt.engine.shifts import SECONDARY, scheduled_at
from oncall_opt.engine.store import Store, Transaction

log = logging.getLogger(__name__)

KIND = "escalated"
GAP = "escalation: nobody on the secondary layer"


def run(store: Store, now: datetime, settings: Settings, state: JobState | None = None) -> int:
    """Escalate every overdue incident to the secondary on call; returns how many."""
    state = state if state is not None else JobState()
    overdue = now - timedelta(seconds=settings.escalate_after)
    due = "status = ? AND escalated_at IS NULL AND created_at <= ?"

    def work(tx: Transaction) -> int:
        secondary = scheduled_at(tx, now, SECONDARY)
        if secondary is None:
            waiting = tx.row(
                f"SELECT count(*) AS n FROM incidents WHERE {due}", [TRIGGERED, overdue]
            )
            if waiting and waiting["n"]:
                state.warn_once(
                    GAP, log,
                    "nobody is on call in the secondary layer at %s: %d incident(s) "
                    "unacknowledged for %g minutes wait to be escalated",
                    now.isoformat(timespec="seconds"), waiting["n"], settings.escalate_after / 60,
                )  # fmt: skip
            return 0
        if state.clear(GAP):
            log.info("%s is on call again (secondary layer)", secondary.user.full_name)
        rows = tx.rows(
            f"UPDATE incidents SET escalated_at = ?, escalated_to = ? WHERE {due} "
            f"RETURNING {COLUMNS}",
            [now, secondary.user.id, TRIGGERED, overdue],
        )
        if not rows:
            return 0
        rows.sort(key=lambda row: row["id"])
        incidents = incidents_from_rows(tx, rows)
        if len(incidents) > SUMMARY_ABOVE:
            minutes = settings.escalate_after / 60
            header = (
                f"{len(incidents)} incidents have not been acknowledged for {minutes:g} minutes "
                f"or more: escalated to {outbox.who(secondary.user)} (secondary on call)"
            )
            outbox.enqueue(tx, KIND, summary(header, incidents), now, [i.id for i in incidents])
        else:
            for incident in incidents:
                minutes = (now - incident.created_at).total_seconds() // 60
                outbox.enqueue(tx, KIND, outbox.escalated(incident, minutes), now, [incident.id])
        log.info("escalated %d incident(s) to %s", len(incidents), secondary.user.full_name)
        return len(incidents)

    return store.write(work)
