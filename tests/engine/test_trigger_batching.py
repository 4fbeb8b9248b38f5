"""Group commit of incident triggers: `incidents.trigger_batch` and the app's `TriggerBatcher`.

A batch must leave the database, and answer each trigger, exactly as triggering one by one in
arrival order would; a trigger that cannot be stored fails alone, and every other one of its
batch is stored and answered as if it came alone; the batcher's thread ends with the app."""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fake_clock import FakeClock
from fastapi.testclient import TestClient
from live_server import serve
from testkit import wait_for

from oncall_opt.api import create_app
from oncall_opt.api.routes.incidents import batcher_of
from oncall_opt.engine import batching, incidents, outbox
from oncall_opt.engine.batching import BatcherStopped, TriggerBatcher
from oncall_opt.engine.incidents import Trigger
from oncall_opt.engine.settings import Settings
from oncall_opt.engine.shifts import SECONDARY, create_schedule
from oncall_opt.engine.store import Store
from oncall_opt.engine.users import create_user

LOCAL = "http://127.0.0.1"  # the daemon answers loopback names without a token

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def team(store: Store) -> None:
    """Katy on call (primary), Bob secondary, an open 'disk' incident counted twice already
    and acknowledged by Bob, a resolved 'cpu' one, an unkeyed one."""
    katy = create_user(store, "Katy", "Smith", "katy", NOW)
    bob = create_user(store, "Bob", "Jones", "bob", NOW)
    create_schedule(store, katy.id, NOW - timedelta(hours=1), NOW + timedelta(hours=8))
    create_schedule(store, bob.id, NOW - timedelta(hours=1), NOW + timedelta(hours=8), SECONDARY)
    disk, _ = incidents.trigger(store, "Disk full", NOW - timedelta(minutes=30), "disk")
    incidents.trigger(store, "Disk full", NOW - timedelta(minutes=20), "disk")
    incidents.acknowledge(store, disk.id, NOW - timedelta(minutes=10), bob.id)
    cpu, _ = incidents.trigger(store, "CPU hot", NOW - timedelta(minutes=30), "cpu")
    incidents.resolve(store, cpu.id, NOW - timedelta(minutes=5))
    incidents.trigger(store, "Queue backlog", NOW - timedelta(minutes=30))


TRIGGERS = [
    Trigger("Disk full again", "disk"),  # counts against the open (acknowledged) one
    Trigger("CPU hot", "cpu"),  # resolved before: opens a new one
    Trigger("Checkout down"),
    Trigger("CPU hot", "cpu"),  # counts against the one just opened
    Trigger("Disk full", "disk"),
    Trigger("Checkout down"),  # no key: another incident, same body
    Trigger("Memory", "mem"),
    Trigger("CPU hot (3)", "cpu"),
    Trigger("Memory", "mem"),
]


def dump(store: Store) -> tuple[list, list]:
    return (
        store.rows(f"SELECT {incidents.COLUMNS} FROM incidents ORDER BY id"),
        store.rows("SELECT id, kind, text, incident_ids, created_at FROM outbox ORDER BY id"),
    )


@pytest.fixture
def reference(tmp_path):
    """The same team, triggered one by one."""
    store = Store(tmp_path / "one-by-one.duckdb")
    yield store
    store.close()


def test_a_batch_is_the_same_as_one_by_one(store, reference):
    team(store)
    team(reference)
    expected = [incidents.trigger(reference, t.body, NOW, t.dedup_key) for t in TRIGGERS]
    got = store.write(lambda tx: incidents.trigger_batch(tx, TRIGGERS, NOW))
    assert got == expected
    assert dump(store) == dump(reference)
    flags = [(i.dedup_key, i.trigger_count, created) for i, created in got]
    assert flags == [
        ("disk", 3, False), ("cpu", 1, True), (None, 1, True), ("cpu", 2, False),
        ("disk", 4, False), (None, 1, True), ("mem", 1, True), ("cpu", 3, False),
        ("mem", 2, False),
    ]  # fmt: skip
    disk = got[0][0]
    assert disk.acknowledged_by is not None and disk.acknowledged_by.first_name == "Bob"
    assert disk.assignee is not None and disk.assignee.first_name == "Katy"


def test_random_batches_match_one_by_one(store, reference):
    """Batches of every size cut out of one random sequence give what one by one gives."""
    team(store)
    team(reference)
    rng = random.Random(7)
    keys = ["disk", "cpu", "mem", None, None]
    sequence = [Trigger(f"alert {i}", rng.choice(keys)) for i in range(120)]
    expected = [incidents.trigger(reference, t.body, NOW, t.dedup_key) for t in sequence]
    got: list = []
    start = 0
    while start < len(sequence):
        size = rng.choice([1, 2, 3, 7, 16, 40])
        batch = sequence[start : start + size]
        got += store.write(lambda tx, batch=batch: incidents.trigger_batch(tx, batch, NOW))
        start += size
    assert got == expected
    assert dump(store) == dump(reference)


