"""Slack messages in the seed's wording, written to the outbox in the caller's transaction so a
message exists exactly when the change that causes it is committed.

Every text here is Slack markup: whatever came from people or alerts (names, bodies, notes,
policy and team names) goes in through `esc`, and mentions only through `slack.mention`, so data
can never ping a channel or plant a link. Callers composing their own text do the same.

Storms cannot bury a page. Each message has a priority: the first message of a new incident
(and "could not reach anyone") goes before every other message waiting (chatter). And a new
incident's first message is posted on its own only for the first `STORM_ABOVE` new incidents of
a service within a minute; beyond that the service is in a storm, and its new incidents are
gathered in one bundled summary ("payments: 312 new incidents since 14:02 ...") posted at
most once a minute per service, like GoAlert's per-service bundles. A new incident of another
service still gets its own message, at once, ahead of the storm's chatter. People are paged
as always: bundling is about the channel only."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta

from oncall_opt.engine import text
from oncall_opt.engine.records import Incident, User
from oncall_opt.engine.slack import escape as esc
from oncall_opt.engine.slack import mention
from oncall_opt.engine.store import Transaction

__all__ = ["esc", "who"]

REMINDER_HEADER = (
    "These incidents have not been acknowledged yet. Please acknowledge them otherwise you "
    "will be reminded every 10 minutes:"
)
MAX_MESSAGE_CHARS = 3500  # Slack truncates long messages; reminders split before this
SUMMARY_ABOVE = 5  # more incidents than this at once: one summary message, not one each
FIRST = 0  # priority of a new incident's first message (and "could not reach anyone")
CHATTER = 1  # priority of every other message
FIRST_KINDS = ("created", "unreachable")
STORM_ABOVE = 3  # new incidents of one service in STORM_WINDOW that get a message each
STORM_WINDOW = timedelta(minutes=1)
STORM = "storm"  # the kind of a service's bundled summary
MAX_BUNDLED = 20_000  # ids a bundle keeps (its count goes on; the text shows a few anyway)


def who(user: User | None) -> str:
    """`Ana Silva <@ana>`, as Slack markup."""
    if user is None:
        return "nobody"
    return f"{esc(user.first_name)} {esc(user.last_name)} {mention(user.slack_handle)}"


def _body(incident: Incident) -> str:
    return esc(text.shortened(incident.body))


def _urgency(incident: Incident) -> str:
    return " (low urgency)" if incident.urgency == "low" else ""


def created(incident: Incident, paged: Sequence[User] = ()) -> str:
    """The tutorial's words; the others paged by the first step are mentioned too."""
    head = f"Incident #{incident.id}{_urgency(incident)} created"
    if incident.assignee is None:
        return f"{head} and unassigned\n{_body(incident)}"
    also = [user for user in paged if user != incident.assignee]
    paging = f" (also paged: {', '.join(who(u) for u in also)})" if also else ""
    return f"{head} and assigned to {who(incident.assignee)}{paging}\n{_body(incident)}"


def acknowledged(incident: Incident) -> str:
    by = f" by {who(incident.acknowledged_by)}" if incident.acknowledged_by else ""
    if incident.assignee is None:
        return f"Incident #{incident.id} (unassigned) has been acknowledged{by}:\n{_body(incident)}"
    return (
        f"Incident #{incident.id} assigned to {who(incident.assignee)} has been "
        f"acknowledged{by}:\n{_body(incident)}"
    )


def assigned(incident: Incident) -> str:
    return f"Incident #{incident.id} is re-assigned to {who(incident.assignee)}\n{_body(incident)}"


def resolved(incident: Incident) -> str:
    by = f" by {who(incident.resolved_by)}" if incident.resolved_by else ""
    return f"Incident #{incident.id} has been resolved{by}:\n{_body(incident)}"


def unresolved(incident: Incident, by: User | None = None) -> str:
    """A resolved incident reopened (an undo): who did, and what it is now."""
    by_ = f" by {who(by)}" if by else ""
    if incident.status == "acknowledged":
        acked_by = incident.acknowledged_by
        state = f"acknowledged by {who(acked_by)}" if acked_by else "acknowledged"
    elif incident.assignee is not None:
        state = f"triggered, assigned to {who(incident.assignee)}"
    else:
        state = "triggered, unassigned"
    return f"Incident #{incident.id} has been reopened{by_} ({state}):\n{_body(incident)}"


def escalated(incident: Incident, minutes: float | None, paged: Sequence[User], why: str) -> str:
    """`why`: which step of which policy, and what it targets; `minutes` None: by hand."""
    to = ", ".join(who(user) for user in paged) or "nobody (nobody is on call there)"
    if minutes is None:
        return f"Incident #{incident.id} escalated by hand to {to} ({esc(why)})\n{_body(incident)}"
    return (
        f"Incident #{incident.id} has not been acknowledged for {minutes:g} "
        f"minute{'' if minutes == 1 else 's'}: escalated "
        f"to {to} ({esc(why)})\n{_body(incident)}"
    )


