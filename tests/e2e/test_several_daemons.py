"""Chaos: three runner.py daemons on one PostgreSQL, a fake Slack on 127.0.0.1, 1,000 triggers
from concurrent clients spread over the daemons while reminders and escalations fall due, and a
random daemon killed with SIGKILL every few seconds (restarted on its port at once; the next
kill comes a few seconds after the replacement serves).

Afterwards: every trigger answered 2xx is stored, each dedup key's trigger counts lie between
the 2xx answers and the attempts (a request cut off by a kill may or may not have committed),
no reminder or escalation step was sent twice because two daemons saw it due, every outbox
message reached Slack, and Slack got at most one extra post per kill (the documented bound: a
daemon killed after Slack accepted a message and before it was marked sent)."""

from __future__ import annotations

import contextlib
import itertools
import json
import random
import signal
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row
from test_daemon import Daemon, iso
from testkit import wait_for

DAEMONS = 3
TRIGGERS = 1000
KEYS = [f"disk-full-{n}" for n in range(8)]
CLIENTS = 16  # requests in flight
KILL_EVERY = 3.0  # seconds
KILLS_AT_LEAST = 5
REMIND_EVERY = 2.0  # seconds
CHAOS = {
    "ONCALL_REMIND_EVERY": str(REMIND_EVERY),
    "ONCALL_DELIVERY_LEASE": "3",
    "ONCALL_SLACK_TIMEOUT": "2",
    "ONCALL_SLACK_MIN_INTERVAL": "0.01",
}

pytestmark = pytest.mark.xdist_group("several-daemons")


class Fleet:
    """The daemons, each always on the same port; `kill_one` is kill -9 and a restart."""

    def __init__(self, tmp_path, slack, url: str):
        self.tmp_path, self.slack, self.url = tmp_path, slack, url
        self.daemons = [self._start() for _ in range(DAEMONS)]
        self.kills = 0

    def _start(self, port: int | None = None) -> Daemon:
        return Daemon(self.tmp_path, self.slack, port=port, ONCALL_DB=self.url, **CHAOS)

    def wait_ready(self) -> None:
        for daemon in self.daemons:
            daemon.wait_ready(timeout=60)

    def kill_one(self, rng: random.Random) -> Daemon:
        """Kill -9 a random daemon and start its replacement; returns the replacement."""
        index = rng.randrange(DAEMONS)
        victim = self.daemons[index]
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait()
        victim.kill()  # closes its log
        self.kills += 1
        self.daemons[index] = self._start(victim.port)
        return self.daemons[index]

    def logs(self) -> str:
        return "".join(path.read_text() for path in sorted(self.tmp_path.glob("daemon-*.log")))

    def close(self) -> None:
        for daemon in self.daemons:
            daemon.kill()


def ok(response: httpx.Response, status: int = 200) -> dict:
    assert response.status_code == status, response.text
    return response.json()


