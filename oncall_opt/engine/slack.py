"""Post messages to a Slack incoming webhook, as the seed's `slack.Notify` does: `{"text": ...}`.

The webhook URL is a secret (whoever has it can post to the channel), so it never reaches a log
line or an error text: failures are described by the exception type or the HTTP status only,
and a logging filter masks it in httpx's own request log lines.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote

import httpx
from pydantic import SecretStr

from oncall_opt.engine.destinations import PinnedTransport, RefusedConnect
from oncall_opt.engine.settings import ConfigError
from oncall_opt.engine.text import SLACK_HANDLE

log = logging.getLogger(__name__)

# What Slack answers on an error: a word or a few (`invalid_payload`, `channel_is_archived`).
_ERROR_WORDS = re.compile(r"[A-Za-z0-9_.:<> -]{1,80}")
MAX_RETRY_AFTER = 3600.0  # seconds: a longer Retry-After is taken as this


def escape(text: str) -> str:
    """`text` as Slack shows it literally: its three control characters as the entities Slack's
    formatting reference asks for, so data cannot open a mention (`<@U1>`), a broadcast
    (`<!channel>`, `<!here>`, `<!subteam^...>`) or a disguised link (`<https://evil|ack>`)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mention(handle: str) -> str:
    """`<@handle>` for a valid handle; anything else (a handle stored before handles were
    checked) is shown as escaped text, never as markup."""
    return f"<@{handle}>" if SLACK_HANDLE.fullmatch(handle) else "@" + escape(handle)


@dataclass(frozen=True)
class SendResult:
    """How a post went: `ok`; or `retryable` (network error, timeout, 5xx, 429 with an optional
    `retry_after` in seconds); or neither, a permanent error (another 4xx). `error` is safe to
    log and store: it never contains the URL."""

    ok: bool
    retryable: bool = False
    retry_after: float | None = None
    status: int | None = None
    error: str | None = None
    provider_id: str | None = None  # the provider's id of what it took (a Slack ts, a Twilio SID)

    @classmethod
    def success(cls, status: int | None = 200) -> SendResult:
        return cls(ok=True, status=status)

    @classmethod
    def retry(
        cls, error: str, status: int | None = None, retry_after: float | None = None
    ) -> SendResult:
        return cls(ok=False, retryable=True, retry_after=retry_after, status=status, error=error)

    @classmethod
    def permanent(cls, error: str, status: int | None = None) -> SendResult:
        return cls(ok=False, retryable=False, status=status, error=error)


class _Redact(logging.Filter):
    """Masks registered secrets in records of the loggers it is attached to."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            if any(secret in message for secret in self.secrets):
                for secret in sorted(self.secrets, key=len, reverse=True):
                    message = message.replace(secret, "<redacted>")
                record.msg, record.args = message, None
        return True


_redact = _Redact()
# Logger filters do not apply to records of child loggers, so each of httpcore's is named.
for _name in ("httpx", "httpcore", *(f"httpcore.{m}" for m in ("connection", "connection_pool",
              "http11", "http2", "proxy", "socks"))):  # fmt: skip
    logging.getLogger(_name).addFilter(_redact)


def _secret_parts(raw: str, url: httpx.URL) -> set[str]:
    """Every part of the webhook URL after the host, as it could appear in a log line or an
    echoed request: the path, the query string, each query value, raw and percent-decoded."""
    parts = {raw}
    target = url.raw_path.decode("ascii", "replace")  # path?query as sent on the wire
    for piece in (target, url.path, url.query.decode("ascii", "replace")):
        if piece not in ("", "/"):
            parts |= {piece, unquote(piece)}
    for _, value in url.params.multi_items():
        if len(value) >= 4:  # a short value ("1", "yes") is no secret, and masking it garbles
            parts |= {value, quote(value, safe="")}
    return parts


class SlackWebhook:
    """A Slack incoming webhook. `send(text)` never raises for network or HTTP failures."""

    def __init__(
        self,
        url: SecretStr,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        show_answers: bool = True,
    ):
        """`show_answers`: keep Slack's short error words in `SendResult.error`; False for a
        webhook people set through the API, whose answers members must not read (its host is
        theirs to choose): then only the status code is kept."""
        raw = url.get_secret_value().strip()
        try:
            parsed = httpx.URL(raw)
        except (httpx.InvalidURL, TypeError, ValueError):
            parsed = None
        if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
            raise ConfigError(
                "ONCALL_SLACK_WEBHOOK_URL: not an http(s) URL "
                "(expected https://hooks.slack.com/services/...)"
            )
        self._url = url
        self._show_answers = show_answers
        _redact.secrets.update(_secret_parts(raw, parsed))
        self._client = httpx.Client(timeout=timeout, transport=transport)

    def __repr__(self) -> str:
        return "SlackWebhook(url=SecretStr('**********'))"

    def send(self, text: str) -> SendResult:
        try:
            response = self._client.post(self._url.get_secret_value().strip(), json={"text": text})
        except httpx.TimeoutException as exc:
            return SendResult.retry(f"timeout ({type(exc).__name__})")
        except RefusedConnect:
            return SendResult.permanent("refused: the webhook's host is not a public address")
        except httpx.HTTPError as exc:  # connection refused, reset, DNS, protocol errors
            return SendResult.retry(f"network error ({type(exc).__name__})")
        status = response.status_code
        if 200 <= status < 300:
            return SendResult.success(status)
        detail = self._detail(response)
        if status == 429:
            after = retry_after(response.headers.get("retry-after"))
            return SendResult.retry(f"HTTP 429 rate limited{detail}", status, after)
        if status >= 500 or status == 408:
            return SendResult.retry(f"HTTP {status}{detail}", status)
        return SendResult.permanent(f"HTTP {status}{detail}", status)

    def _detail(self, response: httpx.Response) -> str:
        """Slack's short error word (`invalid_payload`, `no_service`...), secrets masked; any
        other body (a proxy's page, a server echoing the request) is not shown at all."""
        if not self._show_answers:
            return ""
        try:
            body = response.text.strip().splitlines()[0][:200] if response.text.strip() else ""
        except (UnicodeDecodeError, httpx.ResponseNotRead):
            body = ""
        for secret in sorted(_redact.secrets, key=len, reverse=True):
            body = body.replace(secret, "<redacted>")
        if body and not _ERROR_WORDS.fullmatch(body):
            return " (response body not shown)"
        return f": {body}" if body else ""

    def close(self) -> None:
        self._client.close()


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def team_webhook(url: str, timeout: float, allow_private: bool) -> SlackWebhook:
    """A team's own webhook, set through the API: every send goes to the address its host
    resolves to then, once found public (unless the operator allows private ones), and the
    host's answers are not kept beyond their status code."""
    return SlackWebhook(
        SecretStr(url),
        timeout,
        transport=None if allow_private else PinnedTransport(),
        show_answers=False,
    )
