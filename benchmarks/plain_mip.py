"""The plain-MIP reference: the model of record (`oo.build_model`, Pyomo) handed to HiGHS as it
is, through Pyomo's own HiGHS interface: no LP dive, no cycle-row selection, no warm start,
none of `oncall_opt.roster.solve`'s method. What a textbook MIP of our model does.

    python benchmarks/plain_mip.py input.json [--time-limit 60]

Prints one JSON object: status, objective, bound, seconds (building and solving).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

import oncall_opt as oo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input")
    parser.add_argument("--time-limit", type=float, default=60.0)
    args = parser.parse_args(argv)
    from pyomo.contrib.appsi.solvers import Highs

    t0 = time.perf_counter()
    problem = oo.load_problem(args.input)
    model = oo.build_model(problem)
    solver = Highs()
    solver.config.time_limit = args.time_limit
    solver.config.load_solution = False
    solver.highs_options = {"mip_abs_gap": 0.999, "mip_rel_gap": 0.0}
    result = solver.solve(model)
    objective, bound = result.best_feasible_objective, result.best_objective_bound
    status = "optimal" if str(result.termination_condition).endswith("optimal") else "feasible"
    if objective is None or not math.isfinite(objective):
        status, objective = "no roster", None
    print(json.dumps({
        "status": status,
        "objective": None if objective is None else round(objective, 6),
        "bound": None if bound is None or not math.isfinite(bound) else round(bound, 6),
        "seconds": time.perf_counter() - t0,
    }))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
