"""Benchmark `oncall_opt.roster.solve` on the instances of `instances.py`, each in a fresh process.

    python benchmarks/run.py [--repeat N] [--cases NAME ...] [--time-limit S]
                             [--output benchmarks/RESULTS.md] [--ortools]

Every run is a new Python process (`sys.executable -c`), so runs share no caches or warmed-up
state. Times are medians over the runs; status, objective, bound and gap are those of the run
whose total time is the median. See benchmarks/README.md for the columns.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from instances import CASES

HERE = Path(__file__).resolve().parent
START, END = "<!-- results:start -->", "<!-- results:end -->"
RESULT_PREFIX = "BENCHMARK-RESULT "
DEFAULT_TIME_LIMIT = 60.0
EXTENDED_TIME_LIMIT = 30.0  # target: within 1% of optimal in 30 s
ORTOOLS_CASES = ["10x28", "30x365"]


# ----- one run, in a fresh process -------------------------------------------------------------
def _worker() -> None:
    """Entry point of a child process: argv[1] is a JSON job; prints one JSON result line."""
    job = json.loads(sys.argv[1])
    t0 = time.perf_counter()
    import highspy  # noqa: F401  (loaded before the clocks start: library import is not solving)

    import oncall_opt as oo

    import_seconds = time.perf_counter() - t0
    from instances import instance

    document = instance(**CASES[job["case"]])
    t0 = time.perf_counter()
    problem = oo.load_problem(document)
    load_seconds = time.perf_counter() - t0
    out: dict = {"load_seconds": load_seconds, "import_seconds": import_seconds}
    try:
        roster = oo.solve(problem, time_limit=job["time_limit"], method=job.get("method", "auto"))
    except oo.OncallOptError as exc:
        out.update(status=type(exc).__name__, error=str(exc).splitlines()[0])
    else:
        out.update(
            status=roster.status,
            objective=roster.objective,
            bound=roster.bound,
            gap=roster.gap,
            build_seconds=roster.build_seconds,
            solve_seconds=roster.solve_seconds,
            method=roster.method,
        )
    out["total_seconds"] = time.perf_counter() - t0  # load_problem + solve
    print(RESULT_PREFIX + json.dumps(out), flush=True)


def _child(command: list[str], timeout: float) -> dict:
    """Run a child process and read its JSON result (the last line with the prefix, or any
    JSON object line for the CP-SAT script)."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=HERE)
    except subprocess.TimeoutExpired:
        return {"status": f"killed after {timeout:.0f} s"}
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line.removeprefix(RESULT_PREFIX))
        if line.startswith("{"):
            return json.loads(line)
    tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
    return {"status": f"crashed (exit {done.returncode})", "error": tail}


def run_ours(case: str, time_limit: float, method: str = "auto") -> dict:
    job = json.dumps({"case": case, "time_limit": time_limit, "method": method})
    code = f"import sys; sys.path.insert(0, {str(HERE)!r}); import run; run._worker()"
    return _child([sys.executable, "-c", code, job], timeout=2 * time_limit + 120)


def run_cpsat(case: str, time_limit: float) -> dict:
    script = str(HERE / "ortools_cpsat.py")
    command = [sys.executable, script, case, "--time-limit", str(time_limit), "--workers", "2"]
    return _child(command, timeout=2 * time_limit + 120)


# ----- aggregation ------------------------------------------------------------------------------
TIMES = ("load_seconds", "build_seconds", "solve_seconds", "total_seconds")


