"""A direct message from the team's Slack app (`ONCALL_SLACK_BOT_TOKEN`, through `slack_sdk`'s
Web API client) to the person's Slack user id, with Acknowledge and Resolve buttons. A press
comes back to `POST /integrations/slack/interactivity`, verified with the app's signing
secret; the message is then updated in place ("Acknowledged by Ana")."""

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
             "token_revoked", "not_authed", "cannot_dm_bot", "user_disabled"}  # fmt: skip


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


class SlackDM:
    def __init__(self, settings: Settings):
        token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
        self.client = WebClient(token=token, base_url=settings.slack_api_url, timeout=10)

    def send(self, to: Destination, message: Message) -> SendResult:
        try:
            answer = self.client.chat_postMessage(
                channel=to.address, text=escape(message.subject), blocks=blocks(message)
            )
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
