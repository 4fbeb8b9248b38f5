"""The roster model's index sets and constants, without Pyomo: who may take a slot, balance
groups, capacities. `model.py` (the Pyomo model), `matrix.py` (HiGHS's matrices), the greedy
start and the result's statistics all read them from here, so the solver never loads Pyomo."""

from __future__ import annotations

import math

from oncall_opt.errors import InputError
from oncall_opt.roster.problem import Problem


def balance_groups(problem: Problem) -> list[tuple[int, str]]:
    """Groups balanced separately: each layer, split into weekdays and weekends if asked."""
    parts = ("weekday", "weekend") if problem.weekend_balance else ("all",)
    return [(layer, part) for layer in problem.layers for part in parts]


def group_of(problem: Problem, t: int, layer: int) -> int:
    if not problem.weekend_balance:
        return layer - 1
    return 2 * (layer - 1) + int(problem.grid.is_weekend[t])


def candidates(problem: Problem, t: int, layer: int) -> list[int]:
    """Who may take slot `t` in `layer`: the pinned person if any, else everyone available."""
    pinned = problem.pins.get((t, layer))
    if pinned is not None:
        return [pinned] if t in problem.available[pinned] else []
    return [u for u in range(problem.n_users) if t in problem.available[u]]


def carried(problem: Problem, u: int, t: int) -> int:
    """1 when `u` was on call in slot `t` before the window (t < 0, from carry_in), else 0."""
    return int(t < 0 and bool(problem.carried) and t in problem.carried[u])


def cycle_length(problem: Problem, u: int) -> int:
    """A run at its longest and the rest after it: in any this many slots in a row, `u` is on
    call at most max_consecutive_shifts times (only meaningful when both rules apply)."""
    return (problem.max_consecutive[u] or 0) + problem.min_rest[u]


def history_in_group(problem: Problem, u: int, g: int) -> int:
    """What was already worked that counts in group `g` (history counts in the primary layer):
    shifts, or burden points when the problem has slot weights."""
    layer, part = balance_groups(problem)[g]
    if layer != 1:
        return 0
    weekday, weekend = problem.history[u]
    return weekend if part == "weekend" else weekday


def group_capacity(problem: Problem, u: int, g: int) -> int:
    """The most `u` could take in group `g` (shifts, or burden points with slot weights): a
    bound on how many balance steps are needed."""
    _layer, part = balance_groups(problem)[g]
    slots = [
        t
        for t in problem.available[u]
        if part == "all" or problem.grid.is_weekend[t] == (part == "weekend")
    ]
    most = problem.max_shifts(u)
    if not problem.weighted:
        return min(len(slots), most)
    heaviest = sorted((problem.slot_weights[t] for t in slots), reverse=True)
    return sum(heaviest[:most])


def default_steps(problem: Problem) -> dict[tuple[int, int], int]:
    """Balance steps per (person, group) when no solver asks for fewer: every shift a person
    could take; with slot weights, whose steps are points (a person could take thousands),
    twice their fair share of the group's points plus four of the heaviest slots and what
    pins and min_shifts force on them. Beyond that the last step extends at its own slope (the
    convex cost's tangent), so the model stays a relaxation, exact for every roster within the
    steps; a roster beyond them is never called optimal on the model's word alone."""
    groups = range(len(balance_groups(problem)))
    users = range(problem.n_users)
    if not problem.weighted:
        return {(u, g): group_capacity(problem, u, g) for u in users for g in groups}
    total_weight = sum(user.weight for user in problem.users)
    heaviest = max(problem.slot_weights, default=0)
    points = [0] * len(balance_groups(problem))
    for t in range(problem.n_slots):
        for layer in problem.layers:
            points[group_of(problem, t, layer)] += problem.slot_weights[t]
    steps = {}
    for u, user in enumerate(problem.users):
        pinned = sum(1 for v in problem.pins.values() if v == u)
        forced = heaviest * (problem.min_shifts(u) + pinned)
        for g in groups:
            fair = points[g] * user.weight / total_weight
            guess = 2 * math.ceil(fair) + 4 * heaviest + forced + 1
            steps[u, g] = min(guess, group_capacity(problem, u, g))
    return steps


# Balance steps (columns) the model may have: with slot weights there is one per burden point
# a person could carry, and 2,000,000 took 1.9 GB and 12 s to build and solve; the largest
# plain roster the README measures (1,000 people x 365 days) has 365,000 cells.
MAX_BALANCE_STEPS = 500_000


def check_balance_steps(problem: Problem) -> None:
    """Refuse (naming `slot_weights`) weights whose balance steps would exceed the budget."""
    if not problem.weighted:
        return
    steps = sum(default_steps(problem).values())
    if steps > MAX_BALANCE_STEPS:
        raise InputError([("slot_weights", (
            f"with {problem.n_users} people and these weights the fairness model needs "
            f"{steps:,} steps (one per point a person could carry), more than "
            f"{MAX_BALANCE_STEPS:,}: use smaller weights (a quiet day is 4 points) or a shorter "
            "window"
        ))])  # fmt: skip


def load_of(problem: Problem, assignment) -> dict[tuple[int, int], int]:
    """Per (person, group): shifts, or burden points with slot weights, in a roster."""
    load: dict[tuple[int, int], int] = {}
    for (t, layer), u in assignment.items():
        key = (u, group_of(problem, t, layer))
        load[key] = load.get(key, 0) + problem.slot_weight(t)
    return load


def happiness_ceiling(problem: Problem) -> int:
    """The least-happy level no roster passes. Each wisher needs that many preferred cells,
    and a cell is granted to one person, so level x wishers <= the cells some wisher prefers
    (and each wisher's own preferred cells). The LP knows both only as fractions: at 1000
    people and 365 days it kept a level of 0.36 where every roster has 0."""
    wishers = problem.wishers
    layers = len(problem.layers)
    wished = frozenset().union(*(problem.preferred[u] for u in wishers))
    fewest = min(len(problem.preferred[u]) for u in wishers)
    return min(len(wished) * layers // len(wishers), fewest * layers)


def happiness_cap(problem: Problem) -> int | None:
    """The upper bound the models put on the least-happy level: 0 when the ceiling is 0 (no
    roster grants every wisher a preferred cell), else none. A cap above zero made the LP
    three times slower (100 people x 365 days with every rule: 9.4 s against 2.9 s) for a
    third of a unit of bound."""
    return 0 if happiness_ceiling(problem) == 0 else None


def objective_is_integral(problem: Problem) -> bool:
    """True when every roster's objective is a whole number, so a gap below 1 proves optimality."""
    w = problem.term_weights
    coefficients = [w.balance, w.happiness, w.avoid, w.stability if problem.previous else 0]
    coefficients += [w.balance / user.weight for user in problem.users]
    return all(float(c).is_integer() for c in coefficients)


def history_constant(problem: Problem) -> float:
    """The part of every roster's objective that history alone fixes (the balance term of
    the shifts already worked): a roster cannot change it, so no tolerance may grow with it."""
    return problem.weights.balance * sum(
        history_in_group(problem, u, g) ** 2 / user.weight
        for g, _ in enumerate(balance_groups(problem))
        for u, user in enumerate(problem.users)
    )
