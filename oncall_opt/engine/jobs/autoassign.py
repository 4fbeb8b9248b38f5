"""Hand unassigned open incidents to whoever their service's first escalation step pages now
(for the Default service: the Default team's primary on call), every minute.

An incident whose first step found nobody on call (a gap in the schedule) waits unassigned;
once someone is on call there it is theirs. One conditional update per service,
`... WHERE service_id = ? AND assigned_user_id IS NULL AND status <> 'resolved'`, in one
transaction with its Slack messages: an incident someone assigned by hand is never taken away
from them, and a second run finds nothing left to do. One 'assigned' message per incident, or
one summary message when more than a few are handed over at once. Incidents whose first step
has not been paged yet (it has a delay) are left to the escalation job.

Nobody being on call is a normal state: it is logged once per gap, not every minute (a warning
when incidents wait, else at INFO); the JobLoop's `JobState` remembers that it was.
"""

from __future__ import annotations

import logging
from datetime import datetime

from oncall_opt.engine import outbox, timeline
from oncall_opt.engine.incidents import COLUMNS, RESOLVED, TRIGGERED, incidents_from_rows
from oncall_opt.engine.jobs import SUMMARY_ABOVE, JobState, summary
from oncall_opt.engine.paging import pages as paging
from oncall_opt.engine.policies import OnCallNow
from oncall_opt.engine.services import routing
from oncall_opt.engine.store import Store, Transaction

log = logging.getLogger(__name__)

KIND = "assigned"
_WAITING = "assigned_user_id IS NULL AND status <> ? AND escalation_step >= 1"


def run(store: Store, now: datetime, state: JobState | None = None) -> int:
    """Assign every unassigned open incident to its first step's person; returns how many."""
    state = state if state is not None else JobState()

    def work(tx: Transaction) -> int:
        waiting = tx.rows(
            f"SELECT service_id, count(*) AS n FROM incidents WHERE {_WAITING} "
            "GROUP BY service_id ORDER BY service_id",
            [RESOLVED],
        )
        if not waiting:
            return 0
        known = routing(tx)
        services, policies = known.services, known.policies
        on_call = OnCallNow(tx, now, known.team_names)
        done = 0
        for row in waiting:
            service = services.get(row["service_id"])
            if service is None:
                continue
            first = policies[service.escalation_policy_id].steps[0]
            pages = on_call.page(tx, first)
            person = next((p.user for p in pages if p.user is not None), None)
            gap = f"autoassign: service {service.id} nobody on call"
            if person is None:
                state.warn_once(
                    gap, log,
                    "nobody is on call for the first step of service '%s' (%s) at %s: %d "
                    "unassigned incident(s) wait for the next shift",
                    service.name, "; ".join(p.why for p in pages),
                    now.isoformat(timespec="seconds"), row["n"],
                )  # fmt: skip
                continue
            if state.clear(gap):
                log.info("%s is on call again for service '%s'", person.full_name, service.name)
            rows = tx.rows(
                f"UPDATE incidents SET assigned_user_id = ? WHERE service_id = ? AND {_WAITING} "
                f"RETURNING {COLUMNS}",
                [person.id, service.id, RESOLVED],
            )
            if not rows:
                continue
            rows.sort(key=lambda r: r["id"])
            incidents = incidents_from_rows(tx, rows)
            if len(incidents) > SUMMARY_ABOVE:
                header = f"{len(incidents)} incidents are re-assigned to {outbox.who(person)}:"
                ids = [i.id for i in incidents]
                outbox.enqueue(tx, KIND, summary(header, incidents), now, ids, service.team_id)
            else:
                messages = [(outbox.assigned(i), [i.id]) for i in incidents]
                outbox.enqueue_many(tx, KIND, messages, now, service.team_id)
            planned = paging.page(
                tx, [(i, [person]) for i in incidents if i.status == TRIGGERED], now
            )
            entries = [
                (i.id, "reassigned", f"assigned to {person.full_name}, now on call"
                 + (f"; paging them by {planned[(i.id, person.id)]}"
                    if planned.get((i.id, person.id)) else ""), person.id)
                for i in incidents
            ]  # fmt: skip
            timeline.add_many(tx, entries, now)
            log.info("assigned %d incident(s) to %s", len(incidents), person.full_name)
            done += len(incidents)
        return done

    return store.write(work)
