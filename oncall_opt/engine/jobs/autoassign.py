"""Hand unassigned open incidents to whoever is on call now (primary layer), every minute.

One conditional update, `... WHERE assigned_user_id IS NULL AND status <> 'resolved'`, in one
transaction with its Slack messages: an incident someone assigned by hand is never taken away
from them, and a second run finds nothing left to do. One 'assigned' message per incident, or
one summary message when more than a few are handed over at once.

Nobody being on call is a normal state (a gap in the schedule): it is logged once per gap, not
every minute (a warning when incidents wait, else at INFO); the JobLoop's `JobState` remembers
that it was.
"""

from __future__ import annotations

import logging
from datetime import datetime

from oncall_opt.engine import outbox
from oncall_opt.engine.incidents import COLUMNS, RESOLVED, incidents_from_rows
from oncall_opt.engine.jobs import SUMMARY_ABOVE, JobState, summary
from oncall_opt.engine.shifts import PRIMARY, scheduled_at
from oncall_opt.engine.store import Store, Transaction

log = logging.getLogger(__name__)

KIND = "assigned"
GAP = "autoassign: nobody on call"
GAP_WAITING = "autoassign: nobody on call, incidents waiting"


def run(store: Store, now: datetime, state: JobState | None = None) -> int:
    """Assign every unassigned open incident to the primary on call; returns how many."""
    state = state if state is not None else JobState()

    def work(tx: Transaction) -> int:
        on_call = scheduled_at(tx, now, PRIMARY)
        if on_call is None:
            waiting = tx.row(
                "SELECT count(*) AS n FROM incidents "
                "WHERE assigned_user_id IS NULL AND status <> ?",
                [RESOLVED],
            )
            count = waiting["n"] if waiting else 0
            # A gap is logged once; once more (as a warning) when incidents start waiting.
            state.warn_once(
                GAP_WAITING if count else GAP, log,
                "nobody is on call (primary layer) at %s: %d unassigned incident(s) wait for "
                "the next shift",
                now.isoformat(timespec="seconds"), count,
                level=logging.WARNING if count else logging.INFO,
            )  # fmt: skip
            return 0
        if state.clear(GAP, GAP_WAITING):
            log.info("%s is on call again (primary layer)", on_call.user.full_name)
        rows = tx.rows(
            f"UPDATE incidents SET assigned_user_id = ? "
            f"WHERE assigned_user_id IS NULL AND status <> ? RETURNING {COLUMNS}",
            [on_call.user.id, RESOLVED],
        )
        if not rows:
            return 0
        rows.sort(key=lambda row: row["id"])
        incidents = incidents_from_rows(tx, rows)
        if len(incidents) > SUMMARY_ABOVE:
            header = f"{len(incidents)} incidents are re-assigned to {outbox.who(on_call.user)}:"
            outbox.enqueue(tx, KIND, summary(header, incidents), now, [i.id for i in incidents])
        else:
            for incident in incidents:
                outbox.enqueue(tx, KIND, outbox.assigned(incident), now, [incident.id])
        log.info("assigned %d incident(s) to %s", len(incidents), on_call.user.full_name)
        return len(incidents)

    return store.write(work)
