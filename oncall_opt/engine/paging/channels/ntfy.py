"""Push to a phone through ntfy (https://ntfy.sh or a team's own server): the address is the
topic's URL; the message carries the incident's link as its click action and the action links
as buttons (`http` actions, which POST, so a phone's preview changes nothing)."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

from oncall_opt.engine.destinations import PinnedTransport, RefusedConnect
from oncall_opt.engine.paging.channels import Destination, Message, capped
from oncall_opt.engine.settings import Settings
from oncall_opt.engine.slack import SendResult


def missing(settings: Settings) -> str:
    # ntfy.sh needs no account; ONCALL_NTFY_TOKEN (with ONCALL_NTFY_SERVER) for one that does
    return ""


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port


def _on_our_server(topic: str, server: str | None) -> bool:
    """The operator's token goes only to the operator's ntfy server (ONCALL_NTFY_SERVER): a
    topic URL is typed by a person, who could otherwise collect the token."""
    try:
        return bool(server) and _origin(topic) == _origin(server or "")
    except ValueError:
        return False


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
        if self.settings.ntfy_token and _on_our_server(to.address, self.settings.ntfy_server):
            headers["Authorization"] = f"Bearer {self.settings.ntfy_token.get_secret_value()}"
        try:
            response = capped.post(
                self._client, to.address, content=message.text.encode(), headers=headers
            )
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
