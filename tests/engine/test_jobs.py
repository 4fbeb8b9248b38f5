"""The daemon's jobs, one cycle at a time with a fake clock, and the job loop; Slack is a real
HTTP server on 127.0.0.1 (tests/fake_slack.py) that fails the test on any message it did not
expect."""

from __future__ import annotations

import json
import logging
import threading
from datetime import timedelta

import pytest
from fake_clock import FakeClock
from fake_slack import FakeSlack
from pydantic import SecretStr
from testkit import wait_for

from oncall_opt.engine import incidents, outbox
from oncall_opt.engine.jobs import JobState, autoassign, delivery, escalation, reminders
from oncall_opt.engine.jobs.loop import JobLoop
from oncall_opt.engine.settings import ConfigError, Settings
from oncall_opt.engine.shifts import PRIMARY, SECONDARY, create_schedule
from oncall_opt.engine.slack import SendResult, SlackWebhook, retry_after
from oncall_opt.engine.store import Store
from oncall_opt.engine.teams import create_team
from oncall_opt.engine.users import create_user

# The client's timeout in these tests: a hang (3 s) lasts longer; an ordinary post on a loaded
# CI machine can take more than half a second (a 0.5 s timeout once made one retry there).
SECRET_TIMEOUT = 2.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_settings(fake: FakeSlack | None = None, **overrides) -> Settings:
    values = dict(slack_webhook_url=fake.url if fake else None, slack_timeout=SECRET_TIMEOUT)
    values.update(overrides)
    return Settings(**values)


def no_sleep(seconds: float) -> None:
    pass


class Delivery:
    """delivery.run with the test's store, clock, fake Slack and a recording no-op sleep."""

    def __init__(self, store: Store, clock: FakeClock, fake: FakeSlack | None, **settings):
        self.store, self.clock = store, clock
        self.settings = make_settings(fake, **settings)
        self.sender = SlackWebhook(fake.url, SECRET_TIMEOUT) if fake else None
        self.state = JobState()
        self.sleeps: list[float] = []

    def __call__(self, **kwargs) -> dict[str, int]:
        return delivery.run(
            self.store, self.clock.now(), self.sender, self.settings,
            sleep=self.sleeps.append, state=self.state, **kwargs,
        )  # fmt: skip


def outbox_rows(store: Store, kind: str | None = None) -> list[dict]:
    sql = "SELECT * FROM outbox" + (" WHERE kind = ?" if kind else "") + " ORDER BY id"
    return store.rows(sql, [kind] if kind else [])


def people(store: Store, clock: FakeClock):
    ana = create_user(store, "Ana", "Silva", "ana", clock.now())
    ben = create_user(store, "Ben", "Okafor", "ben", clock.now())
    return ana, ben


def on_call(store, user, clock, hours=24.0, layer=PRIMARY, start_hours=0.0):
    start = clock.now() + timedelta(hours=start_hours)
    return create_schedule(store, user.id, start, start + timedelta(hours=hours), layer)


# ----- reminders ----------------------------------------------------------------------------
def test_reminder_timing_every_ten_minutes_until_acknowledged(store, clock, slack):
    ana, _ = people(store, clock)
    on_call(store, ana, clock)
    settings = make_settings(slack)
    deliver = Delivery(store, clock, slack)
    incident, _ = incidents.trigger(store, "Checkout is down", clock.now())
    deliver()
    assert slack.take(1) == [f"Incident #{incident.id} created and assigned to Ana Silva <@ana>\n"
                             "Checkout is down"]  # fmt: skip

    clock.advance(seconds=1)
    assert reminders.run(store, clock.now(), settings) == 0  # a 1-second-old incident
    clock.advance(minutes=9, seconds=58)
    assert reminders.run(store, clock.now(), settings) == 0  # 9:59
    clock.advance(seconds=1)
    assert reminders.run(store, clock.now(), settings) == 1  # 10:00
    assert reminders.run(store, clock.now(), settings) == 0  # twice in a row: once
    deliver()
    [text] = slack.take(1)
    assert (
        text == f"{outbox.REMINDER_HEADER}\n[Ana Silva (<@ana>)] [#{incident.id}] Checkout is down"
    )

    clock.advance(minutes=9)
    assert reminders.run(store, clock.now(), settings) == 0  # 19:00
    clock.advance(minutes=1)
    assert reminders.run(store, clock.now(), settings) == 1  # 20:00
    deliver()
    assert slack.take(1) == [text]

    clock.advance(minutes=1)
    incidents.acknowledge(store, incident.id, clock.now())
    deliver()
    assert "has been acknowledged" in slack.take(1)[0]
    for _ in range(3):
        clock.advance(minutes=10)
        assert reminders.run(store, clock.now(), settings) == 0
        deliver()
    assert [m["kind"] for m in outbox_rows(store)] == [
        "created",
        "reminder",
        "reminder",
        "acknowledged",
    ]


