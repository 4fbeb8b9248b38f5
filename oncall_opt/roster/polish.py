"""Local search on a roster: hand single slots from one person to another, or trade two slots
between two people, whenever that lowers the objective and breaks no rule.

Why: the LP-guided dive keeps every cell the LP decided, so each person's load is mostly fixed
before the small MIP starts. With `slot_weights` a person's load is a weighted sum, and the LP
bound is met only by rosters whose loads are as even as whole slots allow; the dive's roster
was 1-2% above it at 100 people x 365 days, and the full MIP closed that slowly. Moving and
trading slots between the most and the least loaded evens loads out in milliseconds a move.

Every move is checked against the rules around the slots it touches (availability, pins, one
layer at a time, shift limits, runs, rest, carry_in), the objective is updated exactly term by
term, and the result is checked once more in full (`warmstart.violations`, `result.evaluate`):
the polished roster is never worse and never invalid. Optimality still stands only on a bound.
"""

from __future__ import annotations

import time
from collections import Counter
from itertools import product

from oncall_opt.roster.problem import Problem
from oncall_opt.roster.result import Assignment, evaluate
from oncall_opt.roster.structure import balance_groups, group_of, history_in_group
from oncall_opt.roster.warmstart import violations

# Deltas are sums of float terms: a target met to within this is met.
_ROUNDING = 1e-6


