"""`oncall-opt import pagerduty|grafana-oncall`: the parser is in oncall_opt/cli.py, so that this
module loads only when the command runs.

Exit codes: 0 done (or a dry run), 1 the source or the daemon refused or failed (what was made
before is kept; running again finishes the job), 2 a mistake in the settings or arguments (no
token, a bad --start). Never a traceback, never a token.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime

from oncall_opt.client import ApiError
from oncall_opt.errors import ConfigError, InputError, OncallOptError
from oncall_opt.importing.apply import ImportIncomplete

EXIT_FAILED, EXIT_INPUT = 1, 2


def import_command(args: argparse.Namespace) -> int:
    from oncall_opt.importing.run import run_import

    environ = dict(os.environ)
    if args.api:
        environ["ONCALL_API_URL"] = args.api
    try:
        if args.weeks < 1 or args.weeks > 52:
            raise InputError([("--weeks", "must be 1 to 52")])
        start = _start(args.start)
        report = run_import(
            args.source, dry_run=args.dry_run, start=start, weeks=args.weeks, environ=environ
        )
    except (InputError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except ImportIncomplete as exc:
        print(exc.report.text())
        print(f"error: {exc}", file=sys.stderr)
        print("what is listed above was done and is kept; once the cause is fixed, run the "
              "import again: what exists is not made twice", file=sys.stderr)  # fmt: skip
        return EXIT_FAILED
    except ApiError as exc:
        print(f"error: the oncall daemon answered {exc.status}: {exc.message}", file=sys.stderr)
        return EXIT_FAILED
    except OncallOptError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(report.text())
    return 0


def _start(text: str | None) -> datetime | None:
    from oncall_opt.times import parse_moment

    if text is None:
        return None
    try:
        value = parse_moment(text)
    except ValueError as exc:
        raise InputError([("--start", str(exc))]) from None
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)
