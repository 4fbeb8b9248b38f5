"""Two stores on one PostgreSQL database are two daemons: the database decides when they race.
Overlapping shifts accepted at the same instant (exactly one wins), triggers of one dedup key at
the same instant (one incident, every trigger counted), a solve job whose daemon died picked up
by the other, and an outbox message posted by one daemon at a time."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from testkit import team, wait_for

from oncall_opt.engine import incidents, outbox
from oncall_opt.engine.jobs import JobState, delivery
from oncall_opt.engine.settings import Settings
from oncall_opt.engine.shifts import create_schedule
from oncall_opt.engine.solvejobs import DONE, RUNNING, SolveJobs
from oncall_opt.engine.store import Store
from oncall_opt.engine.users import create_user
from oncall_opt.errors import ConflictError

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
def two(pg_cluster):
    url = pg_cluster.database()
    first, second = Store(url), Store(url)
    yield first, second
    first.close()
    second.close()


def at_once(*calls):
    """Run the calls in threads released together; each one's result or exception."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(i, call):
        barrier.wait()
        try:
            results[i] = call()
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_overlapping_shifts_from_two_daemons_at_once_exactly_one_wins(two):
    first, second = two
    ana = create_user(first, "Ana", "S", "ana", NOW)
    ben = create_user(first, "Ben", "O", "ben", NOW)
    for round_ in range(10):
        start = NOW + timedelta(days=round_)
        results = at_once(
            lambda s=start: create_schedule(first, ana.id, s, s + timedelta(hours=20)),
            lambda s=start: create_schedule(
                second, ben.id, s + timedelta(hours=2), s + timedelta(hours=22)
            ),
        )
        refused = [r for r in results if isinstance(r, ConflictError)]
        assert len(refused) == 1, results
        assert "one person is on call at a time" in str(refused[0])
    rows = first.rows("SELECT count(*) AS n FROM schedules")
    assert rows[0]["n"] == 10


def test_one_dedup_key_from_two_daemons_at_once_is_one_incident(two):
    first, second = two
    for round_ in range(10):
        key = f"disk-{round_}"
        results = at_once(
            lambda k=key: incidents.trigger(first, "disk full", NOW, dedup_key=k),
            lambda k=key: incidents.trigger(second, "disk full", NOW, dedup_key=k),
        )
        assert not [r for r in results if isinstance(r, Exception)], results
        assert sorted(created for _, created in results) == [False, True]
        rows = first.rows("SELECT trigger_count FROM incidents WHERE dedup_key = ?", [key])
        assert rows == [{"trigger_count": 2}]


def test_a_solve_whose_daemon_died_is_picked_up_by_another(two):
    import oncall_opt as oo

    first, second = two
    now = [NOW]
    gone = SolveJobs(first, now=lambda: now[0], lease=5, poll=3600)  # submits, never runs
    gone._start_worker = lambda: None  # its workers are never started: it "dies" at once
    job = gone.submit(oo.load_problem(team()), time_limit=60)
    # It had claimed the job and then died: running, with a heartbeat that stops.
    first.write(
        lambda tx: tx.execute(
            "UPDATE solve_jobs SET status = ?, claimed_by = ?, heartbeat_at = ? WHERE id = ?",
            [RUNNING, gone.daemon_id, NOW, job.id],
        )
    )
    other = SolveJobs(second, now=lambda: now[0], lease=5, poll=0.05)
    try:
        assert other.get(job.id).status == RUNNING  # the lease is not over: left alone
        now[0] = NOW + timedelta(seconds=6)
        done = wait_for(
            lambda: (j := other.get(job.id)).status == DONE and j,
            120,
            "the other daemon to run the abandoned solve",
        )
        assert done.output["overrides"]
    finally:
        other.shutdown(timeout=30)
        gone.shutdown(timeout=1)


def test_two_daemons_never_post_the_same_message(two, slack):
    from oncall_opt.engine.slack import SlackWebhook

    first = two[0]
    texts = [f"message {i}" for i in range(30)]
    first.write(lambda tx: outbox.enqueue_many(tx, "test", [(t, []) for t in texts], NOW))
    settings = Settings(slack_min_interval=0)
    senders = [SlackWebhook(slack.url, 5.0), SlackWebhook(slack.url, 5.0)]
    at_once(
        *[
            (
                lambda s=store, w=webhook: delivery.run(
                    s, NOW, w, settings, state=JobState(), limit=30
                )
            )
            for store, webhook in zip(two, senders, strict=True)
        ]
    )
    for webhook in senders:
        webhook.close()
    posted = slack.take(30)
    assert sorted(posted) == sorted(texts)  # each once
    assert {r["status"] for r in first.rows("SELECT status FROM outbox")} == {"sent"}
