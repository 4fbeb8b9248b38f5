"""The sharing bound (`roster/sharing.py`), checked against enumeration: the least cost of
sharing whole slots out is exactly that (its load caps lose no sharing), the bound is below
every roster, above the LP where slots are heavy, still a bound when cut short, and a start
that meets it is proven without an LP."""

from __future__ import annotations

import itertools
import random
import time
from collections import Counter

import pytest
from test_optimality import oracle

import oncall_opt as oo
from oncall_opt.roster import sharing
from oncall_opt.roster.cancel import Clock
from oncall_opt.roster.matrix import build_matrices
from oncall_opt.roster.sharing import least_sharing_cost, sharing_bound
from oncall_opt.roster.solve import _relaxation


def _clock(seconds: float = 30.0) -> Clock:
    return Clock(time.perf_counter() + seconds)


def _least_by_enumeration(people: Counter, slots: Counter) -> float:
    """Every way to hand each slot to someone, the cheapest."""
    persons = [c for c, n in people.items() for _ in range(n)]
    items = [w for w, n in slots.items() for _ in range(n)]
    least = float("inf")
    for owners in itertools.product(range(len(persons)), repeat=len(items)):
        load = [0] * len(persons)
        for owner, w in zip(owners, items, strict=True):
            load[owner] += w
        least = min(least, sum((h + x) ** 2 / w for (h, w), x in zip(persons, load, strict=True)))
    return least


def _case(rng: random.Random) -> tuple[Counter, Counter]:
    people = Counter()
    for _ in range(rng.randint(2, 4)):
        people[rng.choice([0, 0, 1, 3, 6]), rng.choice([0.5, 1.0, 1.0, 2.0])] += 1
    slots = Counter(rng.choice([1, 1, 2, 3, 4, 6, 9]) for _ in range(rng.randint(1, 7)))
    return people, slots


def test_the_least_sharing_cost_is_the_least_over_every_sharing():
    heavy_and_uneven = 0
    for seed in range(60):
        people, slots = _case(random.Random(f"sharing-{seed}"))
        least = _least_by_enumeration(people, slots)
        assert least_sharing_cost(people, slots, _clock()) == pytest.approx(least), (people, slots)
        # The cases a cap could cut short: history, weights and heavy slots at once.
        heavy_and_uneven += len(people) > 1 and max(slots) >= 4 and len(slots) > 1
    assert heavy_and_uneven >= 10


def test_cut_short_or_counted_in_points_it_is_still_a_bound(monkeypatch):
    people, slots = Counter({(0, 1.0): 2, (2, 0.5): 1}), Counter({4: 3, 1: 2})
    least = _least_by_enumeration(people, slots)
    out_of_time = Clock(time.perf_counter() - 1)
    assert least_sharing_cost(people, slots, out_of_time) <= least + 1e-9
    monkeypatch.setattr(sharing, "_MAX_PATTERNS", 1)  # too many: slots counted as points
    in_points = least_sharing_cost(people, slots, _clock())
    # 14 points, as cheaply as they share: 7 and 6 to the first two, 1 to the third, whose
    # history of 2 at weight 0.5 makes each point dear (2 would cost 32 against 18).
    assert in_points == pytest.approx(7**2 + 6**2 + (2 + 1) ** 2 / 0.5)
    assert in_points < least  # a weaker bound (whole slots of 4 cannot make 6 and 6)


KINDS = ["default", "weight", "history", "weekend", "layers", "rotation", "burden",
         "burden_layers", "burden_weekend", "burden_all", "burden_extras", "objective"]  # fmt: skip


@pytest.mark.parametrize("kind", KINDS)
def test_the_sharing_bound_is_below_every_roster(kind):
    met = 0
    for seed in range(12):
        doc, _inst, best, _ = oracle(kind, seed)
        if best is None:
            continue
        bound = sharing_bound(oo.load_problem(doc), _clock())
        assert bound <= best + 1e-6 * max(1.0, abs(best)), (kind, seed)
        met += bound >= best - 1e-6 * max(1.0, abs(best))
    if kind in ("default", "burden"):
        assert met  # not a bound far below every roster


def test_with_heavy_slots_it_is_above_the_lp():
    above = 0
    for seed in range(12):
        doc, _inst, best, _ = oracle("burden", seed)
        if best is None:
            continue
        problem = oo.load_problem(doc)
        _status, lp, _rows = _relaxation(build_matrices(problem), _clock(), {})
        above += sharing_bound(problem, _clock()) > lp.objective + 1e-6
    assert above


def test_a_start_that_meets_the_sharing_bound_is_proven_without_an_lp():
    proven_at_once = 0
    for kind in ("burden", "burden_layers"):
        for seed in range(12):
            doc, _inst, best, _ = oracle(kind, seed)
            if best is None:
                continue
            roster = oo.solve(oo.load_problem(doc), time_limit=30)
            assert roster.status == "optimal"
            assert roster.objective == pytest.approx(best)
            if "sharing bound" in roster.method and "LP" not in roster.method:
                proven_at_once += 1
    assert proven_at_once
