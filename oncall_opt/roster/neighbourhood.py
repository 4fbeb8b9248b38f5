"""Large-neighbourhood search: a better roster from a good one, by solving parts of it again.

Why: on tight two-layer rotations (one in four, weekend balance, history) the LP
relaxation's value is already the optimum (on every case of `benchmarks/rotations.py` whose
optimum is known), yet HiGHS's MIP over the whole roster finds a roster that meets it slowly
(12 people x 26 weeks: 25 s, its root LP alone 5 s), while a part of it re-solved with the
rest kept takes a tenth of a second. So: free a part of the best roster, keep every other
cell, and hand HiGHS the small MIP over the freed cells with a cutoff just under the
roster's objective. Whatever it returns is better and keeps every rule (the kept cells hold
a valid roster's values; the rows through freed cells are in the MIP). The parts, in turn:

* a stretch of consecutive slots, every person's cells in it (runs and rests move freely);
* the shifts a few people hold between them, over the whole window (they trade among
  themselves; every other time two of them are where the balance gains most);
* for every least-happy wisher at once, a preferred slot not yet granted: her cells and
  those of the people holding it, a rest cycle either side (the least-happy level rises
  only when every wisher at it gains one, which neither of the above may hold). A roster
  of the same objective counts here if it lifts some of them, and of two rosters of one
  objective the search keeps the one with fewer wishers at the lowest level;
* where the roster differs from the LP's solution (as in RINS), when that is not most of it.

Each part's size adapts: it grows after a MIP proved quickly that nothing better is in it,
and shrinks after one that ran out of time. Several workers (threads) may search at once,
each with its own parts and sizes, all from the best roster any of them found. The search
stops at the bound, at the deadline, or after `_STALL` tries in a row (per worker) found
nothing better when the caller says the full MIP has time to be of use; without wishes, after
`_RESTART` such tries when it has not, it starts again from its first roster and keeps the
best of every descent. It proves nothing by itself: optimality still stands only on a bound.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass

import highspy
import numpy as np

from oncall_opt.roster.cancel import Clock, run_highs
from oncall_opt.roster.matrix import Matrices, highs_start
from oncall_opt.roster.problem import Problem
from oncall_opt.roster.result import Assignment, evaluate
from oncall_opt.roster.structure import (
    balance_groups,
    cycle_length,
    group_of,
    history_in_group,
    load_of,
    objective_is_integral,
)

log = logging.getLogger(__name__)
Status = highspy.HighsModelStatus
# A sub-MIP may take at most this (or a quarter of the time left): a slow one is cut short
# and its neighbourhood shrunk, rather than let one neighbourhood take the whole search.
_MOST_SECONDS = 0.6
# A sub-MIP that proved within this that nothing better is in its neighbourhood: it grows.
_QUICK_SECONDS = 0.3
# Cells a stretch of slots frees at first (12 people x 2 layers: 25 slots, about 0.3 s).
_FIRST_CELLS = 600
# Tries in a row without a better roster after which the search stops (if `may_stop()`).
_STALL = 20
# How often a paused worker looks whether it may go on (a sub-MIP takes 0.1-0.6 s).
_PAUSE_CHECK = 0.05
# Tries in a row (per worker) without a better roster after which, if the full MIP has no
# time to be of use, the search starts again from its first roster (see `_Shared.current`).
_RESTART = 12


@dataclass
class _Kind:
    """One kind of neighbourhood and its size (slots in the stretch, or people)."""

    name: str
    size: float
    least: int
    most: int

    def grow(self) -> None:
        self.size = min(self.most, self.size * 1.1 + 0.5)

    def shrink(self) -> None:
        self.size = max(self.least, self.size * 0.8)


@dataclass
class Searched:
    assignment: Assignment  # the best of every descent
    improvements: int
    tries: int
    restarts: int = 0


def improve(
    problem: Problem,
    mx: Matrices,
    assignment: Assignment,
    clock: Clock,
    rows: np.ndarray,
    reached: Callable[[float], bool],
    lp_values: np.ndarray | None = None,
    options: dict | None = None,
    seed: int = 0,
    may_stop: Callable[[], bool] = lambda: True,
    workers: int = 1,
    paused: Callable[[], bool] = lambda: False,
) -> Searched:
    """The best roster found from `assignment` by re-solving parts of it, until `reached`
    says its objective meets the bound, the clock runs out, or `_STALL` tries in a row found
    nothing better and `may_stop()` says the time left has a better use (else it goes on).
    `rows`: the row numbers of `mx` a MIP needs. `lp_values` (the LP relaxation's solution)
    adds the neighbourhood where the roster differs from it, tried first and after each
    better roster. `options` go to HiGHS. `workers` threads search at once, each from the
    best roster any of them found (HiGHS releases the interpreter while it solves). With one
    worker the search is the same for the same `seed` (but for where the time runs out).
    While `paused()` says so, every worker but the first waits (something beside the search
    needs a core)."""
    shared = _Shared(problem, mx, assignment, reached, may_stop, _STALL * workers, paused)
    parts = _Parts(problem, mx, rows, options or {})
    search = [
        _Worker(shared, parts, random.Random(seed + i), lp_values if i == 0 else None, i > 0)
        for i in range(workers)
    ]
    with ThreadPoolExecutor(max_workers=workers - 1) if workers > 1 else nullcontext() as pool:
        others = [pool.submit(worker.run, clock) for worker in search[1:]] if pool else []
        try:
            search[0].run(clock)
        finally:
            shared.done = True  # the others stop after their current try
            for other in others:
                other.result()  # re-raises a worker's error (a cancellation)
    return Searched(shared.best, shared.improvements, shared.tries, shared.restarts)


def lowest_wishers(problem: Problem, assignment: Assignment) -> tuple[int, list[int]]:
    """The least-happy level (preferred slots granted) and the wishers at it; (0, []) when
    nobody asked for a slot or wishes weigh nothing."""
    if not _wishes_count(problem):
        return 0, []
    granted = _granted(problem, assignment, problem.wishers)
    level = min(granted.values())
    return level, [u for u, n in granted.items() if n == level]


def _wishes_count(problem: Problem) -> bool:
    """Whether someone asked for preferred slots and the least-happy level weighs anything."""
    return any(problem.preferred) and bool(problem.term_weights.happiness)


def _lifts(problem: Problem, assignment: Assignment, level: int, wishers: list[int]) -> bool:
    """Whether a roster grants one of `wishers` more than `level` preferred slots and none
    fewer."""
    granted = _granted(problem, assignment, wishers).values()
    return min(granted) >= level and max(granted) > level


def _granted(problem: Problem, assignment: Assignment, people: list[int]) -> dict[int, int]:
    """The preferred slots a roster grants each of `people`."""
    granted = dict.fromkeys(people, 0)
    for (t, _), u in assignment.items():
        if u in granted and t in problem.preferred[u]:
            granted[u] += 1
    return granted


class _Shared:
    """The roster the workers search from (the best of the current descent), the best of
    every descent, and when they stop or start again."""

    def __init__(self, problem, mx, assignment, reached, may_stop, stall: int, paused):
        self.problem, self.mx = problem, mx
        self.reached, self.may_stop, self.stall, self.paused = reached, may_stop, stall, paused
        self.lock = threading.Lock()
        self.assignment = dict(assignment)
        self.total = evaluate(problem, assignment).total
        self.at_lowest = len(lowest_wishers(problem, assignment)[1])
        self.values = mx.column_values(problem, self.assignment)
        self.improvements = self.tries = self.stalled = self.restarts = 0
        self.done = False
        self.first = self.assignment, self.total, self.at_lowest, self.values
        self.best, self.best_key = self.assignment, (self.total, self.at_lowest)
        # Not with wishes: there the search climbs plateaus towards the next happiness level
        # that a new descent loses (10 people one in four: 25,045 to 25,059 in 7 runs with
        # restarts, against 25,045 to 25,049 without).
        self.restart_after = 0 if _wishes_count(problem) else _RESTART * stall // _STALL

    def current(self) -> tuple[Assignment, float, np.ndarray] | None:
        """The roster to search from (the best of this descent), its objective and column
        values; None when the search is over."""
        with self.lock:
            if self.done or self.reached(self.total):
                self.done = True
                return None
            if self.stalled >= self.stall:
                if self.may_stop():
                    self.done = True
                    return None
                self.stalled = 0
            if self.restart_after and self.stalled >= self.restart_after and not self.may_stop():
                # A rotation's balance can sit in a roster no part improves (12 people one
                # in five x 26 weeks: 28,607, where 8 of the 12 people re-solved together
                # gain nothing and the optimum is 28,602); a descent from the first roster
                # again, with the workers' random choices where they are now, most often
                # ends elsewhere: proven in 7 of 8 runs at 10 s, against 2 of 8 without.
                log.debug("restart after %d tries", self.stalled)
                self.assignment, self.total, self.at_lowest, self.values = self.first
                self.stalled = 0
                self.restarts += 1
            return self.assignment, self.total, self.values

    def offer(self, found: Assignment | None) -> bool:
        """Whether `found` is the new best roster (None, or one no better: a try that failed).
        Of two rosters of one objective, the one with fewer wishers at the least-happy level
        is better: it is nearer to raising that level (which takes all of them)."""
        total = at_lowest = values = None
        if found is not None:
            total = evaluate(self.problem, found).total
            at_lowest = len(lowest_wishers(self.problem, found)[1])
            values = self.mx.column_values(self.problem, found)
        with self.lock:
            self.tries += 1
            if total is None or (total, at_lowest) >= (self.total, self.at_lowest):
                self.stalled += 1
                return False
            self.assignment, self.total, self.values = found, total, values
            self.at_lowest = at_lowest
            if (total, at_lowest) < self.best_key:
                self.best, self.best_key = found, (total, at_lowest)
            self.improvements += 1
            self.stalled = 0
            return True


class _Worker:
    """One thread of the search: its own neighbourhoods, sizes and random choices."""

    def __init__(
        self, shared: _Shared, parts: _Parts, rng: random.Random, lp_values, pausable: bool
    ):
        self.shared, self.parts, self.rng, self.lp_values = shared, parts, rng, lp_values
        self.pausable = pausable
        problem = shared.problem
        per_slot = len(parts.mx.cells) / max(1, problem.n_slots)
        first_slots = max(2, min(problem.n_slots, round(_FIRST_CELLS / max(per_slot, 1))))
        self.kinds = [
            _Kind("slots", first_slots, 1, problem.n_slots),
            _Kind("people", min(4, problem.n_users), 2, problem.n_users),
        ]
        if _wishes_count(problem):
            self.kinds.append(_Kind("wishes", 1, 1, 3))
        self.cut = 0.5 if objective_is_integral(problem) else 1e-6

    def run(self, clock: Clock) -> None:
        shared, tries = self.shared, 0
        follow_lp = self.lp_values is not None
        while clock.left() > 0 and not shared.done:
            if self.pausable and shared.paused():
                time.sleep(_PAUSE_CHECK)
                continue
            now = shared.current()
            if now is None:
                return
            best, total, values = now
            kind = None if follow_lp else self.kinds[tries % len(self.kinds)]
            if kind is None:
                follow_lp = False
                opened = self.parts.differing(values, self.lp_values)
                if not opened.any():  # the LP's solution is too far from any roster to follow
                    self.lp_values = None
                    continue
            else:
                opened = self.parts.neighbourhood(kind, best, self.rng)
            tries += 1
            if not opened.any():  # no wish is left to grant, say: the next kind
                continue
            lift = None
            if kind is not None and kind.name == "wishes" and self.cut == 0.5:
                lift = lowest_wishers(shared.problem, best)
                lift = lift if lift[1] else None
            cutoff = total if lift else total - self.cut
            found, status, seconds = self.parts.solve(values, opened, cutoff, clock, lift)
            if log.isEnabledFor(logging.DEBUG):
                better = "" if found is None else f" -> {evaluate(shared.problem, found).total:g}"
                log.debug("%s: %d cells open, %s in %.2fs%s", "LP" if kind is None else kind.name,
                          opened.sum(), status, seconds, better)  # fmt: skip
            if shared.offer(found):
                # from the new roster the LP may show more
                follow_lp = self.lp_values is not None
                continue
            if kind is None or found is not None:
                continue
            if status == Status.kOptimal and seconds < _QUICK_SECONDS:
                kind.grow()
            elif status != Status.kOptimal:
                kind.shrink()


class _Parts:
    """The MIPs over parts of a roster: the cells of a part are open, every other cell keeps
    the roster's value, and so do the balance steps that no open cell can move."""

    def __init__(self, problem: Problem, mx: Matrices, rows: np.ndarray, options: dict):
        self.problem, self.mx, self.rows, self.options = problem, mx, rows, options
        n = len(mx.cells)
        self.slot_of = np.fromiter((t for _, t, _ in mx.cells), dtype=np.int64, count=n)
        self.person_of = np.fromiter((u for u, _, _ in mx.cells), dtype=np.int64, count=n)
        pairs: dict[tuple[int, int], int] = {}
        self.pair_of_cell = np.fromiter(
            (pairs.setdefault((u, group_of(problem, t, layer)), len(pairs))
             for u, t, layer in mx.cells), dtype=np.int64, count=n,
        )  # fmt: skip
        self.preferred_cell = np.fromiter(
            (t in problem.preferred[u] for u, t, _ in mx.cells), dtype=bool, count=n
        )
        self.weight_of_cell = np.fromiter(
            (problem.slot_weight(t) for _, t, _ in mx.cells), dtype=float, count=n
        )
        steps = len(mx.step_keys)
        self.pair_of_step = np.fromiter(
            (pairs.setdefault((u, g), len(pairs)) for u, g, _ in mx.step_keys), dtype=np.int64,
            count=steps,
        )  # fmt: skip
        self.k_of_step = np.fromiter((k for _, _, k in mx.step_keys), dtype=float, count=steps)
        self.unit_step = np.asarray(mx.upper[n : n + steps]) == 1
        self.pairs = len(pairs)

    def differing(self, values: np.ndarray, lp_values: np.ndarray) -> np.ndarray:
        """Every cell of the slots where the roster and the LP's solution differ (as in RINS);
        nothing when that is most of the roster (a rotation's LP is fractional everywhere:
        that MIP would be the whole one)."""
        n = len(self.mx.cells)
        slots = np.unique(self.slot_of[np.abs(lp_values[:n] - values[:n]) > 1e-6])
        if len(slots) > self.problem.n_slots / 2:
            return np.zeros(n, dtype=bool)
        return np.isin(self.slot_of, slots)

    def neighbourhood(self, kind: _Kind, best: Assignment, rng: random.Random) -> np.ndarray:
        size = max(1, round(kind.size))
        if kind.name == "wishes":
            return self._wished(best, size, rng)
        if kind.name == "slots":
            first = rng.randrange(0, max(1, self.problem.n_slots - size + 1))
            return (self.slot_of >= first) & (self.slot_of < first + size)
        # The cells of `size` people in the slots one of them holds: they trade among them.
        # Every other time two of them are where the balance could gain most: in a group,
        # the one whose last shift costs most and the one whose next would cost least.
        people = list(range(self.problem.n_users))
        chosen = []
        if rng.random() < 0.5:
            chosen = self._unbalanced(best, rng)
        rest = [u for u in people if u not in chosen]
        chosen += rng.sample(rest, max(0, min(size, len(people)) - len(chosen)))
        holder = np.fromiter((best[t, layer] for _, t, layer in self.mx.cells), dtype=np.int64,
                             count=len(self.mx.cells))  # fmt: skip
        return np.isin(self.person_of, chosen) & np.isin(holder, chosen)

    def _wished(self, best: Assignment, size: int, rng: random.Random) -> np.ndarray:
        """For every least-happy wisher at once, `size` preferred slots not yet granted: the
        cells of the wisher and of those holding the slot, from a cycle before it to a cycle
        after (so the rest rules let them swap). The least-happy level rises only when every
        wisher at it gains one at the same time, which no stretch of slots or few people
        hold (15 people, one in five: 13 of them at level 2, where the optimum's is 6)."""
        p = self.problem
        held = {(t, u) for (t, _), u in best.items()}
        opened = np.zeros(len(self.mx.cells), dtype=bool)
        for u in lowest_wishers(p, best)[1]:
            days = [t for t in p.preferred[u] if (t, u) not in held and t in p.available[u]]
            for t in rng.sample(sorted(days), min(size, len(days))):
                people = [u, *(best[t, layer] for layer in p.layers if (t, layer) in best)]
                reach = max(1, cycle_length(p, u))
                opened |= (
                    np.isin(self.person_of, people)
                    & (self.slot_of >= t - reach)
                    & (self.slot_of <= t + reach)
                )
        return opened

    def _unbalanced(self, best: Assignment, rng: random.Random) -> list[int]:
        p = self.problem
        load = load_of(p, best)
        groups = len(balance_groups(p))
        g = rng.randrange(groups)
        last = {u: (2 * (history_in_group(p, u, g) + load.get((u, g), 0)) - 1) / user.weight
                for u, user in enumerate(p.users) if load.get((u, g), 0)}  # fmt: skip
        if not last:
            return []
        most = max(last, key=lambda u: (last[u], rng.random()))
        following = {u: (2 * (history_in_group(p, u, g) + load.get((u, g), 0)) + 1) / user.weight
                     for u, user in enumerate(p.users) if u != most}  # fmt: skip
        if not following:
            return [most]
        return [most, min(following, key=lambda u: (following[u], rng.random()))]

    def _add_lift(self, highs, free, values, opened, lift, bonus: float) -> np.ndarray:
        """For each wisher at the least-happy `level`, a column z in [0, 1] worth `bonus`, with
        z <= her granted preferred slots - level; the start's values of these columns (0)."""
        level, wishers = lift
        column = np.full(len(values), -1, dtype=np.int64)
        column[free] = np.arange(len(free))
        added = 0
        for u in wishers:
            mine = (self.person_of == u) & self.preferred_cell
            open_cells = np.flatnonzero(mine & opened)
            if not len(open_cells):
                continue
            kept = float(values[: len(opened)][mine & ~opened].sum())
            z = highs.getNumCol()
            highs.addCol(-bonus, 0.0, 1.0, 0, np.array([], dtype=np.int32), np.array([]))
            index = np.concatenate([[z], column[open_cells]]).astype(np.int32)
            coefficient = np.concatenate([[1.0], -np.ones(len(open_cells))])
            highs.addRow(-highspy.kHighsInf, kept - level, len(index), index, coefficient)
            added += 1
        return np.zeros(added)

    def solve(
        self,
        values: np.ndarray,
        opened: np.ndarray,
        cutoff: float,
        clock: Clock,
        lift: tuple[int, list[int]] | None = None,
    ) -> tuple[Assignment | None, Status, float]:
        """The best roster that keeps every cell outside `opened`, if its objective is at
        most `cutoff`; with the MIP's status and seconds.

        `lift` (the least-happy level and the wishers at it; whole objectives only): a roster
        of objective `cutoff` itself counts if it grants one of them a preferred slot more,
        and among rosters of one objective the MIP prefers those that lift more of them
        (a bonus under half a unit in all, so it never outweighs the objective).

        A person's load in a group can only move between what their kept cells give and
        that plus their open cells, and the cheaper steps fill first: steps below it are
        kept full, those above it empty (this leaves the MIP a seventh of the columns on a
        12-person rotation, and HiGHS's presolve a fraction of the work)."""
        mx, n = self.mx, len(self.mx.cells)
        fixed = np.full(len(mx.cost), np.nan)
        fixed[:n] = np.where(opened, np.nan, values[:n])
        kept = np.bincount(self.pair_of_cell, weights=np.where(opened, 0.0, values[:n])
                           * self.weight_of_cell, minlength=self.pairs)  # fmt: skip
        movable = np.bincount(self.pair_of_cell, weights=opened * self.weight_of_cell,
                              minlength=self.pairs)  # fmt: skip
        low, high = kept[self.pair_of_step], (kept + movable)[self.pair_of_step]
        steps = fixed[n : n + len(self.k_of_step)]
        steps[(self.k_of_step <= low + 1e-9) & self.unit_step] = 1.0
        steps[self.k_of_step > high + 1 - 1e-9] = 0.0
        free = np.flatnonzero(np.isnan(fixed))
        bonus = 0.5 / (len(lift[1]) + 1) if lift else 0.0
        # The bonus is not whole: a gap of 0.999 would let the MIP stop short by up to a unit.
        options = {**self.options, "mip_abs_gap": bonus / 2} if lift else self.options
        highs = mx.to_highs(
            rows=self.rows, fixed=fixed, **options, objective_bound=cutoff - bonus / 2
        )
        start = values[free]
        if lift:
            lifted = self._add_lift(highs, free, values, opened, lift, bonus)
            start = np.concatenate([start, lifted])
        highs.setSolution(highs_start(start))
        started = time.perf_counter()
        status = run_highs(highs, clock.within(min(_MOST_SECONDS, max(0.2, clock.left() / 4))))
        seconds = time.perf_counter() - started
        if highs.getInfo().primal_solution_status != 2:
            return None, status, seconds
        solved = fixed.copy()
        solved[free] = np.asarray(highs.getSolution().col_value)[: len(free)]
        found = mx.roster_in(solved)
        if found is None or evaluate(self.problem, found).total > cutoff + 1e-9:
            return None, status, seconds
        # HiGHS may hand back its start whatever the cutoff: one of the objective's own counts
        # only if it lifts a wisher (and drops none below the level).
        if (
            lift
            and evaluate(self.problem, found).total > cutoff - 0.5
            and not _lifts(self.problem, found, *lift)
        ):
            return None, status, seconds
        return found, status, seconds
