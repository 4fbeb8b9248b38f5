"""A press of a page's Acknowledge or Resolve button in Slack: the request is Slack's only when
its signature verifies under the app's signing secret and its timestamp is within five minutes
(`slack_sdk`'s verifier, given the daemon's clock); the button carries the page's one-time link
secret, and the Slack user who pressed it must be the person the page went to (their verified
Slack contact method)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qs

from slack_sdk.signature import Clock, SignatureVerifier

from oncall_opt.engine.settings import Settings
from oncall_opt.engine.store import Store
from oncall_opt.errors import InvalidRequestError, PermissionDeniedError, UnauthenticatedError


@dataclass(frozen=True)
class Press:
    action: str  # acknowledge or resolve
    token: str  # the one-time link's secret
    slack_user: str
    response_url: str | None


class _At(Clock):
    def __init__(self, now: datetime):
        self._now = now

    def now(self) -> float:
        return self._now.timestamp()


def verified_press(
    body: bytes, headers: dict[str, str], settings: Settings, now: datetime
) -> Press | None:
    """The press in a verified interactivity request; None for another kind of interaction.
    UnauthenticatedError when the signature or its timestamp does not verify."""
    if settings.slack_signing_secret is None:
        raise UnauthenticatedError("Slack buttons are off: ONCALL_SLACK_SIGNING_SECRET is not set")
    verifier = SignatureVerifier(settings.slack_signing_secret.get_secret_value(), _At(now))
    if not verifier.is_valid_request(body, headers):
        raise UnauthenticatedError("not Slack's: the request's signature does not verify")
    try:
        payload = json.loads(parse_qs(body.decode())["payload"][0])
    except (KeyError, ValueError, UnicodeDecodeError):
        raise InvalidRequestError("payload", "is not Slack's interaction payload") from None
    pressed = (payload.get("actions") or [{}])[0]
    if payload.get("type") != "block_actions" or pressed.get("action_id") not in (
        "acknowledge", "resolve",
    ):  # fmt: skip
        return None
    return Press(
        action=pressed["action_id"],
        token=str(pressed.get("value") or ""),
        slack_user=str((payload.get("user") or {}).get("id") or ""),
        response_url=payload.get("response_url"),
    )


def check_presser(store: Store, user_id: int, slack_user: str) -> None:
    """The Slack user must be the person the page went to (their verified Slack method)."""
    row = store.row(
        "SELECT id FROM contact_methods WHERE user_id = ? AND type = 'slack' AND address = ? "
        "AND verified_at IS NOT NULL",
        [user_id, slack_user],
    )
    if row is None:
        raise PermissionDeniedError("this button is for the person it was sent to")
