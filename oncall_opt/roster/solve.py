"""Solving a roster to proven optimality with HiGHS, handed the model's matrices directly.

The model is `model.py`'s (the definition of record); `matrix.py` builds the same rows and
columns for highspy in one call, which `tests/roster/test_matrix.py` proves equal. Methods:

* **network**: no side rules. For a fixed happiness level L the model is a convex-cost network
  flow, so its LP relaxation has an integral optimal vertex. The optimal cost f(L) is convex in
  L (an LP's value as a function of a right-hand side), hence so is the objective
  g(L) = balance weight x f(L) - happiness weight x L. The LP with L free minimises g over
  real L; a convex function's integer minimum lies at the floor or the ceiling of any real
  minimiser, so two more LPs at those levels give the optimum. To keep the LPs small, balance
  steps stop near the fair share and the last step extends at its own slope: a convex cost's
  tangent, so each LP is a relaxation and exact for rosters within the steps. If the roster
  found works beyond someone's steps, they get more and the search reruns.
* **dive**: side rules (layers, consecutive limits, rest, weekend balance). Solve the full
  model's LP relaxation (its value, rounded up when every roster's objective is whole, is a
  bound). Keep every cell the LP decided (at 0 or 1), ask for at least the LP's happiness level
  rounded down, and solve the small MIP over the undecided cells. Then the neighbourhood
  search (`neighbourhood.py`) re-solves parts of the best roster with the rest kept. A roster
  that meets the bound is proven optimal; otherwise the full MIP starts from it.
  On tight rotations (`capacity.tightness`) with two layers the LP decides almost nothing, so
  there is no dive: the search starts at once from the greedy roster while the LP runs on
  another thread, and only the LP's bound is awaited; with one layer the full MIP proves them
  fast on its own and runs straight away. The search runs `threads` workers (two by default),
  each its own HiGHS run on a thread: HiGHS releases the interpreter while it solves.
* **mip**: the full MIP from a greedy roster (the fallback, also selectable).

With side rules or slot weights, a bound comes first, before any LP: the least that sharing
each balance group's slots out whole can cost (`sharing.py`, milliseconds). A start that meets
it is optimal with no LP at all (1000 people x 365 days by burden), and it stands in where the
LP's bound is lower (heavy slots, which the LP shares out in fractions) or the LP runs out of
time.

The time limit covers everything: building, every solve, reading the roster back. When it runs
out, the best roster found so far (at worst the greedy one) is returned as "feasible" with the
best bound known; `NoSolutionInTimeError` only when there is no roster at all.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import highspy
import numpy as np

from oncall_opt.errors import InfeasibleError, NoSolutionInTimeError
from oncall_opt.roster.cancel import Cancellation, Clock, run_highs
from oncall_opt.roster.capacity import tightness
from oncall_opt.roster.diagnose import explain, precheck
from oncall_opt.roster.matrix import INTEGRALITY, Matrices, build_matrices, highs_start
from oncall_opt.roster.neighbourhood import improve
from oncall_opt.roster.polish import polish
from oncall_opt.roster.problem import Problem
from oncall_opt.roster.result import Assignment, Roster, evaluate
from oncall_opt.roster.sharing import sharing_bound
from oncall_opt.roster.structure import (
    balance_groups,
    group_capacity,
    history_constant,
    load_of,
    objective_is_integral,
)
from oncall_opt.roster.warmstart import greedy_roster

log = logging.getLogger(__name__)

Status = highspy.HighsModelStatus
# Above this many cells the interior-point method (with crossover to a vertex) beats dual
# simplex on the first LP: 500 people x 365 days, 4.6 s against 1.5 s on 2 cores.
_IPM_CELLS = 60_000
# Up to this many cells the wishes' MIP opens every cell (see `_grant_wishes`).
_WISHES_WHOLE = 20_000
METHODS = ("auto", "network", "dive", "mip")
# A team whose tightest stretch needs this share of its capacity (`capacity.tightness`) is a
# rotation: every person's every shift is bound to the others', the LP decides few cells
# and a dive that keeps them finds poor rosters (4% above the optimum on 10 people, two
# layers, one in four, 26 weeks, where the full MIP proves the optimum in 9 s). The side-rule
# instances the dive is for are far below it (100x365 with every rule: 0.05).
_TIGHT = 0.5
# Threads of the neighbourhood search (each its own HiGHS run) unless `threads` says.
_SEARCH_WORKERS = 2
# The MIP at the LP's happiness level (`_LevelHeld`) may take this many times the LP's
# seconds, and at least `_HELD_LEAST`; then the search has both cores back. On 15 people one
# in five with preferred days it found the optimum in 1.5 to 2.5 times (twice was too short
# in one run of two); at 12 people x 13 weeks in 1.5 s, 7 times an LP of 0.2 s; on 10 and
# 12 people x 26 weeks one in four it found nothing near the search's rosters in 30 s.
_HELD_SHARE = 3.0
_HELD_LEAST = 2.0
# Rotations up to this many cells with preferred days hand the search over to the full MIP
# early (see `_solve_side_rules`): 12 to 15 people x 10 to 13 weeks have about 2,000, the
# 26-week ones 3,500 and more.
_HAND_OVER_CELLS = 3000
# The sharing bound's integer programs take milliseconds (100 people x 365 days: 16 ms); cut
# short, they still give a bound.
_SHARING_SECONDS = 0.5
# Seconds the solve waits for a MIP beside it to stop when asked (`_LevelHeld.stop`,
# `_mip_beside_search`).
_HELD_GRACE = 0.2
# The threads of those it stopped waiting for, until they end.
_LEFT_RUNNING: list[threading.Thread] = []


@dataclass
class _Timing:
    build: float = 0.0
    solve: float = 0.0
    steps: list[str] = field(default_factory=list)

    def since(self, start: float, what: str) -> float:
        seconds = time.perf_counter() - start
        if what == "build":
            self.build += seconds
        else:
            self.solve += seconds
        return seconds


def solve(
    problem: Problem,
    time_limit: float = 60.0,
    gap: float = 0.0,
    threads: int | None = None,
    method: str = "auto",
    cancellation: Cancellation | None = None,
) -> Roster:
    """The optimal roster for `problem`.

    `time_limit` (seconds) bounds the whole solve, building and reading back included; when it
    runs out the best roster found is returned with status "feasible", its bound and gap.
    `gap` (relative) lets the MIP stop early. `method` is "auto", "network" (no side rules
    only), "dive" or "mip" (see the module's documentation). Raises `InfeasibleError` with
    reasons when no roster exists, `NoSolutionInTimeError` when none was found in time, and
    `SolveCancelledError` once `cancellation.cancel()` was called from another thread.
    `threads` caps HiGHS's threads and the search's workers; it resets HiGHS's scheduler,
    which is one per process, so two solves with `threads` must not run at once in one
    process (without it, as the daemon runs them, they may).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be at least 1, not {threads}")
    if not time_limit > 0 or not 0 <= gap < 1:
        raise ValueError("time_limit must be positive and gap a fraction from 0 up to 1")
    clock = Clock(time.perf_counter() + time_limit, cancellation)
    reasons = precheck(problem)
    if reasons:
        raise InfeasibleError(reasons)
    # Slot weights make a person's load a weighted sum of cells: no longer a network flow.
    flow = not problem.has_side_rules and not problem.weighted
    if method == "network" and not flow:
        raise ValueError("the network method needs a problem without side rules or slot weights")
    options = {} if threads is None else {"threads": threads}
    if threads is not None:
        # HiGHS sizes one scheduler per process at its first run and then refuses every run
        # asking for more threads ("global scheduler has already been initialized"): without
        # this, solve(threads=2) after an earlier solve failed every HiGHS run it made.
        # Not under a HiGHS run an earlier solve left to stop on its own (`_LevelHeld.stop`).
        while _LEFT_RUNNING:
            _LEFT_RUNNING.pop().join()
        highspy.Highs.resetGlobalScheduler(True)
    if method == "network" or (method == "auto" and flow):
        roster = _solve_network(problem, clock, options)
    else:
        dive = method == "dive" or (method == "auto" and tightness(problem) < _TIGHT)
        # A rotation with one layer goes straight to the full MIP, which proves it fast (7
        # people x 26 weeks: 1.7 s); with two, the MIP's root LP alone (dual simplex) took 5 s
        # at 12 people x 26 weeks, where the interior-point LP takes 1.3 s and the
        # neighbourhood search finds the roster that meets it.
        search = method != "mip" and (dive or len(problem.layers) > 1)
        # Each search worker is a thread running its own HiGHS (see `neighbourhood.improve`).
        workers = threads or min(_SEARCH_WORKERS, os.cpu_count() or 1)
        roster = _solve_side_rules(problem, clock, gap, options, dive, search, workers)
    return _grant_wishes(problem, roster, clock, options)


_IPM = {"solver": "ipm", "run_crossover": "on"}


def _lp_method(mx: Matrices) -> dict:
    return _IPM if len(mx.cells) > _IPM_CELLS else {"solver": "simplex"}


def _values(highs: highspy.Highs) -> np.ndarray:
    return np.asarray(highs.getSolution().col_value)


def _rounded_bound(problem: Problem, value: float) -> float:
    """A solver's lower bound, rounded up when every roster's objective is a whole number
    (after an allowance for the solver's tolerances)."""
    if objective_is_integral(problem):
        return math.ceil(value - _tolerance(problem, value))
    return value


def _tolerance(problem: Problem, value: float) -> float:
    """The solvers' relative tolerance, on the part of `value` a roster can change: the
    constant that history adds (1e9 with long histories) must not widen it."""
    return 1e-6 * max(1.0, abs(value - history_constant(problem)))


def _proven(problem: Problem, objective: float, bound: float | None) -> bool:
    """The roster meets the bound: exactly when objectives are whole numbers (the bound was
    rounded up; a roster one unit above it is not optimal, however large the objective),
    else within the solvers' relative tolerance on the part a roster can change."""
    if bound is None:
        return False
    if objective_is_integral(problem):
        return objective - bound < 0.5
    return objective - bound <= _tolerance(problem, bound)


def _infeasible(problem: Problem, clock: Clock) -> InfeasibleError:
    return InfeasibleError(explain(problem, lambda p: _feasible(p, clock)))


# ----- network method ------------------------------------------------------------------------
def _solve_network(problem: Problem, clock: Clock, options: dict) -> Roster:
    timing = _Timing()
    steps = _initial_steps(problem)
    bound = None
    while True:
        t0 = time.perf_counter()
        mx = build_matrices(problem, relax=True, steps=steps)
        highs = mx.to_highs(relax=True, **options, **_lp_method(mx))
        timing.since(t0, "build")
        log.info("model built in %.1fs; HiGHS solving (network method)", timing.build)
        t0 = time.perf_counter()
        search = _LevelSearch(problem, mx, highs, clock)
        assignment = search.run()
        timing.since(t0, "solve")
        if search.bound is not None and bound is None:
            bound = search.bound  # the first LP's, whose steps never cut a roster off
        beyond = [] if assignment is None else _beyond_steps(problem, steps, assignment)
        if not beyond or search.timed_out:
            break
        for key in beyond:
            steps[key] = min(2 * steps[key] + 1, group_capacity(problem, *key))

    if search.infeasible:
        raise _infeasible(problem, clock)
    method = f"network LP ({search.solves} LPs: {search.describe()})"
    if assignment is None or search.timed_out or beyond:
        return _out_of_time(problem, assignment, bound, timing, method)
    objective = evaluate(problem, assignment).total
    return _roster(problem, assignment, "optimal", objective, timing, method)


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
    """(person, group) pairs working more (shifts, or burden points) than their steps, where
    the model's cost was only a lower bound: those need more steps and a new solve."""
    load = load_of(problem, assignment)
    return [key for key, n in steps.items() if load.get(key, 0) > n]


def _steps_of(mx: Matrices) -> dict[tuple[int, int], int]:
    steps: dict[tuple[int, int], int] = {}
    for u, g, k in mx.step_keys:
        steps[u, g] = max(steps.get((u, g), 0), k)
    return steps


class _LevelSearch:
    """Minimise the convex g(L) over integer happiness levels: the free LP's level rounded
    down and up, each a warm-started LP with the level fixed."""

    def __init__(self, problem: Problem, mx: Matrices, highs: highspy.Highs, clock: Clock):
        self.problem, self.mx, self.highs, self.clock = problem, mx, highs, clock
        self.values: dict[int, float] = {}
        self.solutions: dict[int, Assignment] = {}
        self.solves = 0
        self.timed_out = self.infeasible = False
        self.bound: float | None = None
        self.free_level: float | None = None
        self.tried: list[int] = []

    def _lp(self) -> Status:
        self.solves += 1
        status = run_highs(self.highs, self.clock)
        if status not in (Status.kOptimal, Status.kInfeasible):
            self.timed_out = True
        return status

    def run(self) -> Assignment | None:
        status = self._lp()
        if status != Status.kOptimal:
            self.infeasible = status == Status.kInfeasible
            return None
        self.bound = _rounded_bound(self.problem, self.highs.getInfo().objective_function_value)
        level = self.free_level = _values(self.highs)[self.mx.happiness_column]
        p = self.problem
        reachable = min(
            (p.n_slots * len(p.layers)) // p.n_users,  # everyone needs L preferred shifts
            *(min(len(p.preferred[u] & p.available[u]), p.max_shifts(u)) for u in range(p.n_users)),
        )
        below, above = math.floor(level + INTEGRALITY), math.ceil(level - INTEGRALITY)
        for candidate in sorted({below, min(above, reachable)}):
            self._solve_at(candidate)
            if self.timed_out:
                break
        if not self.solutions:
            return None
        best = min(self.values, key=lambda level: (self.values[level], level))
        return self.solutions[best]

    def describe(self) -> str:
        if self.free_level is None:
            return "no LP finished"
        text = f"happiness level {self.free_level:.3g} with the level free"
        if self.tried:
            text += f"; whole levels {' and '.join(map(str, self.tried))} tried"
        if self.values:
            text += f", {min(self.values, key=lambda level: (self.values[level], level))} best"
        return text

    def _solve_at(self, level: int) -> None:
        """g(level) and its roster; nothing when no roster reaches that level."""
        self.tried.append(level)
        self.highs.changeColBounds(self.mx.happiness_column, level, level)
        if self._lp() != Status.kOptimal:
            return
        assignment = self.mx.roster_in(_values(self.highs))
        if assignment is None:  # not integral: cannot happen at a simplex vertex, but be safe
            assignment = _solve_fixed_level_mip(self.problem, level, self.clock)
            if assignment is None:
                return
        self.values[level] = evaluate(self.problem, assignment).total
        self.solutions[level] = assignment


def _solve_fixed_level_mip(problem: Problem, level: int, clock: Clock) -> Assignment | None:
    mx = build_matrices(problem)
    highs = mx.to_highs()
    highs.changeColBounds(mx.happiness_column, level, level)
    run_highs(highs, clock)
    if highs.getInfo().primal_solution_status != 2:  # no feasible solution
        return None
    return mx.roster_in(_values(highs))


# ----- side rules: LP-guided dive, then the full MIP ------------------------------------------
def _solve_side_rules(
    problem: Problem,
    clock: Clock,
    gap: float,
    options: dict,
    dive: bool,
    search: bool = True,
    workers: int = 1,
) -> Roster:
    """The LP relaxation (a bound); from its solution the dives, or on rotations (not `dive`)
    the greedy roster; the neighbourhood search from the best; then, unless proven, the full
    MIP from it. Without `search`, only the full MIP from the greedy roster."""
    timing = _Timing()
    t0 = time.perf_counter()
    mx = build_matrices(problem)
    integral = objective_is_integral(problem)
    mip_options = {
        **options,
        "mip_rel_gap": gap,
        # Every roster's objective is a whole number then, so a gap below 1 proves optimality.
        "mip_abs_gap": 0.999 if integral else 1e-6,
    }
    timing.since(t0, "build")
    log.info("model built in %.1fs; HiGHS solving (side rules)", timing.build)

    best: Assignment | None = None
    t0 = time.perf_counter()
    # A bound before any LP (`sharing.py`): a start that meets it needs no LP at all.
    floor = _rounded_bound(problem, sharing_bound(problem, clock.within(_SHARING_SECONDS), options))
    timing.since(t0, "solve")
    bound: float | None = floor
    start_values: np.ndarray | None = None
    lp_seconds = 0.0
    if search and (problem.weighted or not dive):
        # With slot weights the greedy roster, polished, is a strong start (100x365 with every
        # rule: 4,990 in 2 s, where the dives found 5,718 in the time the LP left them), and
        # often optimal (1000x365: the sharing bound); the dives then look only for better
        # ones. On rotations the neighbourhood search starts from it.
        best = greedy_roster(problem)
        if best is not None:
            start_values = mx.column_values(problem, best)
            timing.steps.append("greedy start")
            if problem.weighted:  # polished at once: it may meet the sharing bound
                best, start_values = _polished(
                    problem, mx, best, start_values, clock, timing, floor, share=1 / 4
                )
            if _proven(problem, evaluate(problem, best).total, floor):
                timing.steps.append("sharing bound")
                return _roster(problem, best, "optimal", floor, timing, _method(timing))
    t0 = time.perf_counter()
    lp = None
    searched = False  # the search ran beside the LP
    if search:
        # With a start, keep a fifth of the time to improve it if the LP is slow.
        lp_clock = clock.share(0.8) if best is not None else clock
        if not dive and best is not None and workers > 1:
            # On a rotation the LP decides nothing the search needs, only the bound: the
            # search starts at once from the greedy roster, the LP on another thread
            # (with `threads=1`, one after the other).
            with ThreadPoolExecutor(max_workers=1) as pool:
                beside = _Beside(problem, pool.submit(_relaxation, mx, lp_clock, options, True))
                search_clock = clock.share(0.95)
                held = _LevelHeld(problem, mx, beside, mip_options)
                # A small rotation with preferred days goes to the full MIP (beside one worker
                # of the search) once the LP and the MIP at its level are done, not after the
                # search stalls: the MIP raises the least-happy level, where the search walks
                # plateaus (15 people x 10 weeks one in five: proven in 5.4-5.6 s, was
                # 7.9-8.4 s). Larger ones keep both workers, as the second is what proves them
                # (handed over, 10 and 12 people x 26 weeks with history took 15.9 and 23.2 s
                # against 6.4 and 5.2 s); so do rotations without wishes (handed over, 8
                # people x 13 weeks took 2.3-2.8 s against 1.5-1.8 s).
                hand_over = len(mx.cells) <= _HAND_OVER_CELLS and any(problem.preferred)
                held.start(search_clock)
                best, start_values = _polished(
                    problem, mx, best, start_values, clock, timing, share=1 / 20
                )

                # It stops when it stalls only if the full MIP (with a worker of the search
                # beside it) has time to be of use then: five times the LP's time (the MIP's
                # root LP by dual simplex took 3.5 to 7 times the interior-point one).
                def may_stop() -> bool:
                    return beside.future.done() and clock.left() >= 5 * beside.seconds()

                def handing_over() -> bool:
                    return hand_over and beside.future.done() and held.settled()

                best, start_values = _improved(
                    problem, mx, best, start_values, search_clock, timing,
                    lambda total: (
                        _proven(problem, total, floor)
                        or beside.proves(total)
                        or held.proven()
                        or handing_over()
                    ),
                    None, mip_options, may_stop, workers, held.running,
                )  # fmt: skip
                found = held.stop()
                if found is not None and (
                    best is None or evaluate(problem, found).total < evaluate(problem, best).total
                ):
                    best, start_values = found, mx.column_values(problem, found)
                if held.tried:
                    timing.steps.append(held.describe(found))
                status, lp, rows = beside.future.result()
            lp_seconds = beside.seconds()
            searched = True
        else:
            status, lp, rows = _relaxation(mx, lp_clock, options, rotation=not dive)
            lp_seconds = timing.since(t0, "solve")
        if status == Status.kInfeasible:
            raise _infeasible(problem, clock)
    if lp is not None:
        bound = _rounded_bound(problem, lp.objective)
        if floor > bound:
            timing.steps.append("sharing bound (above the LP's)")
            bound = floor
    if lp is not None and not lp.complete:  # out of time with some rows still out
        timing.steps.append(f"LP without {lp.lazy - lp.added} of its {lp.lazy} lazy rows")
        lp = None
    if lp is not None:
        needed = f" ({lp.added} of its {lp.lazy} lazy rows needed)"
        timing.steps.append("LP" + (needed if lp.lazy else ""))
        if not searched:  # polish the start first (see above); the search below does more
            best, start_values = _polished(
                problem,
                mx,
                best,
                start_values,
                clock,
                timing,
                bound,
                share=1 / 2 if dive else 1 / 20,
            )
        if best is not None and _proven(problem, evaluate(problem, best).total, bound):
            return _roster(problem, best, "optimal", bound, timing, _method(timing))
        # First only the cells the LP left fractional are open; if that misses the bound,
        # every cell of the slots they are in (the balance can then move between people).
        for whole_slots, share in ((False, 3 / 4), (True, 1 / 2)) if dive else ():
            # Each dive gets a share of the time left, so the full MIP keeps some.
            t0 = time.perf_counter()
            tried = _dive(
                problem, mx, lp.values, rows, clock.share(share), mip_options, whole_slots, best
            )
            timing.since(t0, "solve")
            timing.steps.append(f"dive over {tried.open} open cells")
            if tried.assignment is not None and (
                best is None  # HiGHS's cutoff may still hand back a worse one
                or evaluate(problem, tried.assignment).total < evaluate(problem, best).total
            ):
                best, start_values = tried.assignment, tried.values
            if best is not None and _proven(problem, evaluate(problem, best).total, bound):
                return _roster(problem, best, "optimal", bound, timing, _method(timing))
            if clock.left() == 0:
                break
        # On rotations the search is the main step (the full MIP's root LP alone, by dual
        # simplex, took 5 s at 12 people x 26 weeks); after dives it gets half the time.
        # The search stops when it stalls only if the full MIP has time to be of use then:
        # twice the LP's time, or on a rotation ten times (its root LP by dual simplex took
        # 3.5 to 7 times the interior-point one).
        if not searched:
            enough = (2 if dive else 10) * lp_seconds
            best, start_values = _improved(
                problem, mx, best, start_values, clock.share(1 / 2 if dive else 0.95), timing,
                lambda total: _proven(problem, total, bound), lp.values, mip_options,
                lambda: clock.left() >= enough, workers,
            )  # fmt: skip
        best, start_values = _polished(problem, mx, best, start_values, clock, timing, bound)
        if best is not None and _proven(problem, evaluate(problem, best).total, bound):
            return _roster(problem, best, "optimal", bound, timing, _method(timing))

    # HiGHS cannot stop the full MIP's set-up (presolve, the root LP) at once: with less time
    # left than the LP took, it would overrun the limit (by 3 s at 100x365 with every rule)
    # for nothing. It still runs when no roster is known: it may find one.
    if clock.left() > 0 and (best is None or clock.left() >= 2 * lp_seconds):
        t0 = time.perf_counter()
        if start_values is None:
            greedy = greedy_roster(problem)
            if greedy is not None:
                start_values = mx.column_values(problem, greedy)
                timing.steps.append("greedy warm start")
        mip = mx.to_highs(rows=mx.needed_rows(), **mip_options)
        mip_clock = clock
        if start_values is not None:
            mip.setSolution(highs_start(start_values))
            # A tenth of the time is kept to polish the MIP's roster when it ends unproven:
            # on rotations it often never improves on its start in 10 s.
            mip_clock = clock.share(0.9)
        log.debug("full MIP with %.1fs left", mip_clock.left())
        if searched and workers > 1 and best is not None:
            status, best, start_values = _mip_beside_search(
                problem, mx, mip, mip_clock, best, start_values, timing, bound, mip_options
            )
        else:
            status = run_highs(mip, mip_clock)
        log.debug("full MIP: %s after %.1fs", status, timing.since(t0, "solve"))
        timing.steps.append("full MIP" if status is not None else "full MIP (not awaited)")
        if status == Status.kInfeasible:
            raise _infeasible(problem, clock)
        if status is not None:  # else still running on its thread: nothing of it is read
            best, bound = _read_mip(problem, mx, mip, status, gap, best, bound)
    if best is None:
        return _out_of_time(problem, None, bound, timing, _method(timing))
    if not _proven(problem, evaluate(problem, best).total, bound):  # the last step: all the time
        best, _ = _polished(problem, mx, best, None, clock, timing, bound, share=1.0)
    status = "optimal" if _proven(problem, evaluate(problem, best).total, bound) else "feasible"
    return _roster(problem, best, status, bound, timing, _method(timing))


def _ended_soon(thread: threading.Thread) -> bool:
    """Whether a HiGHS run's thread, asked to stop, ends within `_HELD_GRACE`; if not, it is
    left to stop on its own and kept in `_LEFT_RUNNING` until `solve(threads=N)` joins it."""
    thread.join(_HELD_GRACE)
    if not thread.is_alive():
        return True
    log.debug("%s: left to stop on its own", thread.name)
    _LEFT_RUNNING[:] = [t for t in _LEFT_RUNNING if t.is_alive()] + [thread]
    return False


def _read_mip(
    problem: Problem,
    mx: Matrices,
    mip: highspy.Highs,
    status: Status,
    gap: float,
    best: Assignment | None,
    bound: float | None,
) -> tuple[Assignment | None, float | None]:
    """The better of `best` and the full MIP's roster, and the higher bound."""
    info = mip.getInfo()
    if info.primal_solution_status == 2:
        found = mx.roster_in(_values(mip))
        if found is None:
            raise RuntimeError("HiGHS returned a fractional roster")  # a solver bug
        if best is None or evaluate(problem, found).total < evaluate(problem, best).total:
            best = found
    mip_bound = info.mip_dual_bound
    if math.isfinite(mip_bound):
        mip_bound = _rounded_bound(problem, mip_bound)
        bound = mip_bound if bound is None else max(bound, mip_bound)
    if (
        status == Status.kOptimal
        and gap == 0
        and best is not None
        and not _beyond_steps(problem, _steps_of(mx), best)  # else the model under-costs it
    ):
        bound = evaluate(problem, best).total  # proven: no roster below the absolute gap
    return best, bound


def _mip_beside_search(
    problem: Problem,
    mx: Matrices,
    mip: highspy.Highs,
    clock: Clock,
    best: Assignment,
    values: np.ndarray | None,
    timing: _Timing,
    bound: float | None,
    mip_options: dict,
) -> tuple[Status | None, Assignment, np.ndarray | None]:
    """The full MIP on another thread while one worker of the search goes on (a rotation
    whose search stalled: the MIP proved 10 people one in four in 18 s where the search
    alone stayed 2 above for 30 s, and the search finds rosters the MIP takes long to).
    Whichever ends first stops the other: the MIP's status, the best roster of the search.

    Like the MIP at a happiness level (`_LevelHeld.stop`), the MIP is waited for only
    briefly once asked to stop: HiGHS checks for an interrupt between rounds of its root
    cuts, which can take seconds. Then the status is None, the MIP is left to stop on its
    own, and nothing of it may be read."""
    mip.HandleUserInterrupt = True  # so that a roster meeting the bound stops the MIP
    beside = _Timing()  # its seconds are the MIP's: the caller counts them once
    ended = threading.Event()
    outcome: list = []

    def run() -> None:
        try:
            outcome.append(run_highs(mip, clock))
        except BaseException as error:  # a cancellation: re-raised below
            outcome.append(error)
        finally:
            ended.set()

    thread = threading.Thread(target=run, name="full MIP beside the search", daemon=True)
    thread.start()
    try:
        best, values = _improved(
            problem, mx, best, values, clock, beside,
            lambda total: ended.is_set() or _proven(problem, total, bound), None,
            mip_options, lambda: False, 1,
        )  # fmt: skip
    finally:  # also when the search was cancelled: the thread is never lost track of
        if not ended.is_set():
            mip.cancelSolve()
        left_running = not _ended_soon(thread)
    timing.steps += beside.steps
    if left_running:
        return None, best, values
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0], best, values


