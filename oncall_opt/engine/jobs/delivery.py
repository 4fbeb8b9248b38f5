"""Deliver the outbox to Slack: oldest first, about one message per second, with retries.

Every change that should reach Slack writes an outbox row in its own transaction (outbox.py);
this job posts the rows. A row's `status` is one of:

- `pending`: not delivered yet. Due when `next_attempt_at <= now`. Messages also stay `pending`
  while no webhook is configured (delivery is off, logged once): nothing is dropped, and they go
  out once a webhook is configured and the daemon restarted.
- `sent`: Slack accepted it (`sent_at`).
- `failed`: Slack refused it with a 4xx other than 408/429 (bad payload, webhook revoked...):
  not retried; `last_error` says why (the HTTP status and Slack's error word, never the URL).
- `skipped`: a reminder whose incidents were all acknowledged or resolved, or reminded again
  by a newer reminder, before it could be posted: an acknowledged incident is never reminded.

One message at a time: a committed transaction claims it (`claimed_at`, `attempts + 1`; for a
reminder, the incidents still `triggered` are re-read and the text re-rendered), then the HTTP
post, then a second transaction marks it `sent`. Network errors, timeouts, 5xx and 429 put it
back to `pending` with `next_attempt_at` after a back-off of its own (2^attempts seconds, at
most 5 minutes; a 429's Retry-After wins), so a message that keeps failing does not hold the
others: the run goes on with the next due one. A 429 is the webhook's rate limit, so it holds
every message until Retry-After; two failures in a row end the run (Slack looks down; the next
run tries again, each failed message when its back-off is over). When the JobLoop stops during
a post, the job does not wait for Slack's answer: the post is abandoned (it finishes in the
background) and the message stays claimed, as after a crash.

Delivery guarantee: at least once. A message is lost neither when Slack is down nor when the
daemon stops or crashes, since it stays `pending` until Slack has accepted it and that was
committed; it can be posted twice only when the process stops or dies after Slack accepted it
and before the `sent` commit (the next run finds it claimed but not sent, says so in the log,
and posts it again).

Pacing: at most `MAX_PER_RUN` messages per run and `settings.slack_min_interval` seconds (1 s)
between two requests to one channel, across runs too (Slack allows about one message per second
per webhook or channel); a message to another channel does not wait for it.

Order: a new incident's first message goes before every other message due (chatter), and
within a priority the oldest first; during a storm a service's new incidents are bundled
(`outbox.enqueue_created`), so a page's channel message never waits behind a storm's.
`sleep` is injected so tests need not wait, and so the JobLoop can cut it short.

Channels: a message about a team's incident goes to that team's Slack channel through the Slack
app when the team names one (`SlackChannel`) and the app's bot token is set, with Acknowledge
and Resolve buttons on a message about one incident; else to the team's own webhook when it has
one; else to the global one (`ONCALL_SLACK_WEBHOOK_URL`). A 429 holds only the webhook that said it;
a message whose channel has no webhook at all stays pending until one is configured.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from oncall_opt.engine import outbox
from oncall_opt.engine.incidents import COLUMNS, TRIGGERED, incidents_from_rows
from oncall_opt.engine.jobs import JobState
from oncall_opt.engine.jobs.reminders import KIND as REMINDER
from oncall_opt.engine.paging.channels.slack_dm import SlackTeamChannel
from oncall_opt.engine.settings import Settings
from oncall_opt.engine.slack import SendResult, team_webhook
from oncall_opt.engine.store import Store, Transaction

log = logging.getLogger(__name__)

PENDING, SENT, FAILED, SKIPPED = "pending", "sent", "failed", "skipped"
MAX_PER_RUN = 20
FAILURES_TO_PAUSE = 2  # retryable failures in a row that end a run: Slack looks down
MAX_BACKOFF = 300.0  # seconds
OFF = "delivery: no webhook"


class Sender(Protocol):
    def send(self, text: str) -> SendResult: ...


@dataclass(frozen=True)
class _Claim:
    id: int
    kind: str
    text: str | None  # None: skipped, nothing to post
    attempts: int
    resent: bool  # claimed before and never marked: the daemon stopped mid-post
    team_id: int | None = None
    incident_ids: tuple[int, ...] = ()


GLOBAL = "global"  # the destination of messages that go to ONCALL_SLACK_WEBHOOK_URL


class _Channels:
    """Where each message goes: its team's channel through the Slack app, else its team's own
    webhook, else the global one. Built once per run from the teams table (team webhooks are
    secrets: SlackWebhook masks them)."""

    def __init__(self, store: Store, default: Sender | None, settings: Settings, state: JobState):
        self.default = default
        self.own: dict[int, Sender | SlackTeamChannel] = {}
        app = settings.slack_bot_token is not None
        for row in store.rows(
            "SELECT id, slack_webhook_url, slack_channel FROM teams "
            "WHERE slack_webhook_url IS NOT NULL OR slack_channel IS NOT NULL"
        ):
            channel, url = row["slack_channel"], row["slack_webhook_url"]
            if app and channel:
                key = f"slack-app:{channel}"
                if key not in state.team_senders:
                    state.team_senders[key] = SlackTeamChannel(settings, channel)
                self.own[row["id"]] = state.team_senders[key]
            elif url:
                if url not in state.team_senders:
                    state.team_senders[url] = team_webhook(
                        url, settings.slack_timeout, settings.allow_private_webhooks
                    )
                self.own[row["id"]] = state.team_senders[url]

    def any(self) -> bool:
        return self.default is not None or bool(self.own)

    def destination(self, team_id: int | None) -> object:
        return team_id if team_id in self.own else GLOBAL

    def sender(self, team_id: int | None) -> Sender | SlackTeamChannel | None:
        return self.own.get(team_id) if team_id in self.own else self.default  # type: ignore[arg-type]

    def open_filter(self, held: set[object]) -> tuple[str, list]:
        """SQL (and parameters) for the messages whose webhook exists and is not held."""
        teams = [t for t in self.own if t not in held]
        parts, params = [], []
        if teams:
            parts.append(f"team_id IN ({', '.join('?' for _ in teams)})")
            params += teams
        if self.default is not None and GLOBAL not in held:
            if self.own:
                marks = ", ".join("?" for _ in self.own)
                parts.append(f"(team_id IS NULL OR team_id NOT IN ({marks}))")
                params += list(self.own)
            else:
                parts.append("TRUE")
        return ("(" + " OR ".join(parts) + ")" if parts else "FALSE"), params


def backoff(attempts: int) -> float:
    """Seconds to wait after the `attempts`-th failed attempt: 2, 4, 8, ... at most 300."""
    return min(2.0 ** max(attempts, 1), MAX_BACKOFF)


def run(
    store: Store,
    now: datetime,
    sender: Sender | None,
    settings: Settings,
    sleep: Callable[[float], object] = time.sleep,
    state: JobState | None = None,
    limit: int = MAX_PER_RUN,
    stop: threading.Event | None = None,
    clock: Callable[[], datetime] | None = None,
) -> dict[str, int]:
    """Post due outbox messages; returns counts by outcome (sent, skipped, failed, retry).
    `sender` is the global webhook (None: none configured); teams' own webhooks come from the
    teams table. With `clock`, a Retry-After (and a back-off) counts from the moment the answer
    arrived, not from the run's start (a run paced at one post a second lasts a while)."""
    state = state if state is not None else JobState()
    counts = {SENT: 0, SKIPPED: 0, FAILED: 0, "retry": 0}
    channels = _Channels(store, sender, settings, state)
    if not channels.any():
        state.warn_once(
            OFF, log,
            "no Slack webhook configured (ONCALL_SLACK_WEBHOOK_URL): Slack delivery is off; "
            "messages stay in the outbox as pending until one is configured",
        )  # fmt: skip
        return counts
    for destination, until in list(state.holds.items()):
        if now >= until:
            del state.holds[destination]
    failures_in_a_row = 0
    started = time.monotonic()
    for _ in range(limit):
        held = set(state.holds)
        busy = _paced(state, settings)
        allowed = channels.open_filter(held | set(busy))
        if not _anything_due(store, now, allowed):
            # Every channel with a message due was posted to a moment ago: wait for the first
            # of them to be free.
            waiting = {d: busy[d] for d in _due_channels(store, now, channels, held) if d in busy}
            if not waiting:
                break
            soonest = min(waiting, key=waiting.__getitem__)
            sleep(busy.pop(soonest))
            allowed = channels.open_filter(held | set(busy))
        if stop is not None and stop.is_set():
            break
        # A run paced at one message a second lasts a while: the claim is stamped with the
        # time it is made, so another daemon's lease on it runs from the post, not the run.
        claimed_at = now + timedelta(seconds=time.monotonic() - started)
        claim = store.write(
            lambda tx, a=allowed, c=claimed_at: _claim(tx, now, c, a, settings.delivery_lease)
        )
        if claim is None:
            break
        if claim.text is None:
            counts[SKIPPED] += 1
            continue
        if claim.resent:
            log.warning(
                "outbox message %d was being posted when the daemon stopped: posting it again "
                "(Slack may show it twice)",
                claim.id,
            )
        target = channels.sender(claim.team_id)
        assert target is not None  # the filter only lets through messages with a webhook
        result = _send(lambda t=target, c=claim: _post(t, c, settings), stop)
        state.last_sent[channels.destination(claim.team_id)] = time.monotonic()
        if result is None:  # stopping: the post is abandoned, the message stays claimed
            log.info(
                "stopping while outbox message %d is being posted: it is posted again at the "
                "next start unless Slack got it first (then it may show twice)",
                claim.id,
            )
            break
        if result.ok:
            store.write(lambda tx, c=claim: _mark_sent(tx, c, now))
            counts[SENT] += 1
            failures_in_a_row = 0
        elif result.retryable:
            delay = result.retry_after
            if delay is None:
                delay = backoff(claim.attempts)
            answered = clock() if clock is not None else now
            retry_at = answered + timedelta(seconds=delay)
            store.write(lambda tx, c=claim, r=result, t=retry_at: _mark_retry(tx, c, r, t))
            counts["retry"] += 1
            failures_in_a_row += 1
            log.warning(
                "Slack did not take outbox message %d (%s, attempt %d): retrying in %gs",
                claim.id, result.error, claim.attempts, delay,
            )  # fmt: skip
            if result.status == 429:  # that webhook's rate limit: its messages all wait
                state.holds[channels.destination(claim.team_id)] = retry_at
                continue
            if failures_in_a_row >= FAILURES_TO_PAUSE:  # Slack looks down: try again next run
                break
            continue  # this message backs off alone; the next ones go on
        else:
            store.write(lambda tx, c=claim, r=result: _mark_failed(tx, c, r))
            counts[FAILED] += 1
            log.error(
                "Slack refused outbox message %d (%s): marked failed, not retried",
                claim.id, result.error,
            )  # fmt: skip
    return counts