def snoozed(incident: Incident, minutes: int) -> str:
    return (
        f"Incident #{incident.id} is snoozed for {minutes} minutes: no reminders or escalation "
        f"until then\n{_body(incident)}"
    )


def retriggered(incident: Incident, why: str) -> str:
    to = f": assigned to {who(incident.assignee)}" if incident.assignee else ""
    return f"Incident #{incident.id} is triggered again ({esc(why)}){to}\n{_body(incident)}"


def auto_resolved(incident: Incident, minutes: int) -> str:
    return (
        f"Incident #{incident.id} has been resolved automatically: not triggered again for "
        f"{minutes} minutes\n{_body(incident)}"
    )


def summary(header: str, incidents: Sequence[Incident]) -> str:
    """One message for many incidents: the header (markup), then `[#id] body` lines while they
    fit in a Slack message, then how many more there are."""
    lines = [header]
    size = len(header)
    for shown, incident in enumerate(incidents):
        first = incident.body.splitlines()[0][:200] if incident.body else ""
        line = f"[#{incident.id}] {esc(first)}"
        rest = len(incidents) - shown
        if size + len(line) + 40 > MAX_MESSAGE_CHARS:
            lines.append(f"... and {rest} more")
            break
        lines.append(line)
        size += len(line) + 1
    return "\n".join(lines)


def reminder_line(incident: Incident) -> str:
    a = incident.assignee
    if a is None:
        assignee = "Unassigned"
    else:
        assignee = f"{esc(a.first_name)} {esc(a.last_name)} ({mention(a.slack_handle)})"
    return f"[{assignee}] [#{incident.id}] {_body(incident)}"


def reminders(incidents: Sequence[Incident]) -> list[tuple[str, list[int]]]:
    """Reminder texts, split so none exceeds MAX_MESSAGE_CHARS, each with its incident ids."""
    messages: list[tuple[str, list[int]]] = []
    lines, ids = [REMINDER_HEADER], []
    for incident in incidents:
        line = _cut(reminder_line(incident), MAX_MESSAGE_CHARS - len(REMINDER_HEADER) - 2)
        if ids and sum(len(x) + 1 for x in lines) + len(line) > MAX_MESSAGE_CHARS:
            messages.append(("\n".join(lines), ids))
            lines, ids = [REMINDER_HEADER + " (continued)"], []
        lines.append(line)
        ids.append(incident.id)
    if ids:
        messages.append(("\n".join(lines), ids))
    return messages


def _cut(markup: str, limit: int) -> str:
    """`markup` cut to `limit` characters, never inside an entity (`&lt;`) or a mention."""
    if len(markup) <= limit:
        return markup
    cut = markup[:limit]
    opened = max(cut.rfind("&"), cut.rfind("<"))
    if opened != -1 and not any(end in cut[opened:] for end in (";", ">")):
        cut = cut[:opened]
    return cut


def enqueue(
    tx: Transaction,
    kind: str,
    text: str,
    now: datetime,
    incident_ids: Sequence[int] = (),
    team_id: int | None = None,
) -> int:
    """Queue a message for delivery to `team_id`'s channel (None: the global webhook's);
    returns its outbox id."""
    [message_id] = enqueue_many(tx, kind, [(text, incident_ids)], now, team_id)
    return message_id


def enqueue_many(
    tx: Transaction,
    kind: str,
    messages: Sequence[tuple[str, Sequence[int]]],
    now: datetime,
    team_ids: int | Sequence[int | None] | None = None,
    service_ids: Sequence[int | None] | None = None,
) -> list[int]:
    """Queue (text, incident_ids) messages of one kind, to one team's channel or each to its
    own (`team_ids` a list as long as `messages`); returns their outbox ids, ascending. The one
    INSERT into the outbox: the columns go as lists unnested into rows, one statement for any
    number (a long VALUES list of parameters binds 3 to 4 times slower in DuckDB)."""
    if not messages:
        return []
    texts = [text for text, _ in messages]
    ids = [json.dumps(list(incident_ids)) if incident_ids else None for _, incident_ids in messages]
    teams = list(team_ids) if isinstance(team_ids, Sequence) else [team_ids] * len(messages)
    services = list(service_ids) if service_ids is not None else [None] * len(messages)
    priority = FIRST if kind in FIRST_KINDS else CHATTER
    rows = tx.rows(
        "INSERT INTO outbox (kind, text, incident_ids, team_id, service_id, priority, "
        "created_at, next_attempt_at) SELECT ?, unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), "
        "unnest(?::BIGINT[]), unnest(?::BIGINT[]), ?, ?, ? RETURNING id",
        [kind, texts, ids, teams, services, priority, now, now],
    )
    return [row["id"] for row in sorted(rows, key=lambda r: r["id"])]


