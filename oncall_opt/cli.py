"""`oncall-opt`: the command line.

- `oncall-opt solve INPUT`: the optimizer (`roster/cli.py`), needing nothing else.
- `oncall-opt login-link USER`: a one-time console sign-in link for a person, made by the
  running daemon (its API token from ONCALL_API_TOKEN or the secrets file).
- `oncall-opt maintenance start SERVICE --minutes 30`, `... end SERVICE`, `... list SERVICE`:
  a service's maintenance windows, through the running daemon.
- `oncall-opt pagerduty push ROSTER --schedule PXXXXXX [--dry-run]`: makes a PagerDuty
  schedule equal a roster, with overrides; `... pull --schedule PXXXXXX --start ... --end ...
  -o input.json`: an input.json from the schedule (`pagerduty/`). The token is
  PAGERDUTY_API_TOKEN, from the environment or the secrets file.
- `oncall-opt import pagerduty|grafana-oncall|opsgenie [--dry-run]`: moves a team over:
  people, teams, schedules, escalation policies and services, made through the running daemon
  (`importing/`).
- `oncall-opt db copy --from SOURCE --to postgresql://...`: moves a database (the embedded
  DuckDB file) into an empty PostgreSQL one, for several daemons (`engine/dbcopy.py`).

Each command loads what it needs when it runs, so `oncall-opt --help` answers at once.
"""

from __future__ import annotations

import argparse
import os
import sys

from oncall_opt.roster.cli import add_solve_command, solve_command

CONSOLE_URL_ENV = "ONCALL_CONSOLE_URL"
DEFAULT_CONSOLE_URL = "http://127.0.0.1:8501"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="oncall-opt",
        description="Fair on-call rosters, proven optimal, and the on-call daemon's helpers.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    add_solve_command(commands)
    link = commands.add_parser(
        "login-link",
        help="print a one-time console sign-in link for a person (valid 15 minutes)",
        description="Ask the running daemon for a one-time sign-in code for USER and print it "
        "as a console link. Needs the daemon's API token (ONCALL_API_TOKEN, or the secrets "
        "file data/secrets.env).",
    )
    link.add_argument("user", metavar="USER", help="the person's user id or Slack handle")
    link.add_argument(
        "--api", metavar="URL", help="the daemon (default ONCALL_API_URL, else ONCALL_BIND's)"
    )
    link.add_argument(
        "--console",
        metavar="URL",
        help=f"the console's address (default {CONSOLE_URL_ENV}, else {DEFAULT_CONSOLE_URL})",
    )
    windows = commands.add_parser(
        "maintenance",
        help="start, end or list a service's maintenance windows (through the daemon)",
        description="While a service is in maintenance its alert events open no incident and "
        "page nobody (they are kept on the window). Talks to the running daemon "
        "(ONCALL_API_URL, its token from ONCALL_API_TOKEN or the secrets file).",
    ).add_subparsers(dest="maintenance_command", required=True)
    for name, says in (("start", "put SERVICE in maintenance"),
                       ("end", "end SERVICE's maintenance now"),
                       ("list", "SERVICE's windows of the last week and to come")):  # fmt: skip
        command = windows.add_parser(name, help=says)
        command.add_argument("service", metavar="SERVICE", help="the service's name or id")
        command.add_argument("--api", metavar="URL", help="the daemon (default ONCALL_API_URL)")
        if name == "start":
            command.add_argument("--minutes", type=int, required=True, help="for how long")
            command.add_argument("--reason", default="", help="what is going on (a deploy...)")
    _add_pagerduty_commands(commands)
    _add_import_commands(commands)
    db = commands.add_parser("db", help="database tasks").add_subparsers(
        dest="db_command", required=True
    )
    copy = db.add_parser(
        "copy",
        help="copy a whole database into an empty PostgreSQL database",
        description="Copy every table of SOURCE (a DuckDB file, or a postgresql:// URL) into "
        "the empty PostgreSQL database TARGET, in one transaction, then compare row counts. "
        "Stop the daemon that holds SOURCE first. Refuses a TARGET that holds anything beyond "
        "what a new database has.",
    )
    copy.add_argument("--from", dest="source", required=True, metavar="SOURCE")
    copy.add_argument("--to", dest="target", required=True, metavar="TARGET")
    return parser