class _Search:
    def __init__(self, problem: Problem, assignment: Assignment):
        p = self.problem = problem
        self.assignment = dict(assignment)
        self.users = range(p.n_users)
        n_groups = len(balance_groups(p))
        self.load = [[history_in_group(p, u, g) for g in range(n_groups)] for u in self.users]
        self.on = [set(p.carried[u]) if p.carried else set() for u in self.users]
        self.total = [0] * p.n_users
        self.granted = [0] * p.n_users
        for (t, layer), u in self.assignment.items():
            self.load[u][group_of(p, t, layer)] += p.slot_weight(t)
            self.on[u].add(t)
            self.total[u] += 1
            self.granted[u] += t in p.preferred[u]
        self.wishers = set(p.wishers)
        self.at_level = Counter(self.granted[u] for u in self.wishers)
        w = p.term_weights
        self.w_balance, self.w_happy, self.w_avoid = w.balance, w.happiness, w.avoid
        self.w_stable = w.stability if p.previous else 0.0
        self.reach = max(
            ((p.max_consecutive[u] or 0) + p.min_rest[u] + 2 for u in self.users), default=2
        )

    # ----- rules around a slot ------------------------------------------------------------
    def _runs_ok(self, u: int, slots: set[int], t: int) -> bool:
        """Runs and rests of `u` on call in `slots` are within their rules near `t`."""
        limit, rest = self.problem.max_consecutive[u], self.problem.min_rest[u]
        if limit is None and rest <= 1:
            return True
        lo, hi = t - self.reach, t + self.reach
        while lo - 1 in slots:  # widen to whole runs
            lo -= 1
        while hi + 1 in slots:
            hi += 1
        last_end = None
        s = lo
        while s <= hi:
            if s not in slots:
                s += 1
                continue
            start = s
            while s + 1 in slots:
                s += 1
            if limit is not None and s - start + 1 > limit and s >= 0:
                return False
            if last_end is not None and start - last_end - 1 < rest and start >= 0:
                return False
            last_end = s
            s += 1
        return True

    def can_take(self, v: int, t: int, layer: int) -> bool:
        p = self.problem
        if t not in p.available[v] or t in self.on[v] or (t, layer) in p.pins:
            return False
        if self.total[v] + 1 > p.max_shifts(v):
            return False
        self.on[v].add(t)
        ok = self._runs_ok(v, self.on[v], t)
        self.on[v].discard(t)
        return ok

    def can_give(self, u: int, t: int) -> bool:
        if self.total[u] - 1 < self.problem.min_shifts(u):
            return False
        self.on[u].discard(t)
        ok = self._runs_ok(u, self.on[u], t)
        self.on[u].add(t)
        return ok

    # ----- the objective's change ---------------------------------------------------------
    def _balance_delta(self, changes: list[tuple[int, int, int]]) -> float:
        """(person, group, points added) -> the balance term's change."""
        merged: dict[tuple[int, int], int] = {}
        for u, g, d in changes:
            merged[u, g] = merged.get((u, g), 0) + d
        weight = self.problem.users
        return self.w_balance * sum(
            ((self.load[u][g] + d) ** 2 - self.load[u][g] ** 2) / weight[u].weight
            for (u, g), d in merged.items()
            if d
        )

    def _happy_delta(self, changes: dict[int, int]) -> float:
        """People's granted-preferred changes -> the happiness term's change (it is minus)."""
        changes = {u: d for u, d in changes.items() if d and u in self.wishers}
        if not changes or not self.at_level:
            return 0.0
        before = min(self.at_level)
        levels = self.at_level.copy()
        for u, d in changes.items():
            levels[self.granted[u]] -= 1
            levels[self.granted[u] + d] += 1
        after = min(k for k, n in levels.items() if n > 0)
        return -self.w_happy * (after - before)

    def _cell_cost(self, u: int, t: int, layer: int) -> float:
        p = self.problem
        cost = self.w_avoid * (t in p.avoided[u])
        before = p.previous.get((t, layer))
        return cost + self.w_stable * (before is not None and before != u)

    def move_delta(self, t: int, layer: int, v: int) -> float:
        p = self.problem
        u = self.assignment[t, layer]
        g, w = group_of(p, t, layer), p.slot_weight(t)
        pref = {u: -(t in p.preferred[u]), v: int(t in p.preferred[v])}
        return (
            self._balance_delta([(u, g, -w), (v, g, w)])
            + self._cell_cost(v, t, layer)
            - self._cell_cost(u, t, layer)
            + self._happy_delta(pref)
        )

    def apply_move(self, t: int, layer: int, v: int) -> None:
        p = self.problem
        u = self.assignment[t, layer]
        g, w = group_of(p, t, layer), p.slot_weight(t)
        for who, sign in ((u, -1), (v, 1)):
            self.load[who][g] += sign * w
            self.total[who] += sign
            if t in p.preferred[who]:
                if who in self.wishers:
                    self.at_level[self.granted[who]] -= 1
                    self.at_level[self.granted[who] + sign] += 1
                self.granted[who] += sign
        self.at_level += Counter()  # drop empty levels
        self.on[u].discard(t)
        self.on[v].add(t)
        self.assignment[t, layer] = v

    # ----- trades ------------------------------------------------------------------------
    def trade_ok(self, u: int, a: tuple[int, int], v: int, b: tuple[int, int]) -> bool:
        """`u` gives cell `a` and takes `b`, `v` the other way round: rules still hold."""
        p = self.problem
        ta, tb = a[0], b[0]
        if ta == tb or a in p.pins or b in p.pins:
            return False
        if tb not in p.available[u] or ta not in p.available[v]:
            return False
        if tb in self.on[u] or ta in self.on[v]:  # already on call then (the other layer)
            return False
        on_u = (self.on[u] - {ta}) | {tb}
        on_v = (self.on[v] - {tb}) | {ta}
        return all(
            self._runs_ok(who, slots, t) for who, slots in ((u, on_u), (v, on_v)) for t in (ta, tb)
        )

    def trade_delta(self, a: tuple[int, int], b: tuple[int, int]) -> float:
        p = self.problem
        u, v = self.assignment[a], self.assignment[b]
        (ta, la), (tb, lb) = a, b
        ga, gb = group_of(p, ta, la), group_of(p, tb, lb)
        wa, wb = p.slot_weight(ta), p.slot_weight(tb)
        changes = [(u, ga, -wa), (v, ga, wa), (v, gb, -wb), (u, gb, wb)]
        pref = {
            u: (tb in p.preferred[u]) - (ta in p.preferred[u]),
            v: (ta in p.preferred[v]) - (tb in p.preferred[v]),
        }
        return (
            self._balance_delta(changes)
            + self._cell_cost(u, tb, lb)
            + self._cell_cost(v, ta, la)
            - self._cell_cost(u, ta, la)
            - self._cell_cost(v, tb, lb)
            + self._happy_delta(pref)
        )

    def apply_trade(self, a: tuple[int, int], b: tuple[int, int]) -> None:
        u, v = self.assignment[a], self.assignment[b]
        # as two moves; the person's total is the same after both (min/max shifts hold)
        self.apply_move(a[0], a[1], v)
        self.apply_move(b[0], b[1], u)

    def cells_of(self) -> dict[int, list[tuple[int, int]]]:
        held: dict[int, list[tuple[int, int]]] = {u: [] for u in self.users}
        for cell, u in self.assignment.items():
            held[u].append(cell)
        return held


def _trade_round(search: _Search, deadline: float, width: int = 12) -> float:
    """One round of trades between the most and the least loaded of each balance group
    (relative to their weight); what they changed the objective by (0: none made)."""
    p = search.problem
    made = 0.0
    for g in range(len(balance_groups(p))):
        order = sorted(search.users, key=lambda u: search.load[u][g] / p.users[u].weight)
        low, high = order[:width], order[-width:][::-1]
        held = search.cells_of()
        for u in high:
            for v in low:
                if u == v or time.perf_counter() >= deadline:
                    continue
                pairs = (
                    (u, a, v, b)
                    for a in held[u]
                    for b in held[v]
                    if group_of(p, *a) == g or group_of(p, *b) == g
                )
                best, best_delta = _best_trade(search, pairs, -1e-9)
                if best is not None:
                    search.apply_trade(*best)
                    held = search.cells_of()
                    made += best_delta
    return made


