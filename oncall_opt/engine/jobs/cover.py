"""The cover job: moves cover requests on (`engine/cover.py`): a candidate who has not
answered within the request's timeout gives way to the next, and a request past its deadline,
or with nobody left to ask, tells the lead. Each request in its own transaction, with
conditional updates: running it twice, or after a crash, does no harm."""

from __future__ import annotations

from datetime import datetime

from oncall_opt.engine import cover
from oncall_opt.engine.settings import Settings
from oncall_opt.engine.store import Store


def run(store: Store, now: datetime, settings: Settings | None = None) -> dict[str, int]:
    """One turn; returns how many requests asked someone new and how many ended unanswered."""
    return cover.advance(store, now, settings.public_url if settings else None)