def test_a_repeat_trigger_does_not_postpone_the_next_reminder(store, clock, slack):
    """The next reminder is due `remind_every` after the last reminder, not after the last
    trigger: a repeat with the same dedup key (count up, last_triggered_at moved) between two
    reminders changes nothing about when the next one goes out."""
    settings = make_settings(slack)
    deliver = Delivery(store, clock, slack)
    incident, _ = incidents.trigger(store, "Disk full", clock.now(), dedup_key="disk")
    clock.advance(minutes=10)
    assert reminders.run(store, clock.now(), settings) == 1  # +10:00, the first reminder
    reminded_at = clock.now()
    deliver()
    reminder = f"{outbox.REMINDER_HEADER}\n[Unassigned] [#{incident.id}] Disk full"
    assert slack.take(2) == [f"Incident #{incident.id} created and unassigned\nDisk full", reminder]

    clock.advance(minutes=5)  # +15:00: the same alert fires again
    again, created = incidents.trigger(store, "Disk full", clock.now(), dedup_key="disk")
    assert (again.id, created, again.trigger_count) == (incident.id, False, 2)
    stored = incidents.get_incident(store, incident.id)
    assert stored.last_triggered_at == clock.now() and stored.last_reminded_at == reminded_at
    assert reminders.run(store, clock.now(), settings) == 0

    clock.advance(minutes=4, seconds=59)
    assert reminders.run(store, clock.now(), settings) == 0  # +19:59
    clock.advance(seconds=1)
    assert reminders.run(store, clock.now(), settings) == 1  # +20:00, 10 min after the last
    assert incidents.get_incident(store, incident.id).last_reminded_at == clock.now()
    deliver()
    assert slack.take(1) == [reminder]
    sent = [(m["status"], json.loads(m["incident_ids"])) for m in outbox_rows(store, "reminder")]
    assert sent == [("sent", [incident.id]), ("sent", [incident.id])]


def test_acknowledged_between_enqueue_and_delivery_is_never_reminded(store, clock, slack):
    settings = make_settings(slack)
    deliver = Delivery(store, clock, slack)
    first, _ = incidents.trigger(store, "Disk full", clock.now())
    second, _ = incidents.trigger(store, "CPU hot", clock.now())
    clock.advance(minutes=10)
    assert reminders.run(store, clock.now(), settings) == 2
    [message] = outbox_rows(store, "reminder")
    assert json.loads(message["incident_ids"]) == [first.id, second.id]
    incidents.acknowledge(store, first.id, clock.now())
    deliver()
    texts = slack.take(4)
    assert texts[:2] == [f"Incident #{first.id} created and unassigned\nDisk full",
                         f"Incident #{second.id} created and unassigned\nCPU hot"]  # fmt: skip
    assert texts[2] == f"{outbox.REMINDER_HEADER}\n[Unassigned] [#{second.id}] CPU hot"
    assert "Disk full" in texts[3] and "acknowledged" in texts[3]
    [message] = outbox_rows(store, "reminder")
    assert message["status"] == "sent" and json.loads(message["incident_ids"]) == [second.id]

    # Both acknowledged (one resolved) before delivery: the reminder is skipped, not posted.
    clock.advance(minutes=10)
    third, _ = incidents.trigger(store, "Queue backlog", clock.now())
    clock.advance(minutes=10)
    assert reminders.run(store, clock.now(), settings) == 2
    incidents.resolve(store, second.id, clock.now())
    incidents.acknowledge(store, third.id, clock.now())
    deliver()
    assert len(slack.take(3)) == 3  # created, resolved, acknowledged
    assert [m["status"] for m in outbox_rows(store, "reminder")] == ["sent", "skipped"]


def test_a_reminder_superseded_by_a_newer_one_is_skipped(store, clock, slack):
    """After Slack was unreachable for an hour, one reminder goes out, not six."""
    settings = make_settings(slack)
    deliver = Delivery(store, clock, slack)
    incident, _ = incidents.trigger(store, "Disk full", clock.now())
    for _ in range(6):
        clock.advance(minutes=10)
        assert reminders.run(store, clock.now(), settings) == 1
    deliver()
    texts = slack.take(2)
    assert texts[1].endswith(f"[#{incident.id}] Disk full")
    assert [m["status"] for m in outbox_rows(store, "reminder")] == ["skipped"] * 5 + ["sent"]