def _improved(
    problem: Problem,
    mx: Matrices,
    best: Assignment | None,
    values: np.ndarray | None,
    clock: Clock,
    timing: _Timing,
    reached: Callable[[float], bool],
    lp_values: np.ndarray | None,
    mip_options: dict,
    may_stop: Callable[[], bool],
    workers: int,
    paused: Callable[[], bool] = lambda: False,
) -> tuple[Assignment | None, np.ndarray | None]:
    """The best roster after re-solving parts of it (`neighbourhood.py`) within `clock`, until
    `reached` says it meets the bound or the search finds nothing more and `may_stop()`; its
    column values for a MIP start."""
    if best is None or clock.left() == 0:
        return best, values
    t0 = time.perf_counter()
    searched = improve(
        problem, mx, best, clock, mx.needed_rows(), reached, lp_values, mip_options,
        may_stop=may_stop, workers=workers, paused=paused,
    )  # fmt: skip
    timing.since(t0, "solve")
    before, after = evaluate(problem, best).total, evaluate(problem, searched.assignment).total
    n = searched.restarts
    restarts = f", {n} restart{'s' if n > 1 else ''}" if n else ""
    timing.steps.append(
        f"neighbourhood search ({searched.tries} parts re-solved{restarts}, "
        f"{before - after:g} lower)"
    )
    if after >= before:
        return best, values
    return searched.assignment, mx.column_values(problem, searched.assignment)


