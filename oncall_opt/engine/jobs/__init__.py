"""The daemon's periodic jobs, one module each, GoAlert style.

Every job has a single entry point `run(store, now, ...)` that does one cycle: set-based,
idempotent SQL (`UPDATE ... WHERE <due> RETURNING`) and the Slack messages it causes, written in
one transaction. Running a job twice, or again after a crash, does no harm, and a test can run
exactly one cycle with a fake clock. `loop.JobLoop` runs them on a schedule:

- `autoassign`: unassigned open incidents go to whoever their service's first step pages;
- `escalation`: unacknowledged incidents walk through their escalation policy;
- `timeouts`: snoozes and acknowledgement timeouts end (triggered again), quiet incidents are
  resolved automatically (per service);
- `reminders`: unacknowledged incidents are reminded every `remind_every` seconds;
- `cover`: cover requests ask the next candidate after a timeout, and tell the lead when
  nobody accepts in time;
- `delivery`: the outbox is posted to Slack, oldest first, with retries;
- `notify`: notifications go to people's contact methods (pages, codes), with retries.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from oncall_opt.engine.outbox import SUMMARY_ABOVE, summary


@dataclass
class JobState:
    """What the jobs remember between cycles, in memory (the JobLoop keeps one): which gaps
    were already warned about, and the delivery job's rate limit and back-off."""

    warned: set[str] = field(default_factory=set)
    # time.monotonic() of the last request to each channel (a team id, or the global one)
    last_sent: dict[object, float] = field(default_factory=dict)
    # Slack's rate limit (429 Retry-After) per webhook: nothing to it before then
    holds: dict[object, datetime] = field(default_factory=dict)
    team_senders: dict[str, Any] = field(default_factory=dict)  # a team's webhook URL -> sender
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def warn_once(
        self,
        key: str,
        logger: logging.Logger,
        message: str,
        *args: object,
        level: int = logging.WARNING,
    ) -> None:
        """Log (a warning by default) the first time `key` is seen since it was cleared."""
        with self.lock:
            if key in self.warned:
                return
            self.warned.add(key)
        logger.log(level, message, *args)

    def clear(self, *keys: str) -> bool:
        """Forget `keys` (the gap is over); True when any had been warned about."""
        with self.lock:
            found = any(key in self.warned for key in keys)
            self.warned.difference_update(keys)
            return found


__all__ = ["SUMMARY_ABOVE", "JobState", "summary"]
