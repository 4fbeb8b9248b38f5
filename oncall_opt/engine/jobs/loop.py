"""The job loop: the jobs of `oncall_opt.engine.jobs` in one background thread with its own
`schedule.Scheduler` (never the module-global one): auto-assign every `assign_every`
seconds, escalation and the per-service timeouts every `escalate_every`, the reminder check
every `remind_every / 10` (at most every minute, so an incident is reminded at most that late
after its 10 minutes), cover requests moved on every `escalate_every`, delivery every
`deliver_every`. Those run one at a time; a job that raises is logged and keeps its schedule.

Notifications to people's contact methods (`notify`) have a thread of their own: a page never
waits behind the team channel's messages (a delivery run paced at one Slack post a second can
last minutes in a storm), and the thread wakes as soon as a transaction that queued a
notification commits, else every `deliver_every` for what falls due later.
Job logic reads the time from the injected clock, so tests drive it with a fake one.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from typing import Any

import schedule

from oncall_opt.engine import heartbeats
from oncall_opt.engine.clock import Clock, SystemClock
from oncall_opt.engine.jobs import (
    JobState,
    autoassign,
    cover,
    delivery,
    escalation,
    handoffs,
    notify,
    reminders,
    timeouts,
)
from oncall_opt.engine.paging import notifications
from oncall_opt.engine.settings import Settings
from oncall_opt.engine.slack import SlackWebhook
from oncall_opt.engine.store import Store

log = logging.getLogger(__name__)

_loops: weakref.WeakSet[JobLoop] = weakref.WeakSet()


def make_sender(settings: Settings) -> SlackWebhook | None:
    """The Slack webhook from the settings, or None when none is configured (delivery off).
    Raises ConfigError for a URL that is not http(s) (without quoting it)."""
    if settings.slack_webhook_url is None:
        return None
    return SlackWebhook(settings.slack_webhook_url, settings.slack_timeout)


class JobLoop:
    """The periodic jobs in a background thread: `start()`, `stop()`, or `run_once()`.

    `sleep` is what delivery waits with between two Slack posts; by default a wait that
    `stop()` cuts short."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        clock: Clock | None = None,
        sender: delivery.Sender | None = None,
        sleep: Callable[[float], object] | None = None,
    ):
        self.store, self.settings = store, settings
        self.clock = clock or SystemClock()
        self._owns_sender = sender is None
        self.sender = sender if sender is not None else make_sender(settings)
        self.state = JobState()
        self._stop = threading.Event()
        self._sleep = sleep if sleep is not None else self._stop.wait
        self._run_lock = threading.Lock()  # one job at a time, loop thread or run_once
        self._scheduler = schedule.Scheduler()
        self._thread: threading.Thread | None = None
        self._pager: threading.Thread | None = None
        self._notify_lock = threading.Lock()  # notify: its own thread, or run_once
        s = settings
        self.jobs: list[tuple[str, float, Callable[[], Any]]] = [
            ("autoassign", s.assign_every, self._autoassign),
            ("timeouts", s.escalate_every, self._timeouts),
            ("heartbeats", s.escalate_every, self._heartbeats),
            ("escalation", s.escalate_every, self._escalation),
            ("reminders", min(s.remind_every / 10, 60.0), self._reminders),
            ("handoffs", s.assign_every, self._handoffs),
            ("cover", s.escalate_every, self._cover),
            ("delivery", s.deliver_every, self._delivery),
            ("notify", s.deliver_every, self._notify),
        ]

    # ----- the jobs, with the loop's clock, state and sender ------------------------------
    def _autoassign(self) -> int:
        return autoassign.run(self.store, self.clock.now(), self.state)

    def _escalation(self) -> int:
        return escalation.run(self.store, self.clock.now(), self.state)

    def _heartbeats(self) -> int:
        return heartbeats.check(self.store, self.clock.now())

    def _timeouts(self) -> dict[str, int]:
        return timeouts.run(self.store, self.clock.now())

    def _handoffs(self) -> int:
        return handoffs.run(self.store, self.clock.now(), self.settings)

    def _cover(self) -> dict[str, int]:
        return cover.run(self.store, self.clock.now(), self.settings)

    def _reminders(self) -> int:
        return reminders.run(self.store, self.clock.now(), self.settings)

    def _delivery(self) -> dict[str, int]:
        return delivery.run(
            self.store, self.clock.now(), self.sender, self.settings,
            sleep=self._sleep, state=self.state, stop=self._stop, clock=self.clock.now,
        )  # fmt: skip

    def _notify(self) -> dict[str, int]:
        return notify.run(
            self.store, self.clock.now(), self.settings, stop=self._stop, clock=self.clock.now
        )

    def _guarded(self, name: str, job: Callable[[], Any]) -> Callable[[], Any]:
        """`job` with its exceptions logged, not raised: the `schedule` library would let one
        escape and end the loop thread."""
        lock = self._notify_lock if name == "notify" else self._run_lock

        def run() -> Any:
            if self._stop.is_set():
                return None
            with lock:
                try:
                    return job()
                except Exception:
                    log.exception("job %s failed; it runs again at its next turn", name)
                    return None

        run.__name__ = name
        return run

    # ----- running ---------------------------------------------------------------------
    def run_once(self) -> dict[str, Any]:
        """Each job once, in order (autoassign, timeouts, escalation, reminders, handoffs,
        cover, delivery, notify);
        returns each job's result (None for a job that failed, logged)."""
        return {name: self._guarded(name, job)() for name, _, job in self.jobs}

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Run the jobs in a background thread: each once now, then every N seconds."""
        if self._thread is not None:
            raise RuntimeError("the job loop was already started")
        for name, every, job in self.jobs:
            if name != "notify":
                self._scheduler.every(every).seconds.do(self._guarded(name, job))
        self._thread = threading.Thread(target=self._loop, name="oncall-jobs", daemon=True)
        self._pager = threading.Thread(target=self._pager_loop, name="oncall-notify", daemon=True)
        _loops.add(self)
        self._thread.start()
        self._pager.start()
        log.info(
            "jobs started: %s",
            ", ".join(f"{name} every {every:g}s" for name, every, _ in self.jobs),
        )

    def _pager_loop(self) -> None:
        notify = self._guarded("notify", self._notify)
        while not self._stop.is_set():
            notifications.QUEUED_NOW.clear()  # before the run: what commits during it wakes us
            notify()
            notifications.QUEUED_NOW.wait(self.settings.deliver_every)

    def _loop(self) -> None:
        self.run_once()
        while not self._stop.is_set():
            try:
                self._scheduler.run_pending()
            except Exception:  # the jobs are guarded; this is the scheduler itself
                log.exception("the job scheduler failed")
            idle = self._scheduler.idle_seconds
            self._stop.wait(0.5 if idle is None else min(max(idle, 0.01), 0.5))

    def stop(self, timeout: float = 2.0) -> bool:
        """Stop the loop and wait up to `timeout` seconds for the running job to end. Waits are
        cut short and a Slack post in flight is abandoned (its message stays claimed and is
        posted again at the next start), so this takes milliseconds. Returns whether the thread
        ended; if not, it is a daemon thread and is left to end on its own."""
        self._stop.set()
        notifications.QUEUED_NOW.set()  # wakes the notify thread (others just run once more)
        ended = True
        for thread in (self._thread, self._pager):
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout)
                ended = ended and not thread.is_alive()
        self._scheduler.clear()
        if not ended:
            log.warning("a job is still running after %gs; leaving it to end on its own", timeout)
        elif self._owns_sender and self.sender is not None:
            self.sender.close()
        return ended


def jobs_running() -> bool:
    """Whether a JobLoop thread of this process is still running."""
    return any(
        loop.running or (loop._pager is not None and loop._pager.is_alive())
        for loop in list(_loops)
    )
