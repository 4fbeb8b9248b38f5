"""The long tail (Telegram, Microsoft Teams, Discord, Matrix, Pushover, Mattermost, ...)
through the `apprise` library: the address is an Apprise URL (`tgram://bottoken/chatid`), a
credential kept write-only and shown as Apprise's own privacy form.

Only services whose endpoint is fixed (Telegram's, Discord's, Pushover's...), and self-hosted
ones (Matrix, Mattermost, Gotify, Rocket.Chat, Teams workflows: a host in the URL) only on a
host the operator lists in `ONCALL_APPRISE_HOSTS`. A host typed by a person cannot be trusted
even when it resolves to a public address: Apprise follows redirects, Matrix discovers its
server from the host's `/.well-known`, and Apprise resolves the name again itself, so any of
them could lead a page (and a Matrix password) to an address inside the network. Apprise's
generic `json://`, `xml://` and `form://` are refused for the same reason (a `webhook` method
does that, signed and pinned). Slack has its own method (`slack`, with buttons). A URL's own
timeouts (`cto`, `rto`) are dropped: Apprise's defaults bound each send.

Text goes as plain text, which Apprise escapes for a service it formats as Markdown or HTML.
Discord and Mattermost render Markdown even in what Apprise calls text: for them the message is
Markdown made here, the alert's text escaped (Apprise's `text_to_markdown`), an `@` in it kept
from mentioning anyone, and the links as links."""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl, urlencode

from oncall_opt.engine.paging.channels import Destination, Message
from oncall_opt.engine.settings import Settings
from oncall_opt.engine.slack import SendResult
from oncall_opt.errors import InvalidRequestError

# Apprise's log lines can quote the URL it posts to (a bot token in Telegram's path): they
# never reach the daemon's log; the notification's record says how the send went.
logging.getLogger("apprise").propagate = False
logging.getLogger("apprise").addHandler(logging.NullHandler())

HOSTED = {
    "tgram": "Telegram", "discord": "Discord", "pover": "Pushover", "pbul": "Pushbullet",
    "pushed": "Pushed", "opsgenie": "Opsgenie", "spush": "Pushsafer", "line": "LINE",
    "threema": "Threema",
}  # fmt: skip
SELF_HOSTED = {
    "matrix": "Matrix", "matrixs": "Matrix", "mmost": "Mattermost", "mmosts": "Mattermost",
    "gotify": "Gotify", "gotifys": "Gotify", "rocket": "Rocket.Chat", "rockets": "Rocket.Chat",
    "workflow": "Microsoft Teams workflows", "workflows": "Microsoft Teams workflows",
}  # fmt: skip
RENDER_MARKDOWN = {"discord", "mmost", "mmosts"}
DROPPED_OPTIONS = {"format", "cto", "rto"}
WORD_JOINER = "\u2060"


def missing(settings: Settings) -> str:
    return ""


def _service(scheme: str) -> str:
    return HOSTED.get(scheme) or SELF_HOSTED.get(scheme) or "Apprise"


def _allowed_hosts(settings: Settings) -> set[str]:
    return {h.strip().lower().rstrip(".") for h in settings.apprise_hosts.split(",") if h.strip()}


def _host_refusal(plugin: object, scheme: str, settings: Settings) -> str | None:
    """Why a self-hosted service's host is refused, or None."""
    if scheme not in SELF_HOSTED or settings.allow_private_webhooks:
        return None
    host = str(getattr(plugin, "host", "") or "").lower().rstrip(".")
    if host and host in _allowed_hosts(settings):
        return None
    return (
        f"{_service(scheme)} is self-hosted: its host must be one the operator lists in "
        "ONCALL_APPRISE_HOSTS"
    )


def check(url: str, settings: Settings) -> tuple[str, str]:
    """The URL as stored and as shown (Apprise's privacy form, without its options), or
    InvalidRequestError naming `Address`. Messages never quote the URL."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in HOSTED and scheme not in SELF_HOSTED:
        known = ", ".join(f"{name} {s}://" for s, name in list(HOSTED.items())[:4])
        raise InvalidRequestError(
            "Address", f"is not an Apprise URL of a service this daemon pages through ({known}, "
            "and, on hosts the operator lists, Matrix matrixs://, Mattermost mmosts:// ...)",
        )  # fmt: skip
    import apprise  # 0.2 s to import: only when an Apprise method is used

    plugin = apprise.Apprise.instantiate(url)
    if plugin is None:
        raise InvalidRequestError("Address", f"is not a valid {_service(scheme)} Apprise URL")
    refused = _host_refusal(plugin, scheme, settings)
    if refused:
        raise InvalidRequestError("Address", f"refused: {refused}")
    return url, plugin.url(privacy=True).split("?", 1)[0]


def _with_options(url: str, markdown: bool) -> str:
    """`url` without the options a person may not set here, and with `format=markdown` for a
    service that renders Markdown."""
    base, _, query = url.partition("?")
    kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True)
            if k.lower() not in DROPPED_OPTIONS]  # fmt: skip
    if markdown:
        kept.append(("format", "markdown"))
    return f"{base}?{urlencode(kept)}" if kept else base


def body_of(message: Message) -> str:
    lines = [message.text]
    if message.link:
        lines.append(f"Open: {message.link}")
    lines += [f"{action.label}: {action.url}" for action in message.actions]
    return "\n\n".join(lines)


def markdown_of(message: Message) -> tuple[str, str]:
    """The title and body as Markdown: data escaped, our own links as links."""
    from apprise.conversion import text_to_markdown

    def data(value: str) -> str:  # `@everyone`, `<@&123>`, `@channel` mention nobody
        return text_to_markdown(value).replace("@", "@" + WORD_JOINER)

    links = [("Open", message.link)] if message.link else []
    links += [(action.label, action.url) for action in message.actions]
    body = data(message.text)
    if links:
        body += "\n\n" + " · ".join(f"[{label}](<{url}>)" for label, url in links)
    return data(message.subject), body


class AppriseChannel:
    def __init__(self, settings: Settings):
        self.settings = settings

    def send(self, to: Destination, message: Message) -> SendResult:
        import apprise

        scheme = to.address.split("://", 1)[0].lower()
        service = _service(scheme)
        markdown = scheme in RENDER_MARKDOWN
        plugin = apprise.Apprise.instantiate(_with_options(to.address, markdown))
        if plugin is None:
            return SendResult.permanent(f"{service}: the URL is no longer valid")
        refused = _host_refusal(plugin, scheme, self.settings)  # the operator's list changed?
        if refused:
            return SendResult.permanent(f"{service}: refused ({refused})")
        title, body, body_format = message.subject, body_of(message), apprise.NotifyFormat.TEXT
        if markdown:
            title, body = markdown_of(message)
            body_format = apprise.NotifyFormat.MARKDOWN
        sender = apprise.Apprise()
        sender.add(plugin)
        sent = sender.notify(title=title, body=body, body_format=body_format)
        # Apprise says only whether the service took it: keep trying, within the usual limit.
        return SendResult.success(None) if sent else SendResult.retry(f"{service} did not take it")
