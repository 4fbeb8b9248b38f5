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
from oncall_opt.roster.structure import balance_groups, group_of, history_in_group


def greedy_roster(problem: Problem) -> Assignment | None:
    users = range(problem.n_users)
    w = problem.term_weights
    stability = w.stability if problem.previous else 0.0
    cost_per_step = [w.balance / user.weight for user in problem.users]
    max_shifts = [problem.max_shifts(u) for u in users]
    limits, rests = problem.max_consecutive, problem.min_rest
    avoided, preferred, available = problem.avoided, problem.preferred, problem.available
    # shifts[g][u]: shifts (or burden points) in balance group g so far, history included
    groups = range(len(balance_groups(problem)))
    shifts = [[history_in_group(problem, u, g) for u in users] for g in groups]
    total = [0] * problem.n_users
    last_on, run = _carried_runs(problem)  # last slot on call, the run ending there
    granted = [0] * problem.n_users  # preferred slots given so far
    assignment: Assignment = {}
    for t in range(problem.n_slots):
        taken: set[int] = set()
        free = [u for u in users if t in available[u]]
        for layer in problem.layers:
            pinned = problem.pins.get((t, layer))
            people = free if pinned is None else [pinned] if t in available[pinned] else []
            g = group_of(problem, t, layer)
            before = problem.previous.get((t, layer))
            best, best_cost = None, None
            for u in people:
                if u in taken or total[u] >= max_shifts[u]:
                    continue
                continuing = last_on[u] == t - 1 or (last_on[u] == t and layer > 1)
                if continuing and limits[u] is not None and run[u] >= limits[u]:
                    continue
                if not continuing and 0 < t - last_on[u] - 1 < rests[u]:
                    continue
                # the rise in (load + weight)^2 - load^2, load in shifts or burden points
                weight = problem.slot_weight(t)
                cost = cost_per_step[u] * (2 * shifts[g][u] + weight) * weight
                if t in avoided[u]:
                    cost += w.avoid
                if t in preferred[u]:
                    cost -= 0.5 + 3 * w.happiness / (1 + granted[u])
                if before is not None and before != u:
                    cost += stability
                if best_cost is None or cost < best_cost:
                    best, best_cost = u, cost
            if best is None:
                return None
            u = best
            assignment[t, layer] = u
            taken.add(u)
            shifts[g][u] += problem.slot_weight(t)
            total[u] += 1
            granted[u] += t in preferred[u]
            run[u] = run[u] + 1 if last_on[u] == t - 1 else 1
            last_on[u] = t
    return assignment if not violations(problem, assignment) else None


def _carried_runs(problem: Problem) -> tuple[list[int], list[int]]:
    """Per person, the last slot on call before the window (carry_in; far back if none) and
    the length of the run that ended there."""
    last_on, run = [-(10**9)] * problem.n_users, [0] * problem.n_users
    for u, slots in enumerate(problem.carried):
        if slots:
            last_on[u] = max(slots)
            while last_on[u] - run[u] in slots:
                run[u] += 1
    return last_on, run


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
    last_on, runs = _carried_runs(problem)
    for u in range(problem.n_users):
        shifts = sum(on_call[u])
        if not problem.min_shifts(u) <= shifts <= problem.max_shifts(u):
            found.append(f"user {u} works {shifts} shifts, outside their limits")
        limit, rest = problem.max_consecutive[u], problem.min_rest[u]
        streak, last = runs[u], last_on[u] if runs[u] else None
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
