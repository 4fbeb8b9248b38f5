"""The planner's rules, kept by every change made by hand: what would break if someone were put
on call over a range (an override, an accepted swap, "I'll take it from now", a cover).

The rules are the roster's, read against the team's final schedule (published roster and
overrides, `final.py`) with the new stretch laid on top:

- `two-layers`: nobody is on two layers of the team at once;
- `in-a-row`: nobody holds more than the team's MaxConsecutiveShifts slots in a row;
- `rest`: between two runs of slots a person has at least MinRestShifts free slots;
- `away`: nobody is put on call over a day they marked away, read as the team's AwayMeans says
  (the whole local day, from that day's handoff, or its working hours).

Slots are the team's (`Team.roster_rules`: ShiftLength, TimeZone, Handoff, laid out in wall-clock
time like the planner's grid). A person holds a slot when they are on call for any part of it,
in any layer: the planner reads the shifts before a window (`carry_in`) the same way, so an
hour's override in a slot counts as that whole slot. A team without MaxConsecutiveShifts or
MinRestShifts has no run or rest check; only breaks the new stretch takes part in are reported
(a run that was already too long elsewhere is not this change's doing).

Everything is read in one pass for the range and its margins (the slots the rules look back and
ahead), for any number of people at once (`check_covers`): ranking a whole team for a cover
costs the same few queries as checking one person.
"""

from __future__ import annotations

import zoneinfo
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import accumulate, pairwise
from typing import Literal

from oncall_opt.engine.final import Segment, segments
from oncall_opt.engine.records import User
from oncall_opt.engine.store import Store, Transaction
from oncall_opt.engine.teams import Team, get_team
from oncall_opt.engine.users import users_by_id
from oncall_opt.errors import InvalidRequestError, NotFoundError
from oncall_opt.roster.away import away_span
from oncall_opt.roster.grid import MAX_SLOTS, parse_duration

RULES = ("two-layers", "rest", "in-a-row", "away")
LAYER_NAMES = {1: "primary", 2: "secondary"}
# Where a team that never said its slots lays them out: a daily slot from its handoff; longer
# slots start on a Monday (2024-01-01), as a week's rotation most often does.
_ANCHOR_DAY = date(2024, 1, 1)


@dataclass(frozen=True)
class Broken:
    rule: Literal["two-layers", "rest", "in-a-row", "away"]
    message: str  # plain text naming the person and the dates/times in the team's time zone


@dataclass(frozen=True)
class TeamRules:
    """How a team's slots run and what its run and rest rules are (from `roster_rules`)."""

    zone: zoneinfo.ZoneInfo
    handoff: time
    length: timedelta
    max_consecutive: int | None
    min_rest: int | None
    anchor: datetime  # a slot start (local): every slot is anchor + k x length, wall clock
    away_means: str

    @property
    def has_run_rules(self) -> bool:
        return self.max_consecutive is not None or bool(self.min_rest)

    @property
    def margin_slots(self) -> int:
        """How many slots either side of a range the run and rest rules look at: a longest
        run, the rest after it, and one more to see where a run ends."""
        if not self.has_run_rules:
            return 0
        return (self.max_consecutive or 0) + (self.min_rest or 0) + 2


def team_rules(team: Team) -> TeamRules:
    """The team's rules; anything it never said takes the planner's default (UTC, 00:00, P1D,
    no run or rest limit). A value that no longer reads (a zone renamed) falls back the same."""
    rules = team.roster_rules or {}
    try:
        zone = zoneinfo.ZoneInfo(str(rules.get("TimeZone") or "UTC"))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        zone = zoneinfo.ZoneInfo("UTC")
    try:
        hours, minutes = (int(part) for part in str(rules.get("Handoff") or "00:00").split(":"))
        handoff = time(hours, minutes)
    except ValueError:
        handoff = time(0)
    try:
        length = parse_duration(str(rules.get("ShiftLength") or "P1D"))
    except ValueError:
        length = timedelta(days=1)
    limit, rest = rules.get("MaxConsecutiveShifts"), rules.get("MinRestShifts")
    return TeamRules(
        zone=zone,
        handoff=handoff,
        length=length,
        max_consecutive=limit if isinstance(limit, int) and limit >= 1 else None,
        min_rest=rest if isinstance(rest, int) and rest >= 0 else None,
        anchor=datetime.combine(_ANCHOR_DAY, handoff, tzinfo=zone),
        away_means=team.away_means,
    )


def when(moment: datetime, zone: zoneinfo.ZoneInfo) -> str:
    """A moment as the team reads it: `Tue 6 Jan 2026 10:00 CET`."""
    local = moment.astimezone(zone)
    return f"{local:%a} {local.day} {local:%b %Y %H:%M} {local.tzname()}"