def _polished(
    problem: Problem,
    mx: Matrices,
    best: Assignment | None,
    values: np.ndarray | None,
    clock: Clock,
    timing: _Timing,
    bound: float | None = None,
    share: float = 1 / 4,
) -> tuple[Assignment | None, np.ndarray | None]:
    """The best roster after moving and trading slots between people (`polish.py`), with a
    `share` of the time left or until it meets `bound`; its column values for a MIP start."""
    if best is None or clock.left() == 0:
        return best, values
    t0 = time.perf_counter()
    found = polish(problem, best, t0 + share * clock.left(), bound)
    timing.since(t0, "solve")
    before, after = evaluate(problem, best).total, evaluate(problem, found).total
    if after >= before:
        return best, values
    timing.steps.append(f"moves and trades ({before - after:g} lower)")
    return found, mx.column_values(problem, found)


class _Beside:
    """The LP relaxation running on another thread (`_relaxation`'s result in `future`): its
    bound once it has one, and its seconds so far."""

    def __init__(self, problem: Problem, future: Future):
        self.problem, self.future = problem, future
        self.started = time.perf_counter()
        self.ended: float | None = None
        future.add_done_callback(lambda _: setattr(self, "ended", time.perf_counter()))

    def seconds(self) -> float:
        return (self.ended or time.perf_counter()) - self.started

    def proves(self, total: float) -> bool:
        """Whether a roster of this objective meets the LP's bound (False while it runs)."""
        if not self.future.done() or self.future.exception() is not None:
            return False
        _, lp, _ = self.future.result()
        if lp is None:  # no LP finished (one cut short, with rows still out, is a bound too)
            return False
        return _proven(self.problem, total, _rounded_bound(self.problem, lp.objective))


