"""Sending one notification through its method's channel and recording how it went: the
notify job's body, and the test a person asks for (`POST /contact-methods/{id}/test`)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from oncall_opt.engine import outbox, text, timeline
from oncall_opt.engine.paging import actions, cover_links, methods, notifications
from oncall_opt.engine.paging.channels import (
    Action,
    Channel,
    Destination,
    Message,
    channel_for,
)
from oncall_opt.engine.paging.notifications import Notification
from oncall_opt.engine.settings import Settings
from oncall_opt.engine.slack import SendResult, mention
from oncall_opt.engine.slack import escape as esc
from oncall_opt.engine.store import Store
from oncall_opt.errors import NotFoundError

log = logging.getLogger(__name__)

ChannelFor = Callable[[str], Channel]
COVER_KINDS = ("cover", "cover-lead")  # asking someone to cover a shift; telling the lead


def _page_of(store: Store, notification: Notification, settings: Settings) -> Message | str:
    """The page's message, or why it is no longer wanted (the incident was acknowledged or
    resolved first)."""
    row = store.row(
        "SELECT i.id, i.body, i.status, i.urgency, i.trigger_count, s.name AS service "
        "FROM incidents i LEFT JOIN services s ON s.id = i.service_id WHERE i.id = ?",
        [notification.incident_id],
    )
    if row is None:
        return "the incident is gone"
    if row["status"] != "triggered":
        return f"{row['status']} before it was sent"
    first = " ".join((row["body"].splitlines() or [""])[0].split())
    repeats = f" (triggered {row['trigger_count']} times)" if row["trigger_count"] > 1 else ""
    return Message(
        subject=f"[{row['service'] or 'on-call'}] #{row['id']}: {first}"[:160],
        text=(
            f"{text.shortened(row['body'], 1500)}\n\n"
            f"Incident #{row['id']} on {row['service'] or 'its service'}, "
            f"{row['urgency']} urgency{repeats}. Acknowledge it so nobody else is woken."
        ),
        link=f"{settings.public_url.rstrip('/')}/incidents?incident={row['id']}",
    )


def _with_actions(
    store: Store,
    message: Message,
    notification: Notification,
    kind: str,
    now: datetime,
    settings: Settings,
) -> Message:
    """The page with its one-time links (acknowledge, resolve), which act as the person it
    goes to; they open a confirmation in the console (`ONCALL_PUBLIC_URL/oncall/act/...`)."""
    assert notification.incident_id is not None
    via = "push" if kind == "push" else f"{kind} link"
    tokens = store.write(
        lambda tx: actions.make(tx, notification.incident_id, notification.user_id, via, now)
    )
    base = settings.public_url.rstrip("/")
    return replace(
        message,
        actions=tuple(
            Action(actions.ACTIONS[name], f"{base}/oncall/act/{token}")
            for name, token in tokens.items()
        ),
    )


SEND_DEADLINE = 30.0  # seconds one send may take, whatever the server at the other end does


def _send_within(
    deadline: float, channel: Channel, to: Destination, message: Message, kind: str
) -> SendResult:
    """The channel's result, or a retry when it has not answered within `deadline` seconds:
    a server that answers a byte at a time (a person names the server of a push topic, a
    webhook, an Apprise service) must not hold every other page back. The late send is left
    to end in its own thread (if it gets through, the retry repeats it: at least once)."""
    results: list[SendResult] = []

    def send() -> None:
        try:
            results.append(channel.send(to, message))
        except Exception as exc:  # a channel's bug must not lose the notification: retry it
            log.error("the %s channel raised %s", kind, type(exc).__name__)
            results.append(SendResult.retry(f"the {kind} channel raised {type(exc).__name__}"))

    worker = threading.Thread(target=send, name=f"send-{kind}", daemon=True)
    worker.start()
    worker.join(deadline)
    if not results:
        log.warning("a %s send had no answer within %gs: it is tried again", kind, deadline)
        return SendResult.retry(f"no answer within {deadline:g} s")
    return results[0]


def message_for(notification: Notification) -> Message:
    if notification.kind == "verify":
        return Message(
            subject="Your on-call verification code",
            text=(
                f"Your code is {notification.body}. Enter it where you added this contact "
                "method; it works for 15 minutes. Never give it to anyone: it lets their "
                "on-call account page you here and act with your buttons. If you did not ask "
                "for it, ignore this."
            ),
        )
    return Message(
        subject="Test from the on-call console",
        text="This is a test: when you are paged, it reaches you here.",
    )


def deliver(
    store: Store,
    notification: Notification,
    now: datetime,
    settings: Settings,
    channel_of: ChannelFor | None = None,
) -> Notification:
    """Send a claimed notification and record the outcome; returns it as it now stands."""
    try:
        method = methods.get(store, notification.contact_method_id)
    except NotFoundError:
        store.write(lambda tx: notifications.mark_cancelled(tx, notification, "method removed"))
        return notifications.get(store, notification.id)
    message: Message | str = message_for(notification)
    if notification.kind == "page":
        message = _page_of(store, notification, settings)
        if isinstance(message, str):
            store.write(lambda tx, why=message: notifications.mark_cancelled(tx, notification, why))
            return notifications.get(store, notification.id)
        message = _with_actions(store, message, notification, method.type, now, settings)
    elif notification.kind in COVER_KINDS:
        message = cover_links.message_of(
            store, notification.user_id, notification.cover_request_id, notification.kind, now,
            settings.public_url,
        )  # fmt: skip
        if isinstance(message, str):
            store.write(lambda tx, why=message: notifications.mark_cancelled(tx, notification, why))
            return notifications.get(store, notification.id)
    channel = (channel_of or (lambda kind: channel_for(kind, settings)))(method.type)
    result = _send_within(SEND_DEADLINE, channel, Destination(method.address, method.secret),
                          message, method.type)  # fmt: skip
    if result.ok:

        def sent(tx) -> None:
            notifications.mark_sent(tx, notification, now, result.provider_id)
            _log(tx, notification, method.type, "sent", now)

        store.write(sent)
    elif result.retryable and notification.attempts < notifications.MAX_ATTEMPTS:
        delay = result.retry_after or notifications.backoff(notification.attempts)
        at = now + timedelta(seconds=delay)
        store.write(lambda tx: notifications.mark_retry(tx, notification, result.error or "", at))
        log.warning(
            "notification %d by %s not sent (%s, attempt %d): retrying in %gs",
            notification.id, method.type, result.error, notification.attempts, delay,
        )  # fmt: skip
    else:

        def failed(tx) -> None:
            notifications.mark_failed(tx, notification, result.error or "")
            _log(tx, notification, method.type, f"failed ({result.error})", now)
            _when_every_method_failed(tx, notification, now)

        store.write(failed)
        log.error("notification %d by %s failed: %s", notification.id, method.type, result.error)
    return notifications.get(store, notification.id)


def _log(tx, notification: Notification, kind: str, outcome: str, now: datetime) -> None:
    """A page's outcome in its incident's timeline: "paged Ana Silva by email: sent"."""
    if notification.kind != "page" or notification.incident_id is None:
        return
    person = tx.row("SELECT first_name, last_name FROM users WHERE id = ?", [notification.user_id])
    name = f"{person['first_name']} {person['last_name']}".strip() if person else "someone"
    timeline.add(
        tx, notification.incident_id, "notified", f"paged {name} by {kind}: {outcome}", now,
        notification.user_id,
    )  # fmt: skip


def _when_every_method_failed(tx, notification: Notification, now: datetime) -> None:
    """When every page of one paging of a person (the notifications made at the same moment
    for the incident and the person) has failed, the timeline and the team's channel say so;
    the escalation goes on at its next step as its policy says."""
    if notification.kind != "page" or notification.incident_id is None:
        return
    left = tx.row(
        "SELECT COUNT(*) AS n FROM notifications WHERE kind = 'page' AND incident_id = ? "
        "AND user_id = ? AND created_at = ? AND status <> ?",
        [notification.incident_id, notification.user_id, notification.created_at,
         notifications.FAILED],
    )  # fmt: skip
    if left["n"]:
        return
    person = tx.row(
        "SELECT first_name, last_name, slack_handle FROM users WHERE id = ?",
        [notification.user_id],
    )
    incident = tx.row(
        "SELECT s.team_id FROM incidents i LEFT JOIN services s ON s.id = i.service_id "
        "WHERE i.id = ?",
        [notification.incident_id],
    )
    if person is None or incident is None:
        return
    name = f"{person['first_name']} {person['last_name']}".strip()
    timeline.add(
        tx, notification.incident_id, "notified", f"paged {name}: every method failed", now,
        notification.user_id,
    )  # fmt: skip
    said = (
        f"Could not reach {esc(name)} {mention(person['slack_handle'])} about incident "
        f"#{notification.incident_id}: every contact method failed. The escalation goes on "
        "as its policy says."
    )
    team_id = incident["team_id"] or 1  # an incident without a service is the first team's
    outbox.enqueue(tx, "unreachable", said, now, [notification.incident_id], team_id)


def provider_report(
    store: Store, provider_id: str, delivered: bool, reason: str, now: datetime
) -> Notification | None:
    """What the provider later says of a sent notification (`provider_id`: its id there): it
    reached the person, or it did not (`reason`). A report for something already final (or
    unknown) changes nothing: providers may report twice."""

    def work(tx) -> Notification | None:
        notification = notifications.by_provider_id(tx, provider_id)
        if notification is None or notification.status != notifications.SENT:
            return notification
        method = tx.row(
            "SELECT type FROM contact_methods WHERE id = ?", [notification.contact_method_id]
        )
        kind = method["type"] if method else "a removed method"
        if delivered:
            notifications.mark_delivered(tx, notification, now)
            _log(tx, notification, kind, f"delivered {now.astimezone(UTC):%H:%M:%S} UTC", now)
        else:
            notifications.mark_failed(tx, notification, reason)
            _log(tx, notification, kind, f"failed ({reason})", now)
            _when_every_method_failed(tx, notification, now)
        return notifications.get(tx, notification.id)

    return store.write(work)


def send_test(
    store: Store,
    method_id: int,
    now: datetime,
    settings: Settings,
    channel_of: ChannelFor | None = None,
) -> Notification:
    """A test to the method now (verified or not): recorded like any notification."""
    method = methods.get(store, method_id)

    def work(tx) -> Notification:
        queued = notifications.queue(tx, "test", method.user_id, method.id, now)
        tx.execute(
            "UPDATE notifications SET claimed_at = ?, attempts = 1 WHERE id = ?", [now, queued]
        )
        return notifications.get(tx, queued)

    return deliver(store, store.write(work), now, settings, channel_of)
