"""The PagerDuty bridge: push a fair roster into a PagerDuty schedule as overrides, and pull a
schedule's people, overrides and past on-call time into an input.json.

    from oncall_opt import pagerduty
    result = pagerduty.push("output.json", "PXXXXXX", dry_run=True)    # a PushResult
    print(result.table()); print(result.summary())
    pagerduty.pull("PXXXXXX", "2027-01-04", "2027-01-31", output="input.json")

The token is PAGERDUTY_API_TOKEN (environment or secrets file), the address PAGERDUTY_API_URL.
Names are loaded on first use: importing this package loads neither the client nor pydantic.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "PagerDutyError": "oncall_opt.pagerduty.connection",
    "push": "oncall_opt.pagerduty.write_roster",
    "PushResult": "oncall_opt.pagerduty.write_roster",
    "PushIncompleteError": "oncall_opt.pagerduty.write_roster",
    "UnmatchedPeopleError": "oncall_opt.pagerduty.write_roster",
    "pull": "oncall_opt.pagerduty.read_schedule",
    "PullResult": "oncall_opt.pagerduty.read_schedule",
    "Slot": "oncall_opt.pagerduty.roster",
    "slots_from_output": "oncall_opt.pagerduty.roster",
    "slots_from_team": "oncall_opt.pagerduty.team_roster",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'oncall_opt.pagerduty' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
