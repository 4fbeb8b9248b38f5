"""Pages survive a kill -9: runner.py in a subprocess pages a person through a webhook contact
method (a slow receiver on 127.0.0.1) for 30 incidents, is killed with SIGKILL while pages are
due, and restarted on the same database: every page arrives, and no more than the one in
flight at the kill arrives twice (the documented bound: at least once, a send interrupted
between the provider taking it and the daemon recording it is repeated)."""

from __future__ import annotations

import re
import signal
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
from fake_receiver import Receiver
from test_daemon import Daemon, iso
from testkit import wait_for

INCIDENTS = 30


def incidents_paged(receiver: Receiver) -> Counter:
    """How many pages each incident's number got."""
    return Counter(int(re.search(r"#(\d+):", s).group(1)) for s in receiver.subjects())


def test_every_due_page_is_sent_after_a_kill_9_and_at_most_one_twice(tmp_path):
    receiver = Receiver(delay=0.05)  # slow: pages are still due when the daemon dies
    env = {"ONCALL_ALLOW_PRIVATE_WEBHOOKS": "true"}
    daemon = Daemon(tmp_path, None, **env).wait_ready()
    try:
        ana = httpx.post(f"{daemon.url}/users", json={"FirstName": "Ana", "LastName": "Silva",
                                                      "SlackHandle": "ana"}).json()  # fmt: skip
        now = datetime.now(UTC)
        shift = {"Start": iso(now - timedelta(hours=1)), "End": iso(now + timedelta(days=1))}
        assert httpx.post(f"{daemon.url}/users/{ana['Id']}/schedules", json=shift).is_success
        hook = {"Type": "webhook", "Address": f"{receiver.url}/hook"}
        method = httpx.post(f"{daemon.url}/users/{ana['Id']}/contact-methods", json=hook)
        assert method.status_code == 201 and method.json()["Verified"], method.text
        for n in range(INCIDENTS):
            made = httpx.post(f"{daemon.url}/incidents", json={"Body": f"disk {n} full"})
            assert made.status_code == 200, made.text
        wait_for(lambda: sum(incidents_paged(receiver).values()) >= 3, 30, "the first pages")
        daemon.process.send_signal(signal.SIGKILL)
        daemon.process.wait(timeout=30)
        before = incidents_paged(receiver)
        assert sum(before.values()) < INCIDENTS, "every page went before the kill: nothing tested"
    finally:
        daemon.kill()

    again = Daemon(tmp_path, None, port=daemon.port, **env).wait_ready()
    try:
        everyone = set(range(1, INCIDENTS + 1))
        wait_for(lambda: set(incidents_paged(receiver)) == everyone, 60, "every incident's page")
        items = httpx.get(f"{again.url}/incidents/{INCIDENTS}/notifications").json()["Items"]
        assert [n["Status"] for n in items] == ["sent"]
        wait_for(
            lambda: all(
                n["Status"] == "sent"
                for i in everyone
                for n in httpx.get(f"{again.url}/incidents/{i}/notifications").json()["Items"]
            ),
            30,
            "every notification recorded as sent",
        )
        got = incidents_paged(receiver)
        twice = sum(count - 1 for count in got.values())
        assert twice <= 1, got
        assert again.stop(signal.SIGTERM) == 0
    finally:
        again.kill()
        receiver.close()
    assert "Traceback" not in daemon.log() + again.log()
