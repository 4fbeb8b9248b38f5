"""Solving a roster to proven optimality with HiGHS through Pyomo's persistent interface.

Two methods, chosen automatically:

* **network**: no side rules. For a fixed happiness level L the model is a convex-cost network
  flow, so its LP relaxation has an integral optimal vertex. The optimal cost f(L) is convex and
  non-decreasing in L (an LP's value as a function of a right-hand side), hence the objective
  g(L) = balance weight x f(L) - happiness weight x L is convex in L too, and a short search over
  L with warm-started LPs proves the optimum. To keep the LPs small, balance steps stop near
  the fair share and the last step extends at its own slope: a convex cost's tangent, so each
  LP is a relaxation whose value is still convex in L and exact for rosters within the steps.
  If the best roster found works beyond someone's steps, they get more and the search reruns;
  otherwise its exact cost equals the relaxed minimum over all levels, which proves it optimal.
* **mip**: side rules (layers, consecutive limits, rest, weekend balance). The full MIP, with
  HiGHS handed a starting roster from a greedy pass when one is found.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import pyomo.environ as pyo
from pyomo.contrib.appsi.base import TerminationCondition
from pyomo.contrib.appsi.solvers import Highs

from oncall_opt.errors import InfeasibleError, NoSolutionInTimeError, SolveCancelledError
from oncall_opt.roster.cancel import Cancellation
from oncall_opt.roster.diagnose import explain, precheck
from oncall_opt.roster.model import (
    balance_groups,
    build_model,
    group_capacity,
    group_of,
    objective_is_integral,
)
from oncall_opt.roster.problem import Problem
from oncall_opt.roster.result import Assignment, Roster, evaluate
from oncall_opt.roster.warmstart import greedy_roster

log = logging.getLogger(__name__)

_INTEGRALITY = 1e-6


@dataclass
class _Clock:
    deadline: float
    cancellation: Cancellation | None = None

    def left(self) -> float:
        return max(0.0, self.deadline - time.perf_counter())

    def check(self) -> None:
        if self.cancellation is not None and self.cancellation.cancelled:
            raise SolveCancelledError("the solve was cancelled")


def _run(solver: Highs, m, clock: _Clock):
    """`solver.solve(m)`, cancellable through the clock's Cancellation."""
    clock.check()
    if clock.cancellation is not None:
        if solver._solver_model is None:  # APPSI makes its highspy model in set_instance
            solver.set_instance(m)
        clock.cancellation.watch(solver._solver_model)
    result = solver.solve(m)
    clock.check()  # an interrupted solve ends like a time-out: it must not pass for one
    return result


def solve(
    problem: Problem,
    time_limit: float = 60.0,
    gap: float = 0.0,
    threads: int | None = None,
    method: str = "auto",
    cancellation: Cancellation | None = None,
) -> Roster:
    """The optimal roster for `problem`.

    `time_limit` (seconds) bounds the whole solve; when it runs out the best roster found is
    returned with status "feasible" and its gap. `gap` (relative) lets the MIP stop early.
    `method` is "auto", "network" (no side rules only) or "mip". Raises `InfeasibleError` with
    reasons when no roster exists, `NoSolutionInTimeError` when none was found in time, and
    `SolveCancelledError` once `cancellation.cancel()` was called from another thread.
    """
    if method not in ("auto", "network", "mip"):
        raise ValueError(f"method must be auto, network or mip, not {method!r}")
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be at least 1, not {threads}")
    if not time_limit > 0 or not 0 <= gap < 1:
        raise ValueError("time_limit must be positive and gap a fraction from 0 up to 1")
    reasons = precheck(problem)
    if reasons:
        raise InfeasibleError(reasons)
    clock = _Clock(time.perf_counter() + time_limit, cancellation)
    if method == "network" and problem.has_side_rules:
        raise ValueError("the network method needs a problem without side rules")
    if method == "network" or (method == "auto" and not problem.has_side_rules):
        return _solve_network(problem, clock, threads)
    return _solve_mip(problem, clock, gap, threads)


def _solver(clock: _Clock, threads: int | None, **options) -> Highs:
    solver = Highs()
    solver.config.load_solution = False
    solver.config.time_limit = max(clock.left(), 0.01)
    if threads is not None:
        options["threads"] = threads
    solver.highs_options = {"output_flag": False, **options}
    return solver


def _hand_over(solver: Highs, m) -> None:
    """Give HiGHS the model once. Only mutable parameters change afterwards, so Pyomo's
    change detection (a walk over every variable and constraint per solve) is switched off."""
    solver.set_instance(m)
    changes = solver.update_config
    changes.check_for_new_or_removed_constraints = False
    changes.check_for_new_or_removed_vars = False
    changes.check_for_new_or_removed_params = False
    changes.update_constraints = False
    changes.update_vars = False
    changes.update_named_expressions = False
    changes.update_objective = False


