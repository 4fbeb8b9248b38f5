"""One import from start to end: read the source, then plan and apply through the daemon."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from oncall_opt.client import Client
from oncall_opt.importing.apply import ImportReport, import_account
from oncall_opt.importing.source import Source

SOURCES = ("pagerduty", "grafana-oncall", "opsgenie")
DEFAULT_WEEKS = 4


def open_source(name: str, environ: Mapping[str, str]) -> Source:
    if name == "pagerduty":
        from oncall_opt.importing.pagerduty import PagerDutySource

        return PagerDutySource(environ)
    if name == "grafana-oncall":
        from oncall_opt.importing.grafana_oncall import GrafanaOnCallSource

        return GrafanaOnCallSource(environ)
    if name == "opsgenie":
        from oncall_opt.importing.opsgenie import OpsgenieSource

        return OpsgenieSource(environ)
    raise ValueError(f"SOURCE: '{name}' is not one of {', '.join(SOURCES)}")


def run_import(
    source: str,
    *,
    dry_run: bool = False,
    start: datetime | None = None,
    weeks: int = DEFAULT_WEEKS,
    api: Client | None = None,
    environ: Mapping[str, str] | None = None,
) -> ImportReport:
    """Import from `source` into the daemon `api` talks to (default: the one the environment
    names); schedules are carried over from `start` (default: this hour) for `weeks` weeks."""
    env = os.environ if environ is None else environ
    begin = start or datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    end = begin + timedelta(weeks=weeks)
    reader = open_source(source, env)
    try:
        account = reader.read(begin, end)
    finally:
        close = getattr(reader, "close", None)
        if close:
            close()
    # The alert URLs are for senders, which may reach the daemon by another name than we do.
    public = env.get("ONCALL_PUBLIC_API_URL", "").strip() or None
    if api is not None:
        return import_account(api, account, begin, end, dry_run, public)
    with Client.from_environment(env) as daemon:
        return import_account(daemon, account, begin, end, dry_run, public)
