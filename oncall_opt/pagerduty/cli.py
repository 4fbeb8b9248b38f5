"""`oncall-opt pagerduty push|pull`: the bridge on the command line (the parser is in
oncall_opt/cli.py, so that this module loads only when the command runs).

Exit codes: 0 done (or a dry run), 1 PagerDuty or the daemon failed or the push stopped half-way
(what was written is listed; running again finishes it), 2 a mistake in the input or settings
(an unmatched person, a malformed output.json, no token). Never a traceback, never the token.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta

from oncall_opt.errors import ConfigError, InputError, OncallOptError
from oncall_opt.pagerduty.connection import PagerDutyError
from oncall_opt.pagerduty.write_roster import PushIncompleteError, UnmatchedPeopleError

EXIT_FAILED, EXIT_INPUT = 1, 2


def pagerduty_command(args: argparse.Namespace) -> int:
    try:
        if args.pagerduty_command == "push":
            return _push(args)
        return _pull(args)
    except PushIncompleteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except (UnmatchedPeopleError, InputError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except (PagerDutyError, OncallOptError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED


def _push(args: argparse.Namespace) -> int:
    from oncall_opt.pagerduty.roster import slots_from_output
    from oncall_opt.pagerduty.team_roster import slots_from_team
    from oncall_opt.pagerduty.write_roster import push
    from oncall_opt.times import parse_moment

    if (args.roster is None) == (args.team is None):
        which = "not both" if args.team is not None else "one of them"
        print(f"error: give ROSTER (an output.json) or --team NAME, {which}", file=sys.stderr)
        return EXIT_INPUT
    if args.team is not None:
        start = _moment(parse_moment, args.start, "--start") or datetime.now(UTC)
        end = _moment(parse_moment, args.end, "--end") or start + timedelta(days=28)
        slots = slots_from_team(args.team, start, end, args.layer)
    else:
        slots = slots_from_output(args.roster, args.layer)
    result = push(slots, args.schedule, dry_run=args.dry_run)
    if args.dry_run:
        print(result.table())
        print(result.summary())
        print("dry run: nothing was written")
        return 0
    print(result.report())
    return 0


def _pull(args: argparse.Namespace) -> int:
    from oncall_opt.pagerduty.read_schedule import pull

    result = pull(
        args.schedule,
        args.start,
        args.end,
        output=args.output,
        shift=args.shift,
        history_days=args.history_days,
    )
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    print(result.summary(), file=sys.stderr)
    return 0


def _moment(parse, text: str | None, name: str) -> datetime | None:
    if text is None:
        return None
    try:
        value = parse(text)
    except ValueError as exc:
        raise InputError([(name, str(exc))]) from None
    if isinstance(value, datetime):
        return value
    return datetime(value.year, value.month, value.day, tzinfo=UTC)