@dataclass
class Row:
    case: str
    solver: str
    runs: list[dict]
    time_limit: float

    @property
    def median_run(self) -> dict:
        """The run whose total time is the median (the lower middle one for an even count)."""
        ordered = sorted(self.runs, key=lambda r: r.get("total_seconds", float("inf")))
        return ordered[(len(ordered) - 1) // 2]

    def median(self, key: str) -> float | None:
        values = [r[key] for r in self.runs if r.get(key) is not None]
        return statistics.median(values) if values else None

    def spread(self, key: str) -> tuple[float, float] | None:
        values = [r[key] for r in self.runs if r.get(key) is not None]
        return (min(values), max(values)) if values else None

    @property
    def optimal(self) -> bool:
        return self.median_run.get("status") in ("optimal", "OPTIMAL")


def time_limit_for(case: str, override: float | None) -> float:
    if override is not None:
        return override
    return EXTENDED_TIME_LIMIT if CASES[case].get("extended") else DEFAULT_TIME_LIMIT


TARGETS = {
    "100x365": "solve ≤ 2 s, proven optimal",
    "200x365": "solve ≤ 5 s",
    "extended 50x365": "gap ≤ 1% in 30 s",
}


def target_result(row: Row) -> str:
    """Whether our row meets its target, with the figure that decides it."""
    solve, run = row.median("solve_seconds"), row.median_run
    if row.case not in TARGETS:
        return ""
    if solve is None:
        return f"**missed** ({run.get('status')})"
    if row.case == "100x365":
        ok = solve <= 2.0 and row.optimal
        why = f"solve {solve:.2f} s, {run['status']}"
    elif row.case == "200x365":
        ok, why = solve <= 5.0, f"solve {solve:.2f} s"
    else:
        gap = run.get("gap")
        ok = gap is not None and gap <= 0.01 and row.time_limit <= EXTENDED_TIME_LIMIT
        why = f"gap {_pct(gap)} with a {row.time_limit:g} s limit"
    return f"met ({why})" if ok else f"**missed** ({why})"


def comparison(cpsat: Row, ours: Row | None) -> str:
    """CP-SAT against our solve: agreement of the optimum and the speed ratio."""
    run = cpsat.median_run
    if not cpsat.optimal:
        return f"not proven in {cpsat.time_limit:g} s" + (
            f" (status {run.get('status')})" if run.get("status") != "FEASIBLE" else ""
        )
    if ours is None or not ours.optimal:
        return "optimal; ours not proven optimal"
    ours_objective = ours.median_run["objective"]
    if abs(run["objective"] - ours_objective) > 1e-6:
        return f"**OBJECTIVE MISMATCH**: CP-SAT {run['objective']}, ours {ours_objective}"
    ratio = cpsat.median("solve_seconds") / max(ours.median("solve_seconds"), 1e-9)
    total = cpsat.median("total_seconds") / max(ours.median("total_seconds"), 1e-9)
    return f"same optimum; CP-SAT takes {ratio:.1f}× our solve time ({total:.1f}× our total)"


# ----- output -----------------------------------------------------------------------------------
def _num(value: float | None) -> str:
    if value is None:
        return "—"
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.6g}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.2f}%"


def _sec(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _range(span: tuple[float, float] | None) -> str:
    return "—" if span is None else f"{span[0]:.3f}–{span[1]:.3f}"


HEADER = (
    "| case | solver | method | status | objective | bound | gap | load s | build s | solve s "
    "| solve s min–max | total s | runs | target | result |"
)


def table(rows: list[Row], ours_by_case: dict[str, Row]) -> str:
    lines = [HEADER, "|" + "---|" * HEADER.count(" | ") + "---|"]
    for row in rows:
        run = row.median_run
        if row.solver == "CP-SAT":
            target = "same optimum as ours"
            result = comparison(row, ours_by_case.get(row.case))
            method = f"{run.get('num_workers', 2)} workers"
        elif row.solver.endswith("(MIP only)"):
            target, method = (
                "reference: same model without the network method",
                run.get("method", ""),
            )
            ours = ours_by_case.get(row.case)
            result = (
                f"{row.median('solve_seconds') / max(ours.median('solve_seconds'), 1e-9):.1f}× "
                "our solve time"
                if ours and row.median("solve_seconds") is not None
                else ""
            )
        else:
            target, result = TARGETS.get(row.case, ""), target_result(row)
            method = run.get("method", "")
        status = run.get("status", "—")
        if run.get("error"):
            status += f": {run['error']}"
        cells = [
            row.case,
            row.solver,
            method,
            status,
            _num(run.get("objective")),
            _num(run.get("bound")),
            _pct(run.get("gap")),
            *(_sec(row.median(key)) for key in TIMES[:3]),
            _range(row.spread("solve_seconds")),
            _sec(row.median("total_seconds")),
            str(len(row.runs)),
            target,
            result,
        ]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(lines)


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def environment(ortools: bool) -> str:
    packages = ["highspy", "pyomo"] + (["ortools"] if ortools else [])
    versions = ", ".join(f"{p} {_version(p)}" for p in packages)
    try:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "unknown"
    return (
        f"- Machine: {platform.platform()}, {os.cpu_count()} logical CPUs ({_cpu_model()}), "
        f"load average at start {load}\n"
        f"- Python {platform.python_version()}, {versions}"
    )


def section(body: str, command: str, env: str, repeat: int, ortools_repeat: int) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"{START}\n"
        f"- Date: {when}\n"
        f"- Command: `{command}`\n"
        f"{env}\n"
        f"- oncall_opt: {repeat} run(s) per case, CP-SAT: {ortools_repeat}, each in a fresh "
        "process; times are medians, status/objective/bound/gap are from the run with the "
        "median total time.\n\n"
        f"{body}\n"
        f"{END}"
    )


