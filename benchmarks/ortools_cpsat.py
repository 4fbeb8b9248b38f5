"""The roster model in OR-Tools CP-SAT, as an independent reference for `oncall_opt`.

    python benchmarks/ortools_cpsat.py 10x28 [--time-limit 60] [--workers 2]
    python benchmarks/ortools_cpsat.py path/to/input.json

Prints one JSON object: status (OPTIMAL, FEASIBLE, INFEASIBLE, UNKNOWN, ...), objective, bound,
gap and timings (seconds: load, build, solve, total). The model is the package's, written
again from scratch:

    x[u,t,l] in {0,1} for every (person, slot, layer) the person may take
    sum_u x[u,t,l] = 1                    every slot has one person on call in each layer
    sum_l x[u,t,l] <= 1                   one layer at a time; on[u,t] is that sum
    s_ug = sum x[u,t,l] over group g      shifts of u per balance group (a layer, split into
                                          weekdays and weekends with weekend_balance)
    q_ug = (s_ug + h_ug)^2                AddMultiplicationEquality (h_ug: shifts already
                                          worked in the group, from history)
    min_shifts <= sum_g s_ug <= max_shifts
    sum of on[u,t..t+k] <= k              at most k = max_consecutive_shifts in a row
    on[u,t] - on[u,t+1] + on[u,t+j] <= 1  for 2 <= j <= min_rest_shifts: rest after a run
    m <= sum of on[u,t] over preferred t  the least-happy person's granted preferences, over
                                          the people who asked for some (all if nobody did)
    minimise  balance * sum q  -  happiness * m  +  avoid * (avoided slots given)

Run it in its own process: OR-Tools and highspy do not share a process safely. Only the input
reading of `oncall_opt` is used here (pydantic); nothing reaches Pyomo's solvers or highspy.
Instances with a previous roster or non-unit person weights are refused.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from importlib.metadata import version
from pathlib import Path

from instances import CASES, instance
from ortools.sat.python import cp_model

import oncall_opt as oo


def unsupported(problem) -> list[str]:
    """Features of the input this reference model does not cover."""
    reasons = []
    if problem.previous:
        reasons.append("a previous roster")
    if any(user.weight != 1 for user in problem.users):
        reasons.append("person weights other than 1")
    w = problem.weights
    if not all(float(c).is_integer() for c in (w.balance, w.happiness, w.avoid)):
        reasons.append("non-integer objective weights")
    return reasons


def solve_cpsat(problem, time_limit: float, workers: int) -> dict:
    t0 = time.perf_counter()
    n_users, n_slots, layers = problem.n_users, problem.n_slots, problem.layers
    w = problem.weights
    weekend = problem.grid.is_weekend

    def group(t: int, layer: int) -> tuple[int, bool]:
        return (layer, bool(weekend[t]) if problem.weekend_balance else False)

    model = cp_model.CpModel()
    x = {}
    for u in range(n_users):
        for t in sorted(problem.available[u]):
            for layer in layers:
                pinned = problem.pins.get((t, layer))
                if pinned is None or pinned == u:
                    x[u, t, layer] = model.NewBoolVar(f"x[{u},{t},{layer}]")
    by_slot: dict[tuple[int, int], list] = {
        (t, layer): [] for t in range(n_slots) for layer in layers
    }
    on: dict[tuple[int, int], list] = {}
    for (u, t, layer), var in x.items():
        by_slot[t, layer].append(var)
        on.setdefault((u, t), []).append(var)
    for cell in by_slot.values():
        model.AddExactlyOne(cell)  # an empty slot makes the model infeasible, as it should
    for cell in on.values():
        if len(cell) > 1:
            model.AddAtMostOne(cell)

    def on_call(u: int, t: int):
        return sum(on.get((u, t), []))

    squares, happiness = [], model.NewIntVar(0, n_slots, "min_happiness")
    asked = [u for u in range(n_users) if problem.preferred[u]]
    wishers = set(asked or range(n_users))
    history = {}  # (person, group) -> shifts already worked there: the primary layer's
    for u in range(n_users):
        on_weekdays, on_weekends = problem.history[u]
        for layer in layers:
            for part in (False, True):
                worked = (on_weekends if part else on_weekdays) if layer == 1 else 0
                history[u, (layer, part)] = worked
    for u in range(n_users):
        limit, rest = problem.max_consecutive[u], problem.min_rest[u]
        if limit is not None:
            for t in range(n_slots - limit):
                model.Add(sum(on_call(u, s) for s in range(t, t + limit + 1)) <= limit)
        for t in range(n_slots):
            for j in range(2, rest + 1):
                if t + j < n_slots and (u, t) in on and (u, t + j) in on:
                    model.Add(on_call(u, t) - on_call(u, t + 1) + on_call(u, t + j) <= 1)
        per_group: dict[tuple[int, bool], list] = {}
        for (v, t, layer), var in x.items():
            if v == u:
                per_group.setdefault(group(t, layer), []).append(var)
        for key, cells in per_group.items():
            worked = history[u, key]
            shifts = model.NewIntVar(worked, worked + len(cells), f"s[{u},{key}]")
            model.Add(shifts == worked + sum(cells))
            square = model.NewIntVar(0, (worked + len(cells)) ** 2, f"q[{u},{key}]")
            model.AddMultiplicationEquality(square, [shifts, shifts])
            squares.append(square)
        mine = [var for cells in per_group.values() for var in cells]
        model.AddLinearConstraint(sum(mine), problem.min_shifts(u), problem.max_shifts(u))
        if u in wishers:
            model.Add(happiness <= sum(on_call(u, t) for t in problem.preferred[u]))
    avoided = sum(var for (u, t, _l), var in x.items() if t in problem.avoided[u])
    model.Minimize(
        int(w.balance) * sum(squares) - int(w.happiness) * happiness + int(w.avoid) * avoided
    )
    build_seconds = time.perf_counter() - t0

    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit
    solver.parameters.num_workers = workers
    t0 = time.perf_counter()
    status = solver.Solve(model)
    solve_seconds = time.perf_counter() - t0

    result: dict = {
        "status": solver.StatusName(status),
        "objective": None,
        "bound": None,
        "gap": None,
        "build_seconds": build_seconds,
        "solve_seconds": solve_seconds,
        "solver_wall_seconds": solver.WallTime(),
        "variables": len(x),
    }
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        objective = solver.ObjectiveValue()
        bound = solver.BestObjectiveBound()
        # Recompute the objective from the roster itself, as oncall_opt does.
        owner = {(t, layer): u for (u, t, layer), var in x.items() if solver.BooleanValue(var)}
        assert sorted(owner) == sorted(by_slot), "CP-SAT left a slot empty"
        counts: dict[tuple, int] = {
            (u, key): worked for (u, key), worked in history.items() if worked
        }
        granted, given = [0] * n_users, 0
        for (t, layer), u in owner.items():
            key = (u, group(t, layer))
            counts[key] = counts.get(key, 0) + 1
            granted[u] += t in problem.preferred[u]
            given += t in problem.avoided[u]
        recomputed = (
            w.balance * sum(c * c for c in counts.values())
            - w.happiness * min(granted[u] for u in wishers)
            + w.avoid * given
        )
        assert abs(recomputed - objective) < 1e-6, (recomputed, objective)
        result.update(
            objective=round(objective),
            bound=round(bound),
            gap=max(0.0, objective - bound) / max(1.0, abs(objective)),
        )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case", help=f"one of {', '.join(CASES)}, or a path to an input.json")
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds (default 60)")
    parser.add_argument("--workers", type=int, default=2, help="CP-SAT num_workers (default 2)")
    args = parser.parse_args(argv)

    source = instance(**CASES[args.case]) if args.case in CASES else Path(args.case)
    t0 = time.perf_counter()
    problem = oo.load_problem(source)
    load_seconds = time.perf_counter() - t0
    reasons = unsupported(problem)
    if reasons:
        print(f"ortools_cpsat.py: not the default model: {'; '.join(reasons)}", file=sys.stderr)
        return 2

    result = {"case": args.case, "solver": "CP-SAT", "load_seconds": load_seconds}
    result.update(solve_cpsat(problem, args.time_limit, args.workers))
    result["total_seconds"] = load_seconds + result["build_seconds"] + result["solve_seconds"]
    result.update(
        users=problem.n_users,
        slots=problem.n_slots,
        time_limit=args.time_limit,
        num_workers=args.workers,
        ortools=version("ortools"),
        highspy_loaded="highspy" in sys.modules,  # must stay False: see the docstring
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
