"""Expected burden: what a future slot on call will cost, from the team's own page history.

The planner's "fair by burden" (`BalanceBy: burden`) gives the optimizer one weight per slot
(input.json `slot_weights`, whole points) instead of counting every shift alike:

- **Pages per hour of the week.** The pages of the team's incidents that went out
  (`analytics.sent_pages`) over the `LOOKBACK_WEEKS` before the window (or the whole weeks
  since its first incident, when that is later), counted by the hour of the week they were
  sent in, on the roster's clock (Monday 00:00-01:00 is hour 0).
- **Smoothed.** A quiet hour seen a few weeks is not known to be quiet forever: each hour's
  rate is shrunk towards the team's average hour as if `PRIOR_WEEKS` more weeks of average
  pages had been seen: (pages in that hour + PRIOR_WEEKS x average per hour) / (weeks seen +
  PRIOR_WEEKS). With no history at all every rate is 0 and burden is plain shifts again.
- **Nights weigh more.** A page between 22:00 and 07:00 (the roster's clock) counts
  `night_weight` times (3 unless the planner is told otherwise).
- **A slot's burden** = its length in days (being on call is work, paged or not) + its
  expected day pages + night_weight x its expected night pages, in `POINTS_PER_UNIT` points
  per unit, rounded: a quiet day is 1 point, a day with one expected night page 4.

What each person already bore carries over (`history_points`): the same units over the window
before, from the final schedule's hours and the pages they were really sent.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from oncall_opt.engine.analytics import person_burden, sent_pages
from oncall_opt.engine.availability import MAX_DAYS
from oncall_opt.engine.store import Store, Transaction
from oncall_opt.errors import InvalidRequestError

LOOKBACK_WEEKS = 12
PRIOR_WEEKS = 2.0
# Whole units: finer points made the optimizer's proof far slower for nothing an estimate of
# pages can tell apart (7 people x 4 weeks: 1.2 s at 1 point a unit, over 60 s at 4).
POINTS_PER_UNIT = 1
DEFAULT_NIGHT_WEIGHT = 3.0
MAX_NIGHT_WEIGHT = 20.0
NIGHT_STARTS, NIGHT_ENDS = 22, 7
HOURS_OF_WEEK = 7 * 24
BALANCE_BY = ("shifts", "burden")
# The longest span of slots estimated (hour by hour): the planner's longest window and a year
MAX_SPAN = timedelta(days=MAX_DAYS + 366)


def check_night_weight(value: float) -> float:
    if not 1 <= value <= MAX_NIGHT_WEIGHT:  # also refuses NaN
        raise InvalidRequestError(
            "NightWeight", f"must be from 1 (a night page counts like any) to {MAX_NIGHT_WEIGHT:g}"
        )
    return float(value)


def check_balance_by(value: str) -> str:
    if value not in BALANCE_BY:
        raise InvalidRequestError("BalanceBy", f"must be one of {', '.join(BALANCE_BY)}")
    return value


def hour_of_week(at: datetime, zone: ZoneInfo) -> int:
    local = at.astimezone(zone)
    return local.weekday() * 24 + local.hour


def is_night_hour(hour: int) -> bool:
    return hour % 24 >= NIGHT_STARTS or hour % 24 < NIGHT_ENDS


@dataclass(frozen=True)
class SlotBurden:
    start: datetime
    end: datetime
    pages: float  # expected pages in the slot (day and night)
    night_pages: float  # of those, between 22:00 and 07:00
    points: int  # the slot's weight for the optimizer


@dataclass(frozen=True)
class Estimate:
    """Pages per hour of the week, smoothed, and how they were found."""

    rates: tuple[float, ...]  # HOURS_OF_WEEK expected pages per hour, Monday 00:00 first
    zone: str
    night_weight: float
    weeks: float  # how many weeks of history were read
    pages: int  # pages seen in them
    since: datetime

    def slot(self, start: datetime, end: datetime) -> SlotBurden:
        """The expected pages of [start, end) hour by hour (a part hour counts its part)."""
        zone = ZoneInfo(self.zone)
        pages = night = 0.0
        at = start.astimezone(UTC)
        stop = end.astimezone(UTC)
        while at < stop:
            # up to the next whole hour of UTC, which is a whole local hour in every zone whose
            # offset is whole hours, and a part of one elsewhere (read at its start)
            step = min(stop, at.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1))
            hour = hour_of_week(at, zone)
            part = (step - at) / timedelta(hours=1) * self.rates[hour]
            pages += part
            night += part if is_night_hour(hour) else 0.0
            at = step
        days = (stop - start.astimezone(UTC)) / timedelta(days=1)
        units = days + (pages - night) + self.night_weight * night
        return SlotBurden(start, end, pages, night, round(POINTS_PER_UNIT * units))

    def slots(self, starts: Sequence[datetime], ends: Sequence[datetime]) -> list[SlotBurden]:
        """Each slot's burden; the slots are read hour by hour, so together they may span at
        most the planner's longest window and a year (P20000W was 18 s of one request)."""
        if starts and ends[-1] - starts[0] > MAX_SPAN:
            raise InvalidRequestError(
                "ShiftLength",
                f"the slots would span {(ends[-1] - starts[0]).days:,} days, more than the "
                f"{MAX_SPAN.days:,} whose burden is estimated: choose shorter shifts",
            )
        return [self.slot(a, b) for a, b in zip(starts, ends, strict=True)]

    def explain(self) -> str:
        """The estimate in a sentence a team lead can check."""
        if not self.pages:
            return (
                f"No pages in the {self.weeks:.0f} weeks before: every slot weighs its length "
                "alone, so fair by burden is fair by shifts."
            )
        per_week = self.pages / self.weeks
        nights = sum(r for h, r in enumerate(self.rates) if is_night_hour(h))
        busiest = max(range(HOURS_OF_WEEK), key=lambda h: self.rates[h])
        day = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
        return (
            f"From {self.pages} pages in the {self.weeks:.1f} weeks before ({per_week:.1f} a "
            f"week, {nights:.1f} of them at night, 22:00-07:00 {self.zone}); busiest hour "
            f"{day[busiest // 24]} {busiest % 24:02d}:00. Each hour's rate is shrunk towards "
            f"the average hour as if {PRIOR_WEEKS:g} more average weeks had been seen. A day "
            f"on call counts 1, each expected page 1 more, a night page {self.night_weight:g}."
        )


