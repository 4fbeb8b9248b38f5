"""A validated roster problem: the input document plus everything derived from it per slot.

`Problem` is immutable. What-if helpers (`with_unavailable`, `with_user`, ...) return a new
problem built from a revised document, so every change is validated the same way as input.json.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from oncall_opt.errors import InputError
from oncall_opt.roster.grid import SlotGrid, parse_duration
from oncall_opt.roster.spec import DateRange, History, InputDocument, ObjectiveWeights, User
from oncall_opt.roster.validate import validate_document
from oncall_opt.times import format_timestamp


@dataclass(frozen=True)
class Problem:
    """Everything the model needs, indexed by user position `u` and slot position `t`."""

    document: InputDocument
    grid: SlotGrid
    available: tuple[frozenset[int], ...]  # slots each user can take
    preferred: tuple[frozenset[int], ...]
    avoided: tuple[frozenset[int], ...]
    pins: dict[tuple[int, int], int]  # (slot, layer) -> user
    previous: dict[tuple[int, int], int]  # (slot, layer) -> user in the earlier roster
    history: tuple[tuple[int, int], ...]  # per user: (weekday-or-all shifts, weekend shifts)
    max_consecutive: tuple[int | None, ...]
    min_rest: tuple[int, ...]
    # per user: the slots before the window they were on call in (-1 = the one just before),
    # as far back as their run and rest rules look (`carry_in`)
    carried: tuple[frozenset[int], ...] = field(default=())
    warnings: tuple[str, ...] = field(default=())
    # each slot's burden in points (`slot_weights`); empty: every slot counts 1
    slot_weights: tuple[int, ...] = field(default=())

    # ----- convenience views -------------------------------------------------------------
    @property
    def users(self) -> list[User]:
        return self.document.users

    @property
    def n_users(self) -> int:
        return len(self.document.users)

    @property
    def wishers(self) -> list[int]:
        """The people whose granted preferred slots the least-happy level counts: those with
        a preferred slot in the window (someone who asked for nothing would hold it at zero
        and make every other wish worthless); everyone when nobody asked."""
        asked = [u for u in range(self.n_users) if self.preferred[u]]
        return asked or list(range(self.n_users))

    @property
    def n_slots(self) -> int:
        return len(self.grid)

    @property
    def layers(self) -> tuple[int, ...]:
        return tuple(range(1, self.document.layers + 1))

    @property
    def weekend_balance(self) -> bool:
        return self.document.weekend_balance

    @property
    def weights(self):
        return self.document.objective or ObjectiveWeights()

    def user_index(self, user_id: str) -> int:
        for u, user in enumerate(self.document.users):
            if user.id == user_id:
                return u
        raise KeyError(f"no user with id '{user_id}'")

    def max_shifts(self, u: int) -> int:
        limit = self.document.users[u].max_shifts
        capacity = len(self.available[u])  # one layer at a time
        return capacity if limit is None else min(limit, capacity)

    def min_shifts(self, u: int) -> int:
        return self.document.users[u].min_shifts or 0

    @property
    def weighted(self) -> bool:
        """Fairness balances burden points (`slot_weights`), not shifts."""
        return bool(self.slot_weights)

    @property
    def term_weights(self) -> ObjectiveWeights:
        """The objective's weights as the model uses them: `objective`'s, and with slot
        weights the happiness, avoid and stability weights times the square of the mean slot
        weight (rounded, at least 1). The balance term is then in points² and one slot more or
        less still weighs against a preferred or an avoided day about as it does when
        balancing shifts (unscaled, it would outweigh every wish hundreds of times); whole
        weights stay whole, so a gap below 1 still proves a roster optimal."""
        w = self.weights
        if not self.weighted:
            return w
        unit = max(1, round(sum(self.slot_weights) / len(self.slot_weights))) ** 2
        return ObjectiveWeights(
            balance=w.balance,
            happiness=w.happiness * unit,
            avoid=w.avoid * unit,
            stability=w.stability * unit,
        )

    def slot_weight(self, t: int) -> int:
        return self.slot_weights[t] if self.slot_weights else 1

    @property
    def has_side_rules(self) -> bool:
        """Rules that break the network-flow structure and need the general MIP."""
        return (
            len(self.layers) > 1
            or self.weekend_balance
            or any(c is not None for c in self.max_consecutive)
            or any(r > 1 for r in self.min_rest)
        )

    # ----- what-if helpers: each returns a new Problem --------------------------------------
    def revise(self, change: Callable[[dict[str, Any]], None]) -> Problem:
        """A new problem from this one's document after `change` edits it (as a plain dict)."""
        raw = self.document.model_dump(mode="python", exclude_none=True)
        change(raw)
        return problem_from_dict(raw)

    def with_unavailable(self, user_id: str, start: date | datetime, end: date | datetime):
        """`user_id` cannot be on call from `start` to `end` (a date end is inclusive)."""
        u = self.user_index(user_id)

        def change(raw):
            raw["users"][u].setdefault("unavailable", []).append({"start": start, "end": end})

        return self.revise(change)

    def with_user(self, user_id: str, name: str = "", **fields: Any) -> Problem:
        """A new team member (any per-user field of input.json may be given)."""
        return self.revise(lambda raw: raw["users"].append({"id": user_id, "name": name, **fields}))

    def without_user(self, user_id: str) -> Problem:
        """The team without `user_id`; their pins and history go with them."""
        self.user_index(user_id)

        def change(raw):
            raw["users"] = [x for x in raw["users"] if x["id"] != user_id]
            raw["fixed"] = [p for p in raw.get("fixed", []) if p["user"] != user_id]
            raw["carry_in"] = [c for c in raw.get("carry_in", []) if c["user"] != user_id]
            raw.get("history", {}).pop(user_id, None)

        return self.revise(change)

    def with_user_fields(self, user_id: str, **fields: Any) -> Problem:
        """Change per-user fields, e.g. `weight=0.5` or `max_shifts=6`."""
        u = self.user_index(user_id)
        return self.revise(lambda raw: raw["users"][u].update(fields))

    def with_preferences(
        self,
        user_id: str,
        days: Iterable[date | datetime | str] = (),
        avoid_days: Iterable[date | datetime | str] = (),
    ) -> Problem:
        """`user_id` also asks for `days` and would also rather not take `avoid_days`.

        Entries are added to what the person already asked, read as in input.json: a date
        points at the slot on call at its local noon, a timestamp at the slot on call then."""
        u = self.user_index(user_id)
        wished = {"days": list(days), "avoid_days": list(avoid_days)}

        def change(raw):
            preferences = raw["users"][u].setdefault("preferences", {})
            for key, entries in wished.items():
                if entries:
                    preferences[key] = [*preferences.get(key, []), *entries]

        return self.revise(change)

    def with_weight(self, user_id: str, weight: float) -> Problem:
        """`user_id` carries `weight` times a full share of the load (0.5 = half-time)."""
        return self.with_user_fields(user_id, weight=weight)

    def with_objective(self, **weights: float) -> Problem:
        """Change objective weights: balance, happiness, avoid, stability."""
        return self.revise(lambda raw: raw.setdefault("objective", {}).update(weights))

    def with_rules(self, **fields: Any) -> Problem:
        """Change top-level fields, e.g. `max_consecutive_shifts=3`, `layers=2`."""
        return self.revise(lambda raw: raw.update(fields))

    def with_previous(self, output: dict[str, Any], stability: float | None = None) -> Problem:
        """Re-plan against an earlier output.json, penalising changed slots."""

        def change(raw):
            raw["previous"] = output
            if stability is not None:
                raw.setdefault("objective", {})["stability"] = stability

        return self.revise(change)

    def to_input_json(self) -> dict[str, Any]:
        """The problem as an input.json document."""
        return self.document.to_json_dict()


