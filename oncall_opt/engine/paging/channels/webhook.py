"""A signed JSON POST to a URL the person owns: `{"subject", "text", "link", "actions"}`, with
`X-Oncall-Timestamp` and `X-Oncall-Signature: sha256=<HMAC-SHA256 of "<timestamp>.<body>">`
under the method's own secret (shown once when the method is made), so the receiver can tell
the page is ours and fresh. The URL must be https to a public address (`destinations`)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import httpx

from oncall_opt.engine.destinations import PinnedTransport, RefusedConnect
from oncall_opt.engine.paging.channels import Destination, Message, capped
from oncall_opt.engine.paging.channels.ntfy import _outcome
from oncall_opt.engine.settings import Settings
from oncall_opt.engine.slack import SendResult


def missing(settings: Settings) -> str:
    return ""


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class Webhook:
    def __init__(self, settings: Settings, transport: httpx.BaseTransport | None = None):
        if transport is None and not settings.allow_private_webhooks:
            transport = PinnedTransport()
        self._client = httpx.Client(timeout=10, transport=transport)

    def send(self, to: Destination, message: Message) -> SendResult:
        body = json.dumps(
            {
                "subject": message.subject,
                "text": message.text,
                "link": message.link,
                "actions": [{"label": a.label, "url": a.url} for a in message.actions],
            },
            ensure_ascii=False,
        ).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Oncall-Timestamp": timestamp,
            "X-Oncall-Signature": signature(to.secret or "", timestamp, body),
        }
        try:
            response = capped.post(self._client, to.address, content=body, headers=headers)
        except RefusedConnect:
            return SendResult.permanent("refused: the webhook's host is not a public address")
        except httpx.TimeoutException:
            return SendResult.retry("timeout")
        except httpx.HTTPError as exc:
            return SendResult.retry(f"network error ({type(exc).__name__})")
        return _outcome(response)