def estimate(
    source: Store | Transaction,
    team_id: int,
    before: datetime,
    zone: str,
    night_weight: float = DEFAULT_NIGHT_WEIGHT,
    weeks: int = LOOKBACK_WEEKS,
    now: datetime | None = None,
) -> Estimate:
    """Pages per hour of the week from the `weeks` before `before` (or before `now`, when the
    window starts later: nothing has paged in the future yet), on `zone`'s clock."""
    check_night_weight(night_weight)
    tz = ZoneInfo(zone)
    end = min(before, now or before).astimezone(UTC)
    if end - datetime.min.replace(tzinfo=UTC) < timedelta(weeks=weeks, days=1):
        raise InvalidRequestError(
            "Start", f"the {weeks} weeks of history read before it begin before the calendar does"
        )
    start = end - timedelta(weeks=weeks)
    counts = [0] * HOURS_OF_WEEK
    pages = sent_pages(source, team_id, start, end)
    for page in pages:
        counts[hour_of_week(page.sent_at, tz)] += 1
    # A team whose history starts inside the lookback (new, or moved here) has been seen for
    # less: from the week of its first incident, at least one week.
    first = source.row(
        "SELECT MIN(i.created_at) AS first FROM incidents i JOIN services s "
        "ON s.id = i.service_id WHERE s.team_id = ? AND i.created_at >= ? AND i.created_at < ?",
        [team_id, start, end],
    )
    seen = float(weeks)
    if first and first["first"] is not None:
        since = max(start, first["first"].astimezone(UTC))
        seen = min(seen, max(1.0, math.ceil((end - since) / timedelta(weeks=1))))
    average = len(pages) / (seen * HOURS_OF_WEEK)
    rates = tuple((n + PRIOR_WEEKS * average) / (seen + PRIOR_WEEKS) for n in counts)
    return Estimate(rates, zone, night_weight, seen, len(pages), end - timedelta(weeks=seen))


def history_points(
    source: Store | Transaction,
    team_id: int,
    start: datetime,
    end: datetime,
    night_weight: float = DEFAULT_NIGHT_WEIGHT,
) -> dict[int, int]:
    """What each member bore in [start, end), in the slot weights' points: days on call
    (all layers) + pages + (night_weight - 1) x night pages (nights on their own clock)."""
    borne = person_burden(source, team_id, start, end)
    return {
        user_id: round(
            POINTS_PER_UNIT * (b.hours_on_call / 24 + b.pages + (night_weight - 1) * b.night_pages)
        )
        for user_id, b in borne.items()
    }