def problem_from_dict(raw: Any) -> Problem:
    return build_problem(validate_document(raw))


def build_problem(doc: InputDocument) -> Problem:
    """Check what the types alone cannot, then lay out the grid and index every entry by slot."""
    problems: list[tuple[str, str]] = []
    warnings: list[str] = []

    if doc.schedule_end < doc.schedule_start:
        problems.append(("schedule_end", "is before schedule_start"))
    if not doc.users:
        problems.append(("users", "has no users: at least one person is needed"))
    seen: dict[str, int] = {}
    for u, user in enumerate(doc.users):
        if user.id in seen:
            problems.append(
                (f"users[{u}].id", f"duplicate id '{user.id}' (also users[{seen[user.id]}])")
            )
        seen.setdefault(user.id, u)
        limits = (user.min_shifts, user.max_shifts)
        if None not in limits and limits[0] > limits[1]:
            problems.append(
                (
                    f"users[{u}].min_shifts",
                    f"{user.min_shifts} is above max_shifts {user.max_shifts}",
                )
            )

    shift = doc.shift
    length_text = shift.length if shift else "P1D"
    try:
        length = parse_duration(length_text)
    except ValueError as exc:
        problems.append(("shift.length", str(exc)))
        length = parse_duration("P1D")
    zone, zone_name = None, "UTC"
    if shift and shift.time_zone is not None:
        try:
            zone = zoneinfo.ZoneInfo(shift.time_zone)
            zone_name = shift.time_zone
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            problems.append(("shift.time_zone", f"unknown IANA time zone '{shift.time_zone}'"))

    for key, worked in (doc.history or {}).items():
        if key not in seen:
            problems.append((f"history.{key}", f"no user has id '{key}'"))
        if isinstance(worked, History) and worked.weekend_shifts > worked.shifts:
            problems.append((f"history.{key}.weekend_shifts", "is more than shifts in all"))
        if (
            isinstance(worked, History)
            and None not in (worked.burden, worked.weekend_burden)
            and worked.weekend_burden > worked.burden
        ):
            problems.append((f"history.{key}.weekend_burden", "is more than burden in all"))
    for i, entry in enumerate(doc.carry_in or []):
        if entry.user not in seen:
            problems.append((f"carry_in[{i}].user", f"no user has id '{entry.user}'"))
        if entry.end <= entry.start:
            problems.append((f"carry_in[{i}].end", "is not after its start"))
        if entry.end > doc.schedule_start:
            problems.append(
                (f"carry_in[{i}].end", "is after schedule_start: inside the window, use fixed")
            )
        if entry.layer > doc.layers:
            problems.append(
                (f"carry_in[{i}].layer", f"is {entry.layer} but the roster has {doc.layers}")
            )
    for i, pin in enumerate(doc.fixed or []):
        if pin.user not in seen:
            problems.append((f"fixed[{i}].user", f"no user has id '{pin.user}'"))
        if pin.layer > doc.layers:
            problems.append(
                (f"fixed[{i}].layer", f"is {pin.layer} but the roster has {doc.layers} layer(s)")
            )
    if problems:
        raise InputError(problems)

    try:
        grid = SlotGrid.build(doc.schedule_start, doc.schedule_end, length, zone, zone_name)
    except ValueError as exc:
        raise InputError([("schedule_end", str(exc))]) from None
    except OverflowError:  # the last slot would end after year 9999
        raise InputError(
            [("schedule_end", "the last slot would end after the year 9999")]
        ) from None

    n = len(grid)
    everything = frozenset(range(n))
    available, preferred, avoided = [], [], []
    for u, user in enumerate(doc.users):
        path = f"users[{u}]"
        blocked: set[int] = set()
        for i, entry in enumerate(user.unavailable or []):
            slots = _slots_blocked(grid, entry)
            if not slots:
                warnings.append(
                    f"{path}.unavailable[{i}]: {_describe(entry)} is outside the window; ignored"
                )
            blocked.update(slots)
        available.append(everything - blocked)
        prefs = user.preferences
        preferred.append(
            _pointed(grid, prefs.days if prefs else None, f"{path}.preferences.days", warnings)
        )
        avoided.append(
            _pointed(
                grid,
                prefs.avoid_days if prefs else None,
                f"{path}.preferences.avoid_days",
                warnings,
            )
        )

    index = {user.id: u for u, user in enumerate(doc.users)}
    pins: dict[tuple[int, int], int] = {}
    for i, pin in enumerate(doc.fixed or []):
        t = grid.slot_at(pin.start)
        if t is None:
            raise InputError(
                [(f"fixed[{i}].start", f"{format_timestamp(pin.start)} is outside the window")]
            )
        key = (t, pin.layer)
        if key in pins and pins[key] != index[pin.user]:
            other = doc.users[pins[key]].id
            raise InputError(
                [
                    (
                        f"fixed[{i}]",
                        f"slot {format_timestamp(grid.local(grid.starts[t]))} layer {pin.layer} "
                        f"is already pinned to '{other}'",
                    )
                ]
            )
        pins[key] = index[pin.user]

    previous: dict[tuple[int, int], int] = {}
    if doc.previous is not None:
        for layer, overrides in (
            (1, doc.previous.overrides),
            (2, doc.previous.secondary_overrides),
        ):
            for o in overrides:
                if o.user.id not in index:
                    continue
                for t in grid.slots_overlapping(o.start, o.end):
                    # An earlier override counts for a slot only when it covered all of it.
                    if o.start <= grid.starts[t] and grid.ends[t] <= o.end:
                        previous[(t, layer)] = index[o.user.id]

    slot_weights = _slot_weights(doc, n)
    history = [_history(doc, user.id, slot_weights) for user in doc.users]

    max_consecutive = tuple(
        u.max_consecutive_shifts
        if u.max_consecutive_shifts is not None
        else doc.max_consecutive_shifts
        for u in doc.users
    )
    min_rest = tuple(
        u.min_rest_shifts if u.min_rest_shifts is not None else (doc.min_rest_shifts or 0)
        for u in doc.users
    )
    # Each rule's rows cost slots x its length per person: refuse what no solve could finish
    # building (a person resting 1,000 slots after each shift of a 20,000-slot window).
    work = sum(
        len(slots) * min(n, (max_consecutive[u] or 0) + min_rest[u])
        for u, slots in enumerate(available)
    )
    if work > MAX_RULE_WORK:
        field_name = "min_rest_shifts" if any(min_rest) else "max_consecutive_shifts"
        raise InputError([(field_name, (
            f"with {len(doc.users)} people and {n} slots these run and rest rules would need "
            f"about {work:,} checks, more than {MAX_RULE_WORK:,}: shorten the rule or the window"
        ))])  # fmt: skip
    return Problem(
        document=doc,
        grid=grid,
        available=tuple(available),
        preferred=tuple(preferred),
        avoided=tuple(avoided),
        pins=pins,
        previous=previous,
        history=tuple(history),
        max_consecutive=max_consecutive,
        min_rest=min_rest,
        carried=_carried(doc, grid, index, max_consecutive, min_rest),
        warnings=tuple(warnings),
        slot_weights=slot_weights,
    )