class _LevelHeld:
    """After the LP, on its thread, when the LP's happiness level is a whole number: the full
    MIP with the level held there. The level is one column tied to every wisher's row, and
    HiGHS's heuristics find rosters at a fixed level that they miss with it free: on 15
    people one in five with preferred days the optimum in 4 s (alone), where the full MIP
    took 23 s and the search did not find it in 20. Its roster, if better, replaces the
    search's when the search ends; the search ends early if it meets the LP's bound."""

    def __init__(self, problem: Problem, mx: Matrices, beside: _Beside, mip_options: dict):
        self.problem, self.mx, self.beside, self.options = problem, mx, beside, mip_options
        self.found: Assignment | None = None
        self.level: int | None = None
        self.tried = False
        self._lock = threading.Lock()
        self._stopped = False
        self._highs: highspy.Highs | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._until = math.inf  # its deadline, once it runs
        self._total = math.inf  # its roster's objective

    def start(self, clock: Clock) -> None:
        """`run` on a thread of its own, which `stop` need not wait for (see there)."""

        def run() -> None:
            try:
                self.run(clock)
            except BaseException as error:  # a cancellation: `stop` re-raises it
                self._error = error

        self._thread = threading.Thread(target=run, name="MIP at a happiness level", daemon=True)
        self._thread.start()

    def run(self, clock: Clock) -> None:
        status, lp, _ = self.beside.future.result()
        if status != Status.kOptimal or lp is None or not any(self.problem.preferred):
            return
        level = lp.values[self.mx.happiness_column]
        if abs(level - round(level)) > INTEGRALITY or round(level) < 1:
            return
        highs = self.mx.to_highs(rows=self.mx.needed_rows(), **self.options)
        highs.changeColBounds(self.mx.happiness_column, round(level), round(level))
        highs.HandleUserInterrupt = True
        with self._lock:
            if self._stopped:
                return
            self._highs, self.level, self.tried = highs, round(level), True
        clock = clock.within(max(_HELD_SHARE * self.beside.seconds(), _HELD_LEAST))
        self._until = clock.deadline
        log.debug("MIP at happiness level %d, the LP's, for %.1fs", self.level, clock.left())
        try:
            status = run_highs(highs, clock)
        finally:
            self._highs = None
        log.debug("MIP at happiness level %d: %s", self.level, status)
        if highs.getInfo().primal_solution_status == 2:
            found = self.mx.roster_in(_values(highs))
            if found is not None:
                self._total = evaluate(self.problem, found).total
                self.found = found

    def running(self) -> bool:
        """While it runs the search keeps one worker (a core each: the MIP alone found 15
        people's optimum in 5 s after the LP; beside two workers, not in 4.4); past its
        deadline, even if HiGHS has not yet stopped (see `stop`), no longer."""
        return self._highs is not None and time.perf_counter() < self._until

    def settled(self) -> bool:
        """Whether it has ended, or decided not to run, or is past its deadline."""
        return (
            self._thread is None
            or not self._thread.is_alive()
            or time.perf_counter() >= self._until
        )

    def proven(self) -> bool:
        """Whether its roster meets the LP's bound (asked before every try of the search)."""
        return self.found is not None and self.beside.proves(self._total)

    def stop(self) -> Assignment | None:
        """Interrupt it, and its roster. It waits only briefly: HiGHS checks for an interrupt
        between rounds of its root cuts, and with the search on the other core one round took
        7 s (10 people one in four: a 5 s run ended after 11 s). Then there is no roster and
        the thread ends on its own at HiGHS's next check."""
        with self._lock:
            self._stopped = True
            if self._highs is not None:
                self._highs.cancelSolve()
        if self._thread is not None and not _ended_soon(self._thread):
            return None
        if self._error is not None:
            raise self._error
        return self.found

    def describe(self, found: Assignment | None) -> str:
        total = "" if found is None else f", {evaluate(self.problem, found).total:g}"
        return f"MIP at happiness level {self.level}{total}"