def _about(claim: _Claim) -> int | None:
    """The one incident a message is about (a reminder is about its list, not one of them)."""
    if claim.kind == REMINDER or len(claim.incident_ids) != 1:
        return None
    return claim.incident_ids[0]


def _incident_link(incident_id: int, settings: Settings) -> str | None:
    """Where the incident opens in the console, when the console's address is known."""
    if not settings.channel_links:
        return None
    return f"{settings.public_url.rstrip('/')}/incidents?incident={incident_id}"


def _with_link(claim: _Claim, settings: Settings) -> str:
    """The message, and for a message about one incident a link that opens it in the console
    (where the console's address is known: ONCALL_PUBLIC_URL): teams whose channel is an
    incoming webhook act from there (buttons need the Slack app and the team's SlackChannel)."""
    assert claim.text is not None
    about = _about(claim)
    link = _incident_link(about, settings) if about is not None else None
    if link is None:
        return claim.text
    link = link.replace("|", "%7C").replace(">", "%3E")
    return f"{claim.text}\n<{link}|Open incident #{about}>"


def _anything_due(store: Store, now: datetime, allowed: tuple[str, list]) -> bool:
    where, params = allowed
    return (
        store.row(
            f"SELECT id FROM outbox WHERE status = ? AND next_attempt_at <= ? AND {where} LIMIT 1",
            [PENDING, now, *params],
        )
        is not None
    )