# ----- network method ------------------------------------------------------------------------
def _solve_network(problem: Problem, clock: _Clock, threads: int | None) -> Roster:
    build_seconds = solve_seconds = 0.0
    steps = _initial_steps(problem)
    while True:
        t0 = time.perf_counter()
        m = build_model(problem, relax=True, steps=steps)
        solver = _solver(clock, threads)
        search = _LevelSearch(problem, m, solver, clock)
        build_seconds += time.perf_counter() - t0
        log.info("model built in %.1fs; HiGHS solving (network method)", build_seconds)
        t0 = time.perf_counter()
        assignment = search.run()
        solve_seconds += time.perf_counter() - t0
        beyond = [] if assignment is None else _beyond_steps(problem, steps, assignment)
        if not beyond:
            break
        for key in beyond:
            steps[key] = min(2 * steps[key] + 1, group_capacity(problem, *key))

    if assignment is None and search.timed_out:
        raise NoSolutionInTimeError("no roster found within the time limit; allow more time")
    if assignment is None:
        raise InfeasibleError(explain(problem, lambda p: _feasible(p, clock)))
    if search.timed_out:
        status, bound = "feasible", None
    else:
        status, bound = "optimal", evaluate(problem, assignment).total
    return Roster(
        problem=problem,
        assignment=assignment,
        status=status,
        bound=bound,
        build_seconds=build_seconds,
        solve_seconds=solve_seconds,
        method=f"network LP ({search.solves} LPs, happiness levels {sorted(search.values)})",
    )


def _initial_steps(problem: Problem) -> dict[tuple[int, int], int]:
    """Balance steps per person and group: twice the fair share plus slack, within capacity."""
    total_weight = sum(user.weight for user in problem.users)
    steps = {}
    for g, _ in enumerate(balance_groups(problem)):
        for u, user in enumerate(problem.users):
            fair = problem.n_slots * user.weight / total_weight
            pinned = sum(1 for v in problem.pins.values() if v == u)
            guess = 2 * math.ceil(fair) + problem.min_shifts(u) + pinned + 2
            steps[u, g] = min(guess, group_capacity(problem, u, g))
    return steps


def _beyond_steps(problem: Problem, steps, assignment: Assignment) -> list[tuple[int, int]]:
    """(person, group) pairs working more shifts than their steps, where the model's cost was
    only a lower bound: those need more steps and a new solve."""
    worked: dict[tuple[int, int], int] = {}
    for (t, layer), u in assignment.items():
        key = (u, group_of(problem, t, layer))
        worked[key] = worked.get(key, 0) + 1
    return [key for key, n in steps.items() if worked.get(key, 0) > n]


class _LevelSearch:
    """Minimise the convex g(L) over integer happiness levels with one warm-started LP each.

    The level enters the LP as a mutable parameter and nothing else changes between solves,
    so Pyomo's change detection is switched off and each re-solve costs only HiGHS's time.
    """

    def __init__(self, problem: Problem, m, solver: Highs, clock: _Clock):
        self.problem, self.m, self.solver, self.clock = problem, m, solver, clock
        m.happiness_level = pyo.Param(mutable=True, initialize=0)
        m.min_happiness.setlb(m.happiness_level)
        m.min_happiness.setub(m.happiness_level)
        _hand_over(solver, m)
        self.values: dict[int, float] = {}
        self.solutions: dict[int, Assignment | None] = {}
        self.solves = 0
        self.timed_out = False

    def g(self, level: int) -> float:
        if level not in self.values:
            self.values[level], self.solutions[level] = self._solve_at(level)
        return self.values[level]

    def _solve_at(self, level: int) -> tuple[float, Assignment | None]:
        self.m.happiness_level.set_value(level)
        self.solver.config.time_limit = max(self.clock.left(), 0.01)
        self.solves += 1
        result = _run(self.solver, self.m, self.clock)
        if result.termination_condition == TerminationCondition.infeasible:
            return math.inf, None
        if result.termination_condition != TerminationCondition.optimal:
            self.timed_out = True
            return math.inf, None
        result.solution_loader.load_vars([self.m.x[c] for c in self.m.CELLS])
        assignment = _read_assignment(self.m)
        if assignment is None:  # not integral: cannot happen at a simplex vertex, but be safe
            assignment = _solve_fixed_level_mip(self.problem, level, self.clock)
            if assignment is None:
                return math.inf, None
        return evaluate(self.problem, assignment).total, assignment

    def run(self) -> Assignment | None:
        if math.isinf(self.g(0)):
            return None
        # Up to the happiness the level-0 optimum already grants, raising L costs nothing.
        low = evaluate(self.problem, self.solutions[0]).min_happiness
        self.values[low], self.solutions[low] = self.values[0], self.solutions[0]
        p = self.problem
        high = min(
            (p.n_slots * len(p.layers)) // p.n_users,  # everyone needs L preferred shifts
            *(min(len(p.preferred[u] & p.available[u]), p.max_shifts(u)) for u in range(p.n_users)),
        )

        def improving(level: int) -> bool:
            """g falls from `level` to `level + 1`: true below the minimiser, false from it on."""
            return level < high and not self.timed_out and self.g(level + 1) < self.g(level)

        # Gallop up from `low` until g stops falling, then bisect the last step.
        lo, step = low, 1
        hi = low
        while improving(hi):
            lo = hi + 1
            hi = min(hi + step, high)
            step *= 2
        while lo < hi:
            mid = (lo + hi) // 2
            if improving(mid):
                lo = mid + 1
            else:
                hi = mid
        best = min(self.values, key=lambda level: (self.values[level], level))
        return self.solutions[best]


