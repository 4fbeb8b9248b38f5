"""The daemon's periodic jobs, one module each, GoAlert style.

Every job has a single entry point `run(store, now, ...)` that does one cycle: set-based,
idempotent SQL (`UPDATE ... WHERE <due> RETURNING`) and the Slack messages it causes, written in
one transaction. Running a job twice, or again after a crash, does no harm, and a test can run
exactly one cycle with a fake clock. `loop.JobLoop` runs them on a schedule:

- `autoassign`: unassigned open incidents go to whoever is on call (primary layer);
- `escalation`: incidents unacknowledged for too long go to the secondary layer, once;
- `reminders`: unacknowledged incidents are reminded every `remind_every` seconds;
- `delivery`: the outbox is posted to Slack, oldest first, with retries.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from oncall_opt.engine import outbox

if TYPE_CHECKING:
    from oncall_opt.engine.incidents import Incident

SUMMARY_ABOVE = 5  # more incidents than this in one cycle: one summary message, not one each


@dataclass
class JobState:
    """What the jobs remember between cycles, in memory (the JobLoop keeps one): which gaps
    were already warned about, and the delivery job's rate limit and back-off."""

    warned: set[str] = field(default_factory=set)
    last_sent: float | None = None  # time.monotonic() of the last request to Slack
    hold_until: float | None = None  # time.monotonic(): Slack asked us to wait, or is down
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


def summary(header: str, incidents: Sequence[Incident]) -> str:
    """One message for many incidents: the header, then `[#id] body` lines while they fit in a
    Slack message, then how many more there are."""
    lines = [header]
    size = len(header)
    for shown, incident in enumerate(incidents):
        line = f"[#{incident.id}] {incident.body.splitlines()[0] if incident.body else ''}"[:200]
        rest = len(incidents) - shown
        if size + len(line) + 40 > outbox.MAX_MESSAGE_CHARS:
            lines.append(f"... and {rest} more")
            break
        lines.append(line)
        size += len(line) + 1
    return "\n".join(lines)


__all__ = ["SUMMARY_ABOVE", "JobState", "summary"]