def _due_channels(store: Store, now: datetime, channels: _Channels, held: set) -> set[object]:
    """The channels (not on hold) with a message due."""
    where, params = channels.open_filter(held)
    rows = store.rows(
        f"SELECT DISTINCT team_id FROM outbox WHERE status = ? AND next_attempt_at <= ? "
        f"AND {where}",
        [PENDING, now, *params],
    )
    return {channels.destination(row["team_id"]) for row in rows}


def _paced(state: JobState, settings: Settings) -> dict[object, float]:
    """The channels posted to less than `slack_min_interval` ago, each with how long is left
    (Slack allows about a message a second per channel; other channels need not wait)."""
    if settings.slack_min_interval <= 0:
        return {}
    since = time.monotonic()
    return {
        destination: settings.slack_min_interval - (since - at)
        for destination, at in state.last_sent.items()
        if since - at < settings.slack_min_interval
    }


def _send(post: Callable[[], SendResult], stop: threading.Event | None) -> SendResult | None:
    """The post's result; with `stop`, the post runs in its own thread, and None means the
    stop came first: the job returns at once instead of waiting for Slack's timeout (the
    abandoned post only does network I/O, never touches the database)."""
    if stop is None:
        return post()
    results: list[SendResult] = []
    thread = threading.Thread(target=lambda: results.append(post()), name="slack-post",
                              daemon=True)  # fmt: skip
    thread.start()
    while thread.is_alive():
        if stop.wait(0.05) and thread.is_alive():
            return None
    return results[0] if results else SendResult.retry("the sender failed")


