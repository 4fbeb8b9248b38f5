"""Slack messages in the seed's wording, written to the outbox in the caller's transaction so a
message exists exactly when the change that causes it is committed."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from oncall_opt.engine import text
from oncall_opt.engine.records import Incident, User
from oncall_opt.engine.store import Transaction

REMINDER_HEADER = (
    "These incidents have not been acknowledged yet. Please acknowledge them otherwise you "
    "will be reminded every 10 minutes:"
)
MAX_MESSAGE_CHARS = 3500  # Slack truncates long messages; reminders split before this
SUMMARY_ABOVE = 5  # more incidents than this at once: one summary message, not one each


def who(user: User | None) -> str:
    return f"{user.first_name} {user.last_name} <@{user.slack_handle}>" if user else "nobody"


def _body(incident: Incident) -> str:
    return text.shortened(incident.body)


def created(incident: Incident) -> str:
    if incident.assignee is None:
        return f"Incident #{incident.id} created and unassigned\n{_body(incident)}"
    to = who(incident.assignee)
    return f"Incident #{incident.id} created and assigned to {to}\n{_body(incident)}"


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


def escalated(incident: Incident, minutes: float) -> str:
    return (
        f"Incident #{incident.id} has not been acknowledged for {minutes:g} minutes: escalated "
        f"to {who(incident.escalated_to)} (secondary on call)\n{_body(incident)}"
    )


def summary(header: str, incidents: Sequence[Incident]) -> str:
    """One message for many incidents: the header, then `[#id] body` lines while they fit in a
    Slack message, then how many more there are."""
    lines = [header]
    size = len(header)
    for shown, incident in enumerate(incidents):
        line = f"[#{incident.id}] {incident.body.splitlines()[0] if incident.body else ''}"[:200]
        rest = len(incidents) - shown
        if size + len(line) + 40 > MAX_MESSAGE_CHARS:
            lines.append(f"... and {rest} more")
            break
        lines.append(line)
        size += len(line) + 1
    return "\n".join(lines)


def reminder_line(incident: Incident) -> str:
    a = incident.assignee
    assignee = f"{a.first_name} {a.last_name} (<@{a.slack_handle}>)" if a else "Unassigned"
    return f"[{assignee}] [#{incident.id}] {text.shortened(incident.body)}"


def reminders(incidents: Sequence[Incident]) -> list[tuple[str, list[int]]]:
    """Reminder texts, split so none exceeds MAX_MESSAGE_CHARS, each with its incident ids."""
    messages: list[tuple[str, list[int]]] = []
    lines, ids = [REMINDER_HEADER], []
    for incident in incidents:
        line = reminder_line(incident)[: MAX_MESSAGE_CHARS - len(REMINDER_HEADER) - 2]
        if ids and sum(len(x) + 1 for x in lines) + len(line) > MAX_MESSAGE_CHARS:
            messages.append(("\n".join(lines), ids))
            lines, ids = [REMINDER_HEADER + " (continued)"], []
        lines.append(line)
        ids.append(incident.id)
    if ids:
        messages.append(("\n".join(lines), ids))
    return messages


def enqueue(
    tx: Transaction, kind: str, text: str, now: datetime, incident_ids: Sequence[int] = ()
) -> int:
    """Queue a message for delivery; returns its outbox id."""
    [message_id] = enqueue_many(tx, kind, [(text, incident_ids)], now)
    return message_id


def enqueue_many(
    tx: Transaction, kind: str, messages: Sequence[tuple[str, Sequence[int]]], now: datetime
) -> list[int]:
    """Queue (text, incident_ids) messages of one kind; returns their outbox ids, ascending. The
    one INSERT into the outbox: texts and ids go as two lists unnested into rows, one statement
    for any number (a long VALUES list of parameters binds 3 to 4 times slower in DuckDB)."""
    if not messages:
        return []
    texts = [text for text, _ in messages]
    ids = [json.dumps(list(incident_ids)) if incident_ids else None for _, incident_ids in messages]
    rows = tx.rows(
        "INSERT INTO outbox (kind, text, incident_ids, created_at, next_attempt_at) "
        "SELECT ?, unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), ?, ? RETURNING id",
        [kind, texts, ids, now, now],
    )
    return [row["id"] for row in sorted(rows, key=lambda r: r["id"])]