def test_three_daemons_lose_nothing_when_killed(tmp_path, pg_cluster, slack):
    database = pg_cluster.database()
    fleet = Fleet(tmp_path, slack, database)  # three migrate one empty database at once
    try:
        fleet.wait_ready()
        first, second, _ = (d.url for d in fleet.daemons)
        alice = ok(
            httpx.post(
                f"{first}/users", json={"FirstName": "Alice", "LastName": "A", "SlackHandle": "al"}
            )
        )
        bob = ok(
            httpx.post(
                f"{second}/users", json={"FirstName": "Bob", "LastName": "B", "SlackHandle": "bob"}
            )
        )
        now = datetime.now(UTC).replace(microsecond=0)

        # The same overlapping shift sent to two daemons at the same instant: exactly one wins.
        for round_ in range(5):
            start = now + timedelta(days=2 + round_)
            shift = {"Start": iso(start), "End": iso(start + timedelta(hours=8))}
            barrier = threading.Barrier(2)

            def accept(url, shift=shift, barrier=barrier):
                barrier.wait()
                return httpx.post(f"{url}/users/{alice['Id']}/schedules", json=shift).status_code

            with ThreadPoolExecutor(2) as pool:
                statuses = sorted(pool.map(accept, [first, second]))
            assert statuses == [200, 409], f"round {round_}: {statuses}"

        day = {"Start": iso(now - timedelta(hours=1)), "End": iso(now + timedelta(hours=6))}
        ok(httpx.post(f"{first}/users/{alice['Id']}/schedules", json={**day, "Layer": 1}))
        ok(httpx.post(f"{first}/users/{bob['Id']}/schedules", json={**day, "Layer": 2}))
        layer = {"Type": "layer", "TeamId": 1}
        policy = ok(
            httpx.post(
                f"{first}/escalation-policies",
                json={
                    "Name": "Disks",
                    "Steps": [
                        {"DelayMinutes": 0, "Targets": [{**layer, "Layer": 1}]},
                        {"DelayMinutes": 0, "Targets": [{**layer, "Layer": 2}]},
                    ],
                },
            ),
            201,
        )
        service = ok(
            httpx.post(
                f"{first}/services",
                json={"Name": "storage", "TeamId": 1, "EscalationPolicyId": policy["Id"]},
            ),
            201,
        )
        # This test is about the daemons, not the integration key's rate limit (issue 22).
        limit = {"EventsPerMinute": 100_000}
        ok(httpx.put(f"{first}/services/{service['Id']}", json=limit), 200)

        lock = threading.Lock()
        attempts: Counter[str] = Counter()
        answered: Counter[str] = Counter()
        stored_ids: dict[int, str] = {}  # POST /incidents answers: id -> dedup key
        rng = random.Random(12)
        plan = [(n, rng.choice(KEYS)) for n in range(TRIGGERS)]

        def send(url: str, n: int, key: str) -> httpx.Response:
            if n % 2:
                return httpx.post(
                    f"{url}/incidents",
                    json={"Body": f"disk full ({key})", "DedupKey": key,
                          "ServiceId": service["Id"]},
                    timeout=30,
                )  # fmt: skip
            return httpx.post(
                f"{url}/v2/enqueue",
                json={
                    "routing_key": service["IntegrationKey"],
                    "event_action": "trigger",
                    "dedup_key": key,
                    "payload": {"summary": f"disk full ({key})", "source": "db-1",
                                "severity": "critical"},
                },
                timeout=30,
            )  # fmt: skip

        def trigger(item: tuple[int, str]) -> None:
            """Like a round-robin balancer: a daemon that refuses the connection (killed, not
            up again yet) got nothing, so the next one is tried; one killed while the request
            was in flight may or may not have stored it, so that trigger is not sent again."""
            n, key = item
            with lock:
                attempts[key] += 1
            for turn in range(200):  # bounds a hang only
                try:
                    response = send(fleet.daemons[(n + turn) % DAEMONS].url, n, key)
                    break
                except httpx.ConnectError:
                    time.sleep(0.05)
                except httpx.TransportError:
                    return
            else:
                raise AssertionError("no daemon took connections for 10 s")
            assert response.status_code < 500, response.text
            if response.is_success:
                with lock:
                    answered[key] += 1
                    if n % 2:
                        stored_ids[response.json()["Id"]] = key

        finished = threading.Event()

        def resolve_now_and_then() -> None:
            """PagerDuty-style resolves by dedup key, so keys open new incidents (new
            'created' pages and escalations) throughout."""
            chooser = random.Random(7)
            while not finished.wait(0.5):
                url = chooser.choice(fleet.daemons).url
                event = {
                    "routing_key": service["IntegrationKey"],
                    "event_action": "resolve",
                    "dedup_key": chooser.choice(KEYS),
                }
                with contextlib.suppress(httpx.TransportError):
                    assert httpx.post(f"{url}/v2/enqueue", json=event, timeout=30).status_code < 500

        resolver = threading.Thread(target=resolve_now_and_then, daemon=True)
        resolver.start()
        with ThreadPoolExecutor(CLIENTS) as clients:
            pending = clients.map(trigger, plan)
            killer = random.Random(3)
            deadline = time.monotonic() + 600  # bounds a hang only
            done = threading.Event()

            def drain() -> None:
                list(pending)  # re-raises a client's failed assertion
                done.set()

            drainer = threading.Thread(target=drain, daemon=True)
            drainer.start()
            while (not done.is_set() or fleet.kills < KILLS_AT_LEAST) and (
                time.monotonic() < deadline
            ):
                done.wait(KILL_EVERY)
                # The next kill waits until the replacement serves: on a slow machine a start
                # can take longer than KILL_EVERY, and killing daemons still starting would
                # leave none serving (the clients then starve until the deadline).
                fleet.kill_one(killer).wait_ready(timeout=60)
            drainer.join()
        finished.set()
        resolver.join()
        assert done.is_set() and fleet.kills >= KILLS_AT_LEAST
        fleet.wait_ready()

        # Settle: everything acknowledged (no more reminders or escalations), then every
        # message still to go is delivered by the daemons left.
        ok(httpx.post(f"{first}/incidents/acknowledge_all"))
        with psycopg.connect(database, row_factory=dict_row, autocommit=True) as db:
            wait_for(
                lambda: db.execute(
                    "SELECT count(*) AS n FROM outbox WHERE status = 'pending'"
                ).fetchone()["n"] == 0,
                120,
                "every outbox message delivered",
            )  # fmt: skip
            incidents = db.execute(
                "SELECT id, dedup_key, trigger_count, status FROM incidents WHERE service_id = %s",
                [service["Id"]],
            ).fetchall()
            messages = db.execute(
                "SELECT id, kind, status, text, incident_ids, created_at FROM outbox ORDER BY id"
            ).fetchall()
            escalations = db.execute(
                "SELECT incident_id, count(*) AS n FROM incident_log WHERE kind = 'escalated' "
                "GROUP BY incident_id"
            ).fetchall()
    finally:
        fleet.close()
    logs = fleet.logs()

    # Every trigger answered 2xx is stored; the counts are exact within what was in flight.
    by_id = {row["id"]: row for row in incidents}
    for incident_id, key in stored_ids.items():
        assert by_id[incident_id]["dedup_key"] == key
    counted = Counter()
    for row in incidents:
        counted[row["dedup_key"]] += row["trigger_count"]
    for key in KEYS:
        assert answered[key] <= counted[key] <= attempts[key], (
            key, answered[key], counted[key], attempts[key]
        )  # fmt: skip
    assert sum(answered.values()) >= TRIGGERS * 0.9, "a balancer gets nearly every trigger in"
    assert len(incidents) > len(KEYS), "resolves should have opened new incidents"

    # No escalation step or reminder sent twice because two daemons saw it due: the policy
    # pages step 2 once per incident, and an incident's reminders are REMIND_EVERY apart.
    assert escalations and max(row["n"] for row in escalations) == 1
    reminded: dict[int, list[datetime]] = {}
    for message in messages:
        if message["kind"] == "reminder":
            for incident_id in json.loads(message["incident_ids"]):
                reminded.setdefault(incident_id, []).append(message["created_at"])
    assert reminded, "reminders should have fallen due during the run"
    for incident_id, times in reminded.items():
        gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
        assert all(gap >= timedelta(seconds=REMIND_EVERY) for gap in gaps), (incident_id, times)

    # Every message reached Slack; extra posts are at most one per kill.
    statuses = Counter(message["status"] for message in messages)
    assert set(statuses) <= {"sent", "skipped"}, statuses
    posted = Counter(slack.take(len(slack.accepted())))
    sent = Counter(message["text"] for message in messages if message["status"] == "sent")
    assert not sent - posted, "messages marked sent that Slack never got"
    extra = posted - sent
    assert sum(extra.values()) <= fleet.kills, (fleet.kills, extra)
    assert "Traceback" not in logs, logs[-5000:]