def _post(sender: Sender | SlackTeamChannel, claim: _Claim, settings: Settings) -> SendResult:
    try:
        if isinstance(sender, SlackTeamChannel):  # the Slack app: buttons, and Open as one
            about = _about(claim)
            link = _incident_link(about, settings) if about is not None else None
            return sender.post(claim.text or "", about, link)
        return sender.send(_with_link(claim, settings))
    except Exception as exc:  # a sender bug must not lose the message: retry it later
        log.error("the Slack sender raised %s", type(exc).__name__)
        return SendResult.retry(f"sender raised {type(exc).__name__}")


def _claim(
    tx: Transaction, now: datetime, claimed_at: datetime, allowed: tuple[str, list], lease: float
) -> _Claim | None:
    """The first due message with a webhook not on hold, claimed: a new incident's first
    message before chatter, then the oldest (storms cannot bury a page); a reminder is
    re-checked and re-rendered first. With several daemons (PostgreSQL) the row is locked
    (`SKIP LOCKED`: two daemons never take the same message) and a claim made less than `lease`
    seconds ago is another daemon's post in flight; with one (DuckDB) any old claim is this
    process's, left by a stop mid-post."""
    where, params = allowed
    if tx.shared:
        where += " AND (claimed_at IS NULL OR claimed_at <= ?)"
        params = [*params, now - timedelta(seconds=lease)]
    row = tx.row(
        "SELECT id, kind, text, incident_ids, attempts, claimed_at, created_at, team_id, "
        "service_id "
        f"FROM outbox WHERE status = ? AND next_attempt_at <= ? AND {where} "
        f"ORDER BY priority, id LIMIT 1{tx.claim}",
        [PENDING, now, *params],
    )
    if row is None:
        return None
    text, ids = row["text"], row["incident_ids"]
    if row["kind"] == outbox.STORM and ids:  # written now: adding to it during a storm is cheap
        text = outbox.storm_text(tx, row["service_id"], json.loads(ids), row["created_at"])
    if row["kind"] == REMINDER and ids:
        still = _still_to_remind(tx, json.loads(ids), row["created_at"])
        if not still:
            tx.execute("UPDATE outbox SET status = ? WHERE id = ?", [SKIPPED, row["id"]])
            return _Claim(row["id"], row["kind"], None, row["attempts"], False, row["team_id"])
        rendered = "\n".join(part for part, _ in outbox.reminders(still))
        # Keep the original first line: a continued reminder stays "(continued)".
        text = row["text"].split("\n", 1)[0] + "\n" + rendered.split("\n", 1)[1]
        ids = json.dumps([incident.id for incident in still])
    tx.execute(
        "UPDATE outbox SET claimed_at = ?, attempts = attempts + 1, text = ?, incident_ids = ? "
        "WHERE id = ?",
        [claimed_at, text, ids, row["id"]],
    )
    resent = row["claimed_at"] is not None
    about = tuple(json.loads(ids)) if ids else ()
    return _Claim(row["id"], row["kind"], text, row["attempts"] + 1, resent, row["team_id"], about)


def _still_to_remind(tx: Transaction, ids: list[int], reminded_at: datetime) -> list:
    """The incidents of a reminder still triggered and not reminded since by a newer one."""
    if not ids:
        return []
    marks = ", ".join("?" for _ in ids)
    rows = tx.rows(
        f"SELECT {COLUMNS} FROM incidents WHERE id IN ({marks}) AND status = ? "
        f"AND (last_reminded_at IS NULL OR last_reminded_at <= ?) ORDER BY id",
        [*ids, TRIGGERED, reminded_at],
    )
    return incidents_from_rows(tx, rows)


def _mark_sent(tx: Transaction, claim: _Claim, now: datetime) -> None:
    tx.execute(
        "UPDATE outbox SET status = ?, sent_at = ?, last_error = NULL WHERE id = ?",
        [SENT, now, claim.id],
    )


def _mark_retry(tx: Transaction, claim: _Claim, result: SendResult, retry_at: datetime) -> None:
    tx.execute(
        "UPDATE outbox SET claimed_at = NULL, next_attempt_at = ?, last_error = ? WHERE id = ?",
        [retry_at, result.error, claim.id],
    )


def _mark_failed(tx: Transaction, claim: _Claim, result: SendResult) -> None:
    tx.execute(
        "UPDATE outbox SET status = ?, claimed_at = NULL, last_error = ? WHERE id = ?",
        [FAILED, result.error, claim.id],
    )
