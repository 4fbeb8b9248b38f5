"""Incidents: triggered, acknowledged, resolved; assigned to whoever is on call.

Every change and the Slack message it causes are written in one transaction (see outbox.py).
A trigger with a dedup key that matches an open incident counts against it instead of opening
another; once that incident is resolved, the same key opens a new one. Triggers are written
set-based, several to a transaction (`trigger_batch`; the API's `batching.TriggerBatcher`
group-commits concurrent requests), with the same outcome as one by one. A resolved incident
may be reopened (`unresolve`, an undo) to the state it was resolved from, unless its dedup key
has opened another incident since.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from oncall_opt.engine import outbox, text, timeline
from oncall_opt.engine.paging import notifications, pages
from oncall_opt.engine.policies import OnCallNow, Page, Policy
from oncall_opt.engine.records import Incident, User
from oncall_opt.engine.services import (
    DEFAULT_SERVICE,
    Service,
    get_service,
    routing,
)
from oncall_opt.engine.store import Store, Transaction
from oncall_opt.engine.users import get_user, users_by_id
from oncall_opt.errors import ConflictError, InvalidRequestError, NotFoundError

TRIGGERED, ACKNOWLEDGED, RESOLVED = "triggered", "acknowledged", "resolved"
STATUS_FILTERS = {
    "unacknowledged": [TRIGGERED],  # the seed's GET /incidents
    TRIGGERED: [TRIGGERED],
    ACKNOWLEDGED: [ACKNOWLEDGED],
    RESOLVED: [RESOLVED],
    "open": [TRIGGERED, ACKNOWLEDGED],
    "all": [TRIGGERED, ACKNOWLEDGED, RESOLVED],
}
HIGH, LOW = "high", "low"
SEVERITIES = ("critical", "error", "warning", "info")
URGENCY_OF = {"critical": HIGH, "error": HIGH, "warning": LOW, "info": LOW}
MAX_DETAILS = 512 * 1024  # characters of an integration's details (JSON): PagerDuty's limit
COLUMNS = (
    "id, body, dedup_key, status, trigger_count, created_at, last_triggered_at, "
    "assigned_user_id, acknowledged_at, acknowledged_by, resolved_at, resolved_by, "
    "last_reminded_at, escalated_at, escalated_to, service_id, urgency, severity, source, "
    "details, escalation_step, next_escalation_at, retrigger_at"
)


_PEOPLE = ("assigned_user_id", "acknowledged_by", "resolved_by", "escalated_to")


def _incident(r: dict[str, Any], people: dict[int, User], services: dict[int, Service]) -> Incident:
    service = services.get(r["service_id"])
    return Incident(
        id=r["id"],
        body=r["body"],
        status=r["status"],
        created_at=r["created_at"],
        last_triggered_at=r["last_triggered_at"],
        trigger_count=r["trigger_count"],
        dedup_key=r["dedup_key"],
        assignee=people.get(r["assigned_user_id"]),
        acknowledged_at=r["acknowledged_at"],
        acknowledged_by=people.get(r["acknowledged_by"]),
        resolved_at=r["resolved_at"],
        resolved_by=people.get(r["resolved_by"]),
        last_reminded_at=r["last_reminded_at"],
        escalated_at=r["escalated_at"],
        escalated_to=people.get(r["escalated_to"]),
        service_id=r["service_id"],
        team_id=service.team_id if service else 1,
        urgency=r["urgency"],
        severity=r["severity"],
        source=r["source"],
        details=r["details"],
        escalation_step=r["escalation_step"],
        next_escalation_at=r["next_escalation_at"],
        retrigger_at=r["retrigger_at"],
    )


def _people_of(rows: list[dict[str, Any]]) -> set[int]:
    return {row[key] for row in rows for key in _PEOPLE if row[key] is not None}


def incidents_from_rows(source: Store | Transaction, rows: list[dict[str, Any]]) -> list[Incident]:
    people = users_by_id(source, _people_of(rows))
    services = routing(source).services
    return [_incident(r, people, services) for r in rows]


def _one(tx: Store | Transaction, incident_id: int) -> Incident:
    rows = tx.rows(f"SELECT {COLUMNS} FROM incidents WHERE id = ?", [incident_id])
    if not rows:
        raise NotFoundError(f"no incident with id {incident_id}")
    return incidents_from_rows(tx, rows)[0]


@dataclass(frozen=True)
class Trigger:
    """One trigger, checked (see `check_trigger`): a non-empty body, a dedup key or None, the
    service it is for, and what an integration said of it."""

    body: str
    dedup_key: str | None = None
    service_id: int = DEFAULT_SERVICE
    urgency: str = HIGH
    severity: str | None = None
    source: str | None = None
    details: str | None = None  # JSON text
    # A repeat replaces the open incident's body and details (the source says what fires now)
    refresh: bool = False

    @property
    def key(self) -> tuple[int, str] | None:
        """Dedup keys are per service (as PagerDuty's routing keys scope them)."""
        return (self.service_id, self.dedup_key) if self.dedup_key is not None else None


def check_trigger(
    body: str,
    dedup_key: str | None = None,
    service_id: int = DEFAULT_SERVICE,
    urgency: str | None = None,
    severity: str | None = None,
    source: str | None = None,
    details: Any = None,
) -> Trigger:
    """The trigger with its texts cleaned: an empty body is an InvalidRequestError, an empty
    key is no key. Urgency defaults from the severity (critical and error high, warning and
    info low), else high."""
    body = text.clean("Body", body or "", text.MAX_BODY, multiline=True)
    if not body:
        raise InvalidRequestError("Body", "must not be empty")
    if severity is not None and severity not in SEVERITIES:
        raise InvalidRequestError("Severity", f"must be one of {', '.join(SEVERITIES)}")
    if urgency is None:
        urgency = URGENCY_OF.get(severity or "", HIGH)
    if urgency not in (HIGH, LOW):
        raise InvalidRequestError("Urgency", "must be high or low")
    encoded = None
    if details is not None:
        encoded = details if isinstance(details, str) else json.dumps(details, ensure_ascii=False)
        encoded = text.clean("Details", encoded, MAX_DETAILS, multiline=True)
    return Trigger(
        body,
        text.clean("DedupKey", dedup_key or "", text.MAX_KEY, refuse_bidi=True) or None,
        service_id,
        urgency,
        severity,
        text.clean("Source", source or "", text.MAX_NAME) or None,
        encoded,
    )


def trigger(
    store: Store, body: str, now: datetime, dedup_key: str | None = None, **fields: Any
) -> tuple[Incident, bool]:
    """Open an incident and page its service's first escalation step (the person first paged is
    its assignee), or count the trigger against the open incident of that service with the
    same dedup key. Returns (incident, created)."""
    one = check_trigger(body, dedup_key, **fields)
    return store.write(lambda tx: trigger_batch(tx, [one], now))[0]


@dataclass(frozen=True)
class FirstPage:
    """What a new incident of a service gets at its trigger: who step 1 pages (when it has no
    delay), the assignee, and when escalation goes on."""

    pages: tuple[Page, ...]
    assignee: User | None
    escalation_step: int
    next_escalation_at: datetime | None


def first_page(
    policy: Policy, urgency: str, now: datetime, on_call: OnCallNow, tx, people=None
) -> FirstPage:
    first = policy.steps[0]
    if first.delay_minutes > 0:  # step 1 waits: nobody is paged yet
        return FirstPage((), None, 0, now + timedelta(minutes=first.delay_minutes))
    pages = tuple(on_call.page(tx, first, people))
    assignee = next((p.user for p in pages if p.user is not None), None)
    return FirstPage(pages, assignee, 1, next_escalation(policy, 1, 0, urgency, now))


def next_escalation(
    policy: Policy, steps_done: int, round_: int, urgency: str, now: datetime
) -> datetime | None:
    """When the step after `steps_done` is due, or None when escalation is over (low urgency
    stops after step 1)."""
    if urgency == LOW and steps_done >= 1:
        return None
    if steps_done < len(policy.steps):
        return now + timedelta(minutes=policy.steps[steps_done].delay_minutes)
    if round_ < policy.repeats:
        return now + timedelta(minutes=policy.repeat_after_minutes)
    return None


def trigger_batch(
    tx: Transaction, triggers: Sequence[Trigger], now: datetime
) -> list[tuple[Incident, bool]]:
    """Apply `triggers` (checked, see `check_trigger`) at `now` inside `tx`, set-based: one
    dedup UPDATE for all the keys, the services and policies of the new incidents, who is on
    call in every layer, the people, one INSERT of the new incidents, one of their 'created'
    messages and one of their timeline entries, whatever their number. The database and the
    answers, (incident, created) per trigger in order, are those of triggering them one by
    one in that order: the first trigger of a key with no open incident opens one and the
    others count against it; each answer shows the count just after its trigger."""
    now = now.astimezone(UTC)  # as the database hands timestamps back
    keyed: dict[tuple[int, str], list[int]] = {}  # (service, key) -> positions, in order
    for i, t in enumerate(triggers):
        if t.key is not None:
            keyed.setdefault(t.key, []).append(i)
    open_rows = _count_against_open(tx, {key: len(at) for key, at in keyed.items()}, now)
    refreshed = _refresh_open(tx, triggers, keyed, open_rows, now)

    # What opens an incident: every trigger without a key, the first of a key with none open.
    opening = [
        i
        for i, t in enumerate(triggers)
        if t.key is None or (t.key not in open_rows and keyed[t.key][0] == i)
    ]
    known = routing(tx)
    wanted = {triggers[i].service_id for i in opening}
    if not wanted <= known.services.keys():  # made since it was read, maybe by another daemon
        known = routing(tx, refresh=True)
    for i in opening:
        if triggers[i].service_id not in known.services:
            raise NotFoundError(f"ServiceId: no service with id {triggers[i].service_id}")
    services = known.services
    counted_rows = list(open_rows.values())
    people = users_by_id(tx, _people_of(counted_rows)) if counted_rows else {}

    created: dict[int, Incident] = {}  # position of an opening trigger -> the incident it opens
    if opening:
        on_call = OnCallNow(tx, now, known.team_names)
        firsts: dict[tuple[int, str], FirstPage] = {}
        for i in opening:
            t = triggers[i]
            if (t.service_id, t.urgency) not in firsts:
                policy = known.policies[services[t.service_id].escalation_policy_id]
                firsts[(t.service_id, t.urgency)] = first_page(
                    policy, t.urgency, now, on_call, tx, people
                )
        new = [triggers[i] for i in opening]
        counts = [len(keyed[t.key]) if t.key else 1 for t in new]
        plans = [firsts[(t.service_id, t.urgency)] for t in new]
        ids = _insert(tx, new, counts, plans, now)
        for i, t, count, plan, incident_id in zip(opening, new, counts, plans, ids, strict=True):
            created[i] = Incident(
                id=incident_id, body=t.body, status=TRIGGERED, created_at=now,
                last_triggered_at=now, trigger_count=count, dedup_key=t.dedup_key,
                assignee=plan.assignee, acknowledged_at=None, acknowledged_by=None,
                resolved_at=None, resolved_by=None, last_reminded_at=None, escalated_at=None,
                escalated_to=None, service_id=t.service_id,
                team_id=services[t.service_id].team_id, urgency=t.urgency, severity=t.severity,
                source=t.source, details=t.details, escalation_step=plan.escalation_step,
                next_escalation_at=plan.next_escalation_at, retrigger_at=None,
            )  # fmt: skip
        for i in opening:  # a later trigger of its key in this batch says what fires now
            t = triggers[i]
            last = triggers[keyed[t.key][-1]] if t.key is not None else t
            if last is not t and last.refresh:
                tx.execute(
                    "UPDATE incidents SET body = ?, details = ?, severity = ? WHERE id = ?",
                    [last.body, last.details, last.severity, created[i].id],
                )
                created[i] = replace(
                    created[i], body=last.body, details=last.details, severity=last.severity
                )
        incidents = [created[i] for i in opening]
        _enqueue_created(tx, incidents, plans, now)
        planned = pages.page(
            tx,
            [
                (i, [p.user for p in plan.pages if p.user])
                for i, plan in zip(incidents, plans, strict=True)
            ],
            now,
        )
        log = []
        for incident, plan in zip(incidents, plans, strict=True):
            via = f" by {incident.source}" if incident.source else ""
            log.append((incident.id, "triggered", f"triggered{via} ({incident.urgency} urgency)",
                        None))  # fmt: skip
            log += [
                (incident.id, "paged", page_line(1, p, planned, incident.id), page_user(p))
                for p in plan.pages
            ]
        timeline.add_many(tx, log, now)

    counted = {key: _incident(row, people, services) for key, row in open_rows.items()}
    answers: list[tuple[Incident, bool]] = []
    seen: dict[tuple[int, str], int] = {}  # key -> its triggers answered so far
    again = []  # timeline: each repeated trigger and the count it brought
    for i, t in enumerate(triggers):
        if t.key is None:
            answers.append((created[i], True))
            continue
        nth = seen[t.key] = seen.get(t.key, 0) + 1
        if t.key in counted:  # an incident open before these triggers
            incident = counted[t.key]
            count = incident.trigger_count - len(keyed[t.key]) + nth
        else:  # the incident the key's first trigger opens
            incident, count = created[keyed[t.key][0]], nth
        opened = t.key not in counted and nth == 1
        answers.append((replace(incident, trigger_count=count), opened))
        if not opened:
            again.append((incident.id, "repeated", f"triggered again (count {count})", None))
    timeline.add_many(tx, again + refreshed, now)
    return answers


def _refresh_open(
    tx: Transaction,
    triggers: Sequence[Trigger],
    keyed: dict[tuple[int, str], list[int]],
    open_rows: dict[tuple[int, str], dict[str, Any]],
    now: datetime,
) -> list[tuple[int, str, str, int | None]]:
    """An open incident whose alert source says what fires *now* (an Alertmanager group:
    `refresh`) takes the body, details and severity of the key's last trigger, so that after
    web-2 joins and web-1 resolves it names web-2. Returns the timeline entries."""
    log = []
    for key, row in open_rows.items():
        last = triggers[keyed[key][-1]]
        if not last.refresh or (last.body, last.details) == (row["body"], row["details"]):
            continue
        tx.execute(
            "UPDATE incidents SET body = ?, details = ?, severity = ? WHERE id = ?",
            [last.body, last.details, last.severity, row["id"]],
        )
        row.update(body=last.body, details=last.details, severity=last.severity)
        headline = last.body.splitlines()[0] if last.body else ""
        log.append((row["id"], "updated", f"now: {text.shortened(headline, 200)}", None))
    return log


def page_user(page: Page) -> int | None:
    return page.user.id if page.user else None


def page_line(
    step: int, page: Page, planned: dict[tuple[int, int], str | None], incident_id: int
) -> str:
    """A timeline line: whom a step pages, why (the target) and by what (`planned`, from
    `paging.pages.page`), or that nobody was on call."""
    if page.user is None:
        return f"step {step}: nobody to page ({page.why} is empty)"
    how = planned.get((incident_id, page.user.id))
    if how is None:
        return (
            f"step {step}: {page.user.full_name} ({page.why}) has no verified contact method: "
            "only the team's Slack channel tells them"
        )
    return f"step {step}: paging {page.user.full_name} ({page.why}) by {how}"


def _count_against_open(
    tx: Transaction, counts: dict[tuple[int, str], int], now: datetime
) -> dict[tuple[int, str], dict[str, Any]]:
    """Add counts[(service, key)] to the open incident of each key (one UPDATE); the rows
    updated by (service, key). (Were there two open incidents with one key, both count and the
    first one answers.)"""
    if not counts:
        return {}
    if len(counts) == 1:
        [((service_id, key), n)] = counts.items()
        rows = tx.rows(
            f"UPDATE incidents SET trigger_count = trigger_count + ?, last_triggered_at = ? "
            f"WHERE dedup_key = ? AND service_id = ? AND status <> ? RETURNING {COLUMNS}",
            [n, now, key, service_id, RESOLVED],
        )
    else:  # a CASE, not a join with VALUES: DuckDB runs it in two thirds of the time
        pair = "(dedup_key = ? AND service_id = ?)"
        cases = " ".join(f"WHEN {pair} THEN ?" for _ in counts)
        either = " OR ".join(pair for _ in counts)
        pairs = [x for service_id, key in counts for x in (key, service_id)]
        increments = [x for (service_id, key), n in counts.items() for x in (key, service_id, n)]
        keys = sorted({key for _, key in counts})
        marks = ", ".join("?" for _ in keys)
        rows = tx.rows(  # the IN list narrows the rows before the pairs are checked
            f"UPDATE incidents SET trigger_count = trigger_count + CASE {cases} END, "
            f"last_triggered_at = ? WHERE status <> ? AND dedup_key IN ({marks}) "
            f"AND ({either}) RETURNING {COLUMNS}",
            [*increments, now, RESOLVED, *keys, *pairs],
        )
    found: dict[tuple[int, str], dict[str, Any]] = {}
    for row in sorted(rows, key=lambda r: r["id"]):
        found.setdefault((row["service_id"], row["dedup_key"]), row)
    return found


def _insert(
    tx: Transaction,
    triggers: list[Trigger],
    counts: list[int],
    plans: list[FirstPage],
    now: datetime,
) -> list[int]:
    """INSERT one incident per trigger (one statement); their ids, in order."""
    columns = {
        "body": ([t.body for t in triggers], "VARCHAR"),
        "dedup_key": ([t.dedup_key for t in triggers], "VARCHAR"),
        "trigger_count": (counts, "INTEGER"),
        "assigned_user_id": ([p.assignee.id if p.assignee else None for p in plans], "BIGINT"),
        "service_id": ([t.service_id for t in triggers], "BIGINT"),
        "urgency": ([t.urgency for t in triggers], "VARCHAR"),
        "severity": ([t.severity for t in triggers], "VARCHAR"),
        "source": ([t.source for t in triggers], "VARCHAR"),
        "details": ([t.details for t in triggers], "VARCHAR"),
        "escalation_step": ([p.escalation_step for p in plans], "INTEGER"),
        "next_escalation_at": ([p.next_escalation_at for p in plans], "TIMESTAMPTZ"),
    }
    if len(triggers) == 1:
        values = "VALUES (" + ", ".join("?" for _ in columns) + ", ?, ?, ?)"
        params = [values_[0] for values_, _ in columns.values()]
    else:  # lists unnested: DuckDB binds a long VALUES list of parameters slowly (4x)
        values = (
            "SELECT "
            + ", ".join(f"unnest(?::{kind}[])" for _, kind in columns.values())
            + ", ?, ?, ?"
        )
        params = [values_ for values_, _ in columns.values()]
    rows = tx.rows(
        f"INSERT INTO incidents ({', '.join(columns)}, status, created_at, last_triggered_at) "
        f"{values} RETURNING id, body, dedup_key, service_id",
        [*params, TRIGGERED, now, now],
    )
    # The sequence draws ids in VALUES order, but rows are matched by content all the same:
    # nothing is assumed about RETURNING's order (rows alike differ only in their ids).
    ids: dict[tuple[str, str | None, int], list[int]] = {}
    for row in sorted(rows, key=lambda r: r["id"], reverse=True):
        ids.setdefault((row["body"], row["dedup_key"], row["service_id"]), []).append(row["id"])
    return [ids[(t.body, t.dedup_key, t.service_id)].pop() for t in triggers]


def _enqueue_created(
    tx: Transaction, created: list[Incident], plans: list[FirstPage], now: datetime
) -> None:
    """The 'created' Slack message of each new incident, to its team's channel (bundled per
    service during a storm, see `outbox.enqueue_created`)."""
    messages = [
        (incident, outbox.created(incident, [p.user for p in plan.pages if p.user]))
        for incident, plan in zip(created, plans, strict=True)
    ]
    outbox.enqueue_created(tx, messages, now)


def get_incident(store: Store, incident_id: int) -> Incident:
    return _one(store, incident_id)


def list_incidents(
    store: Store,
    status: str = "unacknowledged",
    assignee_id: int | None = None,
    limit: int | None = None,
    before_id: int | None = None,
    service_id: int | None = None,
    team_id: int | None = None,
    urgency: str | None = None,
) -> list[Incident]:
    """Incidents by status (and service, team, urgency), newest first: at most `limit`, with
    ids below `before_id` (the next page starts after the last id of the one before: a keyset
    page, stable while new incidents arrive)."""
    if status not in STATUS_FILTERS:
        raise InvalidRequestError("Status", f"must be one of {', '.join(STATUS_FILTERS)}")
    if urgency is not None and urgency not in (HIGH, LOW):
        raise InvalidRequestError("Urgency", "must be high or low")
    statuses = STATUS_FILTERS[status]
    sql = f"SELECT {COLUMNS} FROM incidents WHERE status IN ({', '.join('?' for _ in statuses)})"
    params: list[Any] = list(statuses)
    for column, value in (
        ("assigned_user_id", assignee_id),
        ("service_id", service_id),
        ("urgency", urgency),
    ):
        if value is not None:
            sql += f" AND {column} = ?"
            params.append(value)
    if team_id is not None:
        sql += " AND service_id IN (SELECT id FROM services WHERE team_id = ?)"
        params.append(team_id)
    if before_id is not None:
        sql += " AND id < ?"
        params.append(before_id)
    sql += " ORDER BY id DESC"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return incidents_from_rows(store, store.rows(sql, params))


def _transition(
    store: Store,
    incident_id: int,
    now: datetime,
    by_user_id: int | None,
    change: str,
    params: list[Any],
    message: tuple[str, Any],
    refused: str,
    log: str | None = None,
    then: Any = None,
) -> Incident:
    """One state change of one incident: check who, apply `change` (an UPDATE ... RETURNING
    whose WHERE clause says when the change is allowed), queue its Slack message to the team's
    channel and write its timeline entry (`log`, default the message kind); pages not sent yet
    are cancelled once it is no longer triggered; `then(tx, incident)` does the rest. When the
    incident exists but the change is not allowed, a ConflictError says `refused` (formatted
    with the current status)."""

    def work(tx: Transaction) -> Incident:
        if by_user_id is not None:
            get_user(tx, by_user_id)
        rows = tx.rows(f"{change} RETURNING {COLUMNS}", params)
        if not rows:
            current = _one(tx, incident_id)  # NotFoundError when it does not exist
            raise ConflictError(refused.format(id=incident_id, status=current.status))
        incident = incidents_from_rows(tx, rows)[0]
        kind, render = message
        outbox.enqueue(tx, kind, render(incident), now, [incident.id], incident.team_id)
        timeline.add(tx, incident.id, kind, log or kind, now, by_user_id)
        if incident.status != TRIGGERED:
            pages.cancel(tx, [incident.id], f"{incident.status} before it was sent")
        if then is not None:
            then(tx, incident)
        return incident

    return store.write(work)


def acknowledge(
    store: Store,
    incident_id: int,
    now: datetime,
    by_user_id: int | None = None,
    via: str | None = None,
) -> Incident:
    """Acknowledge a triggered incident, assigned or not; `by_user_id` records who, `via`
    how ("email link"). Escalation stops; with the service's acknowledgement timeout, it is
    triggered again after that long unless resolved."""
    return _transition(
        store,
        incident_id,
        now,
        by_user_id,
        "UPDATE incidents SET status = ?, acknowledged_at = ?, acknowledged_by = ?, "
        f"next_escalation_at = NULL, retrigger_at = {_ACK_TIMEOUT} WHERE id = ? AND status = ?",
        [ACKNOWLEDGED, now, by_user_id, now, incident_id, TRIGGERED],
        ("acknowledged", outbox.acknowledged),
        "incident {id} is already {status}",
        log=f"acknowledged via {via}" if via else None,
    )


# The end of an acknowledgement's life: the service's ack timeout after `?`, or NULL.
_ACK_TIMEOUT = (
    "(SELECT ? + ack_timeout_minutes * INTERVAL '1 minute' FROM services "
    "WHERE services.id = incidents.service_id)"
)


def acknowledge_all(
    store: Store,
    now: datetime,
    by_user_id: int | None = None,
    of_teams_of: int | None = None,
) -> list[Incident]:
    """Acknowledge every triggered incident at once (one UPDATE), or with `of_teams_of` only
    those of the services of that person's teams; returns them by id. Each team's channel gets
    one message per incident, or one summary when there are more than a few."""
    scope, scope_params = "", []
    if of_teams_of is not None:
        scope = (
            " AND service_id IN (SELECT s.id FROM services s JOIN team_members m "
            "ON m.team_id = s.team_id WHERE m.user_id = ?)"
        )
        scope_params = [of_teams_of]

    def work(tx: Transaction) -> list[Incident]:
        if by_user_id is not None:
            get_user(tx, by_user_id)
        rows = tx.rows(
            "UPDATE incidents SET status = ?, acknowledged_at = ?, acknowledged_by = ?, "
            f"next_escalation_at = NULL, retrigger_at = {_ACK_TIMEOUT} "
            f"WHERE status = ?{scope} RETURNING {COLUMNS}",
            [ACKNOWLEDGED, now, by_user_id, now, TRIGGERED, *scope_params],
        )
        done = sorted(incidents_from_rows(tx, rows), key=lambda incident: incident.id)
        pages.cancel(tx, [i.id for i in done], "acknowledged before it was sent")
        for team_id, of_team in _by_team(done).items():
            if len(of_team) > outbox.SUMMARY_ABOVE:
                by = f" by {outbox.who(of_team[0].acknowledged_by)}" if by_user_id else ""
                text_ = outbox.summary(f"{len(of_team)} incidents acknowledged{by}:", of_team)
                outbox.enqueue(tx, "acknowledged", text_, now, [i.id for i in of_team], team_id)
            else:
                messages = [(outbox.acknowledged(i), [i.id]) for i in of_team]
                outbox.enqueue_many(tx, "acknowledged", messages, now, team_id)
        log = [(i.id, "acknowledged", "acknowledged", by_user_id) for i in done]
        timeline.add_many(tx, log, now)
        return done

    return store.write(work)


def _by_team(incidents: Sequence[Incident]) -> dict[int, list[Incident]]:
    teams: dict[int, list[Incident]] = {}
    for incident in incidents:
        teams.setdefault(incident.team_id, []).append(incident)
    return teams


def assign(store: Store, incident_id: int, user_id: int, now: datetime) -> Incident:
    """Hand an open incident to `user_id`; an unknown user changes nothing (NotFoundError)."""
    return _transition(
        store,
        incident_id,
        now,
        user_id,
        "UPDATE incidents SET assigned_user_id = ? WHERE id = ? AND status <> ?",
        [user_id, incident_id, RESOLVED],
        ("assigned", outbox.assigned),
        "incident {id} is {status}",
        log="reassigned",
        then=lambda tx, incident: _page_assignee(tx, incident, now),
    )


def _page_assignee(tx: Transaction, incident: Incident, now: datetime) -> None:
    """Whoever is handed a triggered incident is paged (their notification rules)."""
    if incident.status != TRIGGERED or incident.assignee is None:
        return
    planned = pages.page(tx, [(incident, [incident.assignee])], now)
    how = planned.get((incident.id, incident.assignee.id))
    name = incident.assignee.full_name
    line = f"paging {name} by {how}" if how else f"{name} has no verified contact method"
    timeline.add(tx, incident.id, "paged", line, now, incident.assignee.id)


def resolve(
    store: Store,
    incident_id: int,
    now: datetime,
    by_user_id: int | None = None,
    via: str | None = None,
    body: str | None = None,
) -> Incident:
    """Resolve an open incident; escalation stops; `body`, when given, is what it says from
    now on (an alert source's resolved notification). One never acknowledged stays so
    (`acknowledged_at` null): a time to acknowledge is only ever a real acknowledgement's."""
    return _transition(
        store,
        incident_id,
        now,
        by_user_id,
        "UPDATE incidents SET status = ?, resolved_at = ?, resolved_by = ?, "
        "body = coalesce(?, body), next_escalation_at = NULL, retrigger_at = NULL "
        "WHERE id = ? AND status <> ?",
        [RESOLVED, now, by_user_id, body, incident_id, RESOLVED],
        ("resolved", outbox.resolved),
        "incident {id} is already {status}",
        log=f"resolved via {via}" if via else None,
    )


# Whether a resolved incident had been acknowledged before it was resolved: an acknowledgement
# the timeline shows made (acknowledged, or snoozed) at that moment. (Before issue 22, resolving
# filled an empty acknowledgement with the resolution's moment; those rows read right too.)
_ACKNOWLEDGED_BEFORE = (
    "EXISTS (SELECT 1 FROM incident_log WHERE incident_log.incident_id = incidents.id "
    "AND incident_log.kind IN ('acknowledged', 'snoozed') "
    "AND incident_log.logged_at = incidents.acknowledged_at)"
)


def unresolve(
    store: Store, incident_id: int, now: datetime, by_user_id: int | None = None
) -> Incident:
    """Reopen a resolved incident (Grafana OnCall's "unresolve"), for an undo: it is
    acknowledged again (by whoever had, with the service's acknowledgement timeout from now)
    if it had been acknowledged, else triggered again, its escalation going on after the step
    it had reached (the next step its delay from now; nobody is paged at once). Refused
    (ConflictError) when it is not resolved, or when another open incident of its service holds
    its dedup key (a trigger since opened it); a Slack message and a timeline entry say who
    reopened it."""

    def work(tx: Transaction) -> Incident:
        by = get_user(tx, by_user_id) if by_user_id is not None else None
        before = tx.row(
            f"SELECT status, service_id, dedup_key, escalation_step, escalation_round, urgency, "
            f"{_ACKNOWLEDGED_BEFORE} AS acknowledged_before FROM incidents WHERE id = ?",
            [incident_id],
        )
        if before is None:
            raise NotFoundError(f"no incident with id {incident_id}")
        if before["status"] != RESOLVED:
            raise ConflictError(f"incident {incident_id} is {before['status']}, not resolved")
        if before["dedup_key"] is not None:
            holder = tx.row(
                "SELECT id FROM incidents WHERE service_id = ? AND dedup_key = ? "
                "AND status <> ? AND id <> ? ORDER BY id LIMIT 1",
                [before["service_id"], before["dedup_key"], RESOLVED, incident_id],
            )
            if holder is not None:
                raise ConflictError(
                    f"incident {incident_id} cannot be reopened: open incident "
                    f"{holder['id']} of its service has its dedup key since"
                )
        reopen = "UPDATE incidents SET resolved_at = NULL, resolved_by = NULL, status = ?, "
        if before["acknowledged_before"]:
            rows = tx.rows(
                f"{reopen}retrigger_at = {_ACK_TIMEOUT} WHERE id = ? AND status = ? "
                f"RETURNING {COLUMNS}",
                [ACKNOWLEDGED, now, incident_id, RESOLVED],
            )
            state = "acknowledged again"
        else:
            known = routing(tx)
            policy = known.policies[known.services[before["service_id"]].escalation_policy_id]
            due = next_escalation(
                policy,
                before["escalation_step"],
                before["escalation_round"],
                before["urgency"],
                now,
            )
            rows = tx.rows(
                f"{reopen}acknowledged_at = NULL, acknowledged_by = NULL, "
                f"next_escalation_at = ? WHERE id = ? AND status = ? RETURNING {COLUMNS}",
                [TRIGGERED, due, incident_id, RESOLVED],
            )
            state = "triggered again"
        if not rows:  # changed since it was read (another daemon reopened it)
            raise ConflictError(f"incident {incident_id} is no longer resolved")
        incident = incidents_from_rows(tx, rows)[0]
        outbox.enqueue(
            tx, "unresolved", outbox.unresolved(incident, by), now, [incident.id],
            incident.team_id,
        )  # fmt: skip
        timeline.add(tx, incident.id, "unresolved", f"reopened: {state}", now, by_user_id)
        return incident

    return store.write(work)


MAX_SNOOZE = 7 * 24 * 60  # minutes


def snooze(
    store: Store, incident_id: int, minutes: int, now: datetime, by_user_id: int | None = None
) -> Incident:
    """Quiet an open incident for `minutes`: acknowledged (no reminders, no escalation) until
    then, then triggered again and paged from the first step (unless resolved first)."""
    if not 1 <= minutes <= MAX_SNOOZE:
        raise InvalidRequestError("Minutes", f"must be 1 to {MAX_SNOOZE}")
    until = now + timedelta(minutes=minutes)
    return _transition(
        store,
        incident_id,
        now,
        by_user_id,
        "UPDATE incidents SET status = ?, acknowledged_at = coalesce(acknowledged_at, ?), "
        "acknowledged_by = coalesce(acknowledged_by, ?), next_escalation_at = NULL, "
        "retrigger_at = ? WHERE id = ? AND status <> ?",
        [ACKNOWLEDGED, now, by_user_id, until, incident_id, RESOLVED],
        ("snoozed", lambda incident: outbox.snoozed(incident, minutes)),
        "incident {id} is {status}",
        log=f"snoozed for {minutes} min",
    )


def by_key(source: Store | Transaction, service_id: int, dedup_key: str) -> Incident | None:
    """The open incident of the service with this dedup key, if any."""
    rows = source.rows(
        f"SELECT {COLUMNS} FROM incidents WHERE service_id = ? AND dedup_key = ? "
        "AND status <> ? ORDER BY id LIMIT 1",
        [service_id, dedup_key, RESOLVED],
    )
    return incidents_from_rows(source, rows)[0] if rows else None


@dataclass(frozen=True)
class PastIncident:
    """An incident that is already over, as the tool it comes from (or the demo) knew it."""

    service_id: int
    body: str
    opened: datetime
    resolved: datetime
    assignee: int | None = None
    acknowledged: datetime | None = None  # None: resolved without an acknowledgement
    acknowledged_by: int | None = None
    resolved_by: int | None = None
    resolved_via: str | None = None
    urgency: str = "high"
    source: str | None = None
    notes: tuple[tuple[datetime, int | None, str], ...] = ()
    # who was paged when: (user, sent at), between opening and resolution
    pages: tuple[tuple[int, datetime], ...] = ()


def record_past(store: Store, past: Sequence[PastIncident]) -> list[int]:
    """Write incidents that are over with their own times and timelines: history for the
    reports, not news, so nobody is paged and no message is queued; the pages they sent then
    are recorded as delivered (analytics and fair-by-burden read them). Returns their ids."""
    checked = []
    for i, item in enumerate(past):
        one = check_trigger(item.body, None, item.service_id, item.urgency, None, item.source)
        ack = item.acknowledged
        if not item.opened <= (ack or item.opened) <= item.resolved:
            raise InvalidRequestError(f"[{i}]", "expected opened <= acknowledged <= resolved")
        if any(not item.opened <= at <= item.resolved for _, at in item.pages):
            raise InvalidRequestError(f"[{i}].pages", "expected opened <= paged <= resolved")
        checked.append((one, item))

    def work(tx: Transaction) -> list[int]:
        ids = []
        for one, item in checked:
            get_service(tx, one.service_id)  # NotFoundError names it
            paged = {who for who, _ in item.pages}
            for who in {item.assignee, item.acknowledged_by, item.resolved_by, *paged} - {None}:
                get_user(tx, who)
            [row] = tx.rows(
                "INSERT INTO incidents (body, service_id, urgency, source, status, created_at, "
                "last_triggered_at, assigned_user_id, acknowledged_at, acknowledged_by, "
                "resolved_at, resolved_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "RETURNING id",
                [one.body, one.service_id, one.urgency, one.source, RESOLVED, item.opened,
                 item.opened, item.assignee, item.acknowledged, item.acknowledged_by,
                 item.resolved, item.resolved_by],
            )  # fmt: skip
            incident_id = row["id"]
            via = f" by {one.source}" if one.source else ""
            timeline.add(tx, incident_id, "triggered", f"triggered{via} ({one.urgency} urgency)",
                         item.opened)  # fmt: skip
            if item.acknowledged is not None:
                timeline.add(tx, incident_id, "acknowledged", "acknowledged", item.acknowledged,
                             item.acknowledged_by)  # fmt: skip
            for at, who, note in item.notes:
                timeline.add(
                    tx,
                    incident_id,
                    "note",
                    text.clean("Text", note, timeline.MAX_NOTE, multiline=True),
                    at,
                    who,
                )
            for who, at in item.pages:
                notifications.record_delivered(tx, incident_id, who, at)
            how = f"resolved via {item.resolved_via}" if item.resolved_via else "resolved"
            timeline.add(tx, incident_id, "resolved", how, item.resolved, item.resolved_by)
            ids.append(incident_id)
        return ids

    return store.write(work)
