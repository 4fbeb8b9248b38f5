"""Group commit for `POST /incidents`: concurrent triggers written in one transaction each batch.

Every trigger costs about the same whether it is alone in its transaction or one of a hundred
(statements and the commit dominate, see `incidents.trigger_batch`), so one writer thread takes
whatever triggers are waiting, writes them all in ONE transaction with set-based statements, and
then answers each waiter through its future. Batches form by themselves: while one is written the
next requests queue up; a lone request is written at once (no waiting for company).

The answers are those of triggering one by one in arrival order (see `trigger_batch`), with the
time read from the clock once per batch. If the transaction fails, the batch is written again in
halves, down to single triggers: a trigger that cannot be stored gets its own error, and every
other one is stored and answered as if it had come alone. The thread starts with the first
trigger and ends on `stop()` (the app's shutdown), which writes what is already queued first.
It lives that long on purpose: the store keeps a cursor per thread until it is closed, so a
thread per burst would pile them up.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from concurrent.futures import Future
from typing import Any

from oncall_opt.engine.clock import Clock
from oncall_opt.engine.incidents import Incident, Trigger, trigger_batch
from oncall_opt.engine.store import Store

log = logging.getLogger(__name__)

MAX_BATCH = 200  # triggers per transaction

Answer = tuple[Incident, bool]


class BatcherStopped(RuntimeError):
    """The batcher was stopped: it takes no more triggers."""


class TriggerBatcher:
    """One writer thread for the triggers of one store: `submit(trigger)` returns a future of
    (incident, created); `stop()` ends the thread."""

    def __init__(self, store: Store, clock: Clock, max_batch: int = MAX_BATCH):
        self.store, self.clock, self.max_batch = store, clock, max_batch
        self._queue: deque[tuple[Trigger, Future[Answer]]] = deque()
        self._wake = threading.Condition(threading.Lock())
        self._thread: threading.Thread | None = None
        self._stopping = False
        self.batches = 0  # transactions written (for tests and benchmarks)

    # ----- callers ---------------------------------------------------------------------------
    def submit(self, trigger: Trigger) -> Future[Answer]:
        """Queue a checked trigger (see `incidents.check_trigger`); raises BatcherStopped after
        `stop()`."""
        future: Future[Answer] = Future()
        with self._wake:
            if self._stopping:
                raise BatcherStopped("the incident writer is stopped (the API is shutting down)")
            self._queue.append((trigger, future))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="oncall-triggers", daemon=True
                )
                self._thread.start()
            else:
                self._wake.notify()
        return future

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    @property
    def stopped(self) -> bool:
        return self._stopping

    def stop(self, timeout: float = 2.0) -> bool:
        """Take no more triggers, write those queued, end the thread (waiting up to `timeout`
        seconds). Returns whether it ended."""
        with self._wake:
            self._stopping = True
            thread = self._thread
            self._wake.notify()
        if thread is None or thread is threading.current_thread():
            return True
        thread.join(timeout)
        if thread.is_alive():
            log.warning("the incident writer is still writing after %gs", timeout)
            return False
        return True

    # ----- the writer thread -----------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._queue and not self._stopping:
                    self._wake.wait()
                if not self._queue:  # stopping, nothing left
                    return
                batch = [
                    self._queue.popleft() for _ in range(min(len(self._queue), self.max_batch))
                ]
            self._write(batch)

    def _write(self, batch: list[tuple[Trigger, Future[Answer]]]) -> None:
        # A future cancelled while queued (its caller gave up) is dropped, unwritten; once
        # running, it can no longer be cancelled, so its result is always delivered.
        batch = [(t, f) for t, f in batch if f.set_running_or_notify_cancel()]
        if not batch:
            return
        try:
            now = self.clock.now()
        except BaseException as exc:
            self._fail(batch, exc)
            if not isinstance(exc, Exception):
                raise
            return
        self._write_group(batch, now)

    def _write_group(self, batch: list[tuple[Trigger, Future[Answer]]], now: Any) -> None:
        """Write `batch` in one transaction; if that fails, write each half on its own, down to
        single triggers, so that a trigger that cannot be stored fails alone and every other is
        stored and answered as if it came alone (a batch with k bad triggers costs about
        2k log n more transactions, none when all are good)."""
        triggers = [t for t, _ in batch]
        try:
            answers: list[Any] = self.store.write(lambda tx: trigger_batch(tx, triggers, now))
        except Exception as exc:  # rolled back: nothing of this group was written
            if len(batch) == 1:
                self._fail(batch, exc)
                return
            middle = len(batch) // 2
            self._write_group(batch[:middle], now)  # arrival order kept: first half first
            self._write_group(batch[middle:], now)
            return
        except BaseException as exc:
            self._fail(batch, exc)
            raise
        self.batches += 1
        for (_, future), answer in zip(batch, answers, strict=True):
            future.set_result(answer)

    @staticmethod
    def _fail(batch: list[tuple[Trigger, Future[Answer]]], exc: BaseException) -> None:
        for _, future in batch:
            future.set_exception(exc)
