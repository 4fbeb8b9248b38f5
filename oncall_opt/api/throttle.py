"""The rate limit on each service's integration key: a token bucket of `per_minute` events
(a burst of that many, then refilling continuously), as PagerDuty limits an integration key.
An event over it is answered 429 with `Retry-After` (the seconds until one more is let in):
Events API senders and Alertmanager send it again, so a storm is throttled at the door and
nothing accepted is lost. Each daemon keeps its own buckets (with several daemons behind a
balancer the limit is per daemon)."""

from __future__ import annotations

import math
import threading


class EventThrottle:
    def __init__(self) -> None:
        self._buckets: dict[int, tuple[float, float]] = {}  # service -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, service_id: int, per_minute: int, now: float) -> int:
        """0 when one more event of the service may go in now (`now` in seconds); else how
        many whole seconds until one may."""
        rate = per_minute / 60.0
        with self._lock:
            tokens, at = self._buckets.get(service_id, (float(per_minute), now))
            tokens = min(float(per_minute), tokens + max(now - at, 0.0) * rate)
            if tokens >= 1.0:
                self._buckets[service_id] = (tokens - 1.0, now)
                return 0
            self._buckets[service_id] = (tokens, now)
            return max(1, math.ceil((1.0 - tokens) / rate))