def test_long_reminders_are_split_and_every_incident_is_listed_once(store, clock, slack):
    settings = make_settings(slack)
    body = "Payment provider times out on checkout; customers see error 502. " * 3
    created = [incidents.trigger(store, f"{i}: {body}", clock.now())[0] for i in range(150)]
    store.write(lambda tx: tx.execute("UPDATE outbox SET status = 'sent'"))  # not under test
    clock.advance(minutes=10)
    assert reminders.run(store, clock.now(), settings) == 150
    messages = outbox_rows(store, "reminder")
    assert len(messages) > 2
    assert all(len(m["text"]) <= outbox.MAX_MESSAGE_CHARS for m in messages)
    ids = [i for m in messages for i in json.loads(m["incident_ids"])]
    assert ids == [incident.id for incident in created]
    deliver = Delivery(store, clock, slack)
    deliver(limit=100)
    texts = slack.take(len(messages))
    assert texts[0].startswith(outbox.REMINDER_HEADER + "\n")
    assert all(t.startswith(outbox.REMINDER_HEADER + " (continued)\n") for t in texts[1:])
    assert sum(t.count("[Unassigned]") for t in texts) == 150
    assert len(deliver.sleeps) == len(messages) - 1  # paced


def test_ten_thousand_due_incidents_are_reminded_in_one_cycle(store, clock):
    """Each of 10,000 due incidents is in exactly one reminder line of one run, with its
    assignee; the next run finds nothing due. (How fast: benchmarks/, not here.)"""
    ana, _ = people(store, clock)
    now = clock.now()
    store.write(
        lambda tx: tx.execute(
            "INSERT INTO incidents (body, created_at, last_triggered_at, assigned_user_id) "
            "SELECT 'Host ' || i || ' is unreachable from the load balancer', ?, ?, "
            "CASE WHEN i % 2 = 0 THEN ? END FROM generate_series(0, 9999) t(i)",
            [now, now, ana.id],
        )
    )
    clock.advance(minutes=10)
    assert reminders.run(store, clock.now(), make_settings()) == 10_000
    messages = outbox_rows(store, "reminder")
    ids = [i for m in messages for i in json.loads(m["incident_ids"])]
    assert len(ids) == len(set(ids)) == 10_000
    assert all(len(m["text"]) <= outbox.MAX_MESSAGE_CHARS for m in messages)
    texts = "\n".join(m["text"] for m in messages)
    assert texts.count("[Ana Silva (<@ana>)] [#") == texts.count("[Unassigned] [#") == 5_000
    assert reminders.run(store, clock.now(), make_settings()) == 0


# ----- auto-assign ----------------------------------------------------------------------------
def test_autoassign_never_overwrites_a_manual_assignment(store, clock, slack, caplog):
    caplog.set_level(logging.INFO, logger="oncall_opt")
    ana, ben = people(store, clock)
    state = JobState()
    deliver = Delivery(store, clock, slack)
    for _ in range(2):  # a gap with nothing waiting: nothing to say
        assert autoassign.run(store, clock.now(), state) == 0
    first, _ = incidents.trigger(store, "Disk full", clock.now())
    second, _ = incidents.trigger(store, "CPU hot", clock.now())
    for _ in range(3):
        assert autoassign.run(store, clock.now(), state) == 0
        clock.advance(minutes=1)
    gaps = [r for r in caplog.records if "nobody is on call" in r.getMessage()]
    assert [g.levelno for g in gaps] == [logging.WARNING]  # once, not every minute
    assert "2 unassigned incident(s)" in gaps[0].getMessage()

    incidents.assign(store, first.id, ben.id, clock.now())  # by hand
    on_call(store, ana, clock, hours=1)
    assert autoassign.run(store, clock.now(), state) == 1
    assert autoassign.run(store, clock.now(), state) == 0  # nothing left: idempotent
    assert incidents.get_incident(store, first.id).assignee == ben
    assert incidents.get_incident(store, second.id).assignee == ana
    deliver(limit=100)
    texts = slack.take(4)
    assert texts[2] == f"Incident #{first.id} is re-assigned to Ben Okafor <@ben>\nDisk full"
    assert texts[3] == f"Incident #{second.id} is re-assigned to Ana Silva <@ana>\nCPU hot"

    # A new gap after Ana's shift: warned once again, not every minute.
    clock.advance(hours=1)
    incidents.trigger(store, "Queue backlog", clock.now())
    for _ in range(3):
        assert autoassign.run(store, clock.now(), state) == 0
        clock.advance(minutes=1)
    gaps = [r for r in caplog.records if "nobody is on call" in r.getMessage()]
    assert [g.levelno for g in gaps] == [logging.WARNING, logging.WARNING]
    deliver()
    assert "created and unassigned" in slack.take(1)[0]