def polish(
    problem: Problem, assignment: Assignment, deadline: float, target: float | None = None
) -> Assignment:
    """A roster at least as good as `assignment` (same rules), improved by single-slot moves
    until none helps, `deadline` (time.perf_counter()) passes or its objective is down to
    `target` (a bound: nothing lower exists)."""
    if problem.n_users < 2 or not assignment:
        return assignment
    search = _Search(problem, assignment)

    def reached(objective: float) -> bool:
        return target is not None and objective <= target + _ROUNDING

    objective = evaluate(problem, assignment).total
    done = reached(objective)
    cells = sorted(search.assignment)
    takers = [
        [v for v in search.users if t in problem.available[v]] for t in range(problem.n_slots)
    ]
    improved = not done
    while improved and time.perf_counter() < deadline:
        improved = False
        for t, layer in cells:
            if time.perf_counter() >= deadline or done:
                break
            if (t, layer) in problem.pins:
                continue
            u = search.assignment[t, layer]
            if not search.can_give(u, t):
                continue
            best, best_delta = None, -1e-9
            for v in takers[t]:
                if v == u or not search.can_take(v, t, layer):
                    continue
                delta = search.move_delta(t, layer, v)
                if delta < best_delta:
                    best, best_delta = v, delta
            if best is not None:
                search.apply_move(t, layer, best)
                improved = True
                objective += best_delta
                done = reached(objective)
        if not improved and time.perf_counter() < deadline:
            gained = _trade_round(search, deadline)
            improved = gained < 0
            objective += gained
            done = reached(objective)
        if not improved and not done and time.perf_counter() < deadline:
            gained, improved = _wish_round(search, deadline)
            objective += gained
            done = reached(objective)
        improved = improved and not done
    found = search.assignment
    worse = evaluate(problem, found).total > evaluate(problem, assignment).total
    if worse or violations(problem, found):
        return assignment  # a bug here must never cost the user a valid roster
    return found


def _best_trade(search: _Search, pairs, limit: float) -> tuple[tuple | None, float]:
    """Of `pairs` ((u, a, v, b): `u` gives cell `a` and takes `v`'s cell `b`), the trade that
    keeps every rule and changes the objective least, if below `limit`; else None."""
    best, best_delta = None, limit
    for u, a, v, b in pairs:
        delta = search.trade_delta(a, b)
        if delta < best_delta and search.trade_ok(u, a, v, b):
            best, best_delta = (a, b), delta
    return best, best_delta


def _wish_round(search: _Search, deadline: float) -> tuple[float, bool]:
    """Trades that grant a preferred slot to someone at the least-happy level, at no cost
    (what the trade changes in balance and avoided days is not above 0), and leave nobody
    else at or below that level: what they changed the objective by, and whether any was made.

    Why: the happiness term moves only when the last person at the least-happy level is
    raised; until then each such grant is worth nothing to the moves and trades above, which
    stop on that plateau. It helps where wishes can be traded freely (50 people x 365 days
    with every rule: 4 lower); at 100 x 365 no trade at no cost is left and the level stays 5
    where the LP holds 7. Each trade made lowers the number of people at the level and raises
    no cost, so the rounds end."""
    p = search.problem
    if not search.at_level:
        return 0.0, False
    level = min(search.at_level)
    held = search.cells_of()
    change, made = 0.0, False

    def at_level_after(v: int, a: tuple[int, int], b: tuple[int, int]) -> bool:
        """Whether `v`, giving `b` for `a`, would be at the level or below (a wish lost)."""
        lost, won = b[0] in p.preferred[v], a[0] in p.preferred[v]
        return search.granted[v] - lost + won <= level

    for u in sorted(search.wishers):
        if search.granted[u] != level or time.perf_counter() >= deadline:
            continue
        wished = ((b, search.assignment.get(b)) for b in product(p.preferred[u], p.layers))
        pairs = (
            (u, a, v, b)
            for b, v in wished
            if v is not None and v != u
            for a in held[u]
            if a[0] not in p.preferred[u] and not (v in search.wishers and at_level_after(v, a, b))
        )
        best, best_delta = _best_trade(search, pairs, _ROUNDING)
        if best is not None:
            search.apply_trade(*best)
            held = search.cells_of()
            change += best_delta
            made = True
    return change, made
