"""A page never waits behind the team channel: the job loop's notify thread wakes when a
transaction that queued a page commits, while the delivery job is busy pacing a backlog of
Slack messages (here: one post an hour, so the backlog would hold anything behind it), and
with the notify job's own turn an hour away."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fake_receiver import Receiver
from testkit import wait_for

from oncall_opt.engine import incidents, outbox
from oncall_opt.engine.jobs.loop import JobLoop
from oncall_opt.engine.paging import methods
from oncall_opt.engine.settings import Settings
from oncall_opt.engine.shifts import create_schedule
from oncall_opt.engine.users import create_user


def test_a_page_goes_at_once_while_the_channel_backlog_is_paced(store, slack):
    catcher = Receiver()
    settings = Settings(
        slack_webhook_url=slack.url, slack_min_interval=3600.0, deliver_every=3600.0,
        allow_private_webhooks=True,
    )  # fmt: skip
    now = datetime.now(UTC)
    ana = create_user(store, "Ana", "Silva", "ana", now)
    create_schedule(store, ana.id, now - timedelta(hours=1), now + timedelta(hours=2))
    methods.create(store, ana.id, "webhook", f"{catcher.url}/hook", "", now, settings)
    store.write(lambda tx: [outbox.enqueue(tx, "test", f"backlog {n}", now) for n in range(50)])
    loop = JobLoop(store, settings)
    try:
        loop.start()
        wait_for(lambda: slack.accepted(), 30, "the first channel message")  # then it paces
        incident, _ = incidents.trigger(store, "checkout down", datetime.now(UTC))
        wait_for(
            lambda: any(f"#{incident.id}:" in s for s in catcher.subjects()),
            30, "the page, long before the backlog or the notify job's next turn",
        )  # fmt: skip
        assert len(slack.accepted()) < 50, "the backlog was not in the way: nothing tested"
    finally:
        assert loop.stop()
        catcher.close()
    slack.take(len(slack.accepted()))
