"""Moving a team over: read another on-call system's people, teams, schedules, escalation
policies and services, and make the same here through the daemon's HTTP API.

    from oncall_opt.importing import run_import
    report = run_import("pagerduty", dry_run=True)     # or "grafana-oncall", "opsgenie"
    print(report.text())

One module per source (`pagerduty`, `grafana_oncall`, `opsgenie`) reads into the source-neutral
`source.SourceAccount`; `apply` plans it against the daemon and creates what is missing.
"""

from __future__ import annotations

from oncall_opt.importing.run import SOURCES, run_import

__all__ = ["SOURCES", "run_import"]
