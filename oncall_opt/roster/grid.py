"""The slot grid: which on-call slots a schedule window holds, and which slots an entry touches.

Without a time zone the grid is the template's: slot k runs from start + k x length to
start + (k + 1) x length in the start's UTC offset, and every slot that starts no later than
`schedule_end` is planned (so the end day is included). With an IANA time zone, slots are laid
out in local wall time: a daily handoff stays at local 09:00 and a day across a daylight-saving
change lasts 23 or 25 hours.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import cached_property

_DURATION = re.compile(r"^P(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?)?$")

MAX_SLOTS = 20_000


def parse_duration(text: str) -> timedelta:
    """An ISO 8601 duration of weeks, days, hours and minutes (`P1D`, `P7D`, `P1W`, `PT12H`)."""
    match = _DURATION.match(text)
    if not match or text in ("P", "PT") or text.endswith("T"):
        raise ValueError(f"'{text[:60]}' is not an ISO 8601 duration like P1D, P7D or PT12H")
    parts = {k: int(v) if v else 0 for k, v in match.groupdict().items()}
    try:
        length = timedelta(weeks=parts["w"], days=parts["d"], hours=parts["h"], minutes=parts["m"])
    except OverflowError:  # more than a timedelta holds (999,999,999 days)
        raise ValueError(f"'{text}' is longer than any shift supported") from None
    if length < timedelta(hours=1):
        raise ValueError(f"'{text}' is shorter than the shortest shift supported (1 hour)")
    return length


@dataclass(frozen=True)
class SlotGrid:
    """Slot boundaries as UTC instants, plus the zone used to present and read local dates."""

    starts: tuple[datetime, ...]  # UTC instants, ascending
    end: datetime  # UTC instant where the last slot ends
    zone: tzinfo  # the IANA zone, or the start's fixed offset
    zone_name: str  # written as each override's time_zone
    length: timedelta = timedelta(days=1)  # each slot's, in wall-clock time

    @classmethod
    def build(
        cls, start: datetime, end: datetime, length: timedelta, zone: tzinfo | None, zone_name: str
    ) -> SlotGrid:
        zone = zone or start.tzinfo
        assert zone is not None
        # Aware datetime + timedelta is wall-clock arithmetic in Python, which is what keeps a
        # zoned handoff at the same local hour across daylight-saving changes.
        local_start = start.astimezone(zone)
        starts: list[datetime] = []
        k = 0
        while True:
            slot_start = _to_utc(local_start + k * length)
            if slot_start > end.astimezone(UTC):
                break
            starts.append(slot_start)
            k += 1
            if k > MAX_SLOTS:
                raise ValueError(f"the window holds more than {MAX_SLOTS} slots")
        return cls(tuple(starts), _to_utc(local_start + k * length), zone, zone_name, length)

    def __len__(self) -> int:
        return len(self.starts)

    @cached_property
    def ends(self) -> tuple[datetime, ...]:
        return (*self.starts[1:], self.end)

    def local(self, instant: datetime) -> datetime:
        """The instant as a wall-clock time in the schedule's zone."""
        return instant.astimezone(self.zone)

    @cached_property
    def is_weekend(self) -> tuple[bool, ...]:
        """A slot is a weekend slot when it starts on a local Saturday or Sunday."""
        return tuple(self.local(s).weekday() >= 5 for s in self.starts)

    def slot_at(self, instant: datetime) -> int | None:
        """The slot on call at `instant`, or None outside the window."""
        instant = instant.astimezone(UTC)
        if instant < self.starts[0] or instant >= self.end:
            return None
        return bisect.bisect_right(self.starts, instant) - 1

    def slots_overlapping(self, start: datetime, end: datetime) -> range:
        """Slots that share any time with [start, end)."""
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        first = max(0, bisect.bisect_right(self.starts, start) - 1)
        last = bisect.bisect_left(self.starts, end)  # slots starting before `end`
        if end <= self.starts[0] or start >= self.end or end <= start:
            return range(0)
        return range(first, last)

    def day_bounds(self, day: date) -> tuple[datetime, datetime]:
        """Local midnight to the next local midnight, as UTC instants."""
        midnight = datetime.combine(day, time(0), tzinfo=self.zone)
        return _to_utc(midnight), _to_utc(midnight + timedelta(days=1))

    def slot_before(self, k: int) -> tuple[datetime, datetime]:
        """The k-th slot before the window (k = 1: the one that ends where it begins), as
        the window's own slots would run on backwards: start and end, UTC."""
        local_start = self.local(self.starts[0])
        return _to_utc(local_start - k * self.length), _to_utc(local_start - (k - 1) * self.length)

    def slot_at_noon(self, day: date) -> int | None:
        """The slot on call at local noon on `day`: what a preferred or avoided date points at."""
        return self.slot_at(datetime.combine(day, time(12), tzinfo=self.zone))


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)
