"""oncall_opt: fair on-call rosters, proven optimal.

    import oncall_opt as oo
    problem = oo.load_problem("data/input.json")      # or a dict shaped like input.json
    roster = oo.solve(problem, time_limit=30)
    roster.assignments, roster.per_user               # pandas DataFrames
    roster.statistics, roster.to_output()             # output.json as a dict
    away = problem.with_unavailable("ana", "2024-03-04", "2024-03-15")   # what-ifs: new problems
    oo.compare(roster, oo.solve(away)), oo.sweep(problem, [0, 1, 5])    # and their analysis

Errors a user can cause are `InputError` (with JSON paths), `InfeasibleError` (with reasons in
words) and `NoSolutionInTimeError`.
"""

from .errors import InfeasibleError, InputError, NoSolutionInTimeError, OncallOptError
from .export import render, write_atomic
from .load import load_problem
from .model import build_model
from .problem import Problem
from .roster import Roster, evaluate
from .solve import solve
from .whatif import (
    TeamSize,
    calendar_frame,
    compare,
    compare_people,
    keep_past,
    smallest_team,
    sweep,
    team_of_size,
)

__all__ = [
    "InfeasibleError",
    "InputError",
    "NoSolutionInTimeError",
    "OncallOptError",
    "Problem",
    "Roster",
    "TeamSize",
    "build_model",
    "calendar_frame",
    "compare",
    "compare_people",
    "evaluate",
    "keep_past",
    "load_problem",
    "render",
    "smallest_team",
    "solve",
    "sweep",
    "team_of_size",
    "write_atomic",
]
