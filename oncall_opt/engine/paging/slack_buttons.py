"""A press of an Acknowledge or Resolve button in Slack: the request is Slack's only when its
signature verifies under the app's signing secret and its timestamp is within five minutes
(`slack_sdk`'s verifier, given the daemon's clock).

- A page's button (a DM) carries the page's one-time link secret, and the Slack user who
  pressed it must be the person the page went to (their verified Slack contact method).
- A cover ask's Accept or Decline (a DM) carries its one-time link's secret, and the presser
  must be the person asked, the same way.
- A team channel's button carries the incident's id: the Slack user who pressed it acts as the
  person whose verified Slack contact method is that Slack user; a Slack user nobody has
  linked is told how to link themselves, and nothing changes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

from slack_sdk.signature import Clock, SignatureVerifier

from oncall_opt.engine.paging.channels.slack_dm import CHANNEL_ACTIONS
from oncall_opt.engine.settings import Settings
from oncall_opt.engine.store import Store
from oncall_opt.errors import InvalidRequestError, PermissionDeniedError, UnauthenticatedError

# A cover ask's buttons in a DM (their action ids are their labels, lowercased).
COVER_ACTIONS = {"accept": "cover-accept", "decline": "cover-decline"}


@dataclass(frozen=True)
class Press:
    action: str  # acknowledge or resolve; cover-accept or cover-decline
    token: str  # the one-time link's secret ("" for a channel's button)
    slack_user: str
    response_url: str | None
    incident_id: int | None = None  # a channel's button: the incident it acts on
    blocks: tuple[dict, ...] = ()  # the pressed message's blocks, to update it in place


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
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        return None
    pressed = (payload.get("actions") or [{}])[0]
    action_id, value = pressed.get("action_id"), str(pressed.get("value") or "")
    message = payload.get("message") if isinstance(payload.get("message"), dict) else {}
    blocks = tuple(b for b in message.get("blocks") or [] if isinstance(b, dict))
    common = {
        "slack_user": str((payload.get("user") or {}).get("id") or ""),
        "response_url": slack_url(payload.get("response_url"), settings),
        "blocks": blocks,
    }
    if action_id in ("acknowledge", "resolve"):
        return Press(action=action_id, token=value, **common)
    if action_id in COVER_ACTIONS:  # a cover ask's Accept or Decline: its one-time link's secret
        return Press(action=COVER_ACTIONS[action_id], token=value, **common)
    if action_id in CHANNEL_ACTIONS:
        if not value.isdigit() or len(value) > 18:
            raise InvalidRequestError("value", "is not an incident id")
        return Press(action=CHANNEL_ACTIONS[action_id], token="", incident_id=int(value),
                     **common)  # fmt: skip
    return None


SLACK_HOOKS = "https://hooks.slack.com/"


def slack_url(url: object, settings: Settings) -> str | None:
    """The press's response_url when it is Slack's (hooks.slack.com, or the Slack API the
    daemon is pointed at), else None: even a request signed with a leaked secret cannot make
    the daemon post somewhere else."""
    if not isinstance(url, str):
        return None
    api = urlsplit(settings.slack_api_url)
    ours = f"{api.scheme}://{api.netloc}/"
    return url if url.startswith(SLACK_HOOKS) or url.startswith(ours) else None


def user_of(store: Store, slack_user: str) -> int:
    """The person whose verified Slack contact method is `slack_user`; PermissionDeniedError
    saying how to link oneself when there is none (or more than one: no guessing)."""
    rows = store.rows(
        "SELECT DISTINCT user_id FROM contact_methods WHERE type = 'slack' AND address = ? "
        "AND verified_at IS NOT NULL",
        [slack_user],
    )
    if len(rows) != 1:
        raise PermissionDeniedError(
            "your Slack account is not linked to anyone in oncall_opt: add a Slack contact "
            "method with your Slack member id on your profile and verify it, then press again"
        )
    return rows[0]["user_id"]


def check_presser(store: Store, user_id: int, slack_user: str) -> None:
    """The Slack user must be the person the page went to (their verified Slack method)."""
    row = store.row(
        "SELECT id FROM contact_methods WHERE user_id = ? AND type = 'slack' AND address = ? "
        "AND verified_at IS NOT NULL",
        [user_id, slack_user],
    )
    if row is None:
        raise PermissionDeniedError("this button is for the person it was sent to")