def _add_pagerduty_commands(commands: argparse._SubParsersAction) -> None:
    bridge = commands.add_parser(
        "pagerduty",
        help="push a roster into a PagerDuty schedule, or pull one into an input.json",
        description="The PagerDuty bridge. The REST API key is PAGERDUTY_API_TOKEN, from the "
        "environment or the secrets file (never on the command line); the address is "
        "PAGERDUTY_API_URL (default https://api.pagerduty.com, e.g. https://api.eu.pagerduty.com"
        " for an EU account).",
    ).add_subparsers(dest="pagerduty_command", required=True)
    push = bridge.add_parser(
        "push",
        help="make a PagerDuty schedule's final schedule equal a roster, with overrides",
        description="Creates the overrides the roster needs, leaves those already right, and "
        "deletes only future overrides an earlier push created (remembered in "
        "PAGERDUTY_STATE_DIR, default ~/.local/state/oncall-opt/pagerduty). A person's own "
        "override is never deleted: its slot is left to it, and reported. People are matched "
        "to PagerDuty users by the roster's user id, else by email; if anyone is unmatched, "
        "nothing is written. Slots that have started are left as they are.",
    )
    push.add_argument("roster", metavar="ROSTER", nargs="?", help="an output.json file")
    push.add_argument(
        "--team",
        metavar="NAME",
        help="instead: a team's published roster, read from the running daemon (ONCALL_API_URL)",
    )
    push.add_argument("--schedule", required=True, metavar="PXXXXXX", help="the schedule's id")
    push.add_argument(
        "--dry-run",
        action="store_true",
        help="print the change (slot, now, after) and write nothing",
    )
    push.add_argument(
        "--layer",
        type=int,
        choices=(1, 2),
        default=1,
        help="the roster's layer to push: 1 primary (default), 2 secondary",
    )
    push.add_argument("--start", help="with --team: from (default now)")
    push.add_argument("--end", help="with --team: until (default 28 days after --start)")
    pull = bridge.add_parser(
        "pull",
        help="write an input.json from a PagerDuty schedule's users, overrides and history",
        description="The schedule's users; their own overrides in the window as pinned slots "
        "(fixed), those an earlier push made as the previous roster (previous); their on-call "
        "time on the final schedule before the window as history.",
    )
    pull.add_argument("--schedule", required=True, metavar="PXXXXXX", help="the schedule's id")
    pull.add_argument(
        "--start",
        required=True,
        help="the first slot's day (YYYY-MM-DD, "
        "midnight in the schedule's time zone) or an RFC 3339 timestamp",
    )
    pull.add_argument("--end", required=True, help="the last day a slot starts")
    pull.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="INPUT_JSON",
        help="where to write (- for standard output)",
    )
    pull.add_argument("--shift", default="P1D", help="the slot length (default P1D)")
    pull.add_argument(
        "--history-days",
        type=int,
        metavar="N",
        help="count on-call time in the N days before --start (default: as many "
        "days as the window)",
    )


def _add_import_commands(commands: argparse._SubParsersAction) -> None:
    sources = commands.add_parser(
        "import",
        help="move a team over from PagerDuty, Grafana OnCall or Opsgenie (through the daemon)",
        description="Reads people (with their contact methods), teams, schedules, escalation "
        "policies and services from the source and makes the same through the running daemon "
        "(ONCALL_API_URL, its token from ONCALL_API_TOKEN or the secrets file). Schedules "
        "become published shifts: the source's final schedule, overrides included, for the "
        "coming weeks. A second run makes nothing new. What has no equivalent here is listed "
        "with what was done instead. Each service's new alert URL is printed once.",
    ).add_subparsers(dest="source", required=True)
    for name, says in (
        ("pagerduty", "from PagerDuty's REST API v2: PAGERDUTY_API_TOKEN (environment or "
         "secrets file), PAGERDUTY_API_URL, PAGERDUTY_API_CA"),
        ("grafana-oncall", "from Grafana OnCall's public API: GRAFANA_ONCALL_API_URL and "
         "GRAFANA_ONCALL_API_TOKEN (environment or secrets file), GRAFANA_ONCALL_API_CA"),
        ("opsgenie", "from Opsgenie's REST API: OPSGENIE_API_KEY (environment or secrets file), "
         "OPSGENIE_API_URL (default https://api.opsgenie.com), OPSGENIE_API_CA"),
    ):  # fmt: skip
        source = sources.add_parser(name, help=says, description=says)
        source.add_argument(
            "--dry-run",
            action="store_true",
            help="list everything that would be made; write nothing",
        )
        source.add_argument("--start", help="carry schedules over from (default: this hour)")
        source.add_argument(
            "--weeks", type=int, default=4, help="this many weeks of schedules (default 4)"
        )
        source.add_argument("--api", metavar="URL", help="the daemon (default ONCALL_API_URL)")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "login-link":
        return login_link_command(args)
    if args.command == "db":
        return db_copy_command(args)
    if args.command == "maintenance":
        return maintenance_command(args)
    if args.command == "pagerduty":
        from oncall_opt.pagerduty.cli import pagerduty_command

        return pagerduty_command(args)
    if args.command == "import":
        from oncall_opt.importing.cli import import_command

        return import_command(args)
    return solve_command(args)