def test_autoassign_sends_one_summary_for_many_incidents(store, clock, slack):
    ana, _ = people(store, clock)
    made = [incidents.trigger(store, f"Alert {i}", clock.now())[0] for i in range(7)]
    incidents.resolve(store, made[0].id, clock.now())  # resolved ones are never assigned
    store.write(lambda tx: tx.execute("UPDATE outbox SET status = 'sent'"))
    on_call(store, ana, clock)
    assert autoassign.run(store, clock.now(), JobState()) == 6
    [message] = outbox_rows(store, "assigned")
    assert json.loads(message["incident_ids"]) == [i.id for i in made[1:]]
    Delivery(store, clock, slack)()
    [text] = slack.take(1)
    assert text.startswith("6 incidents are re-assigned to Ana Silva <@ana>:\n")
    assert f"[#{made[6].id}] Alert 6" in text and "Alert 0" not in text
    assert incidents.get_incident(store, made[0].id).assignee is None


# ----- escalation -----------------------------------------------------------------------------
def test_escalation_happens_once_to_the_secondary(store, clock, slack, caplog):
    caplog.set_level(logging.INFO, logger="oncall_opt")
    ana, ben = people(store, clock)
    state = JobState()
    on_call(store, ana, clock, layer=PRIMARY)
    late, _ = incidents.trigger(store, "Checkout is down", clock.now())
    acked, _ = incidents.trigger(store, "Disk full", clock.now())
    incidents.acknowledge(store, acked.id, clock.now())
    clock.advance(minutes=14, seconds=59)
    assert escalation.run(store, clock.now(), state) == 0

    # Nobody on the secondary layer (the default policy's last step): left for later, warned
    # once.
    clock.advance(seconds=1)
    for _ in range(3):
        assert escalation.run(store, clock.now(), state) == 0
        clock.advance(minutes=1)
    gaps = [r for r in caplog.records if "nobody is on call for step 2" in r.getMessage()]
    assert len(gaps) == 1 and gaps[0].levelno == logging.WARNING
    assert "secondary on call in Default" in gaps[0].getMessage()

    on_call(store, ben, clock, layer=SECONDARY)
    assert escalation.run(store, clock.now(), state) == 1
    for _ in range(3):
        clock.advance(minutes=1)
        assert escalation.run(store, clock.now(), state) == 0
    incident = incidents.get_incident(store, late.id)
    assert incident.escalated_to == ben and incident.escalated_at is not None
    assert incident.assignee == ana
    assert incidents.get_incident(store, acked.id).escalated_at is None
    Delivery(store, clock, slack)(limit=100)
    texts = slack.take(4)  # 2 created, 1 acknowledged, 1 escalated
    assert texts[3] == (
        f"Incident #{late.id} has not been acknowledged for 18 minutes: escalated to "
        "Ben Okafor <@ben> (step 2 of escalation policy Default: secondary on call in Default)"
        "\nCheckout is down"
    )


# ----- delivery -------------------------------------------------------------------------------
def queue(store: Store, clock: FakeClock, *texts: str) -> None:
    def work(tx):
        for text in texts:
            outbox.enqueue(tx, "test", text, clock.now())

    store.write(work)


def test_delivery_retries_on_500_timeout_and_429_and_loses_nothing(store, clock, slack, caplog):
    caplog.set_level(logging.WARNING, logger="oncall_opt")
    deliver = Delivery(store, clock, slack)
    queue(store, clock, "one", "two", "three")
    slack.reply(500, "internal_error")
    slack.hang(3.0)
    slack.reply(429, "rate_limited", retry_after=30)

    # 500, then a timeout: each message backs off on its own; two failures in a row end the run
    assert deliver()["retry"] == 2
    one, two, three = outbox_rows(store)
    assert (one["status"], one["attempts"], one["claimed_at"]) == ("pending", 1, None)
    assert one["last_error"] == "HTTP 500: internal_error"
    assert one["next_attempt_at"] == clock.now() + timedelta(seconds=2)
    assert two["attempts"] == 1 and two["last_error"].startswith("timeout (")
    assert two["next_attempt_at"] == clock.now() + timedelta(seconds=2)
    assert three["attempts"] == 0  # not tried: Slack looked down

    # The next run: only "three" is due; a 429 holds every message until Retry-After.
    assert deliver() == {"sent": 0, "skipped": 0, "failed": 0, "retry": 1}
    assert outbox_rows(store)[2]["next_attempt_at"] == clock.now() + timedelta(seconds=30)
    clock.advance(seconds=2)
    assert deliver()["sent"] == 0  # one and two are due again, but Retry-After is honoured
    clock.advance(seconds=28)
    assert deliver()["sent"] == 3
    assert slack.take(3) == ["one", "two", "three"]  # none lost, none twice, oldest first
    assert [r.text for r in slack.received] == ["one", "two", "three", "one", "two", "three"]
    assert [(r["status"], r["attempts"]) for r in outbox_rows(store)] == [
        ("sent", 2), ("sent", 2), ("sent", 2)
    ]  # fmt: skip
    assert deliver()["sent"] == 0
    assert len([r for r in caplog.records if "retrying" in r.getMessage()]) == 3


