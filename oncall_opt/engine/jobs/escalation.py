"""Walk every unacknowledged incident through its service's escalation policy.

An incident remembers how many steps of its policy it has paged this round
(`escalation_step`), which round it is in and when the next step is due
(`next_escalation_at`, set when the step before was paged: that step's successor's
`DelayMinutes` later, or the policy's `RepeatAfterMinutes` before a repeat). Each run pages the
due step of every triggered incident whose time has come; acknowledging, snoozing and
resolving clear `next_escalation_at`, which stops it. Low-urgency incidents stop after step 1.

The work is grouped by (policy, step, round): each group is paged once (who is on call now in
the step's layers) and moved on with one conditional `UPDATE ... WHERE id IN (...) AND status =
'triggered' AND next_escalation_at <= now RETURNING`, in one transaction with its Slack
messages and timeline entries, so running the job twice, or in two daemons at once, pages
nobody twice.

A step that finds nobody on call counts as done (the timeline says so) and the policy goes on,
except the very last step of the last round: that one waits, retried every run (warned once),
until someone is on call there, so an incident never stops escalating in silence (as the fixed
secondary escalation did before policies).

`escalate(store, incident_id, step, now)` pages a chosen step at once (reassigning the incident
to the first person it pages), for "escalate now" and "reassign to a step".
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from oncall_opt.engine import outbox, timeline
from oncall_opt.engine.incidents import (
    COLUMNS,
    LOW,
    TRIGGERED,
    incidents_from_rows,
    next_escalation,
    page_line,
    page_user,
)
from oncall_opt.engine.jobs import SUMMARY_ABOVE, JobState, summary
from oncall_opt.engine.paging import pages as paging
from oncall_opt.engine.policies import OnCallNow, Page, Policy
from oncall_opt.engine.records import Incident
from oncall_opt.engine.services import routing
from oncall_opt.engine.store import Store, Transaction
from oncall_opt.errors import ConflictError, InvalidRequestError, NotFoundError

log = logging.getLogger(__name__)

KIND = "escalated"


@dataclass(frozen=True)
class _Move:
    """Where a group of incidents goes: page `step_index` (0-based) of `round_`."""

    step_index: int
    round_: int
    waits: bool  # the last step of the last round with nobody on call: retry, do not move


def _move(policy: Policy, steps_done: int, round_: int) -> _Move | None:
    if steps_done < len(policy.steps):
        return _Move(steps_done, round_, False)
    if round_ < policy.repeats:
        return _Move(0, round_ + 1, False)
    return None  # the policy is over


def _is_last(policy: Policy, move: _Move) -> bool:
    return move.step_index == len(policy.steps) - 1 and move.round_ >= policy.repeats


def run(store: Store, now: datetime, state: JobState | None = None) -> int:
    """Page the due step of every overdue incident; returns how many incidents were paged."""
    state = state if state is not None else JobState()

    def work(tx: Transaction) -> int:
        rows = tx.rows(
            f"SELECT {COLUMNS}, escalation_round FROM incidents WHERE status = ? "
            "AND next_escalation_at <= ? ORDER BY id",
            [TRIGGERED, now],
        )
        if not rows:
            return 0
        known = routing(tx)
        services, policies = known.services, known.policies
        groups: dict[tuple[int, int, int], list[dict]] = defaultdict(list)
        for row in rows:
            service = services.get(row["service_id"])
            if service is None:
                continue
            groups[(service.escalation_policy_id, row["escalation_step"],
                    row["escalation_round"])].append(row)  # fmt: skip
        on_call = OnCallNow(tx, now, known.team_names)
        paged = 0
        for (policy_id, steps_done, round_), members in sorted(groups.items()):
            policy = policies[policy_id]
            paged += _page_group(tx, policy, steps_done, round_, members, on_call, now, state)
        return paged

    return store.write(work)


def _page_group(
    tx: Transaction,
    policy: Policy,
    steps_done: int,
    round_: int,
    rows: list[dict],
    on_call: OnCallNow,
    now: datetime,
    state: JobState,
) -> int:
    ids = [row["id"] for row in rows]
    move = _move(policy, steps_done, round_)
    if move is None:  # the policy was shortened under these incidents: nothing more to page
        _update(tx, ids, now, "next_escalation_at = NULL", [])
        return 0
    step = policy.steps[move.step_index]
    pages = on_call.page(tx, step)
    people = [p.user for p in pages if p.user is not None]
    number = move.step_index + 1
    gap = f"escalation: policy {policy.id} step {number} nobody on call"
    if not people and _is_last(policy, move):
        state.warn_once(
            gap, log,
            "nobody is on call for step %d of escalation policy '%s' (%s) at %s: %d "
            "incident(s) wait to be escalated",
            number, policy.name, "; ".join(p.why for p in pages),
            now.isoformat(timespec="seconds"), len(ids),
        )  # fmt: skip
        return 0
    if state.clear(gap):
        log.info("step %d of escalation policy '%s' has someone on call again", number, policy.name)
    # Each incident's next step is due relative to now; low urgency stops after step 1.
    by_urgency: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        by_urgency[row["urgency"]].append(row["id"])
    changed: list[dict] = []
    for urgency, members in by_urgency.items():
        following = next_escalation(policy, number, move.round_, urgency, now)
        if urgency == LOW and number > 1:
            following = None
        changed += _update(
            tx,
            members,
            now,
            "escalation_step = ?, escalation_round = ?, next_escalation_at = ?, "
            "escalated_at = ?, escalated_to = coalesce(?, escalated_to)",
            [number, move.round_, following, now, people[0].id if people else None],
        )
    if not changed:
        return 0
    changed.sort(key=lambda row: row["id"])
    incidents = incidents_from_rows(tx, changed)
    why = _why(policy, move, pages)
    _announce(tx, incidents, pages, why, now)
    planned = paging.page(tx, [(incident, people) for incident in incidents], now)
    entries = [
        (incident.id, "escalated", page_line(number, page, planned, incident.id), page_user(page))
        for incident in incidents
        for page in pages
    ]
    timeline.add_many(tx, entries, now)
    log.info(
        "escalated %d incident(s): step %d of '%s' paged %s",
        len(incidents), number, policy.name, ", ".join(u.full_name for u in people) or "nobody",
    )  # fmt: skip
    return len(incidents)


def _update(tx: Transaction, ids: list[int], now: datetime, assignments: str, params: list):
    marks = ", ".join("?" for _ in ids)
    return tx.rows(
        f"UPDATE incidents SET {assignments} WHERE id IN ({marks}) AND status = ? "
        f"AND next_escalation_at <= ? RETURNING {COLUMNS}",
        [*params, *ids, TRIGGERED, now],
    )


def _why(policy: Policy, move: _Move, pages: list[Page]) -> str:
    again = f", repeat {move.round_}" if move.round_ else ""
    return f"step {move.step_index + 1} of escalation policy {policy.name}{again}: " + "; ".join(
        page.why for page in pages
    )


def _announce(
    tx: Transaction, incidents: list[Incident], pages: list[Page], why: str, now: datetime
) -> None:
    people = [p.user for p in pages if p.user is not None]
    for team_id, of_team in _by_team(incidents).items():
        if len(of_team) > SUMMARY_ABOVE:
            to = ", ".join(outbox.who(u) for u in people) or "nobody"
            header = (
                f"{len(of_team)} incidents have not been acknowledged in time: escalated to "
                f"{to} ({outbox.esc(why)})"
            )
            ids = [i.id for i in of_team]
            outbox.enqueue(tx, KIND, summary(header, of_team), now, ids, team_id)
            continue
        since = _unacknowledged_since(tx, of_team)
        for incident in of_team:
            minutes = (now - since[incident.id]).total_seconds() // 60
            text = outbox.escalated(incident, minutes, people, why)
            outbox.enqueue(tx, KIND, text, now, [incident.id], team_id)


def _unacknowledged_since(tx: Transaction, incidents: list[Incident]) -> dict[int, datetime]:
    """When each incident last became unacknowledged: its creation, or the last time it was
    triggered again (a snooze or acknowledgement timeout) or reopened. Not its last repeated
    alert: "not acknowledged for 0 minutes" on a 65-second-old incident was that mistake."""
    since = {incident.id: incident.created_at for incident in incidents}
    marks = ", ".join("?" for _ in incidents)
    for row in tx.rows(
        "SELECT incident_id, max(logged_at) AS at FROM incident_log "
        f"WHERE incident_id IN ({marks}) AND kind IN ('retriggered', 'unresolved') "
        "GROUP BY incident_id",
        [incident.id for incident in incidents],
    ):
        since[row["incident_id"]] = max(since[row["incident_id"]], row["at"])
    return since


def _by_team(incidents: list[Incident]) -> dict[int, list[Incident]]:
    teams: dict[int, list[Incident]] = defaultdict(list)
    for incident in incidents:
        teams[incident.team_id].append(incident)
    return teams


def escalate(store: Store, incident_id: int, step: int | None, now: datetime) -> Incident:
    """Page step `step` (1-based; default the next one) of an open incident's policy now, and
    reassign the incident to the first person it pages. The policy goes on from there."""

    def work(tx: Transaction) -> Incident:
        rows = tx.rows(
            f"SELECT {COLUMNS}, escalation_round FROM incidents WHERE id = ?", [incident_id]
        )
        if not rows:
            raise NotFoundError(f"no incident with id {incident_id}")
        row = rows[0]
        if row["status"] == "resolved":
            raise ConflictError(f"incident {incident_id} is resolved")
        known = routing(tx)
        policy = known.policies[known.services[row["service_id"]].escalation_policy_id]
        wanted = step if step is not None else min(row["escalation_step"] + 1, len(policy.steps))
        if not 1 <= wanted <= len(policy.steps):
            raise InvalidRequestError(
                "Step", f"policy '{policy.name}' has steps 1 to {len(policy.steps)}"
            )
        pages = OnCallNow(tx, now, known.team_names).page(tx, policy.steps[wanted - 1])
        people = [p.user for p in pages if p.user is not None]
        following = next_escalation(policy, wanted, row["escalation_round"], row["urgency"], now)
        if row["status"] != TRIGGERED:
            following = None
        updated = tx.rows(
            "UPDATE incidents SET escalation_step = ?, next_escalation_at = ?, escalated_at = ?, "
            "escalated_to = coalesce(?, escalated_to), "
            f"assigned_user_id = coalesce(?, assigned_user_id) WHERE id = ? RETURNING {COLUMNS}",
            [wanted, following, now, people[0].id if people else None,
             people[0].id if people else None, incident_id],
        )  # fmt: skip
        incident = incidents_from_rows(tx, updated)[0]
        move = _Move(wanted - 1, row["escalation_round"], False)
        why = _why(policy, move, pages)
        text = outbox.escalated(incident, None, people, why)
        outbox.enqueue(tx, KIND, text, now, [incident.id], incident.team_id)
        planned = paging.page(tx, [(incident, people)], now)
        timeline.add_many(
            tx,
            [(incident.id, "escalated",
              page_line(wanted, p, planned, incident.id) + " (by hand)", page_user(p))
             for p in pages],
            now,
        )  # fmt: skip
        return incident

    return store.write(work)
