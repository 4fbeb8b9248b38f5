"""The neighbourhood search (`roster/neighbourhood.py`):

* a part re-solved keeps every cell outside it, breaks no rule, and is the best roster that
  keeps them: the same optimum as the whole model with those cells fixed by their bounds
  (so the balance steps it holds, where no open cell can move them, lose nothing);
* the search never hands back a worse roster or one that breaks a rule, is the same for the
  same seed, stops at its target, and on small rotations reaches the optimum that
  exhaustive search finds.
"""

from __future__ import annotations

import math
import random
import sys
import threading
import time
from pathlib import Path

import highspy
import numpy as np
import pytest
from test_bounds import _every_roster, _problems
from test_optimality import EXTRA_SEEDS, GENERATORS, oracle

import oncall_opt as oo
import oncall_opt.roster.neighbourhood as neighbourhood
from oncall_opt.errors import SolveCancelledError
from oncall_opt.roster.cancel import Cancellation, Clock
from oncall_opt.roster.matrix import build_matrices
from oncall_opt.roster.neighbourhood import _Parts, improve, lowest_wishers
from oncall_opt.roster.result import evaluate
from oncall_opt.roster.structure import candidates, objective_is_integral
from oncall_opt.roster.warmstart import greedy_roster, violations

Status = highspy.HighsModelStatus
KINDS = ["rotation", "layers", "burden_layers", "burden_all", "weekend", "history"]
EXACT = {"mip_rel_gap": 0.0, "mip_abs_gap": 1e-9}


def _far() -> Clock:
    return Clock(time.perf_counter() + 60)


def _with_cells_fixed(mx, fixed_cells: np.ndarray, values: np.ndarray) -> float | None:
    """The whole model's optimum with `fixed_cells` held at `values` by their bounds."""
    highs = mx.to_highs(**EXACT)
    for j in np.flatnonzero(fixed_cells):
        highs.changeColBounds(int(j), values[j], values[j])
    highs.run()
    if highs.getModelStatus() != oo.roster.solve.Status.kOptimal:
        return None
    return highs.getInfo().objective_function_value


def _random_roster(problem, mx, rng: random.Random):
    """A valid roster chosen by random cell costs (the objective ignored): room to improve."""
    highs = mx.to_highs(mip_rel_gap=0.5)
    costs = [rng.random() for _ in mx.cells] + [0.0] * (len(mx.cost) - len(mx.cells))
    highs.changeColsCost(len(costs), np.arange(len(costs), dtype=np.int32), np.array(costs))
    highs.run()
    if highs.getInfo().primal_solution_status != 2:
        return None
    return mx.roster_in(np.asarray(highs.getSolution().col_value))