def _slot_weights(doc: InputDocument, n: int) -> tuple[int, ...]:
    if doc.slot_weights is None:
        return ()
    if len(doc.slot_weights) != n:
        raise InputError([("slot_weights", (
            f"has {len(doc.slot_weights)} numbers but the window has {n} slots: one per slot"
        ))])  # fmt: skip
    return tuple(doc.slot_weights)


def _history(doc: InputDocument, user_id: str, slot_weights: tuple[int, ...]) -> tuple[int, int]:
    """What a person already worked, as (weekday-or-all, weekend): shifts, or with slot
    weights burden points (a history that gives only shifts counts each at the window's mean
    slot weight, rounded)."""
    h = (doc.history or {}).get(user_id, 0)
    shifts, weekend = (h.shifts, h.weekend_shifts) if isinstance(h, History) else (h, 0)
    if slot_weights:
        mean = round(sum(slot_weights) / len(slot_weights))
        burden = h.burden if isinstance(h, History) and h.burden is not None else None
        weekend_burden = h.weekend_burden if isinstance(h, History) else None
        shifts = burden if burden is not None else shifts * mean
        weekend = weekend_burden if weekend_burden is not None else weekend * mean
    weekend = min(weekend, shifts) if doc.weekend_balance else 0
    return (shifts - weekend, weekend)


