"""Planning a window: the input.json built from everyone's days for a window, and an output.json
published as shifts.

A window is [Start, End] in days: its slots start at the handoff time (00:00 by default) on
Start, and every slot that starts before the handoff on the day after End is planned, so End is
the last day a slot starts (a weekly slot that starts on End runs past it). Publishing replaces
the window's shifts atomically (`shifts.publish`), so the optimised roster decides who gets
paged.

Field names in error messages are the API's (`Start`, `TimeZone`, `Output.overrides[0]`, ...).
"""

from __future__ import annotations

import json
import re
import zoneinfo
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any

from oncall_opt import times
from oncall_opt.engine import analytics, burden, outbox
from oncall_opt.engine.availability import PREFERRED, UNAVAILABLE, check_days, days_by_user
from oncall_opt.engine.final import segments
from oncall_opt.engine.overrides import LAYER_NAMES, slack_time
from oncall_opt.engine.report import history as report_history
from oncall_opt.engine.shifts import (
    PRIMARY,
    SECONDARY,
    Published,
    Shift,
    list_schedules,
    publish,
)
from oncall_opt.engine.store import Store, Transaction
from oncall_opt.engine.teams import DEFAULT_TEAM, ROSTER_RULE_LIMIT, get_team, member_ids
from oncall_opt.engine.users import list_users, users_by_id
from oncall_opt.errors import (
    InputError,
    InvalidRequestError,
    NotFoundError,
)
from oncall_opt.roster.away import AWAY_MEANS, away_span
from oncall_opt.roster.grid import MAX_SLOTS, parse_duration
from oncall_opt.roster.load import load_problem
from oncall_opt.roster.problem import Problem, rule_lookback
from oncall_opt.roster.spec import MAX_SLOT_WEIGHT
from oncall_opt.times import format_timestamp, parse_timestamp

_HANDOFF = re.compile(r"^(?P<h>\d{1,2}):(?P<m>\d{2})$")


