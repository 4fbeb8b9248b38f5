"""A bound from the balance alone: the least any sharing of each group's slots can cost.

Every roster shares each balance group's slots (the primary layer's weekdays, ...) among the
people, so its balance term is at least the least that sharing out those slots can cost,
whoever may take which slot and whatever the rules say. With slot weights that least is well
above the LP relaxation's balance: a Sunday night of 4 points goes to one person whole, where
the LP shares it out in quarters (100 people x 365 days with every rule: 5,010 for the four
groups against the LP's 4,985). The least-happy level is at most its ceiling
(`structure.happiness_ceiling`) and the avoid and stability terms are at least zero, so

    balance weight x (least sharing cost, summed over the groups)
        - happiness weight x happiness ceiling

is below every roster's objective. It takes milliseconds, before any LP: a start that meets it
is proven optimal at once (1000 people x 365 days by burden), and where the LP runs out of
time it is still a bound.

The least sharing cost of a group is a small integer program. People with the same cost
function (history in the group, weight) form a class; a pattern is how many slots of each
weight one person takes; the program picks how many people of each class take each pattern so
that every slot is taken. A pattern's load is capped by an exchange argument (`_caps`), so the
program stays small and loses no optimal sharing. HiGHS's dual bound is what counts, so a
program cut short by its time limit still gives a bound.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator

import highspy
import numpy as np

from oncall_opt.roster.cancel import Clock, run_highs
from oncall_opt.roster.problem import Problem
from oncall_opt.roster.structure import (
    balance_groups,
    group_of,
    happiness_ceiling,
    history_in_group,
)

# Past this many patterns in a group the slots are counted as single points instead: a
# relaxation (any sharing of whole slots is also one of points), with one pattern per load.
# The program's time grows fast with its patterns: the demo team by burden (7 people, each
# a class of their own by history, slots of 3 to 15 points) had 11,004 and took 9.3 s to
# prove, over 1 s within a 0.5 s limit; in points, 21 ms for the same bound (14,139).
_MAX_PATTERNS = 2_000

Class = tuple[float, float]  # (history in the group, the person's weight)


def sharing_bound(problem: Problem, clock: Clock, options: dict | None = None) -> float:
    """A lower bound on every roster's objective: see the module's docstring."""
    groups = range(len(balance_groups(problem)))
    slots: list[Counter[int]] = [Counter() for _ in groups]
    for t in range(problem.n_slots):
        for layer in problem.layers:
            weight = problem.slot_weight(t)
            if weight:
                slots[group_of(problem, t, layer)][weight] += 1
    balance = 0.0
    for g in groups:
        people = Counter(
            (history_in_group(problem, u, g), problem.users[u].weight)
            for u in range(problem.n_users)
        )
        share = clock.share(1 / (len(groups) - g))
        balance += least_sharing_cost(people, slots[g], share, options)
    weights = problem.term_weights
    return weights.balance * balance - weights.happiness * happiness_ceiling(problem)


def least_sharing_cost(
    people: Counter[Class], slots: Counter[int], clock: Clock, options: dict | None = None
) -> float:
    """A lower bound on the least sum over people of (history + load)^2 / weight when `slots`
    (how many of each weight) are shared out whole among `people` (how many of each class);
    the least itself when HiGHS finishes in time."""
    if not slots:
        return sum(n * h * h / w for (h, w), n in people.items())
    weights = sorted(slots)
    patterns = _patterns(people, slots, weights, _MAX_PATTERNS)
    if patterns is None:  # too many: count in points, one pattern per load
        slots, weights = Counter({1: sum(w * n for w, n in slots.items())}), [1]
        patterns = _patterns(people, slots, weights)
        assert patterns is not None  # no limit
    columns = [(c, p) for c, ps in patterns.items() for p in ps]
    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("mip_rel_gap", 0.0)
    for name, value in (options or {}).items():  # the solve's own (threads)
        highs.setOptionValue(name, value)
    n = len(columns)
    cost = [
        (h + sum(k * w for k, w in zip(p, weights, strict=True))) ** 2 / weight
        for (h, weight), p in columns
    ]
    highs.addVars(n, np.zeros(n), np.array([people[c] for c, _ in columns], dtype=float))
    every = np.arange(n, dtype=np.int32)
    highs.changeColsCost(n, every, np.array(cost))
    highs.changeColsIntegrality(n, every, np.ones(n, dtype=np.uint8))
    of_class: dict[Class, list[int]] = {c: [] for c in people}
    for j, (c, _) in enumerate(columns):
        of_class[c].append(j)
    for c, count in people.items():
        mine = np.array(of_class[c], dtype=np.int32)
        highs.addRow(count, count, len(mine), mine, np.ones(len(mine)))
    taken = np.array([p for _, p in columns], dtype=float).reshape(n, len(weights))
    for i, w in enumerate(weights):
        taking = np.flatnonzero(taken[:, i]).astype(np.int32)
        highs.addRow(slots[w], slots[w], len(taking), taking, taken[taking, i])
    run_highs(highs, clock)
    # The dual bound, even when HiGHS proves its roster optimal: that roster may lie up to
    # its absolute gap tolerance above the least.
    bound = highs.getInfo().mip_dual_bound
    # No bound in time: every person at least their history, a bound with no sharing at all.
    floor = sum(n * h * h / w for (h, w), n in people.items())
    return max(bound, floor) if math.isfinite(bound) else floor


def _caps(people: Counter[Class], slots: Counter[int]) -> dict[Class, int]:
    """The most load a person of each class carries in some least-cost sharing.

    In a least-cost sharing no slot moves to someone else with a saving: for a person a
    holding a slot of weight w and any other person b,
    w (2 (h_a + L_a) - w) / weight_a <= w (2 (h_b + L_b) + w) / weight_b.
    Someone's load is at most the mean T / n, so with b that person (or a is at most the
    mean too), (2 (h_a + L_a) - w) / weight_a <= R, where R is the largest over classes of
    (2 (h + T / n) + w) / weight; the largest w gives the loosest cap."""
    n = sum(people.values())
    mean = sum(w * k for w, k in slots.items()) / n
    heaviest = max(slots)
    reach = max((2 * (h + mean) + heaviest) / weight for h, weight in people)
    total = sum(w * k for w, k in slots.items())
    return {
        (h, weight): max(0, min(total, math.floor((reach * weight + heaviest) / 2 - h + 1e-9)))
        for h, weight in people
    }


def _patterns(
    people: Counter[Class], slots: Counter[int], weights: list[int], limit: float = math.inf
) -> dict[Class, list[tuple[int, ...]]] | None:
    """Every class's patterns (slots of each weight taken) within its cap; None past
    `limit` patterns."""
    caps = _caps(people, slots)
    found: dict[Class, list[tuple[int, ...]]] = {}
    made = 0
    for c, cap in caps.items():
        found[c] = []
        for pattern in _within(weights, slots, cap):
            found[c].append(pattern)
            made += 1
            if made > limit:
                return None
    return found


def _within(weights: list[int], slots: Counter[int], cap: int) -> Iterator[tuple[int, ...]]:
    """Counts of slots of each weight, at most as many as there are, with load <= cap."""
    if not weights:
        yield ()
        return
    w, rest = weights[0], weights[1:]
    for k in range(min(slots[w], cap // w) + 1):
        for tail in _within(rest, slots, cap - k * w):
            yield (k, *tail)
