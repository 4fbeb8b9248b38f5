"""The notify job: every few seconds, send the notifications that are due (pages at their
rule's delay, verification codes, retries), oldest first, each claimed in its own
transaction (with several daemons on PostgreSQL, one daemon per notification at a time), and
record how each went. Like the outbox: at least once; a notification whose daemon died mid-send
is sent again after the lease, which can repeat it once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

from oncall_opt.engine.paging import notifications
from oncall_opt.engine.paging.deliver import ChannelFor, deliver
from oncall_opt.engine.settings import Settings
from oncall_opt.engine.store import Store

MAX_PER_RUN = 100


def run(
    store: Store,
    now: datetime,
    settings: Settings,
    channel_of: ChannelFor | None = None,
    limit: int = MAX_PER_RUN,
    stop: threading.Event | None = None,
    clock: Callable[[], datetime] | None = None,
) -> dict[str, int]:
    """Send what is due now; returns counts by the state each ended in. With `clock`, each
    notification is claimed and recorded at the time it is sent (a run can last a while),
    not at `now`."""
    counts = {state: 0 for state in notifications.STATES}
    lease = settings.delivery_lease
    for _ in range(limit):
        if stop is not None and stop.is_set():
            break
        at = clock() if clock is not None else now
        claimed = store.write(lambda tx, at=at: notifications.claim_due(tx, at, lease))
        if claimed is None:
            break
        done = deliver(store, claimed, at, settings, channel_of)
        counts[done.status] += 1
    return counts