def test_a_message_that_keeps_failing_does_not_hold_the_others(store, clock, slack):
    deliver = Delivery(store, clock, slack)
    slack.fail_text("poison", 500)
    queue(store, clock, "poison", "a", "b")
    assert deliver() == {"sent": 2, "skipped": 0, "failed": 0, "retry": 1}
    assert slack.take(2) == ["a", "b"]  # delivered in the same run, paced
    for _ in range(3):  # the poison backs off alone: 2, 4, 8 s
        queue(store, clock, "c")
        clock.advance(seconds=30)
        assert deliver()["sent"] == 1
        slack.take(1)
    [poison] = [r for r in outbox_rows(store) if r["text"] == "poison"]
    assert poison["status"] == "pending" and poison["attempts"] == 4
    assert poison["next_attempt_at"] == clock.now() + timedelta(seconds=delivery.backoff(4))
    assert len(deliver.sleeps) >= 4  # the rate limit still paced every post


def test_backoff_doubles_up_to_five_minutes():
    assert [delivery.backoff(n) for n in (1, 2, 3, 8, 9, 30)] == [2, 4, 8, 256, 300, 300]


def test_4xx_marks_the_message_failed_without_retrying(store, clock, slack, caplog):
    deliver = Delivery(store, clock, slack)
    queue(store, clock, "bad", "good")
    slack.reply(400, "invalid_payload")
    assert deliver() == {"sent": 1, "skipped": 0, "failed": 1, "retry": 0}
    assert slack.take(1) == ["good"]
    bad, good = outbox_rows(store)
    assert (bad["status"], bad["attempts"], bad["last_error"]) == (
        "failed", 1, "HTTP 400: invalid_payload"
    )  # fmt: skip
    assert good["status"] == "sent"
    clock.advance(hours=1)
    assert deliver()["sent"] == 0
    assert [r.text for r in slack.received] == ["bad", "good"]  # never retried
    assert any("marked failed" in r.getMessage() for r in caplog.records)


def test_delivery_is_paced_and_bounded(store, clock, slack):
    deliver = Delivery(store, clock, slack, slack_min_interval=1.0)
    queue(store, clock, *[f"m{i}" for i in range(5)])
    assert deliver(limit=3)["sent"] == 3  # bounded per run
    assert len(deliver.sleeps) == 2  # between sends, not before the first or after the last
    assert all(0.5 < s <= 1.0 for s in deliver.sleeps)
    assert deliver(limit=3)["sent"] == 2
    assert len(deliver.sleeps) == 4  # the next run waits for the interval too
    assert slack.take(5) == [f"m{i}" for i in range(5)]


def test_without_a_webhook_messages_stay_recorded_and_it_is_logged_once(store, clock, caplog):
    caplog.set_level(logging.INFO, logger="oncall_opt")
    loop = JobLoop(store, make_settings(), clock, sleep=no_sleep)
    assert loop.sender is None
    incidents.trigger(store, "Disk full", clock.now())
    for _ in range(3):
        loop.run_once()
        clock.advance(minutes=10)
    assert [(m["kind"], m["status"]) for m in outbox_rows(store)] == [
        ("created", "pending"), ("reminder", "pending"), ("reminder", "pending")
    ]  # fmt: skip
    off = [r for r in caplog.records if "delivery is off" in r.getMessage()]
    assert len(off) == 1


def test_nothing_is_lost_across_a_crash_between_slack_and_the_sent_commit(tmp_path, clock, slack):
    """At least once: the process dies after Slack accepted a message, before it was marked
    sent; after a restart it is posted again (the one case of a duplicate), and the rest too."""
    path = tmp_path / "oncall.duckdb"
    store = Store(path)
    queue(store, clock, "first", "second")

    class Crash(BaseException):
        pass

    class DiesAfterPosting:
        def __init__(self):
            self.webhook = SlackWebhook(slack.url, SECRET_TIMEOUT)

        def send(self, text):
            self.webhook.send(text)
            raise Crash

    with pytest.raises(Crash):
        delivery.run(store, clock.now(), DiesAfterPosting(), make_settings(slack), no_sleep)
    row = outbox_rows(store)[0]
    assert row["status"] == "pending" and row["claimed_at"] is not None  # claim was committed
    store.close()

    store = Store(path)  # the daemon restarts
    try:
        assert Delivery(store, clock, slack)()["sent"] == 2
        assert slack.take(3) == ["first", "first", "second"]
        assert [r["status"] for r in outbox_rows(store)] == ["sent", "sent"]
    finally:
        store.close()