@dataclass
class _LpSolution:
    values: np.ndarray
    objective: float
    added: int  # lazy rows the LP needed
    lazy: int  # lazy rows in the model
    complete: bool = True  # False: the last LP that finished had rows still out (a bound)


def _relaxation(
    mx: Matrices, clock: Clock, options: dict, rotation: bool = False
) -> tuple[Status, _LpSolution | None, np.ndarray]:
    """The full model's LP relaxation, solved with the lazy rows left out until the solution
    breaks one; then the broken ones are added and the LP re-solved from its last basis. The
    result satisfies every row, so it is the full LP's optimum. Also which rows went in.

    Each LP that finished, with rows still out, is a relaxation of the full one: when the time
    runs out before the last, the last that finished is returned as incomplete (its value a
    bound, its solution breaking some rows).

    With the interior-point method the cuts go in from the start: adding them to a solved LP
    made each simplex re-solve take 20 s at 100 people x 365 days with every rule, against
    7 s for the first LP with them (at 50 people, with simplex, lazy cuts stay faster).

    A `rotation`'s LP needs most of its lazy rows (2,725 of 4,168 at 12 people x 26 weeks)
    and is so degenerate that simplex crawls: every row goes in from the start, solved by
    the interior-point method (1.3 s against 6.8 s lazily with simplex there)."""
    method = _IPM if rotation else _lp_method(mx)
    lazy_rows = mx.lazy_rows & ~(mx.cut_rows if method["solver"] == "ipm" else False)
    if rotation:
        lazy_rows = np.zeros(len(mx.rows), dtype=bool)
    included = ~lazy_rows & ~mx.implied_rows
    highs = mx.to_highs(relax=True, rows=np.flatnonzero(included), **options, **method)
    waiting = np.flatnonzero(lazy_rows & ~mx.implied_rows)
    lazy = len(waiting)
    last: _LpSolution | None = None
    while True:
        status = run_highs(highs, clock)
        if status != Status.kOptimal:
            return status, last, included
        values = _values(highs)
        objective = highs.getInfo().objective_function_value
        slack = mx.slack(waiting, values)
        if not (slack < -INTEGRALITY).any():
            return status, _LpSolution(values, objective, lazy - len(waiting), lazy), included
        last = _LpSolution(values, objective, lazy - len(waiting), lazy, complete=False)
        # The broken rows and those within half a unit of breaking: the next solution would
        # likely break them (this halves the rounds: 13 -> 5 on a tight 10-person rotation).
        adding = slack < 0.5
        mx.add_rows_to(highs, waiting[adding])
        included[waiting[adding]] = True
        waiting = waiting[~adding]
        highs.setOptionValue("solver", "simplex")  # warm from the last basis


