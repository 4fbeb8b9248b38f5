"""Push to a phone through ntfy (https://ntfy.sh or a team's own server): the address is the
topic's URL; the message carries the incident's link as its click action and the action links
as buttons (`http` actions, which POST, so a phone's preview changes nothing)."""

from __future__ import annotations

import httpx

from oncall_opt.engine.destinations import PinnedTransport, RefusedConnect
from oncall_opt.engine.paging.channels import Destination, Message
from oncall_opt.engine.settings import Settings
from oncall_opt.engine.slack import SendResult


def missing(settings: Settings) -> str:
    return ""  # ntfy.sh needs no account; ONCALL_NTFY_TOKEN for a server that wants one


def _header_safe(value: str) -> str:
    return " ".join(value.split()).encode("ascii", "replace").decode()[:250]


class NtfyChannel:
    def __init__(self, settings: Settings, transport: httpx.BaseTransport | None = None):
        self.settings = settings
        if transport is None and not settings.allow_private_webhooks:
            transport = PinnedTransport()
        self._client = httpx.Client(timeout=10, transport=transport)

    def send(self, to: Destination, message: Message) -> SendResult:
        headers = {
            "Title": _header_safe(message.subject),
            "Priority": "urgent",
            "Tags": "rotating_light",
        }
        if message.link:
            headers["Click"] = message.link
        if message.actions:
            headers["Actions"] = "; ".join(
                f"http, {_header_safe(a.label).replace(',', ' ')}, {a.url}, method=POST, clear=true"
                for a in message.actions
            )
        if self.settings.ntfy_token:
            headers["Authorization"] = f"Bearer {self.settings.ntfy_token.get_secret_value()}"
        try:
            response = self._client.post(to.address, content=message.text.encode(), headers=headers)
        except RefusedConnect:
            return SendResult.permanent("refused: the topic's host is not a public address")
        except httpx.TimeoutException:
            return SendResult.retry("timeout")
        except httpx.HTTPError as exc:
            return SendResult.retry(f"network error ({type(exc).__name__})")
        return _outcome(response)


def _outcome(response: httpx.Response) -> SendResult:
    status = response.status_code
    if 200 <= status < 300:
        return SendResult.success(status)
    if status == 429 or status >= 500 or status == 408:
        return SendResult.retry(f"HTTP {status}", status)
    return SendResult.permanent(f"HTTP {status}", status)