class GatedClock(FakeClock):
    """A FakeClock whose first `now()` waits until `open()`: the batcher's first batch is held
    while more triggers queue up behind it."""

    def __init__(self, start: datetime):
        super().__init__(start)
        self.gate = threading.Event()
        self.waiting = threading.Event()
        self._first = True

    def now(self) -> datetime:
        if self._first:
            self._first = False
            self.waiting.set()
            assert self.gate.wait(10)
        return super().now()


def held_batcher(store: Store) -> tuple[TriggerBatcher, GatedClock, Future]:
    """A batcher writing a first trigger held at the clock (a fresh 'held' incident)."""
    clock = GatedClock(NOW)
    batcher = TriggerBatcher(store, clock)
    first = batcher.submit(Trigger("held", None))
    assert clock.waiting.wait(10)
    return batcher, clock, first


def test_queued_triggers_are_written_as_one_batch_in_arrival_order(store, reference):
    team(store)
    team(reference)
    batcher, clock, first = held_batcher(store)
    try:
        futures = [batcher.submit(t) for t in TRIGGERS]
        clock.gate.set()
        got = [f.result(10) for f in futures]
    finally:
        assert batcher.stop()
    incidents.trigger(reference, "held", NOW)
    expected = [incidents.trigger(reference, t.body, NOW, t.dedup_key) for t in TRIGGERS]
    assert first.result()[1] is True
    assert batcher.batches == 2  # the held one, then all the others in one transaction
    assert got == expected
    assert dump(store) == dump(reference)


def test_a_fault_on_every_write_fails_every_waiter_and_writes_nothing(store, monkeypatch):
    team(store)
    before = dump(store)
    batcher, clock, first = held_batcher(store)
    attempts: list[int] = []
    real = batching.trigger_batch

    def broken(tx, triggers, now):
        real(tx, triggers, now)  # everything written by now: it must all roll back
        attempts.append(len(triggers))
        raise RuntimeError("disk unavailable")

    monkeypatch.setattr(batching, "trigger_batch", broken)
    try:
        futures = [batcher.submit(t) for t in TRIGGERS]
        clock.gate.set()
        for future in [first, *futures]:
            with pytest.raises(RuntimeError, match="disk unavailable"):
                future.result(10)
        # the held one; then the batch whole, then halves down to every trigger alone
        assert attempts[:2] == [1, len(TRIGGERS)] and attempts.count(1) == 1 + len(TRIGGERS)
        assert dump(store) == before
        monkeypatch.undo()
        incident, created = batcher.submit(Trigger("after", "after")).result(10)
        assert created and incident.dedup_key == "after"  # the writer carries on
    finally:
        assert batcher.stop()


POISON = "x\ud800y"  # a lone surrogate: the database cannot encode it


@pytest.mark.parametrize("bad_at", [(0,), (20,), (42,), (3, 17, 30)], ids=str)
def test_a_trigger_that_cannot_be_stored_fails_alone(store, reference, bad_at):
    """Good triggers queued in one batch with bad ones among them: each bad one gets its own
    error, every good one is stored and answered exactly as if the bad ones had never come."""
    team(store)
    team(reference)
    keys = ["disk", "cpu", None, "mem", None]
    good = [Trigger(f"alert {i}", keys[i % len(keys)]) for i in range(40)]
    sequence: list[tuple[Trigger, bool]] = [(t, True) for t in good]
    for position in bad_at:
        poisoned = Trigger(POISON, None) if position % 2 else Trigger("bad key", POISON)
        sequence.insert(position, (poisoned, False))
    batcher, clock, first = held_batcher(store)
    try:
        futures = [(batcher.submit(t), ok) for t, ok in sequence]
        clock.gate.set()
        first.result(10)
        answers = []
        for future, ok in futures:
            if ok:
                answers.append(future.result(10))
            else:
                with pytest.raises(Exception, match="surrogate"):
                    future.result(10)
    finally:
        assert batcher.stop()
    incidents.trigger(reference, "held", NOW)
    expected = [incidents.trigger(reference, t.body, NOW, t.dedup_key) for t in good]
    assert answers == expected
    assert dump(store) == dump(reference)


def test_stop_writes_what_is_queued_then_refuses(store):
    """stop() while a batch is being written and five triggers wait behind it: it refuses new
    triggers at once, and writes the five before the thread ends."""
    team(store)
    batcher, clock, first = held_batcher(store)
    futures = [batcher.submit(Trigger(f"queued {i}")) for i in range(5)]
    stopped: list[bool] = []
    stopping = threading.Thread(target=lambda: stopped.append(batcher.stop(timeout=30)))
    stopping.start()
    wait_for(lambda: batcher.stopped, message="stop() to take effect")
    with pytest.raises(BatcherStopped):
        batcher.submit(Trigger("late"))
    assert stopping.is_alive() and not any(f.done() for f in [first, *futures])  # still held
    clock.gate.set()
    stopping.join(30)
    assert stopped == [True] and not batcher.running
    assert all(f.result(0)[1] for f in [first, *futures])
    assert batcher.batches == 2  # the held one, then the five queued
    with pytest.raises(BatcherStopped):
        batcher.submit(Trigger("late"))
    assert batcher.stop()  # again: nothing to do