@dataclass
class _Dive:
    assignment: Assignment | None  # None when no roster was found (or none better)
    values: np.ndarray | None  # every column's value for it: a MIP start
    open: int  # cells left to the MIP


def _dive(
    problem: Problem,
    mx: Matrices,
    lp_values: np.ndarray,
    included: np.ndarray,
    clock: Clock,
    mip_options: dict,
    whole_slots: bool,
    incumbent: Assignment | None,
) -> _Dive:
    """The best roster that keeps every cell the LP decided, except (`whole_slots`) in slots
    where it left one undecided, and at least its happiness level rounded down.

    Rows the LP never needed matter only where they touch an open cell: elsewhere the kept
    cells hold the LP's values, which satisfy them."""
    cells = lp_values[: len(mx.cells)]
    undecided = (cells > INTEGRALITY) & (cells < 1 - INTEGRALITY)
    if whole_slots:
        slot_of = np.fromiter((t for _, t, _ in mx.cells), dtype=np.int64, count=len(mx.cells))
        undecided = np.isin(slot_of, np.unique(slot_of[undecided]))
    opened = np.zeros(len(mx.cost), dtype=bool)
    opened[: len(mx.cells)] = undecided
    rows = np.flatnonzero(included)
    rows = np.union1d(rows, mx.touching(mx.needed_rows(np.flatnonzero(~included)), opened))
    options = dict(mip_options)
    if incumbent is not None:  # only a better roster is of use
        options["objective_bound"] = evaluate(problem, incumbent).total - 1e-6
    # The kept cells are left out of the MIP (a model of the open ones: at 1000 people x 365
    # days HiGHS took 1.6 s over the whole one with the kept cells fixed).
    fixed = np.full(len(mx.cost), np.nan)
    fixed[: len(mx.cells)] = np.where(undecided, np.nan, np.where(cells >= 0.5, 1.0, 0.0))
    free = np.flatnonzero(np.isnan(fixed))
    highs = mx.to_highs(rows=rows, fixed=fixed, **options)
    level = math.floor(lp_values[mx.happiness_column] + INTEGRALITY)
    # the happiness column is the last, and free
    highs.changeColBounds(len(free) - 1, level, mx.upper[mx.happiness_column])
    run_highs(highs, clock)
    if highs.getInfo().primal_solution_status != 2:
        return _Dive(None, None, int(undecided.sum()))
    values = fixed.copy()
    values[free] = _values(highs)
    return _Dive(mx.roster_in(values), values, int(undecided.sum()))