@pytest.mark.parametrize("kind", KINDS)
def test_a_part_re_solved_is_the_best_roster_that_keeps_the_rest(kind):
    checked = improved = 0
    for k, problem in enumerate(_problems(GENERATORS[kind], 6, f"part-{kind}")):
        rng = random.Random(f"part-{kind}-{k}")
        mx = build_matrices(problem)
        start = _random_roster(problem, mx, rng)
        if start is None:
            continue
        parts = _Parts(problem, mx, mx.needed_rows(), EXACT)
        values = mx.column_values(problem, start)
        slots = rng.sample(range(problem.n_slots), max(1, problem.n_slots // 2))
        opened = np.isin([t for _, t, _ in mx.cells], slots)
        best = _with_cells_fixed(mx, ~opened, values)
        assert best is not None  # the start itself keeps them
        cutoff = evaluate(problem, start).total - 1e-6
        found, _, _ = parts.solve(values, opened, cutoff, _far())
        if best > cutoff:
            assert found is None  # nothing better keeps the rest: nothing is handed back
        else:
            assert found is not None
            assert violations(problem, found) == []
            kept = {key: u for key, u in start.items() if key[0] not in slots}
            assert all(found[key] == u for key, u in kept.items())
            assert evaluate(problem, found).total == pytest.approx(best, abs=1e-6)
            improved += 1
        checked += 1
    assert checked >= 3 and improved >= 1


@pytest.mark.parametrize("kind", ["rotation", "burden_all", "layers"])
def test_the_search_never_worsens_a_roster_and_keeps_every_rule(kind, monkeypatch):
    """With parts far smaller than the roster (a slot or two, two people), from a random
    roster: every roster it hands back is valid and no worse, and the same seed gives the
    same roster when the time does not run out."""
    monkeypatch.setattr(neighbourhood, "_FIRST_CELLS", 1)
    monkeypatch.setattr(neighbourhood, "_STALL", 8)
    checked = improved = 0
    for k, problem in enumerate(_problems(GENERATORS[kind], 8, f"search-{kind}")):
        mx = build_matrices(problem)
        start = _random_roster(problem, mx, random.Random(f"search-{kind}-{k}"))
        if start is None:
            continue
        runs = [
            improve(problem, mx, start, _far(), mx.needed_rows(), lambda total: False, seed=3)
            for _ in range(2)
        ]
        # Two workers at once (threads sharing the best roster): not the same run twice, but
        # as safe.
        runs.append(
            improve(problem, mx, start, _far(), mx.needed_rows(), lambda total: False, workers=2)
        )
        for run in runs:
            assert violations(problem, run.assignment) == []
            assert evaluate(problem, run.assignment).total <= evaluate(problem, start).total
        assert runs[0].assignment == runs[1].assignment
        checked += 1
        improved += runs[0].improvements > 0
    assert checked >= 4 and improved  # the small parts did find better rosters


@pytest.mark.parametrize("workers", [1, 2])
def test_the_search_stops_at_its_target_and_reaches_small_rotations_optimum(workers):
    checked = 0
    for seed in EXTRA_SEEDS["rotation"]:
        doc, _inst, best, _ = oracle("rotation", seed)
        if best is None:
            continue
        problem = oo.load_problem(doc)
        start = greedy_roster(problem)
        if start is None or evaluate(problem, start).total - best < 0.5:
            continue
        mx = build_matrices(problem)
        slack = 0.5 if objective_is_integral(problem) else 1e-6
        rows = mx.needed_rows()
        stopped = improve(problem, mx, start, _far(), rows, lambda total: True, workers=workers)
        assert stopped.assignment == start and stopped.tries == 0
        target = best + slack
        search = improve(problem, mx, start, _far(), rows, target.__gt__, workers=workers)
        assert evaluate(problem, search.assignment).total == pytest.approx(best)
        assert violations(problem, search.assignment) == []
        checked += 1
        if checked == 6:
            return
    raise AssertionError(f"only {checked} rotations whose greedy roster is not optimal")


def test_a_cancelled_search_stops_every_worker_and_says_so():
    """A cancellation reaches the worker threads' HiGHS runs too, and the search raises it
    rather than returning as if it had timed out."""
    problem = next(p for p in _problems(GENERATORS["rotation"], 8, "cancel") if greedy_roster(p))
    mx = build_matrices(problem)
    cancellation = Cancellation()
    tries = []

    def reached(total: float) -> bool:  # asked before every try: cancel on the third
        tries.append(total)
        if len(tries) == 3:
            cancellation.cancel()
        return False

    # Uncancelled, the search's many small models are let go once each has run.
    kept = Cancellation()
    done = improve(problem, mx, greedy_roster(problem), Clock(time.perf_counter() + 60, kept),
                   mx.needed_rows(), lambda total: False, workers=2)  # fmt: skip
    assert done.tries > 10 and kept.watching and not kept._models

    clock = Clock(time.perf_counter() + 60, cancellation)
    with pytest.raises(SolveCancelledError):
        improve(problem, mx, greedy_roster(problem), clock, mx.needed_rows(), reached, workers=2)
    assert len(tries) < 10


def test_while_paused_only_the_first_worker_searches(monkeypatch):
    """Something beside the search may need a core (the MIP at the LP's happiness level):
    while `paused()` says so, the second worker tries nothing; once it stops saying so, the
    second worker searches too."""
    problem = next(p for p in _problems(GENERATORS["rotation"], 8, "pause") if greedy_roster(p))
    mx = build_matrices(problem)
    on_main: list[bool] = []
    solve_part = _Parts.solve

    def recorded(self, *args, **kwargs):
        on_main.append(threading.current_thread() is threading.main_thread())
        return solve_part(self, *args, **kwargs)

    monkeypatch.setattr(_Parts, "solve", recorded)
    start = greedy_roster(problem)
    improve(problem, mx, start, _far(), mx.needed_rows(), lambda total: False, workers=2,
            paused=lambda: True)  # fmt: skip
    assert len(on_main) > 10 and all(on_main)

    on_main.clear()
    improve(problem, mx, start, _far(), mx.needed_rows(), lambda total: False, workers=2,
            paused=lambda: len(on_main) < 5)  # fmt: skip
    assert all(on_main[:5]) and not all(on_main)


def _rotation_with_room(wishes: bool):
    """A small rotation (`benchmarks/instances.py`), with or without preferred days, whose
    greedy roster is not optimal: the problem, its greedy roster and its optimal one."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from instances import rotation

    for seed in range(20):
        doc = rotation(7, 3, 3, layers=2, history=True, preferences=wishes, seed=seed)
        problem = oo.load_problem(doc)
        start = greedy_roster(problem)
        if start is None:
            continue
        best = oo.solve(problem, method="mip")
        if best.status == "optimal" and best.objective < evaluate(problem, start).total - 0.5:
            return problem, start, best.assignment
    raise AssertionError(f"no rotation {'with' if wishes else 'without'} wishes has room")


def test_a_stalled_search_without_wishes_starts_again_and_keeps_the_best_of_every_descent():
    """After `_RESTART` tries in a row (per worker) that found nothing better, when the full
    MIP has no time to be of use (`may_stop()` false), the search goes back to its first
    roster; the best roster of all descents is what it hands back. With time for the full
    MIP it stops instead (later, at `_STALL`), and with wishes it never starts again."""
    problem, start, best = _rotation_with_room(wishes=False)
    mx = build_matrices(problem)

    def shared(may_stop: bool, problem=problem, start=start) -> neighbourhood._Shared:
        return neighbourhood._Shared(
            problem, mx, start, lambda total: False, lambda: may_stop, neighbourhood._STALL,
            lambda: False,
        )  # fmt: skip

    search = shared(may_stop=False)
    assert search.restart_after == neighbourhood._RESTART < neighbourhood._STALL
    assert search.offer(best)
    for _ in range(neighbourhood._RESTART - 1):
        search.offer(None)
    assert search.current()[0] == best  # one try short: this descent goes on
    search.offer(None)
    assert search.current()[0] == start and search.restarts == 1
    assert search.best == best
    # the new descent goes on from the first roster, and finds its own better rosters
    search.offer(None)
    assert search.current()[0] == start and search.best == best
    assert search.offer(best) and search.current()[0] == best and search.restarts == 1

    waiting = shared(may_stop=True)  # the full MIP may go: no restart, a stop at _STALL
    waiting.offer(best)
    for _ in range(neighbourhood._STALL):
        assert waiting.current()[0] == best
        waiting.offer(None)
    assert waiting.current() is None and waiting.restarts == 0

    wished, wished_start, wished_best = _rotation_with_room(wishes=True)
    with_wishes = shared(False, wished, wished_start)
    assert with_wishes.restart_after == 0
    with_wishes.offer(wished_best)
    for _ in range(3 * neighbourhood._STALL):
        assert with_wishes.current()[0] == wished_best
        with_wishes.offer(None)


def test_a_search_stopped_after_starting_again_hands_back_the_best_roster_it_found(monkeypatch):
    """With no bound to reach and no time for the full MIP, the search on a small rotation
    finds its optimum, stalls there (here every part re-solved after it finds nothing) and
    starts again from its first roster. Stopped in that new descent, it hands back the
    optimum (the best of every descent, not the roster it was searching from), valid."""
    problem, start, best = _rotation_with_room(wishes=False)
    mx = build_matrices(problem)
    optimum, first = evaluate(problem, best).total, evaluate(problem, start).total
    solve_part, found = _Parts.solve, []

    def nothing_after_the_optimum(self, *args, **kwargs):
        if found and min(found) == pytest.approx(optimum):
            return None, Status.kOptimal, 0.0
        roster, status, seconds = solve_part(self, *args, **kwargs)
        if roster is not None:
            found.append(evaluate(problem, roster).total)
        return roster, status, seconds

    monkeypatch.setattr(_Parts, "solve", nothing_after_the_optimum)
    asked = []

    def reached(total: float) -> bool:  # asked before every try, with the descent's roster
        asked.append(total)
        return bool(found) and min(found) == pytest.approx(optimum) and total == first

    search = improve(problem, mx, start, _far(), mx.needed_rows(), reached,
                     may_stop=lambda: False)  # fmt: skip
    assert search.restarts == 1 and asked[-1] == first
    assert evaluate(problem, search.assignment).total == pytest.approx(optimum)
    assert violations(problem, search.assignment) == []


def _lift_key(problem, roster, level: int, wishers: list[int]):
    """(objective, minus the wishers lifted above `level`); None when one falls below it."""
    granted = dict.fromkeys(wishers, 0)
    for (t, _), u in roster.items():
        if u in granted and t in problem.preferred[u]:
            granted[u] += 1
    if min(granted.values()) < level:
        return None  # the part keeps every one of them at the level at least
    return evaluate(problem, roster).total, -sum(n > level for n in granted.values())


@pytest.mark.parametrize("kind", ["default", "avoid", "layers", "consecutive", "history"])
def test_a_part_that_lifts_least_happy_wishers_is_the_best_by_objective_then_lift(kind):
    """The wishes part may keep the objective if it grants a least-happy wisher one more
    preferred slot (the level rises only when all of them gain, so this is progress). With
    every cell open, plain enumeration of the rosters that keep each of them at the level
    at least says what the part must return: nothing when no roster is lower, or as low
    with one of them lifted; else the lowest objective and, at it, the most lifted."""
    checked = lifted_somewhere = 0
    for k, problem in enumerate(_problems(GENERATORS[kind], 30, f"lift-{kind}")):
        if not objective_is_integral(problem) or not lowest_wishers(problem, {})[1]:
            continue
        choices = [len(candidates(problem, t, layer))
                   for t in range(problem.n_slots) for layer in problem.layers]  # fmt: skip
        if math.prod(choices) > 20_000:
            continue
        rosters = list(_every_roster(problem))
        if not rosters:
            continue
        mx = build_matrices(problem)
        parts = _Parts(problem, mx, mx.needed_rows(), {"mip_rel_gap": 0.0, "mip_abs_gap": 0.999})
        everything = np.ones(len(mx.cells), dtype=bool)
        for start in random.Random(f"lift-{kind}-{k}").sample(rosters, min(3, len(rosters))):
            level, wishers = lift = lowest_wishers(problem, start)
            total = evaluate(problem, start).total

            keys = [_lift_key(problem, r, level, wishers) for r in rosters]
            better = [k for k in keys if k is not None and k < (total, 0)]
            found, _, _ = parts.solve(mx.column_values(problem, start), everything, total,
                                      _far(), lift)  # fmt: skip
            if not better:
                assert found is None
            else:
                assert found is not None and violations(problem, found) == []
                assert _lift_key(problem, found, level, wishers) == min(better)
                lifted_somewhere += min(better)[0] == total
            checked += 1
    assert checked >= 6 and lifted_somewhere
