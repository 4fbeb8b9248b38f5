"""Notification rules: which of a person's contact methods is used how many minutes after they
are paged, per urgency ("push at once, email after 2 minutes, for high urgency"). A person's
first verified method gets a rule of its own (at once, both urgencies) when they have none."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from oncall_opt.engine.store import Store, Transaction
from oncall_opt.engine.users import get_user
from oncall_opt.errors import ConflictError, InvalidRequestError, NotFoundError

URGENCIES = ("high", "low")
MAX_DELAY = 24 * 60
MAX_RULES = 30
_COLUMNS = "id, user_id, contact_method_id, delay_minutes, urgency, created_at"


@dataclass(frozen=True)
class Rule:
    id: int
    user_id: int
    contact_method_id: int
    delay_minutes: int
    urgency: str
    created_at: datetime


def _of(row: dict[str, Any]) -> Rule:
    return Rule(**row)


def of_user(source: Store | Transaction, user_id: int) -> list[Rule]:
    rows = source.rows(
        f"SELECT {_COLUMNS} FROM notification_rules WHERE user_id = ? "
        "ORDER BY urgency, delay_minutes, id",
        [user_id],
    )
    return [_of(r) for r in rows]


def get(source: Store | Transaction, rule_id: int) -> Rule:
    row = source.row(f"SELECT {_COLUMNS} FROM notification_rules WHERE id = ?", [rule_id])
    if row is None:
        raise NotFoundError(f"no notification rule with id {rule_id}")
    return _of(row)


def _insert(tx: Transaction, user_id: int, method_id: int, delay: int, urgency: str, now):
    row = tx.row(
        "INSERT INTO notification_rules (user_id, contact_method_id, delay_minutes, urgency, "
        f"created_at) VALUES (?, ?, ?, ?, ?) RETURNING {_COLUMNS}",
        [user_id, method_id, delay, urgency, now],
    )
    assert row is not None
    return _of(row)


def create(
    store: Store, user_id: int, method_id: int, delay_minutes: int, urgency: str, now: datetime
) -> Rule:
    if urgency not in URGENCIES:
        raise InvalidRequestError("Urgency", "must be high or low")
    if not 0 <= delay_minutes <= MAX_DELAY:
        raise InvalidRequestError("DelayMinutes", f"must be 0 to {MAX_DELAY}")

    def work(tx: Transaction) -> Rule:
        get_user(tx, user_id)
        method = tx.row("SELECT user_id FROM contact_methods WHERE id = ?", [method_id])
        if method is None:
            raise NotFoundError(f"ContactMethodId: no contact method with id {method_id}")
        if method["user_id"] != user_id:
            raise InvalidRequestError(
                "ContactMethodId", f"contact method {method_id} is not this person's"
            )
        existing = of_user(tx, user_id)
        if len(existing) >= MAX_RULES:
            raise ConflictError(f"a person has at most {MAX_RULES} notification rules")
        for rule in existing:
            if (rule.contact_method_id, rule.delay_minutes, rule.urgency) == (
                method_id, delay_minutes, urgency,
            ):  # fmt: skip
                return rule
        return _insert(tx, user_id, method_id, delay_minutes, urgency, now)

    return store.write(work)


def delete(store: Store, rule_id: int) -> Rule:
    def work(tx: Transaction) -> Rule:
        rule = get(tx, rule_id)
        tx.execute("DELETE FROM notification_rules WHERE id = ?", [rule_id])
        return rule

    return store.write(work)


def ensure_default(tx: Transaction, user_id: int, method_id: int, now: datetime) -> None:
    """A person's first verified method: notify there at once, whatever the urgency."""
    if tx.row("SELECT id FROM notification_rules WHERE user_id = ? LIMIT 1", [user_id]):
        return
    for urgency in URGENCIES:
        _insert(tx, user_id, method_id, 0, urgency, now)