def _read_assignment(m) -> Assignment | None:
    assignment: Assignment = {}
    for u, t, layer in m.CELLS:
        value = m.x[u, t, layer].value or 0.0
        if value > _INTEGRALITY and value < 1 - _INTEGRALITY:
            return None
        if value > 0.5:
            assignment[t, layer] = u
    return assignment


def _solve_fixed_level_mip(problem: Problem, level: int, clock: _Clock) -> Assignment | None:
    m = build_model(problem)
    m.min_happiness.fix(level)
    result = _run(_solver(clock, None), m, clock)
    if result.best_feasible_objective is None:
        return None
    result.solution_loader.load_vars()
    return _read_assignment(m)


# ----- MIP method ----------------------------------------------------------------------------
def _solve_mip(problem: Problem, clock: _Clock, gap: float, threads: int | None) -> Roster:
    t0 = time.perf_counter()
    m = build_model(problem)
    integral = objective_is_integral(problem)
    solver = _solver(
        clock,
        threads,
        mip_rel_gap=gap,
        # Every roster's objective is a whole number then, so a gap below 1 proves optimality.
        mip_abs_gap=0.999 if integral else 1e-6,
    )
    start = greedy_roster(problem)
    if start is not None:
        _load_start(m, problem, start)
        solver.config.warmstart = True
    _hand_over(solver, m)
    build_seconds = time.perf_counter() - t0
    log.info("model built in %.1fs; HiGHS solving (MIP)", build_seconds)
    t0 = time.perf_counter()
    solver.config.time_limit = max(clock.left(), 0.01)
    result = _run(solver, m, clock)
    solve_seconds = time.perf_counter() - t0

    if result.best_feasible_objective is None:
        if result.termination_condition == TerminationCondition.infeasible:
            raise InfeasibleError(explain(problem, lambda p: _feasible(p, clock)))
        raise NoSolutionInTimeError(
            f"no roster found within the time limit ({solve_seconds:.1f}s); allow more time"
        )
    result.solution_loader.load_vars()
    assignment = _read_assignment(m)
    if assignment is None:
        raise RuntimeError("HiGHS returned a fractional roster")  # a solver bug, not user error
    bound = result.best_objective_bound
    if bound is not None and not math.isfinite(bound):
        bound = None  # stopped before HiGHS had any bound
    optimal = result.termination_condition == TerminationCondition.optimal
    if integral and bound is not None:
        bound = math.ceil(bound - 1e-6)
    objective = evaluate(problem, assignment).total
    if optimal and gap == 0:
        bound = objective  # proven: the absolute gap set above leaves no better roster
    status = "optimal" if bound is not None and objective - bound < 1e-9 else "feasible"
    return Roster(
        problem=problem,
        assignment=assignment,
        status=status,
        bound=bound,
        build_seconds=build_seconds,
        solve_seconds=solve_seconds,
        method="MIP" + (" (greedy warm start)" if start is not None else ""),
    )


def _load_start(m, problem: Problem, start: Assignment) -> None:
    """Set every variable to the greedy roster's values so HiGHS can take it as an incumbent."""
    for u, t, layer in m.CELLS:
        m.x[u, t, layer].set_value(1 if start.get((t, layer)) == u else 0)
    worked: dict[tuple[int, int], int] = {}
    for (t, layer), u in start.items():
        key = (u, group_of(problem, t, layer))
        worked[key] = worked.get(key, 0) + 1
    for u, g, k in m.STEPS:
        m.step[u, g, k].set_value(1 if k <= worked.get((u, g), 0) else 0)
    m.min_happiness.set_value(evaluate(problem, start).min_happiness)


def _feasible(problem: Problem, clock: _Clock) -> bool | None:
    """Whether any roster exists (None when the time ran out before knowing)."""
    if precheck(problem):
        return False
    m = build_model(problem)
    m.objective.deactivate()
    m.any_roster = pyo.Objective(expr=0)
    short = _Clock(time.perf_counter() + min(clock.left(), 10.0) + 1, clock.cancellation)
    result = _run(_solver(short, None), m, short)
    if result.best_feasible_objective is not None:
        return True
    if result.termination_condition == TerminationCondition.infeasible:
        return False
    return None
