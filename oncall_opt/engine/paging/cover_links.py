"""One-time accept and decline links in a cover ask (engine/cover.py), made like a page's
action links (`actions.py`): opening one changes nothing (the console's page it opens asks,
and only its button, a POST, acts); a link works once, for its request, its action and the
person asked, until it expires; the store keeps only the SHA-256 of its 256-bit secret."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from oncall_opt.engine.paging.actions import _hash, spent, unspent
from oncall_opt.engine.paging.channels import Action, Message
from oncall_opt.engine.store import Store, Transaction
from oncall_opt.errors import UnauthenticatedError

ACTIONS = {"accept": "Accept", "decline": "Decline"}
LIFETIME = timedelta(hours=24)
PREFIX = "oo_cover_"
_COLUMNS = "id, request_id, user_id, action, expires_at, used_at"


@dataclass(frozen=True)
class CoverLink:
    id: int
    request_id: int
    user_id: int
    action: str
    expires_at: datetime
    used_at: datetime | None


def make(tx: Transaction, request_id: int, user_id: int, now: datetime) -> dict[str, str]:
    """A fresh secret for each action: {action: token}."""
    made = {}
    for action in ACTIONS:
        token = PREFIX + secrets.token_urlsafe(32)
        tx.execute(
            "INSERT INTO cover_links (token_hash, request_id, user_id, action, created_at, "
            "expires_at) VALUES (?, ?, ?, ?, ?, ?)",
            [_hash(token), request_id, user_id, action, now, now + LIFETIME],
        )
        made[action] = token
    return made


def peek(source: Store | Transaction, token: str, now: datetime) -> CoverLink:
    """What a link would do (nothing is spent); UnauthenticatedError when it is unknown, used
    or expired."""
    row = source.row(f"SELECT {_COLUMNS} FROM cover_links WHERE token_hash = ?", [_hash(token)])
    return CoverLink(**unspent(row, token, PREFIX, now))


def spend(tx: Transaction, token: str, now: datetime) -> CoverLink:
    """Use a link (once), in the caller's transaction; its sibling (the other action) is spent
    with it: one answer per ask."""
    row = tx.row(
        "UPDATE cover_links SET used_at = ? WHERE token_hash = ? AND used_at IS NULL "
        f"AND expires_at > ? RETURNING {_COLUMNS}",
        [now, _hash(token), now],
    )
    link = CoverLink(**spent(row, token, PREFIX))
    tx.execute(
        "UPDATE cover_links SET used_at = ? WHERE request_id = ? AND user_id = ? "
        "AND used_at IS NULL",
        [now, link.request_id, link.user_id],
    )
    return link


def _when(moment: datetime, zone: str | None) -> str:
    local = moment.astimezone(ZoneInfo(zone or "UTC"))
    return f"{local:%a} {local.day} {local:%b %H:%M} {local.tzname()}"


def message_of(
    store: Store, user_id: int, request_id: int | None, kind: str, now: datetime, public_url: str
) -> Message | str:
    """A cover notification's message: to the person asked, with one-time Accept and Decline
    links; to the lead, that nobody covers it. Or why it is no longer wanted (covered,
    cancelled, or someone else is asked by now)."""
    row = store.row(
        "SELECT r.id, r.layer, r.start_time, r.end_time, r.status, r.reason, r.note, r.outcome, "
        "r.timeout_minutes, t.name AS team, f.first_name, f.last_name, u.time_zone, "
        "c.asked_at, c.answer, c.why FROM cover_requests r JOIN teams t ON t.id = r.team_id "
        "JOIN users f ON f.id = r.for_user_id JOIN users u ON u.id = ? "
        "LEFT JOIN cover_candidates c ON c.request_id = r.id AND c.user_id = u.id WHERE r.id = ?",
        [user_id, request_id],
    )
    if row is None:
        return "the cover request is gone"
    layer = {1: "primary", 2: "secondary"}.get(row["layer"], f"layer {row['layer']}")
    who = f"{row['first_name']} {row['last_name']}".strip()
    zone = row["time_zone"]
    span = f"{_when(row['start_time'], zone)} to {_when(row['end_time'], zone)}"
    base = public_url.rstrip("/")
    link = f"{base}/rota?tab=Cover&cover={row['id']}"
    if kind == "cover-lead":
        return Message(
            subject=f"Nobody covers {who}: {row['team']} {layer}, cover #{row['id']}"[:160],
            text=(
                f"Nobody took {who}'s {row['team']} {layer} shift, {span} (cover "
                f"#{row['id']}: {row['outcome'] or row['status']}). Please find someone: an "
                "override in the console, or a new cover request."
            ),
            link=link,
        )
    if row["status"] != "asking" or row["asked_at"] is None or row["answer"] is not None:
        return f"cover #{row['id']} is {row['status']} or moved on before it was sent"
    note = f"\n\n{who} says: {row['note']}" if row["note"] else ""
    message = Message(
        subject=f"Could you cover {who}? {row['team']} {layer}, {span}"[:160],
        text=(
            f"{who} needs cover ({row['reason']}) for {row['team']} ({layer}), {span}. Of "
            f"those who can take it without breaking a rule, you are asked now, fairest "
            f"first by what each bore this quarter ({row['why']}). Accept to go on call then; "
            f"decline and the next person is asked, as they are without an answer within "
            f"{row['timeout_minutes']} min.{note}"
        ),
        link=link,
    )
    tokens = store.write(lambda tx: make(tx, row["id"], user_id, now))
    return replace(
        message,
        actions=tuple(
            Action(ACTIONS[name], f"{base}/oncall/cover/{token}") for name, token in tokens.items()
        ),
    )


def describe(store: Store, link: CoverLink) -> dict[str, object]:
    """What the confirmation page shows: the request, the action and the person it acts as."""
    row = store.row(
        "SELECT r.id, r.layer, r.start_time, r.end_time, r.status, t.name AS team, "
        "f.first_name, f.last_name, u.first_name AS ufirst, u.last_name AS ulast "
        "FROM cover_requests r JOIN teams t ON t.id = r.team_id JOIN users f ON "
        "f.id = r.for_user_id JOIN users u ON u.id = ? WHERE r.id = ?",
        [link.user_id, link.request_id],
    )
    if row is None:
        raise UnauthenticatedError("this link is not valid any more")
    return {
        "Action": link.action,
        "RequestId": row["id"],
        "Team": row["team"],
        "Layer": row["layer"],
        "Start": row["start_time"],
        "End": row["end_time"],
        "For": f"{row['first_name']} {row['last_name']}".strip(),
        "Status": row["status"],
        "Person": f"{row['ufirst']} {row['ulast']}".strip(),
    }
