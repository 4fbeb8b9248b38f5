"""Storms cannot bury a page: 5,000 Events API events at once on one service, from several
clients, against the daemon served on 127.0.0.1. Every event is answered 202 or 429 (none 5xx,
none of the 202s lost); the team's channel gets the first few new incidents on their own and
then one bundled summary a minute for the service, so its posts are bounded by minutes, not by
events; and an incident opened on another service meanwhile has its first message delivered
before the storm's backlog (order, not time)."""

from __future__ import annotations

import json
import threading
from collections import Counter

import httpx
import pytest
from fake_receiver import Receiver
from live_server import serve
from pydantic import SecretStr

from oncall_opt.api import create_app
from oncall_opt.engine import outbox
from oncall_opt.engine.jobs import JobState, delivery
from oncall_opt.engine.settings import Settings
from oncall_opt.engine.slack import SlackWebhook

EVENTS, CLIENTS, LIMIT = 5_000, 8, 1_000


@pytest.fixture
def channel():
    receiver = Receiver()
    yield receiver
    receiver.close()


def trigger(key: str, dedup: str, summary: str) -> dict:
    return {"routing_key": key, "event_action": "trigger", "dedup_key": dedup,
            "payload": {"summary": summary, "source": "web", "severity": "critical"}}  # fmt: skip


def storm(
    url: str, key: str, first: int, answers: Counter, lock: threading.Lock, wave: int = 1
) -> None:
    """One client's share of the storm, sent as fast as it goes (a slice of the numbers)."""
    with httpx.Client(base_url=url, timeout=60) as client:
        for n in range(first, EVENTS, CLIENTS):
            summary = f"disk full on db-{n % 7} <!channel>"
            sent = client.post("/v2/enqueue", json=trigger(key, f"storm-{wave}-{n}", summary))
            with lock:
                answers[sent.status_code] += 1
                if sent.status_code == 202:
                    answers[f"key:{sent.json()['dedup_key']}"] += 1


def deliver_all(store, settings: Settings, clock) -> None:
    """Run the delivery job until nothing due is left."""
    state, sender = JobState(), SlackWebhook(settings.slack_webhook_url)
    while delivery.run(store, clock.now(), sender, settings, sleep=lambda s: None, state=state,
                       limit=1_000)["sent"]:  # fmt: skip
        pass


def test_a_storm_is_throttled_bundled_and_cannot_bury_a_new_incident(store, clock, channel):
    settings = Settings(slack_webhook_url=SecretStr(channel.url), slack_min_interval=0)
    app = create_app(store, settings, clock, run_jobs=False)
    answers: Counter = Counter()
    lock = threading.Lock()
    with serve(app) as url, httpx.Client(base_url=url) as api:
        team = api.post("/teams", json={"Name": "Shop"}).json()
        payments = api.post("/services", json={"Name": "payments", "TeamId": team["Id"]}).json()
        search = api.post("/services", json={"Name": "search", "TeamId": team["Id"]}).json()
        api.put(f"/services/{payments['Id']}", json={"EventsPerMinute": LIMIT})
        clients = [
            threading.Thread(target=storm, args=(url, payments["IntegrationKey"], c, answers, lock))
            for c in range(CLIENTS)
        ]
        for client in clients:
            client.start()
        for client in clients:
            client.join()
        quiet = api.post("/v2/enqueue", json=trigger(search["IntegrationKey"], "s1", "search down"))
        assert quiet.status_code == 202

        # Every event answered 202 or 429; each 202 is an incident on the service.
        assert set(k for k in answers if isinstance(k, int)) <= {202, 429}
        assert answers[202] + answers[429] == EVENTS
        assert answers[202] == LIMIT  # the service's rate limit, at one instant
        opened = store.rows(
            "SELECT dedup_key FROM incidents WHERE service_id = ?", [payments["Id"]]
        )
        accepted = {k.removeprefix("key:") for k in answers if isinstance(k, str)}
        assert {row["dedup_key"] for row in opened} == accepted and len(accepted) == LIMIT

    deliver_all(store, settings, clock)
    posts = [body["text"] for body in channel.bodies()]
    about_payments = [t for t in posts if "disk full" in t or t.startswith("payments:")]
    assert len(about_payments) == outbox.STORM_ABOVE + 1  # the first few alone, then one bundle
    [bundle] = [t for t in posts if t.startswith("payments:")]
    assert f"payments: {LIMIT - outbox.STORM_ABOVE} new incidents since" in bundle
    assert "&lt;!channel&gt;" in bundle and "<!channel>" not in bundle  # data stays text
    [search_post] = [i for i, t in enumerate(posts) if "search down" in t]
    assert search_post < posts.index(bundle)  # the new incident went before the storm's backlog

    # The storm goes on a minute later: one more bundle, not one post per alert.
    clock.advance(minutes=1)
    with serve(app) as url:
        more: Counter = Counter()
        storm(url, payments["IntegrationKey"], 0, more, lock, wave=2)  # 625 events, one client
    assert more[202] == 625
    deliver_all(store, settings, clock)
    later = [body["text"] for body in channel.bodies()][len(posts) :]
    assert len(later) == outbox.STORM_ABOVE + 1
    bundled = [
        incident_id
        for row in store.rows("SELECT incident_ids FROM outbox WHERE kind IN ('created', 'storm')")
        for incident_id in json.loads(row["incident_ids"])
    ]
    assert len(bundled) == len(set(bundled)) == LIMIT + 625 + 1  # every new incident told once