def _method(timing: _Timing) -> str:
    return " + ".join(timing.steps) if timing.steps else "no solve finished in time"


# ----- wishes: the tie-break among optimal rosters ---------------------------------------------
def _grant_wishes(problem: Problem, roster: Roster, clock: Clock, options: dict) -> Roster:
    """Among rosters of the proven optimal objective, one that grants the most preferred slots.

    The objective's happiness term counts only the least-happy person's wishes, so many
    optimal rosters differ in how many others are granted. A second MIP keeps the objective
    at its optimum (a row) and maximises preferred slots granted, from the roster found. The
    objective cannot change (the new roster is checked), so this is lexicographic, not a
    weight that might. It gets half the time the first solve took (at least 2 s: 10 of 10
    wishes on data/input_extended.json took 1.4 s), within the limit, and stops as soon as
    it proves the most. Above `_WISHES_WHOLE` cells it is not tried: the MIP's set-up alone
    took 3 s at 50 people x 365 days, and keeping most cells fixed found nothing (a person
    gaining a wished slot must give another away)."""
    asked = sum(len(slots) for slots in problem.preferred)
    if roster.status != "optimal" or not asked:
        return roster
    budget = min(clock.left(), max(2.0, (roster.build_seconds + roster.solve_seconds) / 2))
    t0 = time.perf_counter()
    deadline = Clock(t0 + budget, clock.cancellation)
    cells = len(problem.layers) * sum(len(slots) for slots in problem.available)
    if cells > _WISHES_WHOLE or deadline.left() < 0.1:
        granted = _granted(problem, roster.assignment)
        return replace(roster, method=f"{roster.method} + wishes: {granted} of {asked} "
                       "preferred slots (not searched further at this size)")  # fmt: skip
    mx = build_matrices(problem)
    before = evaluate(problem, roster.assignment).total
    slack = 0.5 if objective_is_integral(problem) else 1e-9
    cost = np.asarray(mx.cost)
    terms = np.flatnonzero(cost)
    wishes = np.zeros(len(cost))
    preferred = [j for j, (u, t, _) in enumerate(mx.cells) if t in problem.preferred[u]]
    wishes[preferred] = -1.0
    highs = mx.to_highs(rows=mx.needed_rows(), **options, mip_rel_gap=0.0, mip_abs_gap=0.999)
    highs.addRow(-highspy.kHighsInf, before - mx.offset + slack, len(terms),
                 terms.astype(np.int32), cost[terms])  # fmt: skip
    highs.changeColsCost(len(cost), np.arange(len(cost), dtype=np.int32), wishes)
    highs.setSolution(highs_start(mx.column_values(problem, roster.assignment)))
    status = run_highs(highs, deadline)
    assignment = roster.assignment
    if highs.getInfo().primal_solution_status == 2:
        found = mx.roster_in(_values(highs))
        if (
            found is not None
            and _granted(problem, found) > _granted(problem, assignment)
            and evaluate(problem, found).total <= before + 1e-9
        ):
            assignment = found
    granted = _granted(problem, assignment)
    most = "the most possible" if status == Status.kOptimal else "more may be possible"
    seconds = time.perf_counter() - t0
    return Roster(
        problem=problem,
        assignment=assignment,
        status=roster.status,
        bound=roster.bound,
        build_seconds=roster.build_seconds,
        solve_seconds=roster.solve_seconds + seconds,
        method=f"{roster.method} + wishes: {granted} of {asked} preferred slots ({most})",
        wishes_seconds=seconds,
    )