def maintenance_command(args: argparse.Namespace) -> int:
    from oncall_opt.client import ApiError, Client, DaemonUnavailable

    environ = dict(os.environ)
    if args.api:
        environ["ONCALL_API_URL"] = args.api
    try:
        with Client.from_environment(environ) as api:
            found = api.list_services()
            wanted = args.service.strip()
            service = next((s for s in found if str(s["Id"]) == wanted), None) or next(
                (s for s in found if s["Name"].casefold() == wanted.casefold()), None
            )
            if service is None:
                names = ", ".join(s["Name"] for s in found) or "none"
                print(f"error: SERVICE: no service '{wanted}' (there are: {names})",
                      file=sys.stderr)  # fmt: skip
                return 1
            if args.maintenance_command == "start":
                window = api.start_maintenance(service["Id"], args.minutes, args.reason)
                print(
                    f"{service['Name']} is in maintenance until {window['End']} (window "
                    f"{window['Id']}): its alerts open nothing and page nobody"
                )
                return 0
            current = [w for w in api.maintenance_windows(service["Id"]) if w["On"]]
            if args.maintenance_command == "end":
                if not current:
                    print(f"{service['Name']} is not in maintenance", file=sys.stderr)
                    return 1
                for window in current:
                    api.end_maintenance(window["Id"])
                print(f"{service['Name']}: maintenance ended; its alerts page people again")
                return 0
            for window in api.maintenance_windows(service["Id"]):
                state = "on" if window["On"] else "off"
                print(f"{window['Id']}\t{state}\t{window['Start']}\t{window['End']}\t"
                      f"{window['EventsKept']} events kept\t{window['Reason']}")  # fmt: skip
            return 0
    except ApiError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    except DaemonUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def db_copy_command(args: argparse.Namespace) -> int:
    from pathlib import Path

    from oncall_opt.engine.dbcopy import copy_database
    from oncall_opt.engine.store import is_postgresql
    from oncall_opt.errors import OncallOptError

    if not is_postgresql(args.source) and not Path(args.source).is_file():
        print(f"error: --from: no database file at {args.source}", file=sys.stderr)
        return 1
    try:
        copied = copy_database(args.source, args.target, say=lambda line: print(line))
    except OncallOptError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # a database error's text may quote rows or a URL: its kind only
        print(f"error: the copy failed ({type(exc).__name__}); nothing was copied", file=sys.stderr)
        return 1
    for table in copied:
        print(f"  {table.table:<22} {table.rows:>8}")
    return 0


def login_link_command(args: argparse.Namespace) -> int:
    from oncall_opt.client import ApiError, Client

    environ = dict(os.environ)
    if args.api:
        environ["ONCALL_API_URL"] = args.api
    console = (args.console or environ.get(CONSOLE_URL_ENV) or DEFAULT_CONSOLE_URL).rstrip("/")
    try:
        with Client.from_environment(environ) as api:
            user = _find_user(api, args.user)
            if user is None:
                print(f"error: no user with id or Slack handle '{args.user}'", file=sys.stderr)
                return 1
            link = api.login_link(user["Id"])
            auth_required = api.me()["AuthRequired"]
    except ApiError as exc:
        hint = ""
        if exc.status in (401, 403):
            hint = " (it needs the daemon's ONCALL_API_TOKEN, in the environment or secrets file)"
        print(f"error: {exc.message}{hint}", file=sys.stderr)
        return 1
    name = f"{user['FirstName']} {user['LastName']} (@{user['SlackHandle']}, {user['Role']})"
    print(f"{console}/?login={link['Code']}")
    print(f"sign-in link for {name}; works once, until {link['ExpiresAt']}", file=sys.stderr)
    if not auth_required:
        print(
            "note: the daemon has no ONCALL_API_TOKEN, so the console asks nobody to sign in",
            file=sys.stderr,
        )
    return 0


def _find_user(api, wanted: str) -> dict | None:
    people = api.list_users()
    if wanted.isdigit():
        return next((u for u in people if u["Id"] == int(wanted)), None)
    handle = wanted.removeprefix("@").lower()
    return next((u for u in people if u["SlackHandle"].lower() == handle), None)


if __name__ == "__main__":
    sys.exit(main())