# ----- Slack client ---------------------------------------------------------------------------
def test_slack_webhook_results_and_retry_after():
    assert retry_after("30") == 30
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0  # in the past
    assert retry_after("soon") is None
    assert retry_after("99999") == 3600
    with pytest.raises(ConfigError) as info:
        SlackWebhook(SecretStr("hooks.slack.com/services/T/B/sekrit-token"))
    assert "sekrit" not in str(info.value)
    assert "sekrit" not in repr(SlackWebhook(SecretStr("https://hooks.example/sekrit")))


def test_the_webhook_url_never_reaches_the_logs(store, clock, slack, caplog):
    caplog.set_level(logging.DEBUG)  # every logger, httpx and httpcore included
    deliver = Delivery(store, clock, slack)
    queue(store, clock, "a", "b", "c", "d", "e")
    slack.reply(500, f"oops {slack.url.get_secret_value()}")  # even when Slack echoes it
    slack.hang(3.0)
    slack.reply(429, retry_after=1)
    slack.reply(404, f"no_service {slack.path}")
    for _ in range(5):
        deliver()
        clock.advance(seconds=60)
    assert slack.take(4) == ["b", "c", "d", "e"]
    # A webhook nobody listens on: connection refused.
    closed = FakeSlack()
    closed.close()
    refused = SlackWebhook(closed.url, SECRET_TIMEOUT)
    result = refused.send("x")
    assert result.retryable and result.error.startswith("network error (")
    loop = JobLoop(store, make_settings(closed), clock, sleep=no_sleep)
    loop.run_once()
    stored = " ".join(str(r["last_error"]) for r in outbox_rows(store))
    logs = caplog.text + " ".join(str(r.args) for r in caplog.records)
    for secret in (slack.token, closed.token):
        assert secret not in logs
        assert secret not in stored
    assert "HTTP Request: POST" in caplog.text  # httpx did log its requests, masked
    assert "<redacted>" in caplog.text


# ----- the job loop ---------------------------------------------------------------------------
def test_run_once_runs_each_job_in_order(store, clock, slack):
    ana, ben = people(store, clock)
    settings = make_settings(slack)
    incident, _ = incidents.trigger(store, "Disk full", clock.now())
    on_call(store, ana, clock)
    on_call(store, ben, clock, layer=SECONDARY)
    clock.advance(minutes=15)
    loop = JobLoop(store, settings, clock, sleep=no_sleep)
    results = loop.run_once()
    assert list(results) == [
        "autoassign", "timeouts", "heartbeats", "escalation", "reminders", "handoffs",
        "cover", "delivery", "notify",
    ]  # fmt: skip
    assert results["cover"] == {"asked": 0, "unanswered": 0}  # no cover request
    assert results["autoassign"] == 1 and results["escalation"] == 1
    assert results["reminders"] == 1 and results["handoffs"] == 2
    assert results["delivery"]["sent"] == 6
    texts = slack.take(6)
    # Both layers' shifts end within a day, with nothing after: the gap is announced.
    assert all(t.startswith(":warning: Nobody is on call for Default") for t in texts[4:])
    assert [t.split("\n")[0] for t in texts[:4]] == [
        f"Incident #{incident.id} created and unassigned",
        f"Incident #{incident.id} is re-assigned to Ana Silva <@ana>",
        f"Incident #{incident.id} has not been acknowledged for 15 minutes: escalated to "
        "Ben Okafor <@ben> (step 2 of escalation policy Default: secondary on call in Default)",
        outbox.REMINDER_HEADER,
    ]
    assert texts[3].endswith(f"[Ana Silva (<@ana>)] [#{incident.id}] Disk full")
    loop.stop()


