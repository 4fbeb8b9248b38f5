"""The long tail (Telegram, Microsoft Teams, Discord, Matrix, Pushover, Mattermost, ...)
through the `apprise` library: the address is an Apprise URL (`tgram://bottoken/chatid`), a
credential kept write-only and shown as Apprise's own privacy form.

Only services whose host is fixed (Telegram's, Discord's...) or, for self-hosted ones (Matrix,
Mattermost, Gotify, Rocket.Chat), a public host, as for webhooks: Apprise's generic `json://`,
`xml://` and `form://` would post anywhere, so they are refused (a `webhook` method does that,
signed and pinned). Slack has its own method (`slack`, with buttons).

Text goes as plain text, which Apprise escapes for a service it formats as Markdown or HTML.
Discord and Mattermost render Markdown even in what Apprise calls text: for them the message is
Markdown made here, the alert's text escaped (Apprise's `text_to_markdown`) and the links as
links."""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl, urlencode

from oncall_opt.engine import destinations
from oncall_opt.engine.paging.channels import Destination, Message
from oncall_opt.engine.settings import Settings
from oncall_opt.engine.slack import SendResult
from oncall_opt.errors import InvalidRequestError

# Apprise's log lines can quote the URL it posts to (a bot token in Telegram's path): they
# never reach the daemon's log; the notification's record says how the send went.
logging.getLogger("apprise").propagate = False
logging.getLogger("apprise").addHandler(logging.NullHandler())

HOSTED = {
    "tgram": "Telegram", "discord": "Discord", "msteams": "Microsoft Teams",
    "workflow": "Microsoft Teams workflows", "workflows": "Microsoft Teams workflows",
    "pover": "Pushover", "pbul": "Pushbullet", "pushed": "Pushed", "opsgenie": "Opsgenie",
    "spush": "Pushsafer", "line": "LINE", "threema": "Threema",
}  # fmt: skip
SELF_HOSTED = {
    "matrix": "Matrix", "matrixs": "Matrix", "mmost": "Mattermost", "mmosts": "Mattermost",
    "gotify": "Gotify", "gotifys": "Gotify", "rocket": "Rocket.Chat", "rockets": "Rocket.Chat",
}  # fmt: skip
_PLAIN = {"matrix", "mmost", "gotify", "rocket"}  # the unencrypted forms of the above
RENDER_MARKDOWN = {"discord", "mmost", "mmosts"}


def missing(settings: Settings) -> str:
    return ""


def check(url: str, settings: Settings) -> tuple[str, str]:
    """The URL as stored and as shown (Apprise's privacy form, without its options), or
    InvalidRequestError naming `Address`. Messages never quote the URL."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in HOSTED and scheme not in SELF_HOSTED:
        known = ", ".join(f"{name} {s}://" for s, name in list(HOSTED.items())[:5])
        raise InvalidRequestError(
            "Address", f"is not an Apprise URL of a service this daemon pages through ({known}, "
            "Matrix matrixs://, Mattermost mmosts://, Gotify gotifys:// ...)",
        )  # fmt: skip
    import apprise  # 0.2 s to import: only when an Apprise method is used

    plugin = apprise.Apprise.instantiate(url)
    if plugin is None:
        raise InvalidRequestError(
            "Address", f"is not a valid {HOSTED.get(scheme) or SELF_HOSTED[scheme]} Apprise URL"
        )
    if scheme in SELF_HOSTED:
        _check_host(plugin, scheme, settings)
    return url, plugin.url(privacy=True).split("?", 1)[0]


def _check_host(plugin: object, scheme: str, settings: Settings) -> None:
    if settings.allow_private_webhooks:
        return
    if scheme in _PLAIN:
        raise InvalidRequestError("Address", f"must use {scheme}s:// (TLS)")
    host, port = getattr(plugin, "host", None), getattr(plugin, "port", None) or 443
    try:
        destinations.public_address(str(host), int(port))
    except destinations.DestinationRefused as exc:  # or Unresolvable
        raise InvalidRequestError("Address", f"refused: {exc}") from None


def _as_markdown(url: str) -> str:
    """`url` with Apprise's `format=markdown` (any format the URL asked for dropped)."""
    base, _, query = url.partition("?")
    kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != "format"]
    return f"{base}?{urlencode([*kept, ('format', 'markdown')])}"


def body_of(message: Message) -> str:
    lines = [message.text]
    if message.link:
        lines.append(f"Open: {message.link}")
    lines += [f"{action.label}: {action.url}" for action in message.actions]
    return "\n\n".join(lines)


def markdown_of(message: Message) -> tuple[str, str]:
    """The title and body as Markdown: data escaped, our own links as links."""
    from apprise.conversion import text_to_markdown

    links = [("Open", message.link)] if message.link else []
    links += [(action.label, action.url) for action in message.actions]
    body = text_to_markdown(message.text)
    if links:
        body += "\n\n" + " · ".join(f"[{label}](<{url}>)" for label, url in links)
    return text_to_markdown(message.subject), body


class AppriseChannel:
    def __init__(self, settings: Settings):
        self.settings = settings

    def send(self, to: Destination, message: Message) -> SendResult:
        import apprise

        scheme = to.address.split("://", 1)[0].lower()
        service = HOSTED.get(scheme) or SELF_HOSTED.get(scheme) or "Apprise"
        plugin = apprise.Apprise.instantiate(to.address)
        if plugin is None:
            return SendResult.permanent(f"{service}: the URL is no longer valid")
        if scheme in SELF_HOSTED and not self.settings.allow_private_webhooks:
            try:  # checked again now: the name may point elsewhere since it was added
                destinations.public_address(str(plugin.host), int(plugin.port or 443))
            except destinations.Unresolvable:
                return SendResult.retry(f"{service}: its host does not resolve")
            except destinations.DestinationRefused:
                return SendResult.permanent(f"{service}: its host is not a public address")
        title, body, body_format = message.subject, body_of(message), apprise.NotifyFormat.TEXT
        if scheme in RENDER_MARKDOWN:
            plugin = apprise.Apprise.instantiate(_as_markdown(to.address)) or plugin
            title, body = markdown_of(message)
            body_format = apprise.NotifyFormat.MARKDOWN
        sender = apprise.Apprise()
        sender.add(plugin)
        sent = sender.notify(title=title, body=body, body_format=body_format)
        # Apprise says only whether the service took it: keep trying, within the usual limit.
        return SendResult.success(None) if sent else SendResult.retry(f"{service} did not take it")