def _span(start: datetime, end: datetime, zone: zoneinfo.ZoneInfo) -> str:
    return f"{when(start, zone)} to {when(end, zone)}"


def check_cover(
    source: Store | Transaction,
    team_id: int,
    user_id: int,
    layer: int,
    start: datetime,
    end: datetime,
) -> list[Broken]:
    """What would break if user_id were on call in `layer` over [start, end) on top of the
    team's final schedule (published roster + overrides); [] when nothing."""
    found = check_covers(source, team_id, [user_id], layer, start, end)
    if user_id not in found:
        raise NotFoundError(f"no user with id {user_id}")
    return found[user_id]


def check_covers(
    source: Store | Transaction,
    team_id: int,
    user_ids: Iterable[int],
    layer: int,
    start: datetime,
    end: datetime,
) -> dict[int, list[Broken]]:
    """`check_cover` for several people at once (each alone on top of the final schedule),
    from one read of the schedule and of their days away. Unknown users are left out."""
    team = get_team(source, team_id)
    rules = team_rules(team)
    people = users_by_id(source, set(user_ids))
    if not people:
        return {}
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    try:
        grid = _slots(rules, start, end)
        lo, hi = (grid[0][0], grid[-1][1]) if grid else (start, end)
        schedule = segments(source, team_id, min(lo, start), max(hi, end))
        away = _away_days(source, list(people), rules, start, end)
        found: dict[int, list[Broken]] = {}
        for user_id, person in people.items():
            mine = [s for s in schedule if s.user.id == user_id]
            found[user_id] = [
                *_two_layers(person, mine, layer, start, end, rules),
                *_runs(person, mine, layer, start, end, rules, grid),
                *_away(person, away.get(user_id, []), start, end, rules),
            ]
    except OverflowError:  # the slot or the day after it, on the team's clock, is past 9999
        raise InvalidRequestError(
            "End", "the team's slots and days around the change run past the calendar's end"
        ) from None
    return found


def in_words(broken: list[Broken]) -> str:
    """Every reason, one sentence each, for a refusal or the record of an "I know"."""
    return "; ".join(b.message for b in broken)


# ----- the rules --------------------------------------------------------------------------------
def _two_layers(person: User, mine: list[Segment], layer, start, end, rules) -> list[Broken]:
    broken = []
    for s in mine:
        if s.layer != layer and s.start < end and start < s.end:
            both = max(s.start, start), min(s.end, end)
            broken.append(
                Broken(
                    "two-layers",
                    f"{person.full_name} would be on {_layer(layer)} and {_layer(s.layer)} at "
                    f"once from {_span(*both, rules.zone)}",
                )
            )
    return broken


def _runs(person, mine, layer, start, end, rules: TeamRules, grid) -> list[Broken]:
    """The run (in-a-row) and rest rules over the slots around [start, end)."""
    if not rules.has_run_rules or not grid:
        return []
    # Which slots the person holds now (`already`) and once the new stretch replaces [start,
    # end) of its layer (`kept`: other layers stay whole), each segment marking the slots it
    # touches in one pass (a slot-by-segment comparison cost seconds over long changes).
    starts, ends = [a for a, _ in grid], [b for _, b in grid]
    already = _touched(starts, ends, [(s.start, s.end) for s in mine])
    left = [part for s in mine for part in _outside_parts(s, layer, start, end)]
    kept = _touched(starts, ends, left)
    held = []
    for k, (a, b) in enumerate(grid):
        covered = a < end and start < b
        # a run it makes longer is the change's doing; one it only sits in is not
        held.append((covered or kept[k], covered and not already[k]))
    runs = []  # (first slot, last slot, touches the new stretch)
    for k, (on, new) in enumerate(held):
        if not on:
            continue
        if runs and runs[-1][1] == k - 1:
            first, _, touched = runs[-1]
            runs[-1] = (first, k, touched or new)
        else:
            runs.append((k, k, new))
    broken = []
    if rules.max_consecutive is not None:
        for first, last, touched in runs:
            # a run cut by the edge of the slots looked at is at least this long
            if touched and last - first + 1 > rules.max_consecutive:
                broken.append(
                    Broken(
                        "in-a-row",
                        f"{person.full_name} would be on call {last - first + 1} shifts in a "
                        f"row, {_span(grid[first][0], grid[last][1], rules.zone)} (the team's "
                        f"MaxConsecutiveShifts is {rules.max_consecutive})",
                    )
                )
    if rules.min_rest:
        for (_, a_last, a_new), (b_first, _, b_new) in pairwise(runs):
            free = b_first - a_last - 1
            if (a_new or b_new) and free < rules.min_rest:
                broken.append(
                    Broken(
                        "rest",
                        f"{person.full_name} would have only {free} free shift(s) between "
                        f"{when(grid[a_last][1], rules.zone)} and "
                        f"{when(grid[b_first][0], rules.zone)} (the team's MinRestShifts is "
                        f"{rules.min_rest})",
                    )
                )
    return broken


