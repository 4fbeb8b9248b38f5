"""oncall_opt: fair on-call rosters, proven optimal.

    import oncall_opt as oo
    problem = oo.load_problem("data/input.json")      # or a dict shaped like input.json
    roster = oo.solve(problem, time_limit=30)
    roster.assignments, roster.per_user               # pandas DataFrames
    roster.statistics, roster.to_output()             # output.json as a dict
    away = problem.with_unavailable("ana", "2024-03-04", "2024-03-15")   # what-ifs: new problems
    oo.compare(roster, oo.solve(away)), oo.sweep(problem, [0, 1, 5])    # and their analysis
    oo.team_analytics("Payments", "2026-01-01T00:00:00Z", "2026-04-01T00:00:00Z").people
                                                      # who carried the pages (a live daemon)

Errors a user can cause are `InputError` (with JSON paths), `InfeasibleError` (with reasons in
words) and `NoSolutionInTimeError`.

The names are loaded on first use, so that the daemon, the HTTP client and `oncall-opt --help`,
which import this package too, never pay for pyomo or pandas.
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> the module that defines it
_EXPORTS = {
    "InfeasibleError": "oncall_opt.errors",
    "InputError": "oncall_opt.errors",
    "NoSolutionInTimeError": "oncall_opt.errors",
    "OncallOptError": "oncall_opt.errors",
    "team_analytics": "oncall_opt.analytics_frames",
    "render": "oncall_opt.roster.export",
    "write_atomic": "oncall_opt.roster.export",
    "load_problem": "oncall_opt.roster.load",
    "build_model": "oncall_opt.roster.model",
    "Problem": "oncall_opt.roster.problem",
    "Roster": "oncall_opt.roster.result",
    "evaluate": "oncall_opt.roster.result",
    "solve": "oncall_opt.roster.solve",
    "TeamSize": "oncall_opt.roster.whatif",
    "calendar_frame": "oncall_opt.roster.whatif",
    "compare": "oncall_opt.roster.whatif",
    "compare_people": "oncall_opt.roster.whatif",
    "keep_past": "oncall_opt.roster.whatif",
    "smallest_team": "oncall_opt.roster.whatif",
    "sweep": "oncall_opt.roster.whatif",
    "team_of_size": "oncall_opt.roster.whatif",
}
# `from oncall_opt import charts` in a notebook: the Altair charts module; `oo.pagerduty.push`;
# `oo.importing.run_import("pagerduty", dry_run=True)`
_MODULES = {
    "charts": "oncall_opt.roster.charts",
    "pagerduty": "oncall_opt.pagerduty",
    "importing": "oncall_opt.importing",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _MODULES:
        value = importlib.import_module(_MODULES[name])
    else:
        raise AttributeError(f"module 'oncall_opt' has no attribute {name!r}")
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS, *_MODULES])