MAX_RULE_WORK = 20_000_000


def rule_lookback(max_consecutive: int | None, min_rest: int) -> int:
    """How many slots before a window the run and rest rules look back: a longest run and
    the rest after it, or the rest alone (what `carry_in` needs to say)."""
    return max((max_consecutive or 0) + max(min_rest, 1), min_rest + 1)


def _carried(doc, grid, index, max_consecutive, min_rest) -> tuple[frozenset[int], ...]:
    """Per person, the slots before the window (-1, -2, ...) a carry_in entry shares any
    time with, as far back as their rules look: a run of max_consecutive_shifts and its rest,
    or the rest alone."""
    carried: list[set[int]] = [set() for _ in doc.users]
    for entry in doc.carry_in or []:
        u = index[entry.user]
        for k in range(1, rule_lookback(max_consecutive[u], min_rest[u]) + 1):
            start, end = grid.slot_before(k)
            if entry.start < end and start < entry.end:
                carried[u].add(-k)
    return tuple(frozenset(slots) for slots in carried)


def _slots_blocked(grid: SlotGrid, entry: datetime | date | DateRange) -> Iterable[int]:
    """Slots an unavailability touches: an instant blocks its slot, a date or range every slot
    it overlaps (a date is the whole local day)."""
    if isinstance(entry, DateRange):
        start = grid.day_bounds(entry.start)[0] if _is_date(entry.start) else entry.start
        end = grid.day_bounds(entry.end)[1] if _is_date(entry.end) else entry.end
        return grid.slots_overlapping(start, end)
    if _is_date(entry):
        return grid.slots_overlapping(*grid.day_bounds(entry))
    t = grid.slot_at(entry)
    return [] if t is None else [t]


def _pointed(grid: SlotGrid, entries, path: str, warnings: list[str]) -> frozenset[int]:
    """Slots that preferred or avoided entries point at: an instant's slot, a date's noon slot."""
    slots: set[int] = set()
    for i, entry in enumerate(entries or []):
        t = grid.slot_at_noon(entry) if _is_date(entry) else grid.slot_at(entry)
        if t is None:
            warnings.append(f"{path}[{i}]: {_describe(entry)} is outside the window; ignored")
        else:
            slots.add(t)
    return frozenset(slots)


def _is_date(value: Any) -> bool:
    return isinstance(value, date) and not isinstance(value, datetime)


def _describe(entry: Any) -> str:
    if isinstance(entry, DateRange):
        return f"{_describe(entry.start)} to {_describe(entry.end)}"
    if isinstance(entry, datetime):
        return format_timestamp(entry.astimezone(entry.tzinfo or UTC))
    return entry.isoformat()