def test_a_batcher_never_used_stops_at_once(store):
    batcher = TriggerBatcher(store, FakeClock(NOW))
    assert not batcher.running and batcher.stop() and batcher.stopped


def writer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "oncall-triggers"]


@pytest.fixture
def app(store):
    team(store)
    return create_app(store, Settings(), FakeClock(NOW), run_jobs=False)


def test_many_concurrent_triggers_over_http(app, store):
    """16 threads, 600 triggers over 4 keys and none: one open incident per key with the exact
    count, each count answered once, 'Created' once per key and for every unkeyed trigger."""
    keys = ["disk", "cpu", "k1", "k2", None]
    answers: list[dict] = []
    errors: list[str] = []

    def fire(worker: int, url: str) -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            for i in range(worker, 600, 16):
                key = keys[i % len(keys)]
                r = http.post("/incidents", json={"Body": f"alert {i}", "DedupKey": key})
                if r.status_code == 200:
                    answers.append(r.json())
                else:
                    errors.append(r.text)

    with serve(app) as url:
        threads = [threading.Thread(target=fire, args=(w, url)) for w in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert writer_threads()
        params = {"Status": "open", "Limit": 1000}
        listed = httpx.get(f"{url}/incidents", params=params).json()["Items"]
        batches = app.state.trigger_batcher.batches
    assert not errors
    assert not writer_threads()  # stopped with the app
    assert batches < 600  # some were written together

    open_by_key = Counter(i["DedupKey"] for i in listed)
    assert {k: open_by_key[k] for k in keys if k} == {"disk": 1, "cpu": 1, "k1": 1, "k2": 1}
    counts = {i["DedupKey"]: i["Count"] for i in listed if i["DedupKey"]}
    assert counts == {"disk": 2 + 120, "cpu": 120, "k1": 120, "k2": 120}
    for key, already in (("disk", 2), ("cpu", 0), ("k1", 0), ("k2", 0)):
        mine = [a for a in answers if a["DedupKey"] == key]
        assert sorted(a["Count"] for a in mine) == list(range(already + 1, already + 121))
        assert len({a["Id"] for a in mine}) == 1
        assert [a["Count"] for a in mine if a["Created"]] == ([1] if already == 0 else [])
    unkeyed = [a for a in answers if a["DedupKey"] is None]
    assert len(unkeyed) == 120 and all(a["Created"] and a["Count"] == 1 for a in unkeyed)
    assert len({a["Id"] for a in unkeyed}) == 120
    assert all(a["Assignee"]["SlackHandle"] == "katy" for a in answers)
    new = [a["Id"] for a in answers if a["Created"]]
    # Each new incident is told once: on its own (the first few of the minute), or in the
    # storm's bundle (all 123 are on one service, at one instant).
    told = [
        incident_id
        for row in store.rows("SELECT incident_ids FROM outbox WHERE kind IN ('created', 'storm')")
        for incident_id in json.loads(row["incident_ids"])
    ]
    assert sorted(told)[-len(new) :] == sorted(new) and len(told) == len(set(told)) == 3 + 123
    alone = store.rows("SELECT count(*) AS n FROM outbox WHERE kind = 'created'")[0]["n"]
    assert alone == 3 + outbox.STORM_ABOVE  # team() made 3 (before the storm: a minute ago)


def test_the_response_is_what_get_answers(app):
    with TestClient(base_url=LOCAL, app=app) as api:
        first = api.post("/incidents", json={"Body": " Disk full ", "DedupKey": " disk "}).json()
        again = api.post("/incidents", json={"Body": "Disk", "DedupKey": "disk"}).json()
        new = api.post("/incidents", json={"Body": "Checkout down", "DedupKey": ""}).json()
        assert first["Created"] is False and first["Count"] == 3  # team() counted it twice
        assert again["Created"] is False and again["Count"] == 4
        assert new["Created"] is True and new["DedupKey"] is None
        for answer in (again, new):
            fetched = api.get(f"/incidents/{answer['Id']}").json()
            assert {k: v for k, v in answer.items() if k != "Created"} == fetched
        assert api.post("/incidents", json={"Body": "  "}).status_code == 400
    assert not writer_threads()


def test_the_batcher_lives_with_the_app(app):
    for _ in range(2):  # the app started twice: a fresh batcher each time
        with TestClient(base_url=LOCAL, app=app) as api:
            assert api.post("/incidents", json={"Body": "x"}).json()["Created"] is True
            batcher = batcher_of(app)
            assert batcher.running and writer_threads()
        assert not batcher.running and batcher.stopped and not writer_threads()
        assert app.state.trigger_batcher is None
