"""What-if analysis: what changes between two rosters, what a weight costs, how big a team must be.

    import oncall_opt as oo
    problem = oo.load_problem("data/input.json")
    baseline = oo.solve(problem)
    away = oo.solve(problem.with_unavailable("PA1B2C3", "2026-12-07", "2026-12-18"))
    oo.compare(baseline, away).query("changed")    # the slots that moved, from whom to whom
    oo.compare_people(baseline, away)              # per person: shifts gained and lost
    oo.sweep(problem, [0, 1, 2, 5, 10])            # balance against preferences, weight by weight
    oo.smallest_team(problem, max_shifts=6, min_rest_shifts=2).size
    oo.keep_past(problem, baseline, "2026-12-14")  # re-plan from a date on, the past kept as it was

People are matched by id, so rosters of different teams (someone joins or leaves) compare.
Every function leaves its arguments unchanged: problems are immutable and rosters are answers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pandas as pd

from oncall_opt.errors import InfeasibleError
from oncall_opt.roster.problem import Problem
from oncall_opt.roster.result import Roster
from oncall_opt.roster.solve import solve

TERMS = ("balance", "happiness", "avoid", "stability")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

_COMPARE_COLUMNS = [
    "slot",
    "layer",
    "start",
    "end",
    "before",
    "after",
    "before_id",
    "after_id",
    "changed",
]


# ----- differences between two rosters ---------------------------------------------------------
def _check_same_slots(before: Problem, after: Problem) -> None:
    a, b = before.grid, after.grid
    if a.starts != b.starts or a.end != b.end:
        raise ValueError(
            "the rosters cover different slots (schedule window or shift length differ); "
            "only rosters of the same window and shifts compare slot by slot"
        )


def _on_call(roster: Roster, key: tuple[int, int]) -> tuple[str | None, str | None]:
    """(id, name) of whoever `roster` has in a (slot, layer), or (None, None) for no such layer."""
    u = roster.assignment.get(key)
    if u is None:
        return None, None
    user = roster.problem.users[u]
    return user.id, user.label


def compare(before: Roster, after: Roster) -> pd.DataFrame:
    """Slot by slot, who is on call in `before` and who in `after`.

    One row per slot and layer: `slot`, `layer`, `start`, `end` (in the schedule's zone),
    `before` and `after` (names), `before_id` and `after_id`, and `changed` (the ids differ).
    `compare(a, b).query("changed")` lists exactly the slots that moved. A layer only one of
    the rosters has shows None on the other side. Raises ValueError when the rosters cover
    different slots.
    """
    _check_same_slots(before.problem, after.problem)
    grid = after.problem.grid
    rows = []
    for key in sorted(set(before.assignment) | set(after.assignment)):
        t, layer = key
        before_id, before_name = _on_call(before, key)
        after_id, after_name = _on_call(after, key)
        rows.append(
            {
                "slot": t,
                "layer": layer,
                "start": pd.Timestamp(grid.local(grid.starts[t])),
                "end": pd.Timestamp(grid.local(grid.ends[t])),
                "before": before_name,
                "after": after_name,
                "before_id": before_id,
                "after_id": after_id,
                "changed": before_id != after_id,
            }
        )
    return pd.DataFrame(rows, columns=_COMPARE_COLUMNS)


def compare_people(before: Roster, after: Roster) -> pd.DataFrame:
    """Per person, what going from `before` to `after` does to them.

    One row per person in either roster (those of `before` first, in team order): `user_id`,
    `user_name`, `team` ("stays", "joins" or "leaves"), `shifts_before`, `shifts_after`,
    `change` (after minus before), `gained` (slots they take over) and `lost` (slots handed to
    someone else), so that change = gained - lost, and `preferred_before`, `preferred_after`
    (preferred slots granted). Raises ValueError when the rosters cover different slots.
    """
    diff = compare(before, after)
    moved = diff[diff["changed"]]
    gained = moved["after_id"].value_counts()
    lost = moved["before_id"].value_counts()
    per_before = before.per_user.set_index("user_id")
    per_after = after.per_user.set_index("user_id")
    ids = list(per_before.index) + [i for i in per_after.index if i not in per_before.index]
    rows = []
    for user_id in ids:
        was, now = user_id in per_before.index, user_id in per_after.index
        source = per_after if now else per_before
        shifts_before = int(per_before.at[user_id, "shifts"]) if was else 0
        shifts_after = int(per_after.at[user_id, "shifts"]) if now else 0
        rows.append(
            {
                "user_id": user_id,
                "user_name": source.at[user_id, "user_name"],
                "team": "stays" if was and now else ("leaves" if was else "joins"),
                "shifts_before": shifts_before,
                "shifts_after": shifts_after,
                "change": shifts_after - shifts_before,
                "gained": int(gained.get(user_id, 0)),
                "lost": int(lost.get(user_id, 0)),
                "preferred_before": int(per_before.at[user_id, "preferred_granted"]) if was else 0,
                "preferred_after": int(per_after.at[user_id, "preferred_granted"]) if now else 0,
            }
        )
    return pd.DataFrame(rows)


def calendar_frame(roster: Roster, before: Roster | None = None) -> pd.DataFrame:
    """`roster.assignments` laid out as a calendar, for heat maps of weekday against week.

    Adds `date` (the local start date), `weekday` ("Mon" to "Sun"), `week` (the Monday that
    starts the slot's week, as a date) and `day` (day of the month). With `before`, `changed`
    marks the slots where `roster` differs from it and `before` names who had them; without,
    `changed` is the roster's own (against the previous roster it was planned from).
    """
    frame = roster.assignments.copy()
    local = frame["start"]
    frame["date"] = [s.date() for s in local]
    frame["weekday"] = [WEEKDAYS[s.weekday()] for s in local]
    frame["week"] = [(s - pd.Timedelta(days=s.weekday())).date() for s in local]
    frame["day"] = [s.day for s in local]
    if before is not None:
        diff = compare(before, roster).set_index(["slot", "layer"])
        keys = list(zip(frame["slot"], frame["layer"], strict=True))
        frame["changed"] = [bool(diff.at[key, "changed"]) for key in keys]
        frame["before"] = [diff.at[key, "before"] for key in keys]
    return frame


# ----- the price of a weight -------------------------------------------------------------------
def sweep(
    problem: Problem,
    weights: Iterable[float],
    term: str = "happiness",
    time_limit: float = 60.0,
) -> pd.DataFrame:
    """Solve `problem` once per weight of one objective `term` and tabulate each roster's terms.

    `term` is "balance", "happiness", "avoid" or "stability". One row per weight, in the order
    given: `weight`, `current` (True where the weight is the problem's own), `objective`,
    `balance` (sum of squared shifts; lower is fairer), `min_happiness` (preferred slots granted
    to the least-happy person), `preferred_granted` (in all), `avoided`, `changed`,
    `min_shifts`, `max_shifts`, `spread` (max - min shifts) and `status`.

    As the happiness weight rises, a proven-optimal roster never grants the least-happy person
    fewer preferred slots, and the rest of its objective never gets cheaper: the curve of
    `balance` against `min_happiness` is the price of honouring preferences.
    """
    if term not in TERMS:
        raise ValueError(f"term must be one of {', '.join(TERMS)}, not {term!r}")
    own = getattr(problem.weights, term)
    rows = []
    for weight in weights:
        roster = solve(problem.with_objective(**{term: weight}), time_limit=time_limit)
        terms = roster.statistics["terms"]
        shifts = roster.per_user["shifts"]
        rows.append(
            {
                "weight": weight,
                "current": math.isclose(weight, own),
                "objective": roster.objective,
                "balance": terms["balance"],
                "min_happiness": terms["min_happiness"],
                "preferred_granted": int(roster.per_user["preferred_granted"].sum()),
                "avoided": terms["avoided"],
                "changed": terms["changed"],
                "min_shifts": int(shifts.min()),
                "max_shifts": int(shifts.max()),
                "spread": int(shifts.max() - shifts.min()),
                "status": roster.status,
            }
        )
    return pd.DataFrame(rows)


# ----- team size -------------------------------------------------------------------------------
@dataclass(frozen=True)
class TeamSize:
    """The answer of `smallest_team`."""

    size: int  # people needed
    people: list[str]  # their ids: the first of the order, then any newcomers
    roster: Roster  # a roster for that team within the limit and rules
    attempts: pd.DataFrame  # size, people, feasible, reason: each size tried, smallest first


def newcomer_id(k: int) -> str:
    """The id of the k-th (1-based) newcomer `team_of_size` adds: NEW1, NEW2, ..."""
    return f"NEW{k}"


def _order(problem: Problem, order: Sequence[str] | None) -> list[str]:
    ids = [user.id for user in problem.users]
    if order is None:
        return ids
    order = list(order)
    unknown = [i for i in order if i not in ids]
    if unknown:
        raise ValueError(f"order names people not in the team: {', '.join(unknown)}")
    if len(set(order)) != len(order):
        raise ValueError("order names someone twice")
    return order


def team_of_size(
    problem: Problem,
    size: int,
    max_shifts: int | None = None,
    order: Sequence[str] | None = None,
    **rules: Any,
) -> Problem:
    """`problem` with the team cut or grown to `size` people, everyone within `max_shifts`.

    Keeps the first `size` people of `order` (user ids; by default the team as listed; people
    left out of `order` are never kept). Past the whole order, adds newcomers `NEW1`, `NEW2`,
    ... ("New hire 1", ...) who are available every slot and have no preferences. Dropped
    people take their pins and history with them. `max_shifts` lowers (never raises) each
    person's own limit; `rules` are top-level rules as for `Problem.with_rules`, e.g.
    `max_consecutive_shifts=2, min_rest_shifts=2`.
    """
    if size < 1:
        raise ValueError(f"a team needs at least one person, not {size}")
    keep = _order(problem, order)[:size]
    newcomers = [
        {"id": newcomer_id(k), "name": f"New hire {k}"} for k in range(1, size - len(keep) + 1)
    ]

    def change(raw: dict[str, Any]) -> None:
        by_id = {user["id"]: user for user in raw["users"]}
        raw["users"] = [by_id[i] for i in keep] + newcomers
        if max_shifts is not None:
            for user in raw["users"]:
                own = user.get("max_shifts")
                user["max_shifts"] = max_shifts if own is None else min(own, max_shifts)
        if "fixed" in raw:
            raw["fixed"] = [pin for pin in raw["fixed"] if pin["user"] in keep]
        if "history" in raw:
            raw["history"] = {i: h for i, h in raw["history"].items() if i in keep}
        raw.update(rules)

    return problem.revise(change)


def smallest_team(
    problem: Problem,
    max_shifts: int,
    order: Sequence[str] | None = None,
    max_new: int = 10,
    time_limit: float = 60.0,
    **rules: Any,
) -> TeamSize:
    """The fewest people who cover every slot with nobody on call more than `max_shifts` times.

    Teams are built by `team_of_size` (the first people of `order`, then newcomers available
    every slot, at most `max_new` of them) under the top-level `rules`, e.g.
    `max_consecutive_shifts=2, min_rest_shifts=2`. Sizes are tried upwards from the counting
    bound (slots x layers / max_shifts, rounded up), so every smaller team either falls short
    of that bound or was proven infeasible by the solver. Raises InfeasibleError, with the
    reasons of the largest team tried, when no size works, and NoSolutionInTimeError when a
    size can be neither solved nor ruled out within `time_limit` seconds.
    """
    if max_shifts < 1:
        raise ValueError(f"max_shifts must be at least 1, not {max_shifts}")
    if max_new < 0:
        raise ValueError(f"max_new must be at least 0, not {max_new}")
    people = _order(problem, order)
    slots = problem.n_slots * len(problem.with_rules(**rules).layers)
    attempts: list[dict[str, Any]] = []
    reasons: list[str] = []
    for size in range(max(1, math.ceil(slots / max_shifts)), len(people) + max_new + 1):
        candidate = team_of_size(problem, size, max_shifts, people, **rules)
        ids = [user.id for user in candidate.users]
        try:
            roster = solve(candidate, time_limit=time_limit)
        except InfeasibleError as exc:
            reasons = exc.reasons
            attempts.append(
                {"size": size, "people": ids, "feasible": False, "reason": "; ".join(reasons)}
            )
            continue
        attempts.append({"size": size, "people": ids, "feasible": True, "reason": ""})
        return TeamSize(size, ids, roster, pd.DataFrame(attempts))
    largest = len(people) + max_new
    raise InfeasibleError(
        [f"no team of up to {largest} people stays within {max_shifts} shifts", *reasons]
    )


# ----- re-planning mid-period ------------------------------------------------------------------
def _instant(problem: Problem, until: str | date | datetime) -> datetime:
    if isinstance(until, str):
        until = date.fromisoformat(until) if len(until) == 10 else datetime.fromisoformat(until)
    if isinstance(until, datetime):
        if until.tzinfo is None or until.utcoffset() is None:
            raise ValueError(f"{until} has no UTC offset")
        return until
    return problem.grid.day_bounds(until)[0]


def keep_past(problem: Problem, roster: Roster, until: str | date | datetime) -> Problem:
    """`problem` with every slot that starts before `until` pinned to whoever `roster` has there.

    What has already happened (or is under way) stays as it was, so a re-plan only changes what
    is still ahead. `until` is a date (local midnight in the schedule's zone, as "2026-12-14"
    or a `date`) or a timestamp with offset. Slots the problem already pins keep their pin.
    Raises ValueError when the rosters' slots differ, or when someone on call in the past is
    not in `problem` (for someone leaving mid-period, use `with_unavailable` from that date).
    """
    _check_same_slots(roster.problem, problem)
    limit = _instant(problem, until)
    grid = problem.grid
    ids = {user.id for user in problem.users}
    pins = []
    for (t, layer), u in sorted(roster.assignment.items()):
        if grid.starts[t] >= limit or (t, layer) in problem.pins:
            continue
        if layer not in problem.layers:
            continue
        user_id = roster.problem.users[u].id
        if user_id not in ids:
            raise ValueError(
                f"{roster.problem.users[u].label} is on call before {until} but is not in the "
                "team; use with_unavailable from their last day instead of without_user"
            )
        pins.append({"user": user_id, "start": grid.starts[t], "layer": layer})

    def change(raw: dict[str, Any]) -> None:
        raw["fixed"] = [*raw.get("fixed", []), *pins]

    return problem.revise(change)