def test_a_job_that_raises_is_logged_and_keeps_its_schedule(store, clock, caplog, monkeypatch):
    caplog.set_level(logging.INFO, logger="oncall_opt")
    calls = {"autoassign": 0, "reminders": 0}

    def broken(*args, **kwargs):
        calls["autoassign"] += 1
        raise RuntimeError("boom")

    def counting(*args, **kwargs):
        calls["reminders"] += 1
        return 0

    monkeypatch.setattr(autoassign, "run", broken)
    monkeypatch.setattr(reminders, "run", counting)
    settings = make_settings(assign_every=0.05, remind_every=0.5, escalate_every=0.05,
                             deliver_every=0.05)  # fmt: skip
    loop = JobLoop(store, settings, clock, sleep=no_sleep)
    loop.start()
    try:
        wait_for(
            lambda: calls["autoassign"] >= 4 and calls["reminders"] >= 4,
            message="both jobs to run four times",
        )
        assert loop.running
    finally:
        assert loop.stop(timeout=30)
    failures = [r for r in caplog.records if "job autoassign failed" in r.getMessage()]
    assert len(failures) >= 4 and failures[0].exc_info is not None
    assert not loop.running


def test_stop_cuts_the_pacing_wait_short(store, clock, slack):
    """Pacing at one message an hour: after the first post the loop thread sits in a wait of an
    hour, and stop() still ends the thread (within the 30 s that only bound a hang), with the
    rest left pending for the next start."""
    settings = make_settings(slack, slack_min_interval=3600.0, deliver_every=0.05)
    queue(store, clock, "one", "two", "three")
    loop = JobLoop(store, settings, clock)
    loop.start()
    try:
        assert slack.take(1, timeout=30) == ["one"]
        wait_for(lambda: outbox_rows(store)[0]["status"] == "sent", message="'one' marked sent")
        assert loop.running  # waiting out the hour before "two"
    finally:
        assert loop.stop(timeout=30), "stop() waited for the pacing instead of cutting it short"
    assert not loop.running
    assert [r["status"] for r in outbox_rows(store)] == ["sent", "pending", "pending"]


def test_stop_does_not_wait_for_a_hanging_slack(store, clock, slack):
    """Slack holds the post for ten minutes (the client would wait as long): stop() abandons it
    and ends the thread within the 30 s that only bound a hang."""
    settings = make_settings(slack, slack_timeout=600.0, deliver_every=0.05)
    queue(store, clock, "one", "two")
    slack.hang(600.0)  # until release()
    loop = JobLoop(store, settings, clock)
    loop.start()
    try:
        wait_for(lambda: slack.received, message="the post of 'one' to reach Slack")
    finally:
        ended = loop.stop(timeout=30)
    assert ended, "stop() waited for Slack's answer instead of abandoning the post"
    one, two = outbox_rows(store)
    assert one["status"] == "pending" and one["claimed_at"] is not None
    assert two["status"] == "pending" and two["claimed_at"] is None
    slack.release()  # Slack took it after all (the documented duplicate case)...

    # ...and after a restart both are posted: nothing lost, "one" possibly twice. (On
    # PostgreSQL, where another daemon could be posting it, once its claim's lease is over; the
    # claim is stamped when it was made, a moment into the run.)
    clock.advance(seconds=settings.delivery_lease + 60)
    assert Delivery(store, clock, slack)()["sent"] == 2
    assert slack.take(2) == ["one", "two"]
    assert [r.text for r in slack.received] == ["one", "one", "two"]


def test_a_sender_that_raises_does_not_lose_the_message(store, clock, caplog):
    class Broken:
        def send(self, text):
            raise ValueError("bug")

    queue(store, clock, "one")
    counts = delivery.run(store, clock.now(), Broken(), make_settings(), no_sleep)
    assert counts["retry"] == 1
    row = outbox_rows(store)[0]
    assert row["status"] == "pending" and row["last_error"] == "sender raised ValueError"

    class Fine:
        def send(self, text):
            return SendResult.success()

    clock.advance(seconds=2)
    assert delivery.run(store, clock.now(), Fine(), make_settings(), no_sleep)["sent"] == 1


