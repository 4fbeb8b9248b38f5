"""`oncall-opt solve INPUT [-o OUTPUT]`: input.json in, a proven-optimal roster out.

Exit codes: 0 a roster was written, 2 the input is wrong, 3 no roster satisfies the rules,
4 no roster was found within the time limit. Messages go to stderr, never a traceback.
"""

from __future__ import annotations

import time

# The command's time limit counts from here (the command's start, imports and reading
# input.json included), less a reserve for writing the output (0.02 s at 1,000 people). Set
# before the imports below: they take 0.2-0.3 s (pydantic's models of the input), which the
# limit counted as if they were not there, so `--time-limit 10` ended 10.2 s after the start.
STARTED = time.perf_counter()
WRITE_RESERVE = 0.2

import argparse  # noqa: E402
import sys  # noqa: E402

from oncall_opt.errors import InfeasibleError, InputError, NoSolutionInTimeError  # noqa: E402
from oncall_opt.roster.export import FORMATS, render, write_atomic  # noqa: E402

EXIT_INPUT, EXIT_INFEASIBLE, EXIT_NO_SOLUTION = 2, 3, 4


def add_solve_command(commands: argparse._SubParsersAction) -> None:
    """`solve` and its options, on the `oncall-opt` command's subcommands."""
    run = commands.add_parser("solve", help="solve input.json into PagerDuty overrides")
    run.add_argument("input", help="input.json path, or - for standard input")
    run.add_argument("-o", "--output", default="-", help="output path, or - for standard output")
    run.add_argument("--format", choices=FORMATS, default="json", help="output format")
    run.add_argument(
        "--time-limit",
        type=_positive,
        default=60.0,
        metavar="S",
        help="seconds for the whole command: reading, solving, writing (default 60)",
    )
    run.add_argument(
        "--gap",
        type=_fraction,
        default=0.0,
        help="relative optimality gap to stop at (default 0: prove optimality)",
    )
    run.add_argument("--threads", type=_count, default=None, help="solver threads")
    run.add_argument(
        "--merge",
        action="store_true",
        help="merge consecutive slots of one person into one override",
    )
    run.add_argument("-q", "--quiet", action="store_true", help="no summary on stderr")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="oncall-opt", description="Fair on-call rosters, proven optimal."
    )
    add_solve_command(parser.add_subparsers(dest="command", required=True))
    return parser


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError("must be a whole number of at least 1")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError("must be a fraction from 0 up to 1, like 0.01")
    return value


def main(argv: list[str] | None = None) -> int:
    return solve_command(_parser().parse_args(argv))


def solve_command(args: argparse.Namespace) -> int:
    # Here, not at the top: `oncall-opt --help` answers without loading pyomo and pandas.
    from oncall_opt.roster.load import load_problem
    from oncall_opt.roster.solve import solve

    try:
        problem = load_problem(args.input)
        for warning in problem.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        left = args.time_limit - (time.perf_counter() - STARTED) - WRITE_RESERVE
        limit = max(left, 0.01)
        roster = solve(problem, time_limit=limit, gap=args.gap, threads=args.threads)
    except InputError as exc:
        source = "standard input" if args.input == "-" else args.input
        print(f"error: invalid input in {source}:", file=sys.stderr)
        for path, message in exc.problems:
            print(f"  {path}: {message}", file=sys.stderr)
        return EXIT_INPUT
    except InfeasibleError as exc:
        print("infeasible: no roster satisfies every rule:", file=sys.stderr)
        for reason in exc.reasons:
            print(f"  - {reason}", file=sys.stderr)
        return EXIT_INFEASIBLE
    except NoSolutionInTimeError as exc:
        print(f"no roster: {exc}", file=sys.stderr)
        return EXIT_NO_SOLUTION

    text = render(roster, args.format, merge=args.merge)
    if args.output == "-":
        sys.stdout.write(text)
    else:
        try:
            write_atomic(args.output, text)
        except OSError as exc:
            print(f"error: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_INPUT
    if not args.quiet:
        print(roster.summary(), file=sys.stderr)
        if args.output != "-":
            print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