# ----- input.json for a window ---------------------------------------------------------------
@dataclass(frozen=True)
class RosterOptions:
    """How a window is planned: the input.json extensions, under the API's field names."""

    shift_length: str = "P1D"  # ShiftLength
    time_zone: str = "UTC"  # TimeZone
    handoff: str = "00:00"  # Handoff: local time slots start at
    layers: int = 1  # Layers
    max_consecutive_shifts: int | None = None  # MaxConsecutiveShifts
    min_rest_shifts: int | None = None  # MinRestShifts
    weekend_balance: bool = False  # WeekendBalance
    balance_weight: float | None = None  # BalanceWeight
    happiness_weight: float | None = None  # HappinessWeight
    avoid_weight: float | None = None  # AvoidWeight
    stability_weight: float | None = None  # StabilityWeight
    user_ids: tuple[int, ...] | None = None  # UserIds: plan only these people (default all)
    # KeepPublished: prefer the shifts published in the window (stability); None: whenever the
    # window has published shifts
    keep_published: bool | None = None
    team_id: int = DEFAULT_TEAM  # TeamId: plan its members, against its published shifts
    freeze_hours: float = 48.0  # FreezeHours: published slots starting before now + this stay
    history_from_report: bool = True  # HistoryFromReport: last window's hours as `history`
    away_means: str | None = None  # AwayMeans: how a day marked away is read; None: the team's
    balance_by: str = "shifts"  # BalanceBy: "shifts", or "burden" (expected pages, burden.py)
    night_weight: float = burden.DEFAULT_NIGHT_WEIGHT  # NightWeight: a night page counts this

    def checked(self) -> tuple[timedelta, zoneinfo.ZoneInfo, time]:
        """Validate; returns the slot length, the zone and the handoff time."""
        try:
            length = parse_duration(self.shift_length)
        except ValueError as exc:
            raise InvalidRequestError("ShiftLength", str(exc)) from None
        try:
            zone = zoneinfo.ZoneInfo(self.time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "America"
            raise InvalidRequestError(
                "TimeZone", f"unknown IANA time zone {self.time_zone[:60]!r} (like Europe/Berlin)"
            ) from None
        match = _HANDOFF.match(self.handoff.strip())
        if not match or int(match["h"]) > 23 or int(match["m"]) > 59:
            raise InvalidRequestError(
                "Handoff", f"expected a time like 09:00, got {self.handoff[:60]!r}"
            )
        if self.layers not in (1, 2):
            raise InvalidRequestError("Layers", "must be 1 (primary) or 2 (primary and secondary)")
        if self.max_consecutive_shifts is not None and self.max_consecutive_shifts < 1:
            raise InvalidRequestError("MaxConsecutiveShifts", "must be at least 1")
        if self.min_rest_shifts is not None and self.min_rest_shifts < 0:
            raise InvalidRequestError("MinRestShifts", "must not be negative")
        burden.check_balance_by(self.balance_by)
        burden.check_night_weight(self.night_weight)
        if self.away_means is not None and self.away_means not in AWAY_MEANS:
            raise InvalidRequestError("AwayMeans", f"must be one of {', '.join(AWAY_MEANS)}")
        for name, value in self._weights().items():
            if value < 0 or value != value or value in (float("inf"), float("-inf")):
                raise InvalidRequestError(f"{name.title()}Weight", "must be a number from 0 up")
        return length, zone, time(int(match["h"]), int(match["m"]))

    def _weights(self) -> dict[str, float]:
        weights = {
            "balance": self.balance_weight,
            "happiness": self.happiness_weight,
            "avoid": self.avoid_weight,
            "stability": self.stability_weight,
        }
        return {k: float(v) for k, v in weights.items() if v is not None}


@dataclass(frozen=True)
class Window:
    """The slots of [start day, end day]: the first starts at `first`, the last ends at `stop`."""

    first: datetime  # aware, in the roster's zone
    last: datetime  # the last slot's start: schedule_end
    stop: datetime  # the last slot's end
    slots: int


def window(start: date, end: date, options: RosterOptions) -> Window:
    check_days(start, end)
    length, zone, handoff = options.checked()
    try:
        return _window(start, end, length, zone, handoff, options.shift_length)
    except OverflowError:  # near the year 9999, a slot's end or its UTC time does not exist
        raise InvalidRequestError(
            "End", "the window's last slot would end after the year 9999"
        ) from None


def _window(start: date, end: date, length, zone, handoff, shift_length: str) -> Window:
    first = datetime.combine(start, handoff, tzinfo=zone)
    limit = _utc(datetime.combine(end + timedelta(days=1), handoff, tzinfo=zone))
    # Wall-clock arithmetic, as the slot grid does it: a handoff stays at the same local hour.
    k = 1
    while _utc(first + k * length) < limit:
        k += 1
        if k > MAX_SLOTS:
            raise InvalidRequestError(
                "End", f"the window holds more than {MAX_SLOTS} slots of {shift_length}"
            )
    return Window(first, first + (k - 1) * length, first + k * length, k)


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _before(moment: datetime, span: Callable[[], timedelta]) -> datetime:
    """The UTC instant `span()` before `moment` on its wall clock, as the slot grid steps, or
    the calendar's first day when that is earlier (nobody was on call before it): a window
    near the year 1, or rules that look back thousands of long slots."""
    try:
        return max(_utc(moment - span()), analytics.EARLIEST)
    except OverflowError:
        return analytics.EARLIEST


def build_input(
    store: Store,
    start: date,
    end: date,
    options: RosterOptions | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The input.json document for [start, end] from the team's members and their days.

    Safe re-planning: published slots that start before `now` + FreezeHours (the past and the
    next 48 hours by default) are pinned to whoever is published there (unless they are away
    then); with published shifts in the window, stability is on by default; `history` counts
    the primary shifts each person really worked (overrides included) in the window of the same
    length just before, so whoever covered for others carries less."""
    options = options or RosterOptions()
    now = now or datetime.now(UTC)
    if not 0 <= options.freeze_hours <= MAX_FREEZE_HOURS:
        raise InvalidRequestError("FreezeHours", f"must be 0 to {MAX_FREEZE_HOURS}")
    w = window(start, end, options)
    zone = w.first.tzinfo
    assert zone is not None
    if options.user_ids is not None:
        wanted = list(dict.fromkeys(options.user_ids))
        if not wanted:
            raise InvalidRequestError(
                "UserIds", "is empty: name at least one user, or leave it out"
            )
        known = users_by_id(store, set(wanted))
        for i, user_id in enumerate(wanted):
            if user_id not in known:
                raise NotFoundError(f"UserIds[{i}]: no user with id {user_id}")
        people = [known[i] for i in wanted]
    else:
        members = set(member_ids(store, options.team_id))
        people = [u for u in list_users(store) if u.id in members]
    if not people:
        raise InvalidRequestError("users", "the team has no members yet: add people to it first")

    first_day, last_day = w.first.date(), (w.stop - timedelta(microseconds=1)).date()
    found = days_by_user(store, first_day, last_day)
    away_means = options.away_means or get_team(store, options.team_id).away_means
    _, _, handoff = options.checked()
    users = []
    away_days: dict[str, set[str]] = {}
    for person in people:
        unavailable: list[Any] = []
        preferred, avoided = [], []
        for day, kind in sorted(found.get(person.id, {}).items()):
            midnight = datetime.combine(day, time(0), tzinfo=zone)
            if kind == UNAVAILABLE:
                span = away_span(day, zone, handoff, away_means)  # type: ignore[arg-type]
                if _utc(span[0]) < _utc(w.stop) and _utc(span[1]) > _utc(w.first):
                    away_days.setdefault(str(person.id), set()).add(day.isoformat())
                    # The whole day is the template's bare date; other readings a time span.
                    unavailable.append(
                        day.isoformat()
                        if away_means == "day"
                        else {"start": format_timestamp(span[0]), "end": format_timestamp(span[1])}
                    )
            elif _utc(w.first) <= _utc(midnight + timedelta(hours=12)) < _utc(w.stop):
                # A preferred or avoided date points at the slot on call at local noon.
                (preferred if kind == PREFERRED else avoided).append(day.isoformat())
        entry: dict[str, Any] = {
            "id": str(person.id),
            "name": person.full_name,
            "type": "user_reference",
            "unavailable": unavailable,
            "preferences": {"days": preferred},
        }
        if avoided:
            entry["preferences"]["avoid_days"] = avoided
        users.append(entry)

    doc: dict[str, Any] = {
        "schedule_start": format_timestamp(w.first),
        "schedule_end": format_timestamp(w.last),
        "users": users,
    }
    shift = {}
    if options.shift_length != "P1D":
        shift["length"] = options.shift_length
    if options.time_zone != "UTC":
        shift["time_zone"] = options.time_zone
    if shift:
        doc["shift"] = shift
    if options.layers != 1:
        doc["layers"] = options.layers
    if options.max_consecutive_shifts is not None:
        doc["max_consecutive_shifts"] = options.max_consecutive_shifts
    if options.min_rest_shifts is not None:
        doc["min_rest_shifts"] = options.min_rest_shifts
    if options.weekend_balance:
        doc["weekend_balance"] = True
    if options._weights():
        doc["objective"] = options._weights()
    ids = {u["id"] for u in users}
    previous = _published(store, w, ids, options)
    has_published = bool(previous["overrides"] or previous.get("secondary_overrides"))
    keep = options.keep_published if options.keep_published is not None else has_published
    if keep and has_published:
        doc["previous"] = previous
    pins = _frozen_pins(store, w, users, away_days, options, now)
    if pins:
        doc["fixed"] = pins
    carried = _carry_in(store, w, ids, options)
    if carried:
        doc["carry_in"] = carried
    if options.history_from_report:
        length = w.stop - w.first
        slot_hours = length.total_seconds() / 3600 / w.slots
        worked = report_history(
            store, options.team_id, _before(w.first, lambda: length), _utc(w.first), slot_hours
        )
        worked = {k: v for k, v in worked.items() if k in ids}
        if worked:
            doc["history"] = (
                worked if options.weekend_balance else {k: v["shifts"] for k, v in worked.items()}
            )
    if options.balance_by == "burden":
        _add_burden(store, doc, w, ids, options, now)
    return doc


def slot_bounds(w: Window, options: RosterOptions) -> tuple[list[datetime], list[datetime]]:
    """Each slot's start and end, stepped on the wall clock as the slot grid steps them."""
    length, _, _ = options.checked()
    starts = [w.first + k * length for k in range(w.slots)]
    return starts, [*starts[1:], w.stop]


def burden_estimate(
    store: Store, w: Window, options: RosterOptions, now: datetime
) -> tuple[burden.Estimate, list[burden.SlotBurden]]:
    """The expected burden of each slot of the window (see engine/burden.py)."""
    found = burden.estimate(
        store, options.team_id, _utc(w.first), options.time_zone, options.night_weight, now=now
    )
    return found, found.slots(*slot_bounds(w, options))


def _add_burden(
    store: Store,
    doc: dict[str, Any],
    w: Window,
    ids: set[str],
    options: RosterOptions,
    now: datetime,
) -> None:
    """Fair by burden: each slot's expected burden as its weight, and what each person bore
    in the window of the same length before (at most a year and a bit) as their history."""
    _, slots = burden_estimate(store, w, options, now)
    heaviest = max(slots, key=lambda s: s.points)
    if heaviest.points > MAX_SLOT_WEIGHT:
        raise InvalidRequestError(
            "BalanceBy",
            f"the slot from {format_timestamp(heaviest.start)} would weigh "
            f"{heaviest.points:,} points ({heaviest.pages:.0f} expected pages), more than the "
            f"{MAX_SLOT_WEIGHT:,} the optimizer takes: plan by burden with a shorter "
            "ShiftLength or a lower NightWeight, or by shifts",
        )
    doc["slot_weights"] = [s.points for s in slots]
    if not options.history_from_report:
        return
    length = min(w.stop - w.first, timedelta(days=analytics.MAX_DAYS))
    borne = burden.history_points(
        store,
        options.team_id,
        _before(w.first, lambda: length),
        _utc(w.first),
        options.night_weight,
    )
    history = doc.get("history", {})
    for user_id, points in borne.items():
        if str(user_id) not in ids or not points:
            continue
        entry = history.get(str(user_id), 0)
        entry = dict(entry) if isinstance(entry, dict) else {"shifts": entry}
        entry["burden"] = points
        history[str(user_id)] = entry
    if history:
        doc["history"] = history


def _carry_in(store: Store, w: Window, ids: set[str], options: RosterOptions) -> list[dict]:
    """Who was on call (the final schedule, overrides included) in the slots just before the
    window, as far back as the run and rest rules look: planned after them, the new window
    keeps both rules across the seam."""
    rules = options.max_consecutive_shifts, options.min_rest_shifts
    if rules == (None, None):
        return []
    length, _, _ = options.checked()
    lookback = rule_lookback(options.max_consecutive_shifts, options.min_rest_shifts or 0)
    since = _before(w.first, lambda: lookback * length)
    found = segments(store, options.team_id, since, _utc(w.first),
                     layers=range(1, options.layers + 1))  # fmt: skip
    return [
        {"user": str(s.user.id), "start": format_timestamp(s.start),
         "end": format_timestamp(s.end), "layer": s.layer}
        for s in found
        if str(s.user.id) in ids
    ]  # fmt: skip


def _frozen_pins(
    store: Store,
    w: Window,
    users: list[dict],
    away_days: dict[str, set[str]],
    options: RosterOptions,
    now: datetime,
) -> list[dict[str, Any]]:
    """`fixed` entries keeping the published person in every slot that starts before
    now + FreezeHours (unless they are away that day)."""
    frozen = now + timedelta(hours=options.freeze_hours)
    if _utc(w.first) >= frozen:
        return []
    length, _, _ = options.checked()
    away = {u["id"]: away_days.get(u["id"], set()) for u in users}
    shifts = list_schedules(
        store, _utc(w.first), min(_utc(w.stop), frozen), team_id=options.team_id
    )
    pins = []
    for k in range(w.slots):
        slot = w.first + k * length
        if _utc(slot) >= frozen:
            break
        for layer in range(1, options.layers + 1):
            held = next(
                (s for s in shifts if s.layer == layer and s.start <= _utc(slot) < s.end), None
            )
            who = str(held.user.id) if held else None
            days = {
                slot.date().isoformat(),
                (slot + length - timedelta(microseconds=1)).date().isoformat(),
            }
            if who in away and not days & away[who]:
                pins.append({"user": who, "start": format_timestamp(slot), "layer": layer})
    return pins


def _published(store: Store, w: Window, ids: set[str], options: RosterOptions) -> dict[str, Any]:
    """The team's shifts published in the window as an earlier output.json, for stable
    re-planning."""
    previous: dict[str, Any] = {"overrides": []}
    if options.layers > 1:
        previous["secondary_overrides"] = []
    for s in list_schedules(store, _utc(w.first), _utc(w.stop), team_id=options.team_id):
        if str(s.user.id) not in ids or s.layer > options.layers:
            continue
        key = "overrides" if s.layer == PRIMARY else "secondary_overrides"
        previous[key].append(
            {
                "start": format_timestamp(s.start),
                "end": format_timestamp(s.end),
                "user": {"id": str(s.user.id), "name": s.user.full_name},
            }
        )
    return previous


def problem_for(document: Any, path: str = "Input") -> Problem:
    """Load an input.json document; every problem's JSON path is prefixed with `path`."""
    try:
        return load_problem(document)
    except InputError as exc:
        raise InputError(
            [(f"{path}.{where}", message) for where, message in exc.problems]
        ) from None


# ----- publishing an output.json -------------------------------------------------------------
def _timestamp(name: str, value: Any) -> datetime:
    try:
        return times.parse_timestamp(value).astimezone(UTC)
    except ValueError as exc:
        raise InvalidRequestError(name, str(exc)) from None


def _user_id(name: str, value: Any) -> int:
    ok = isinstance(value, str | int) and not isinstance(value, bool)
    text = str(value).strip() if ok else ""
    if not text.isdigit():
        raise InvalidRequestError(
            name, f"{value!r} is not a user id of this daemon (the number of a user, like '3')"
        )
    return int(text)


def output_shifts(output: Any, path: str = "Output") -> list[tuple[str, Shift]]:
    """The shifts an output.json asks for, each with the JSON path of its override:
    `overrides` in layer 1, `secondary_overrides` in layer 2."""
    if not isinstance(output, dict):
        raise InvalidRequestError(path, "expected an output.json object with overrides")
    if "overrides" not in output:
        raise InvalidRequestError(f"{path}.overrides", "required field is missing")
    found = []
    for key, layer in (("overrides", PRIMARY), ("secondary_overrides", SECONDARY)):
        items = output.get(key)
        if items is None:
            continue
        if not isinstance(items, list):
            raise InvalidRequestError(f"{path}.{key}", "expected an array of overrides")
        for i, item in enumerate(items):
            where = f"{path}.{key}[{i}]"
            if not isinstance(item, dict):
                raise InvalidRequestError(where, "expected an override object")
            for part in ("start", "end", "user"):
                if part not in item:
                    raise InvalidRequestError(f"{where}.{part}", "required field is missing")
            user = item["user"]
            if not isinstance(user, dict) or "id" not in user:
                raise InvalidRequestError(f"{where}.user.id", "required field is missing")
            start = _timestamp(f"{where}.start", item["start"])
            end = _timestamp(f"{where}.end", item["end"])
            if end <= start:
                raise InvalidRequestError(f"{where}.end", "must be after start")
            found.append(
                (where, Shift(_user_id(f"{where}.user.id", user["id"]), start, end, layer))
            )
    return found


def _merged(shifts: Iterable[Shift]) -> list[Shift]:
    """Back-to-back shifts of one person in one layer become one (who is on call is the same)."""
    merged: list[Shift] = []
    for s in sorted(shifts, key=lambda s: (s.layer, s.start)):
        last = merged[-1] if merged else None
        if last and (last.layer, last.user_id, last.end) == (s.layer, s.user_id, s.start):
            merged[-1] = replace(last, end=s.end)
        else:
            merged.append(s)
    return merged


def publish_output(
    store: Store,
    output: Any,
    start: datetime | None = None,
    end: datetime | None = None,
    merge: bool = True,
    team_id: int = DEFAULT_TEAM,
    now: datetime | None = None,
    freeze_hours: float = 0.0,
    planned_with: dict[str, Any] | None = None,
) -> Published:
    """Publish an output.json as the team's schedules, replacing the window [start, end)
    atomically in the layers it uses (all or nothing). Without `start`/`end` the window is the
    span the overrides cover. Override user ids must be ids of users here. With `merge`,
    back-to-back shifts of one person are stored as one. Shifts already published before `now`
    + `freeze_hours` stay as they are (the new roster fills only the hours nobody had). The
    team's channel is told exactly whose shifts changed. `planned_with`: the input.json the
    roster was solved from, whose shift length, run and rest rules the team then keeps."""
    found = output_shifts(output)
    if (start is None) != (end is None):
        raise InvalidRequestError(
            "End" if end is None else "Start", "give both Start and End, or neither"
        )
    if start is None or end is None:
        if not found:
            raise InvalidRequestError(
                "Output.overrides", "is empty: give Start and End to say which window to clear"
            )
        start = min(s.start for _, s in found)
        end = max(s.end for _, s in found)
    else:
        start, end = _timestamp("Start", start), _timestamp("End", end)
        if end <= start:
            raise InvalidRequestError("End", "must be after Start")
        for where, s in found:
            if s.start < start or s.end > end:
                raise InvalidRequestError(
                    where,
                    f"lies outside the window {format_timestamp(start)} to "
                    f"{format_timestamp(end)} being published",
                )
    by_layer = sorted(found, key=lambda pair: (pair[1].layer, pair[1].start))
    for (before, a), (after, b) in pairwise(by_layer):
        if a.layer == b.layer and b.start < a.end:
            raise InvalidRequestError(after, f"overlaps {before}: one person is on call at a time")
    known = users_by_id(store, {s.user_id for _, s in found})
    for where, s in found:
        if s.user_id not in known:
            raise NotFoundError(f"{where}.user.id: no user with id {s.user_id}")
    if not 0 <= freeze_hours <= MAX_FREEZE_HOURS:
        raise InvalidRequestError("FreezeHours", f"must be 0 to {MAX_FREEZE_HOURS}")
    frozen = now + timedelta(hours=freeze_hours) if now is not None else None
    shifts = [s for _, s in found]
    rules = rules_of_output(output, planned_with)  # checked before anything is written
    return publish(
        store,
        start,
        end,
        _merged(shifts) if merge else shifts,
        team_id,
        frozen,
        announce=lambda tx, done: (
            _remember_rules(tx, team_id, rules),
            _announce(tx, team_id, start, end, done, now),
        ),
    )


def rules_of_output(output: Any, planned_with: Any = None) -> dict[str, Any] | None:
    """The rules a published roster was planned with, as far as its output.json says them:
    its time zone, the local time its first slot starts (the handoff), and its layers; with
    the input.json it was solved from, also its ShiftLength, MaxConsecutiveShifts and
    MinRestShifts (None for a rule it did not have: the team no longer has it). None when it
    does not say its zone (an output.json written by hand)."""
    overrides = output.get("overrides") if isinstance(output, dict) else None
    first = overrides[0] if isinstance(overrides, list) and overrides else None
    if not isinstance(first, dict) or not isinstance(first.get("time_zone"), str):
        return None
    try:
        zone = zoneinfo.ZoneInfo(first["time_zone"])
        start = parse_timestamp(first["start"])
    except (KeyError, ValueError, OSError, zoneinfo.ZoneInfoNotFoundError):
        return None  # OSError: a name that is a folder of zones ("America"), or too long
    rules: dict[str, Any] = {
        "TimeZone": first["time_zone"],
        "Handoff": start.astimezone(zone).strftime("%H:%M"),
        "Layers": 2 if output.get("secondary_overrides") else 1,
    }
    if isinstance(planned_with, dict):
        rules.update(_planned_rules(planned_with))
    return rules


def _planned_rules(planned_with: dict[str, Any]) -> dict[str, Any]:
    """ShiftLength, MaxConsecutiveShifts and MinRestShifts of an input.json, within the bounds
    the optimizer keeps (every later change lays out the slots they look at): a value out of
    them is refused naming it, one that is not a whole number is no rule."""
    shift = planned_with.get("shift")
    length = shift.get("length") if isinstance(shift, dict) else None
    if isinstance(length, str):
        try:
            parse_duration(length)
        except ValueError as exc:
            raise InvalidRequestError("Input.shift.length", str(exc)) from None
    rules: dict[str, Any] = {"ShiftLength": length if isinstance(length, str) else "P1D"}
    for key, name, low in (
        ("MaxConsecutiveShifts", "max_consecutive_shifts", 1),
        ("MinRestShifts", "min_rest_shifts", 0),
    ):
        value = planned_with.get(name)
        if not isinstance(value, int) or isinstance(value, bool):
            rules[key] = None
        elif not low <= value <= ROSTER_RULE_LIMIT:
            raise InvalidRequestError(f"Input.{name}", f"must be {low} to {ROSTER_RULE_LIMIT:,}")
        else:
            rules[key] = value
    return rules


def _remember_rules(tx: Transaction, team_id: int, rules: dict[str, Any] | None) -> None:
    """Keep what the roster says on the team, over the rules it had (an admin's rule stays
    unless the roster says otherwise; a rule given None is removed)."""
    if rules is None:
        return
    row = tx.row("SELECT roster_rules FROM teams WHERE id = ?", [team_id])
    kept = json.loads(row["roster_rules"]) if row and row["roster_rules"] else {}
    merged = {k: v for k, v in {**kept, **rules}.items() if v is not None}
    tx.execute("UPDATE teams SET roster_rules = ? WHERE id = ?", [json.dumps(merged), team_id])


MAX_FREEZE_HOURS = 24 * 30
MAX_LISTED_CHANGES = 15


def _announce(tx, team_id: int, start, end, done: Published, now: datetime | None) -> None:
    """The team's channel hears what a publish changed: every changed stretch, who before and
    who after (nothing when nothing changed)."""
    if not done.changes:
        return
    team = get_team(tx, team_id)
    lines = [
        f"Roster published for {outbox.esc(team.name)}, {slack_time(start, None)} to "
        f"{slack_time(end, None)}: {len(done.changes)} change(s)"
    ]
    for change in done.changes[:MAX_LISTED_CHANGES]:
        layer = LAYER_NAMES.get(change.layer, f"layer {change.layer}")
        before = outbox.who(change.before) if change.before else "nobody"
        after = outbox.who(change.after) if change.after else "nobody"
        lines.append(
            f"• {slack_time(change.start, None)} to {slack_time(change.end, None)} ({layer}): "
            f"{before} → {after}"
        )
    if len(done.changes) > MAX_LISTED_CHANGES:
        lines.append(f"... and {len(done.changes) - MAX_LISTED_CHANGES} more")
    outbox.enqueue(tx, "published", "\n".join(lines), now or datetime.now(UTC), (), team_id)
