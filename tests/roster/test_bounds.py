"""What makes weighted rosters provable fast, checked against enumeration:

* the least-happy level's ceiling (`structure.happiness_ceiling`) is never below what a roster
  reaches, and bites where more people ask than there are slots to grant;
* a model with fixed columns left out (`Matrices.to_highs(fixed=...)`, the dive's MIP) has the
  same optimum as the whole model with those columns fixed by their bounds;
* the local search (`polish`) stops once it is down to a target (a bound).
"""

from __future__ import annotations

import itertools
import random
import time

import numpy as np
import pytest
from test_optimality import GENERATORS, _slots, base_doc, brute_force, interpret

import oncall_opt as oo
from oncall_opt.errors import NoSolutionInTimeError
from oncall_opt.roster.cancel import Clock
from oncall_opt.roster.diagnose import precheck
from oncall_opt.roster.matrix import build_matrices
from oncall_opt.roster.polish import polish
from oncall_opt.roster.result import evaluate
from oncall_opt.roster.sharing import sharing_bound
from oncall_opt.roster.solve import solve
from oncall_opt.roster.structure import candidates, happiness_ceiling
from oncall_opt.roster.warmstart import violations


def crowded(rng: random.Random) -> dict:
    """More people asking for days than slots to grant them: no roster grants everyone one."""
    doc = base_doc(rng, users=(4, 6), days=(2, 4), p_unavailable=0.1, p_preferred=0.6)
    doc["slot_weights"] = [rng.choice([1, 2, 4]) for _ in _slots(doc)]
    return doc


def _problems(generate, count: int, tag: str) -> list:
    found = []
    for seed in range(200):
        problem = oo.load_problem(generate(random.Random(f"bounds-{tag}-{seed}")))
        if not precheck(problem):
            found.append(problem)
        if len(found) == count:
            return found
    raise AssertionError(f"fewer than {count} feasible {tag} instances")


def _every_roster(problem):
    cells = [(t, layer) for t in range(problem.n_slots) for layer in problem.layers]
    choices = [candidates(problem, t, layer) for t, layer in cells]
    for people in itertools.product(*choices):
        roster = dict(zip(cells, people, strict=True))
        if not violations(problem, roster):
            yield roster


@pytest.mark.parametrize("kind", ["crowded", "default", "burden", "burden_layers", "layers"])
def test_no_roster_is_happier_than_the_ceiling(kind):
    generate = crowded if kind == "crowded" else GENERATORS[kind]
    reached_it = bit = 0
    for problem in _problems(generate, 12, kind):
        happiest = max(evaluate(problem, r).min_happiness for r in _every_roster(problem))
        ceiling = happiness_ceiling(problem)
        assert happiest <= ceiling
        reached_it += happiest == ceiling
        fewest = min(len(problem.preferred[u]) for u in problem.wishers) * len(problem.layers)
        bit += ceiling < fewest
    assert reached_it  # not a bound far above every roster
    if kind == "crowded":
        assert bit  # the count of wished cells, not each person's own, is what binds


def test_crowded_weighted_rosters_are_proven_at_the_enumerated_optimum():
    for seed in range(15):
        doc = crowded(random.Random(f"bounds-proof-{seed}"))
        problem = oo.load_problem(doc)
        if precheck(problem):
            continue
        best, _ = brute_force(interpret(doc))
        roster = solve(problem, time_limit=30)
        assert roster.status == "optimal"
        assert roster.objective == pytest.approx(best)
        assert roster.bound == pytest.approx(best)


@pytest.mark.parametrize("kind", ["burden", "burden_layers", "burden_all", "rotation"])
def test_a_model_without_its_fixed_columns_has_the_fixed_models_optimum(kind):
    for k, problem in enumerate(_problems(GENERATORS[kind], 4, kind)):
        mx = build_matrices(problem)
        whole = mx.to_highs()
        whole.run()
        assert whole.getModelStatus() == oo.roster.solve.Status.kOptimal
        values = np.asarray(whole.getSolution().col_value)
        rng = np.random.default_rng(k)
        fixed = np.full(len(mx.cost), np.nan)
        pick = rng.random(len(mx.cells)) < 0.5
        fixed[: len(mx.cells)][pick] = np.round(values[: len(mx.cells)][pick])
        # the same fixing by bounds on the whole model
        by_bounds = mx.to_highs()
        for j in np.flatnonzero(~np.isnan(fixed)):
            by_bounds.changeColBounds(int(j), fixed[j], fixed[j])
        by_bounds.run()
        left_out = mx.to_highs(fixed=fixed)
        left_out.run()
        assert left_out.getModelStatus() == by_bounds.getModelStatus()
        assert left_out.getInfo().objective_function_value == pytest.approx(
            by_bounds.getInfo().objective_function_value, abs=1e-6
        )
        free = np.flatnonzero(np.isnan(fixed))
        assert left_out.getNumCol() == len(free)


def test_polish_stops_at_its_target():
    doc = base_doc(random.Random("polish-target"), users=(4, 4), days=(7, 7), p_unavailable=0)
    doc["slot_weights"] = [1, 2, 1, 2, 1, 1, 4]
    problem = oo.load_problem(doc)
    lumped = {(t, 1): 0 for t in range(problem.n_slots)}  # all on the first person
    start = evaluate(problem, lumped).total
    far = time.perf_counter() + 30
    improved = polish(problem, lumped, far)
    assert evaluate(problem, improved).total < start  # there is room to improve
    assert polish(problem, lumped, far, target=start) == lumped  # already at the target
    halfway = (start + evaluate(problem, improved).total) / 2
    stopped = evaluate(problem, polish(problem, lumped, far, target=halfway)).total
    assert evaluate(problem, improved).total <= stopped <= halfway


