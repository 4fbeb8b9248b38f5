"""The default roster model in OR-Tools CP-SAT, as an independent reference for `oncall_opt`.

    python benchmarks/ortools_cpsat.py 10x28 [--time-limit 60] [--workers 2]
    python benchmarks/ortools_cpsat.py path/to/input.json

Prints one JSON object: status (OPTIMAL, FEASIBLE, INFEASIBLE, UNKNOWN, ...), objective, bound,
gap and timings (seconds: load, build, solve, total). The model is the package's default
one, written again from scratch:

    x[u,t] in {0,1} for every (person, slot) the person is available for
    sum_u x[u,t] = 1                      every slot has one person on call
    s_u = sum_t x[u,t]                    shifts of u (within min_shifts..max_shifts)
    q_u = s_u * s_u                       AddMultiplicationEquality
    m <= sum_{t preferred by u} x[u,t]    the least-happy person's granted preferences
    minimise  balance * sum_u q_u  -  happiness * m  +  avoid * (avoided slots given)

Run it in its own process: OR-Tools and highspy do not share a process safely. Only the input
reading of `oncall_opt` is used here (pydantic); nothing reaches Pyomo's solvers or highspy.
Instances with side rules, history, a previous roster or non-unit person weights are refused.
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
    if problem.has_side_rules:
        reasons.append("side rules (layers, consecutive limits, rest, weekend balance)")
    if any(h != (0, 0) for h in problem.history):
        reasons.append("history")
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
    n_users, n_slots = problem.n_users, problem.n_slots
    w = problem.weights
    model = cp_model.CpModel()
    x = {}
    for u in range(n_users):
        for t in sorted(problem.available[u]):
            pinned = problem.pins.get((t, 1))
            if pinned is None or pinned == u:
                x[u, t] = model.NewBoolVar(f"x[{u},{t}]")
    by_slot: list[list] = [[] for _ in range(n_slots)]
    for (_u, t), var in x.items():
        by_slot[t].append(var)
    for t in range(n_slots):
        model.AddExactlyOne(by_slot[t])  # an empty slot makes the model infeasible, as it should

    squares, happiness = [], model.NewIntVar(0, n_slots, "min_happiness")
    for u in range(n_users):
        mine = [var for (v, _t), var in x.items() if v == u]
        low, high = problem.min_shifts(u), problem.max_shifts(u)
        shifts = model.NewIntVar(low, max(low, high), f"s[{u}]")
        model.Add(shifts == sum(mine))
        square = model.NewIntVar(low * low, max(low, high) ** 2, f"q[{u}]")
        model.AddMultiplicationEquality(square, [shifts, shifts])
        squares.append(square)
        model.Add(happiness <= sum(x[u, t] for t in problem.preferred[u] if (u, t) in x))
    avoided = sum(var for (u, t), var in x.items() if t in problem.avoided[u])
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
        owner = {t: u for (u, t), var in x.items() if solver.BooleanValue(var)}
        assert sorted(owner) == list(range(n_slots)), "CP-SAT left a slot empty"
        counts, granted, given = [0] * n_users, [0] * n_users, 0
        for t, u in owner.items():
            counts[u] += 1
            granted[u] += t in problem.preferred[u]
            given += t in problem.avoided[u]
        recomputed = (
            w.balance * sum(c * c for c in counts) - w.happiness * min(granted) + w.avoid * given
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
