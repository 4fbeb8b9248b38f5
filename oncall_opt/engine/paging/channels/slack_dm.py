"""Slack through the team's Slack app (`ONCALL_SLACK_BOT_TOKEN`, `slack_sdk`'s Web API client):
a direct message to the person's Slack user id (`SlackDM`, a contact method), and a team's own
channel (`SlackTeamChannel`, the team's `SlackChannel`), both with Acknowledge and Resolve
buttons. A press comes back to `POST /integrations/slack/interactivity`, verified with the
app's signing secret; the message is then updated in place ("Acknowledged by Ana").

A DM's buttons carry the page's one-time link secrets: only the person paged can use them. A
channel's buttons carry the incident's id: whoever presses acts as the person whose verified
Slack contact method is their Slack user (someone unknown is told how to link themselves)."""

from __future__ import annotations

import re

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from oncall_opt.engine.paging.channels import Destination, Message
from oncall_opt.engine.settings import Settings
from oncall_opt.engine.slack import SendResult, escape

USER_ID = re.compile(r"[UW][A-Z0-9]{2,20}")
# Slack's answers that no retry can mend (a wrong user, a revoked token).
PERMANENT = {"user_not_found", "channel_not_found", "invalid_auth", "account_inactive",
             "token_revoked", "not_authed", "cannot_dm_bot", "user_disabled", "not_in_channel",
             "is_archived", "restricted_action"}  # fmt: skip


def missing(settings: Settings) -> str:
    if settings.slack_bot_token is None:
        return "ONCALL_SLACK_BOT_TOKEN (a Slack app's bot token, with chat:write)"
    return ""


def token_of(url: str) -> str:
    """The one-time secret at the end of an action link."""
    return url.rstrip("/").rsplit("/", 1)[-1]


def blocks(message: Message) -> list[dict]:
    """The message as Block Kit: the text (escaped: data never becomes markup), and the
    buttons. A button's value is its one-time link's secret; the incident's link opens it."""
    body = escape(message.text)[:2900]
    parts: list[dict] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{escape(message.subject)}*"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": body}},
    ]
    buttons: list[dict] = [
        {
            "type": "button",
            "action_id": action.label.lower(),
            "text": {"type": "plain_text", "text": action.label},
            "value": token_of(action.url),
            **({"style": "primary"} if action.label == "Acknowledge" else {}),
        }
        for action in message.actions
    ]
    if message.link:
        buttons.append(
            {
                "type": "button",
                "action_id": "open",
                "text": {"type": "plain_text", "text": "Open"},
                "url": message.link,
            }
        )
    if buttons:
        parts.append({"type": "actions", "elements": buttons})
    return parts


# The channel buttons' action ids (a DM's are "acknowledge" and "resolve").
CHANNEL_ACTIONS = {"incident_acknowledge": "acknowledge", "incident_resolve": "resolve"}
MAX_SECTION = 3000  # Slack's limit for a section's text


def channel_blocks(markup: str, incident_id: int, link: str | None) -> list[dict]:
    """A team-channel message about one incident: its text (already Slack markup, data escaped
    by the outbox), and buttons that act on the incident (and open it, where the console's
    address is known)."""
    buttons: list[dict] = [
        {"type": "button", "action_id": "incident_acknowledge", "style": "primary",
         "text": {"type": "plain_text", "text": "Acknowledge"}, "value": str(incident_id)},
        {"type": "button", "action_id": "incident_resolve",
         "text": {"type": "plain_text", "text": "Resolve"}, "value": str(incident_id)},
    ]  # fmt: skip
    if link:
        buttons.append({"type": "button", "action_id": "open", "url": link,
                        "text": {"type": "plain_text", "text": "Open"}})  # fmt: skip
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": _cut(markup, MAX_SECTION)}},
        {"type": "actions", "elements": buttons},
    ]


def _cut(markup: str, limit: int) -> str:
    """`markup` cut to `limit` characters, never inside an entity (`&lt;`) or a mention."""
    if len(markup) <= limit:
        return markup
    cut = markup[: limit - 1]
    opened = max(cut.rfind("&"), cut.rfind("<"))
    if opened != -1 and not any(end in cut[opened:] for end in (";", ">")):
        cut = cut[:opened]
    return cut + "…"


def after_press(blocks_now: list[dict], said: str, resolved: bool) -> list[dict]:
    """The pressed message as it reads from now on: its text, then who did what (escaped), and
    the buttons still of use (Resolve after an acknowledgement; only Open after a resolve)."""
    kept: list[dict] = []
    for block in blocks_now:
        if block.get("type") == "section":
            kept.append(block)
    buttons = [
        element
        for block in blocks_now
        if block.get("type") == "actions"
        for element in block.get("elements", [])
        if element.get("action_id") == "open"
        or (not resolved and element.get("action_id") in ("resolve", "incident_resolve"))
    ]
    kept.append({"type": "context", "elements": [{"type": "mrkdwn", "text": escape(said)}]})
    if buttons:
        kept.append({"type": "actions", "elements": buttons})
    return kept


class SlackTeamChannel:
    """A team's channel: `post(markup, incident_id, link)`; with an incident, buttons."""

    def __init__(self, settings: Settings, channel: str):
        token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
        self.client = WebClient(token=token, base_url=settings.slack_api_url, timeout=10)
        self.channel = channel

    def post(self, markup: str, incident_id: int | None, link: str | None) -> SendResult:
        if incident_id is None:
            return post(self.client, self.channel, markup, None)
        return post(self.client, self.channel, markup, channel_blocks(markup, incident_id, link))


class SlackDM:
    def __init__(self, settings: Settings):
        token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
        self.client = WebClient(token=token, base_url=settings.slack_api_url, timeout=10)

    def send(self, to: Destination, message: Message) -> SendResult:
        return post(self.client, to.address, escape(message.subject), blocks(message))


def post(client: WebClient, channel: str, text: str, parts: list[dict] | None) -> SendResult:
    """chat.postMessage to a user id (a DM) or a channel id, Slack's errors as a SendResult:
    429 waits Retry-After, the answers no retry can mend fail for good."""
    try:
        answer = client.chat_postMessage(channel=channel, text=text, blocks=parts)
    except SlackApiError as exc:
        error = str(exc.response.get("error", "error"))
        status = exc.response.status_code
        if status == 429:
            after = exc.response.headers.get("Retry-After") or exc.response.headers.get(
                "retry-after"
            )
            return SendResult.retry("Slack: ratelimited", 429, float(after) if after else None)
        if error in PERMANENT or (400 <= status < 500 and status != 408):
            return SendResult.permanent(f"Slack: {error}", status)
        return SendResult.retry(f"Slack: {error}", status)
    except (SlackClientError, OSError) as exc:
        return SendResult.retry(f"Slack not reachable ({type(exc).__name__})")
    return SendResult(ok=True, status=200, error=None, provider_id=answer.get("ts"))