def test_an_lp_cut_short_still_gives_its_bound(monkeypatch):
    """When the time runs out after the first LP (its lazy rows still out), that LP's value is
    the bound (or the sharing bound where that is higher), never above the enumerated optimum;
    before, such a solve had no bound at all."""
    import oncall_opt.roster.solve as solving

    checked = 0
    for seed in range(40):
        doc = GENERATORS["burden_all"](random.Random(f"bounds-cut-short-{seed}"))
        problem = oo.load_problem(doc)
        if precheck(problem):
            continue
        mx = build_matrices(problem)
        first = mx.to_highs(relax=True, rows=np.flatnonzero(~mx.lazy_rows & ~mx.implied_rows))
        first.run()
        values = np.asarray(first.getSolution().col_value)
        waiting = np.flatnonzero(mx.lazy_rows & ~mx.implied_rows)
        if not (mx.slack(waiting, values) < -1e-6).any():
            continue  # the first LP is the whole LP here: nothing cut short
        runs = []
        real_run = solving.run_highs

        def one_lp_then_out_of_time(highs, clock, runs=runs, real_run=real_run):
            runs.append(highs)
            if len(runs) > 1:
                return solving.Status.kTimeLimit
            return real_run(highs, clock)

        monkeypatch.setattr(solving, "run_highs", one_lp_then_out_of_time)
        try:
            roster = solve(problem, time_limit=30, method="dive")
        except NoSolutionInTimeError:  # the greedy found no roster either: nothing to report
            continue
        finally:
            monkeypatch.undo()
        best, _ = brute_force(interpret(doc))
        assert roster.status == "feasible"
        assert "lazy rows" in roster.method
        cut_short = solving._rounded_bound(problem, first.getInfo().objective_function_value)
        floor = sharing_bound(problem, Clock(time.perf_counter() + 30))
        assert roster.bound == pytest.approx(max(cut_short, solving._rounded_bound(problem, floor)))
        assert roster.bound <= best + 1e-6
        checked += 1
        if checked == 5:
            return
    raise AssertionError(f"only {checked} instances whose first LP breaks a lazy row")


def test_a_worse_dive_never_replaces_the_weighted_start(monkeypatch):
    """With slot weights the greedy roster starts the search; a dive that hands back a worse
    roster (HiGHS's cutoff does not always hold one back) is dropped, not kept."""
    import oncall_opt.roster.solve as solving
    from oncall_opt.roster.warmstart import greedy_roster

    checked = 0
    for problem in _problems(GENERATORS["burden"], 10, "worse-dive"):
        rosters = sorted(_every_roster(problem), key=lambda r: evaluate(problem, r).total)
        greedy = greedy_roster(problem)
        worst = rosters[-1]
        if greedy is None or evaluate(problem, worst).total <= evaluate(problem, greedy).total:
            continue

        def worse_dive(problem, mx, *args, worst=worst, **kwargs):
            return solving._Dive(worst, mx.column_values(problem, worst), 1)

        def lp_only(highs, clock, real_run=solving.run_highs):
            if len(highs.getLp().integrality_):  # the full MIP would find the optimum anyway
                return solving.Status.kTimeLimit
            return real_run(highs, clock)

        monkeypatch.setattr(solving, "_dive", worse_dive)
        monkeypatch.setattr(solving, "run_highs", lp_only)
        monkeypatch.setattr(solving, "polish", lambda problem, roster, *a, **k: roster)
        roster = solve(problem, time_limit=30, method="dive")
        monkeypatch.undo()
        assert roster.objective <= evaluate(problem, greedy).total
        checked += 1
    assert checked >= 3


def test_polish_walks_the_least_happy_plateau():
    """Ann and Bo each want a day someone else holds, and no single trade grants both: the
    happiness term cannot move one trade at a time, so moves and trades alone stop at level 0.
    A trade at no cost that grants Ann hers (Cy keeps one wish) and then one for Bo raise it."""
    days = [f"2027-01-0{d}T00:00:00Z" for d in range(4, 10)]  # Monday to Saturday
    doc = {
        "schedule_start": days[0],
        "schedule_end": days[-1],
        "users": [
            {"id": "ann", "name": "Ann", "preferences": {"days": [days[1]]}},
            {"id": "bo", "name": "Bo", "preferences": {"days": [days[0]]}},
            {"id": "cy", "name": "Cy", "preferences": {"days": [days[1], days[4], days[5]]}},
        ],
    }
    problem = oo.load_problem(doc)
    ann, bo, cy = 0, 1, 2
    roster = {(0, 1): ann, (2, 1): ann, (3, 1): bo, (5, 1): bo, (1, 1): cy, (4, 1): cy}
    assert not violations(problem, roster)
    start = evaluate(problem, roster)
    assert start.min_happiness == 0
    polished = evaluate(problem, polish(problem, roster, time.perf_counter() + 30))
    assert polished.min_happiness == 1
    assert polished.total < start.total
    assert polished.balance == start.balance  # two shifts each still
