"""One-time action links: a page carries links that acknowledge or resolve its incident as the
person it was sent to. Opening one acts on nothing (mail scanners and link previews follow
links); the console's page it opens asks, and only its button (a POST) acts. A link works
once, for its incident, its action and its person, until it expires (24 hours); the store keeps
only the SHA-256 of its 256-bit secret."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from oncall_opt.engine.store import Store, Transaction
from oncall_opt.errors import UnauthenticatedError

ACTIONS = {"acknowledge": "Acknowledge", "resolve": "Resolve"}
LIFETIME = timedelta(hours=24)
PREFIX = "oo_act_"


@dataclass(frozen=True)
class ActionLink:
    id: int
    incident_id: int
    user_id: int
    action: str
    via: str
    expires_at: datetime
    used_at: datetime | None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def unspent(row: dict | None, token: str, prefix: str, now: datetime) -> dict:
    """A one-time link's row as read by its hash (this module's links and cover_links.py's):
    UnauthenticatedError when it is unknown or of another kind, used, or expired."""
    if row is None or not token.startswith(prefix):
        raise UnauthenticatedError("this link is not valid")
    if row["used_at"] is not None:
        raise UnauthenticatedError("this link was used already (a link works once)")
    if row["expires_at"] <= now:
        raise UnauthenticatedError("this link has expired (links last 24 hours)")
    return row


def spent(row: dict | None, token: str, prefix: str) -> dict:
    """The row a spending UPDATE ... RETURNING gave back: UnauthenticatedError when none."""
    if row is None or not token.startswith(prefix):
        raise UnauthenticatedError("this link was used already, has expired or is not valid")
    return row


def make(
    tx: Transaction, incident_id: int, user_id: int, via: str, now: datetime
) -> dict[str, str]:
    """A fresh link secret for each action: {action: token}."""
    made = {}
    for action in ACTIONS:
        token = PREFIX + secrets.token_urlsafe(32)
        tx.execute(
            "INSERT INTO action_links (token_hash, incident_id, user_id, action, via, "
            "created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [_hash(token), incident_id, user_id, action, via, now, now + LIFETIME],
        )
        made[action] = token
    return made


def peek(store: Store, token: str, now: datetime) -> ActionLink:
    """What a link would do (nothing is spent); UnauthenticatedError when it is unknown,
    used or expired."""
    row = store.row(
        "SELECT id, incident_id, user_id, action, via, expires_at, used_at FROM action_links "
        "WHERE token_hash = ?",
        [_hash(token)],
    )
    return ActionLink(**unspent(row, token, PREFIX, now))


def spend(tx: Transaction, token: str, now: datetime) -> ActionLink:
    """Use a link (once): it is marked used in the caller's transaction."""
    row = tx.row(
        "UPDATE action_links SET used_at = ? WHERE token_hash = ? AND used_at IS NULL "
        "AND expires_at > ? RETURNING id, incident_id, user_id, action, via, expires_at, used_at",
        [now, _hash(token), now],
    )
    return ActionLink(**spent(row, token, PREFIX))


def describe(store: Store, link: ActionLink) -> dict[str, object]:
    """What the confirmation page shows: the incident's number, first line and state, the
    action and the person it acts as."""
    row = store.row(
        "SELECT i.id, i.body, i.status, u.first_name, u.last_name FROM incidents i, users u "
        "WHERE i.id = ? AND u.id = ?",
        [link.incident_id, link.user_id],
    )
    if row is None:
        raise UnauthenticatedError("this link is not valid any more")
    return {
        "Action": link.action,
        "IncidentId": row["id"],
        "Summary": (row["body"].splitlines() or [""])[0][:200],
        "Status": row["status"],
        "Person": f"{row['first_name']} {row['last_name']}".strip(),
        "Via": link.via,
    }