def test_jobs_can_run_concurrently_with_run_once(store, clock, slack):
    """run_once from another thread while the loop runs: jobs never overlap, nothing twice."""
    settings = make_settings(slack, deliver_every=0.05, assign_every=0.05)
    queue(store, clock, *[f"m{i}" for i in range(6)])
    loop = JobLoop(store, settings, clock, sleep=no_sleep)
    loop.start()
    threads = [threading.Thread(target=loop.run_once) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert slack.take(6, timeout=5) == [f"m{i}" for i in range(6)]
    loop.stop()


def test_retry_after_counts_from_when_the_answer_arrived(store, clock, slack):
    """Issue 22: Slack said "Retry-After: 2" half a second into the run; the webhook's messages
    wait until 2 s after that answer, not 2 s after the run began."""

    class SlowAnswer:  # the post takes half a second (on the run's clock)
        def __init__(self):
            self.webhook = SlackWebhook(slack.url, SECRET_TIMEOUT)

        def send(self, text):
            clock.advance(seconds=0.5)
            return self.webhook.send(text)

    queue(store, clock, "one", "two")
    slack.reply(429, "rate_limited", retry_after=2)
    began = clock.now()
    counts = delivery.run(store, began, SlowAnswer(), make_settings(slack), no_sleep,
                          clock=clock.now)  # fmt: skip
    assert counts["retry"] == 1
    answered = began + timedelta(seconds=0.5)
    assert outbox_rows(store)[0]["next_attempt_at"] == answered + timedelta(seconds=2)


def test_an_escalation_counts_minutes_from_the_trigger_not_the_last_repeat(store, clock, slack):
    """Issue 22: the same alert again at minute 14 must not make the step at minute 15 say
    "not acknowledged for 1 minute"; and the job looks every 5 s, so a step fires on time."""
    ana, ben = people(store, clock)
    on_call(store, ana, clock)
    on_call(store, ben, clock, layer=SECONDARY)
    incident, _ = incidents.trigger(store, "Disk full", clock.now(), dedup_key="disk")
    clock.advance(minutes=14)
    incidents.trigger(store, "Disk full", clock.now(), dedup_key="disk")  # a repeat
    clock.advance(minutes=1)
    loop = JobLoop(store, make_settings(slack), clock, sleep=no_sleep)
    assert loop.run_once()["escalation"] == 1
    [escalated] = [t for t in slack.accepted() if "has not been acknowledged" in t]
    assert f"Incident #{incident.id} has not been acknowledged for 15 minutes" in escalated
    assert dict((name, every) for name, every, _ in loop.jobs)["escalation"] <= 5
    slack.take(len(slack.accepted()))
    loop.stop()


def test_a_channel_message_links_its_incident_where_the_console_address_is_known(
    store, clock, slack
):
    """Issue 21: teams whose channel is an incoming webhook act from a link to the incident
    (buttons need a Slack app); only where ONCALL_PUBLIC_URL says where the console is."""
    from oncall_opt.engine.settings import load_settings

    assert load_settings({"ONCALL_PUBLIC_URL": "https://oncall.example.com/"}).channel_links
    assert load_settings({}).channel_links is False
    incident, _ = incidents.trigger(store, "Disk full", clock.now())
    deliver = Delivery(store, clock, slack, public_url="https://oncall.example.com/",
                       channel_links=True)  # fmt: skip
    deliver()
    [text] = slack.take(1)
    assert text == (
        f"Incident #{incident.id} created and unassigned\nDisk full\n"
        f"<https://oncall.example.com/incidents?incident={incident.id}|Open incident "
        f"#{incident.id}>"
    )


# ----- storms: priority, and pacing per channel ----------------------------------------------
class Recording:
    """A sender that answers ok and notes what it was given, in one list shared by several."""

    def __init__(self, name: str, events: list):
        self.name, self.events = name, events

    def send(self, text: str) -> SendResult:
        self.events.append((self.name, text))
        return SendResult.success()


def test_a_new_incidents_first_message_goes_before_chatter(store, clock):
    events: list = []
    queue(store, clock, "chatter 1", "chatter 2")
    store.write(lambda tx: outbox.enqueue(tx, "created", "Incident #9 created", clock.now()))
    store.write(lambda tx: outbox.enqueue(tx, "unreachable", "Could not reach Ana", clock.now()))
    sent = delivery.run(store, clock.now(), Recording("global", events), make_settings(),
                        sleep=no_sleep)  # fmt: skip
    assert sent["sent"] == 4
    assert [text for _, text in events] == [
        "Incident #9 created", "Could not reach Ana", "chatter 1", "chatter 2",
    ]  # fmt: skip


def test_a_busy_channel_does_not_hold_another(store, clock):
    """Pacing is per channel: while the global channel waits its second between posts, a
    message to a team's own channel goes out."""
    events: list = []
    url = "https://hooks.slack.com/services/T0/B0/shop"
    shop = create_team(store, "Shop", clock.now(), slack_webhook_url=url, allow_private=True)
    queue(store, clock, "m1", "m2", "m3")
    store.write(lambda tx: outbox.enqueue(tx, "test", "shop 1", clock.now(), team_id=shop.id))
    state = JobState(team_senders={url: Recording("shop", events)})
    delivery.run(
        store, clock.now(), Recording("global", events), make_settings(slack_min_interval=1.0),
        sleep=lambda s: events.append(("sleep", round(s))), state=state,
    )  # fmt: skip
    assert events == [
        ("global", "m1"), ("shop", "shop 1"), ("sleep", 1), ("global", "m2"), ("sleep", 1),
        ("global", "m3"),
    ]  # fmt: skip
