"""Remind Slack of unacknowledged incidents, every `remind_every` seconds (10 minutes).

An incident still `triggered` (a snoozed one is acknowledged until its snooze ends) is due when
its last reminder (or, before the first one, its creation) is at least `remind_every` old:
first reminded 10 minutes after it was triggered,
then every 10 minutes until someone acknowledges it. One cycle is one transaction: a single
`UPDATE ... RETURNING` stamps `last_reminded_at` on every due incident and the reminder messages
(split when long, see `outbox.reminders`) go to the outbox with their incident ids. Running it
twice in a row reminds nobody twice: the second run finds nothing due. Each team's incidents
are reminded in its own channel. 10,000 due incidents take
about a tenth of a second: the update returns only what the text needs (timestamps are slow to
fetch) and the messages go in with one INSERT.

The delivery job re-checks a reminder before posting it, so an incident acknowledged between
now and delivery is left out (see `jobs/delivery.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from oncall_opt.engine import outbox
from oncall_opt.engine.incidents import TRIGGERED
from oncall_opt.engine.services import routing
from oncall_opt.engine.settings import Settings
from oncall_opt.engine.store import Store, Transaction
from oncall_opt.engine.teams import DEFAULT_TEAM
from oncall_opt.engine.users import User, users_by_id

KIND = "reminder"


@dataclass(frozen=True)
class Due:
    """What a reminder line shows of an incident (`outbox.reminder_line` reads only these)."""

    id: int
    body: str
    assignee: User | None


def run(store: Store, now: datetime, settings: Settings) -> int:
    """Remind every due incident; returns how many were reminded."""
    due_before = now - timedelta(seconds=settings.remind_every)

    def work(tx: Transaction) -> int:
        rows = tx.rows(
            "UPDATE incidents SET last_reminded_at = ? "
            "WHERE status = ? AND coalesce(last_reminded_at, created_at) <= ? "
            "RETURNING id, body, assigned_user_id, service_id",
            [now, TRIGGERED, due_before],
        )
        if not rows:
            return 0
        rows.sort(key=lambda row: row["id"])
        people = users_by_id(tx, {r["assigned_user_id"] for r in rows} - {None})
        teams = {s.id: s.team_id for s in routing(tx).services.values()}
        by_team: dict[int, list[Due]] = {}
        for r in rows:
            due = Due(r["id"], r["body"], people.get(r["assigned_user_id"]))
            by_team.setdefault(teams.get(r["service_id"], DEFAULT_TEAM), []).append(due)
        for team_id, due in by_team.items():  # each team's reminders to its own channel
            outbox.enqueue_many(tx, KIND, outbox.reminders(due), now, team_id)  # type: ignore[arg-type]
        return len(rows)

    return store.write(work)
