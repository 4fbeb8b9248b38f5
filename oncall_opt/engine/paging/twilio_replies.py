"""What comes back from Twilio: a text replying to a page ("1" acknowledges, "2" resolves), and
a key pressed during a page's call. A request is Twilio's only when its `X-Twilio-Signature`
verifies under the auth token for the URL Twilio called (the `twilio` library's
`RequestValidator`). A reply counts for the newest page texted to that number whose incident is
still open, as the person whose verified number it is."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from twilio.request_validator import RequestValidator

from oncall_opt.engine.settings import Settings
from oncall_opt.engine.store import Store, Transaction
from oncall_opt.errors import ConflictError, PermissionDeniedError

ACKNOWLEDGE_WORDS = {"1", "ack", "acknowledge", "ok"}
RESOLVE_WORDS = {"2", "resolve", "resolved"}


def check_enabled(settings: Settings) -> None:
    if settings.twilio_auth_token is None:
        raise PermissionDeniedError("Twilio replies are off: ONCALL_TWILIO_AUTH_TOKEN is not set")


def check_signature(settings: Settings, url: str, params: dict, signature: str | None) -> None:
    check_enabled(settings)
    assert settings.twilio_auth_token is not None
    validator = RequestValidator(settings.twilio_auth_token.get_secret_value())
    if not signature or not validator.validate(url, params, signature):
        raise PermissionDeniedError("not Twilio's: the request's signature does not verify")


@dataclass(frozen=True)
class Replied:
    incident_id: int
    user_id: int
    status: str


REPLY_WINDOW = timedelta(hours=24)  # a reply counts for pages texted this recently


def first_time(store: Store, message_sid: str, now: datetime) -> bool:
    """Records Twilio's id of an incoming text; False when it was seen before (a replay)."""

    def work(tx: Transaction) -> bool:
        if tx.row("SELECT 1 AS seen FROM twilio_replies WHERE message_sid = ?", [message_sid]):
            return False
        tx.execute(
            "INSERT INTO twilio_replies (message_sid, received_at) VALUES (?, ?)",
            [message_sid, now],
        )
        return True

    try:
        return store.write(work)
    except ConflictError:  # another daemon recorded it at the same moment
        return False


def newest_page_to(store: Store, number: str, now: datetime) -> Replied | None:
    """The newest page texted to `number` (a verified SMS method) in the last 24 hours whose
    incident is still open, else the newest such page: with its incident's state."""
    row = store.row(
        "SELECT n.incident_id, n.user_id, i.status FROM notifications n "
        "JOIN contact_methods m ON m.id = n.contact_method_id "
        "JOIN incidents i ON i.id = n.incident_id "
        "WHERE n.kind = 'page' AND n.status IN ('sent', 'delivered') AND m.type = 'sms' "
        "AND m.address = ? AND m.verified_at IS NOT NULL AND n.sent_at > ? "
        "ORDER BY CASE WHEN i.status = 'resolved' THEN 1 ELSE 0 END, n.sent_at DESC, n.id DESC "
        "LIMIT 1",
        [number, now - REPLY_WINDOW],
    )
    return Replied(row["incident_id"], row["user_id"], row["status"]) if row else None


def action_of(body: str) -> str | None:
    word = " ".join(body.lower().split())
    if word in ACKNOWLEDGE_WORDS:
        return "acknowledge"
    if word in RESOLVE_WORDS:
        return "resolve"
    return None