def _granted(problem: Problem, assignment: Assignment) -> int:
    return sum(t in problem.preferred[u] for (t, _), u in assignment.items())


# ----- results ---------------------------------------------------------------------------------
def _roster(
    problem: Problem,
    assignment: Assignment,
    status: str,
    bound: float | None,
    timing: _Timing,
    method: str,
) -> Roster:
    return Roster(
        problem=problem,
        assignment=assignment,
        status=status,
        bound=bound,
        build_seconds=timing.build,
        solve_seconds=timing.solve,
        method=method,
    )


def _out_of_time(
    problem: Problem,
    assignment: Assignment | None,
    bound: float | None,
    timing: _Timing,
    method: str,
) -> Roster:
    """The time ran out: the roster found so far, else a greedy one, with the bound known."""
    if assignment is None:
        assignment = greedy_roster(problem)
        method = f"{method}; greedy roster (the time ran out)"
    if assignment is None:
        raise NoSolutionInTimeError(
            f"no roster found within the time limit ({timing.build + timing.solve:.1f}s); "
            "allow more time"
        )
    proven = _proven(problem, evaluate(problem, assignment).total, bound)
    return _roster(problem, assignment, "optimal" if proven else "feasible", bound, timing, method)


def _feasible(problem: Problem, clock: Clock) -> bool | None:
    """Whether any roster exists (None when the time ran out before knowing)."""
    if precheck(problem):
        return False
    mx = build_matrices(problem)
    mx.cost = [0.0] * len(mx.cost)
    mx.offset = 0.0
    highs = mx.to_highs(rows=mx.needed_rows())
    short = Clock(time.perf_counter() + min(clock.left(), 10.0) + 1, clock.cancellation)
    status = run_highs(highs, short)
    if highs.getInfo().primal_solution_status == 2:
        return True
    if status == Status.kInfeasible:
        return False
    return None