def enqueue_created(
    tx: Transaction, messages: Sequence[tuple[Incident, str]], now: datetime
) -> None:
    """Each new incident's first message (`created` text), on its own while its service is
    calm, else into the service's bundle (see the module's note on storms)."""
    by_service: dict[int, list[tuple[Incident, str]]] = {}
    for incident, text_ in messages:
        by_service.setdefault(incident.service_id, []).append((incident, text_))
    alone: list[tuple[Incident, str]] = []
    bundles: dict[int, list[Incident]] = {}
    for service_id, items in by_service.items():
        row = tx.row(
            "SELECT count(*) AS n FROM outbox WHERE service_id = ? AND kind = 'created' "
            "AND created_at > ?",
            [service_id, now - STORM_WINDOW],
        )
        room = max(STORM_ABOVE - (row["n"] if row else 0), 0)
        alone += items[:room]
        if items[room:]:
            bundles[service_id] = [incident for incident, _ in items[room:]]
    alone.sort(key=lambda item: item[0].id)  # as if triggered one by one
    enqueue_many(
        tx, "created", [(text_, [incident.id]) for incident, text_ in alone], now,
        [incident.team_id for incident, _ in alone], [incident.service_id for incident, _ in alone],
    )  # fmt: skip
    for service_id, bundled in bundles.items():
        _bundle(tx, service_id, bundled, now)


def _bundle(tx: Transaction, service_id: int, incidents: list[Incident], now: datetime) -> None:
    """Add new incidents to the service's pending bundle, or start one: due now, or a minute
    after the service's last bundle was due (at most one a minute per service)."""
    pending = tx.row(
        "SELECT id, incident_ids, created_at FROM outbox WHERE service_id = ? AND kind = ? "
        f"AND status = 'pending' AND claimed_at IS NULL ORDER BY id DESC LIMIT 1{tx.claim}",
        [service_id, STORM],
    )
    if pending is not None:  # the text is written when the bundle is posted (storm_text)
        ids = json.loads(pending["incident_ids"] or "[]")
        bundled = [*ids, *(incident.id for incident in incidents)][-MAX_BUNDLED:]
        tx.execute(
            "UPDATE outbox SET incident_ids = ? WHERE id = ?", [json.dumps(bundled), pending["id"]]
        )
        return
    last = tx.row(
        "SELECT max(next_attempt_at) AS due FROM outbox WHERE service_id = ? AND kind = ?",
        [service_id, STORM],
    )
    due = max(now, last["due"] + STORM_WINDOW) if last and last["due"] else now
    team_id = incidents[0].team_id
    bundled = [incident.id for incident in incidents]
    tx.execute(
        "INSERT INTO outbox (kind, text, incident_ids, team_id, service_id, priority, "
        "created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [STORM, "(a storm's bundle: written when posted)", json.dumps(bundled), team_id,
         service_id, CHATTER, now, due],
    )  # fmt: skip


def storm_text(tx: Transaction, service_id: int, bundled: list[int], since: datetime) -> str:
    """`payments: 312 new incidents since 14:02 UTC, 315 open on the service; most common: ...`
    (Slack markup: the service's name and the alerts' text escaped), written when the bundle
    is posted: during the storm, adding to it costs one small UPDATE."""
    service = tx.row("SELECT name FROM services WHERE id = ?", [service_id])
    name = esc(service["name"]) if service else f"service {service_id}"
    open_ = tx.row(
        "SELECT count(*) AS n FROM incidents WHERE service_id = ? AND status <> 'resolved'",
        [service_id],
    )
    shown = bundled[-500:]  # the most common summaries among the latest new ones
    marks = ", ".join("?" for _ in shown)
    bodies = Counter(
        (row["body"] or "").splitlines()[0][:120] if row["body"] else ""
        for row in tx.rows(f"SELECT body FROM incidents WHERE id IN ({marks})", shown)
    )
    top = "; ".join(f"{esc(body) or '(no text)'} ×{count}" for body, count in bodies.most_common(3))
    return (
        f"{name}: {len(bundled)}{'+' if len(bundled) >= MAX_BUNDLED else ''} new "
        f"incident{'' if len(bundled) == 1 else 's'} since "
        f"{since:%H:%M} UTC ({STORM_ABOVE} a minute get a message each; the rest are bundled "
        f"here), {open_['n'] if open_ else 0} open on the service; most common: {top}"
    )