def write_results(path: Path, text: str) -> None:
    if path.exists():
        old = path.read_text(encoding="utf-8")
        if START in old and END in old:
            head, rest = old.split(START, 1)
            tail = rest.split(END, 1)[1]
            new = head + text + tail
        else:
            new = old.rstrip("\n") + "\n\n" + text + "\n"
    else:
        new = (
            "# Benchmark results\n\n"
            "Written by `benchmarks/run.py --output`; `benchmarks/README.md` explains the "
            "columns. The section between the markers is replaced on every run.\n\n"
            f"{text}\n"
        )
    path.write_text(new, encoding="utf-8")


# ----- main -------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per case (default 3)")
    parser.add_argument(
        "--cases", nargs="+", choices=list(CASES), default=list(CASES), metavar="NAME",
        help=f"cases to run (default all: {', '.join(repr(c) for c in CASES)})",
    )  # fmt: skip
    parser.add_argument(
        "--time-limit", type=float, default=None,
        help=f"seconds per solve for every case (default {DEFAULT_TIME_LIMIT:g}, "
        f"extended {EXTENDED_TIME_LIMIT:g})",
    )  # fmt: skip
    parser.add_argument("--output", type=Path, help="Markdown file to write the results into")
    parser.add_argument(
        "--ortools", action="store_true",
        help="also run the OR-Tools CP-SAT reference (needs the `bench` extra)",
    )  # fmt: skip
    parser.add_argument(
        "--ortools-cases", nargs="+", choices=list(CASES), default=ORTOOLS_CASES, metavar="NAME",
        help=f"cases for CP-SAT (default {' '.join(ORTOOLS_CASES)}; 100x365 is worth adding)",
    )  # fmt: skip
    parser.add_argument("--ortools-repeat", type=int, default=1, help="CP-SAT runs (default 1)")
    parser.add_argument(
        "--mip-cases", nargs="+", choices=list(CASES), default=[], metavar="NAME",
        help="also solve these cases with method='mip' (the plain MIP, no network structure)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.ortools_repeat < 1:
        parser.error("--repeat and --ortools-repeat must be at least 1")

    env = environment(args.ortools)
    rows: list[Row] = []
    ours_by_case: dict[str, Row] = {}
    for case in args.cases:
        limit = time_limit_for(case, args.time_limit)
        runs = []
        for i in range(args.repeat):
            print(f"{case}: oncall_opt run {i + 1}/{args.repeat} ...", file=sys.stderr, flush=True)
            runs.append(run_ours(case, limit))
        row = Row(case, "oncall_opt", runs, limit)
        rows.append(row)
        ours_by_case[case] = row
        if case in args.mip_cases:
            mip_runs = []
            for i in range(args.repeat):
                print(f"{case}: MIP only run {i + 1}/{args.repeat} ...", file=sys.stderr)
                mip_runs.append(run_ours(case, limit, method="mip"))
            rows.append(Row(case, "oncall_opt (MIP only)", mip_runs, limit))
        if args.ortools and case in args.ortools_cases:
            cpsat_runs = []
            for i in range(args.ortools_repeat):
                print(f"{case}: CP-SAT run {i + 1}/{args.ortools_repeat} ...", file=sys.stderr)
                cpsat_runs.append(run_cpsat(case, limit))
            rows.append(Row(case, "CP-SAT", cpsat_runs, limit))

    body = table(rows, ours_by_case)
    print(body)
    if args.output:
        command = shlex.join(["python", *sys.argv]) if argv is None else "run.main(...)"
        write_results(args.output, section(body, command, env, args.repeat, args.ortools_repeat))
        print(f"results written to {args.output}", file=sys.stderr)
    mismatch = any("MISMATCH" in line for line in body.splitlines())
    return 1 if mismatch else 0


if __name__ == "__main__":
    sys.exit(main())
