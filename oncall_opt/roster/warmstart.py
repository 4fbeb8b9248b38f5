"""A quick greedy roster that respects the hard rules: the MIP's starting point when the LP
dives find none, and the answer when the time runs out before any solve finishes.

Slot by slot, each layer goes to the allowed person whose objective grows least. A preferred
slot counts for more the fewer preferred slots the person has been given so far, so they
spread: the objective rewards the least-happy person's count, which a flat bonus starved (the
extended 50x365 instance's least-happy person got 5 preferred days; now 10; the optimum 14).
It may paint itself into a corner (rest rules, pins ahead); then it gives up.
"""

from __future__ import annotations

from oncall_opt.roster.problem import Problem
from oncall_opt.roster.result import Assignment
from oncall_opt.roster.structure import candidates, group_of, history_in_group


def greedy_roster(problem: Problem) -> Assignment | None:
    n, _users = problem.n_slots, range(problem.n_users)
    w = problem.weights
    worked = {}  # (u, g) -> shifts so far
    total = [0] * problem.n_users
    last_on = [-(10**9)] * problem.n_users  # last slot on call
    granted = [0] * problem.n_users  # preferred slots given so far
    run = [0] * problem.n_users  # length of the current run ending at last_on
    assignment: Assignment = {}
    for t in range(n):
        taken: set[int] = set()
        for layer in problem.layers:
            best, best_cost = None, None
            for u in candidates(problem, t, layer):
                if u in taken or total[u] >= problem.max_shifts(u):
                    continue
                continuing = last_on[u] == t - 1 or (last_on[u] == t and layer > 1)
                limit = problem.max_consecutive[u]
                if continuing and limit is not None and run[u] >= limit:
                    continue
                if not continuing and 0 < t - last_on[u] - 1 < problem.min_rest[u]:
                    continue
                g = group_of(problem, t, layer)
                shifts = worked.get((u, g), 0) + history_in_group(problem, u, g)
                cost = w.balance * (2 * shifts + 1) / problem.users[u].weight
                cost += w.avoid * (t in problem.avoided[u])
                if t in problem.preferred[u]:
                    cost -= 0.5 + 3 * w.happiness / (1 + granted[u])
                if problem.previous:
                    cost += w.stability * (problem.previous.get((t, layer), u) != u)
                if best_cost is None or cost < best_cost:
                    best, best_cost = u, cost
            if best is None:
                return None
            u = best
            assignment[t, layer] = u
            taken.add(u)
            g = group_of(problem, t, layer)
            worked[u, g] = worked.get((u, g), 0) + 1
            total[u] += 1
            granted[u] += t in problem.preferred[u]
            run[u] = run[u] + 1 if last_on[u] == t - 1 else 1
            last_on[u] = t
    return assignment if not violations(problem, assignment) else None


def violations(problem: Problem, assignment: Assignment) -> list[str]:
    """Every hard rule an assignment breaks (empty for a valid roster)."""
    found = []
    on_call = [[False] * problem.n_slots for _ in range(problem.n_users)]
    for t in range(problem.n_slots):
        seen = set()
        for layer in problem.layers:
            u = assignment.get((t, layer))
            if u is None:
                found.append(f"slot {t} layer {layer} is empty")
                continue
            if t not in problem.available[u]:
                found.append(f"user {u} is unavailable in slot {t}")
            if problem.pins.get((t, layer), u) != u:
                found.append(f"slot {t} layer {layer} is pinned to someone else")
            if u in seen:
                found.append(f"user {u} holds two layers in slot {t}")
            seen.add(u)
            on_call[u][t] = True
    for u in range(problem.n_users):
        shifts = sum(on_call[u])
        if not problem.min_shifts(u) <= shifts <= problem.max_shifts(u):
            found.append(f"user {u} works {shifts} shifts, outside their limits")
        limit, rest = problem.max_consecutive[u], problem.min_rest[u]
        streak, last = 0, None
        for t in range(problem.n_slots):
            if not on_call[u][t]:
                continue
            if last is not None and 0 < t - last - 1 < rest:
                found.append(f"user {u} rests only {t - last - 1} slots before slot {t}")
            streak = streak + 1 if last == t - 1 else 1
            if limit is not None and streak > limit:
                found.append(f"user {u} works more than {limit} slots in a row at slot {t}")
            last = t
    return found
