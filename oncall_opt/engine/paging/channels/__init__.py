"""The ways to reach a person, one module per kind, behind one interface: a channel `send`s a
`Message` to an address and answers with a `SendResult` (sent, retry later, or failed for good,
with a reason safe to store and show). The engine never knows which channel it talks to.

`available(settings)` says which kinds this daemon can use (SMTP for email needs its server,
and so on); `channel_for(kind, settings)` gives the channel."""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field
from typing import Protocol

from oncall_opt.engine.settings import Settings
from oncall_opt.engine.slack import SendResult

__all__ = ["Action", "Channel", "Destination", "Message", "SendResult", "available", "channel_for"]


@dataclass(frozen=True)
class Action:
    """A one-time link that acts when its page's button is pressed (acknowledge, resolve)."""

    label: str
    url: str


@dataclass(frozen=True)
class Message:
    """What one notification says. `subject` is one line; `text` the plain body (data in it
    is plain text: each channel escapes for its own format); `link` opens the incident;
    `actions` act on it."""

    subject: str
    text: str
    link: str | None = None
    actions: tuple[Action, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Destination:
    """Where a channel sends: the method's address, and its secret where it has one (the
    webhook's signing key)."""

    address: str
    secret: str | None = None

    def __repr__(self) -> str:  # addresses can hold secrets: never in a log line by accident
        return "Destination(...)"


class Channel(Protocol):
    def send(self, to: Destination, message: Message) -> SendResult: ...


def available(settings: Settings) -> dict[str, str]:
    """The kinds of contact method this daemon can deliver to, each with what it needs when it
    cannot (an empty string when it can)."""
    from oncall_opt.engine.paging.channels import (
        apprise_url,
        email,
        ntfy,
        slack_dm,
        twilio,
        webhook,
    )

    return {
        "email": email.missing(settings),
        "sms": twilio.missing_sms(settings),
        "voice": twilio.missing_voice(settings),
        "push": ntfy.missing(settings),
        "slack": slack_dm.missing(settings),
        "webhook": webhook.missing(settings),
        "apprise": apprise_url.missing(settings),
    }


# One channel of each kind per settings object, kept while those settings live: a channel
# holds an HTTP client (making one costs tens of milliseconds, mostly its TLS context; keeping
# it also keeps connections open to the provider).
_made: weakref.WeakKeyDictionary[Settings, dict[str, Channel]] = weakref.WeakKeyDictionary()
_making = threading.Lock()


def channel_for(kind: str, settings: Settings) -> Channel:
    with _making:
        made = _made.setdefault(settings, {})
        if kind not in made:
            made[kind] = _make(kind, settings)
        return made[kind]


def _make(kind: str, settings: Settings) -> Channel:
    from oncall_opt.engine.paging.channels import (
        apprise_url,
        email,
        ntfy,
        slack_dm,
        twilio,
        webhook,
    )

    makers = {
        "email": email.EmailChannel,
        "sms": twilio.TwilioSms,
        "voice": twilio.TwilioVoice,
        "push": ntfy.NtfyChannel,
        "slack": slack_dm.SlackDM,
        "webhook": webhook.Webhook,
        "apprise": apprise_url.AppriseChannel,
    }
    return makers[kind](settings)