def _outside_parts(s: Segment, layer, start, end) -> list[tuple[datetime, datetime]]:
    """What is left of segment `s` once the new stretch replaces [start, end) of `layer`
    (other layers stay whole)."""
    if s.layer != layer:
        return [(s.start, s.end)]
    return [(a, b) for a, b in ((s.start, min(s.end, start)), (max(s.start, end), s.end)) if a < b]


def _touched(
    starts: list[datetime], ends: list[datetime], spans: list[tuple[datetime, datetime]]
) -> list[bool]:
    """For each slot [starts[k], ends[k]) (in order, back to back), whether any span [a, b)
    overlaps it: each span adds 1 to the slots from the first ending after a to the last
    starting before b, summed once at the end."""
    depth = [0] * (len(starts) + 1)
    for a, b in spans:
        first, last = bisect_right(ends, a), bisect_left(starts, b) - 1
        if first <= last:
            depth[first] += 1
            depth[last + 1] -= 1
    return [n > 0 for n in accumulate(depth[:-1])]


def _away(person: User, days: list[date], start, end, rules: TeamRules) -> list[Broken]:
    broken = []
    for day in days:
        span_start, span_end = away_span(day, rules.zone, rules.handoff, rules.away_means)
        span_start, span_end = span_start.astimezone(UTC), span_end.astimezone(UTC)
        if span_start < end and start < span_end:
            blocked = _span(span_start, span_end, rules.zone)
            broken.append(
                Broken(
                    "away",
                    f"{person.full_name} marked {day:%a} {day.day} {day:%b %Y} away "
                    f"({_away_reading(rules.away_means)}: {blocked})",
                )
            )
    return broken


def _away_reading(away_means: str) -> str:
    return {
        "day": "the whole day",
        "shift-start": "the shift that starts that day",
        "working-hours": "its working hours",
    }.get(away_means, away_means)


def _layer(layer: int) -> str:
    return LAYER_NAMES.get(layer, f"layer {layer}")


# ----- reading once -----------------------------------------------------------------------------
def _away_days(
    source: Store | Transaction, people: list[int], rules: TeamRules, start, end
) -> dict[int, list[date]]:
    """Each person's days marked away that could block part of [start, end) (a day's span
    lies within a day of the local date, whatever AwayMeans says)."""
    first = start.astimezone(rules.zone).date() - timedelta(days=1)
    last = (end - timedelta(microseconds=1)).astimezone(rules.zone).date() + timedelta(days=1)
    marks = ", ".join("?" for _ in people)
    rows = source.rows(
        f"SELECT user_id, day FROM availability WHERE user_id IN ({marks}) "
        "AND kind = 'unavailable' AND day BETWEEN ? AND ? ORDER BY day",
        [*sorted(people), first, last],
    )
    found: dict[int, list[date]] = {}
    for row in rows:
        found.setdefault(row["user_id"], []).append(row["day"])
    return found


def _slots(rules: TeamRules, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The team's slots (UTC start and end) from `margin_slots` before the one holding `start`
    to `margin_slots` after the one holding the last instant before `end`; none without run
    or rest rules."""
    if not rules.has_run_rules:
        return []
    if (end - start) / rules.length > MAX_SLOTS:
        raise InvalidRequestError(
            "End", f"the change spans more than {MAX_SLOTS} of the team's slots: make it shorter"
        )
    first = _slot_index(rules, start) - rules.margin_slots
    last = _slot_index(rules, end - timedelta(microseconds=1)) + rules.margin_slots
    return [(_slot_start(rules, k), _slot_start(rules, k + 1)) for k in range(first, last + 1)]


def _slot_start(rules: TeamRules, k: int) -> datetime:
    # Aware datetime + timedelta is wall-clock arithmetic: a handoff stays at its local hour.
    return (rules.anchor + k * rules.length).astimezone(UTC)


def _slot_index(rules: TeamRules, instant: datetime) -> int:
    """The k of the slot holding `instant` (a first guess in UTC hours, then put right across
    daylight-saving changes)."""
    k = int((instant - rules.anchor.astimezone(UTC)) / rules.length)
    while _slot_start(rules, k) > instant:
        k -= 1
    while _slot_start(rules, k + 1) <= instant:
        k += 1
    return k
