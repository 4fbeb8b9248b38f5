"""The optimizer's targets of issue 14, side by side with OR-Tools CP-SAT in the same run.

    python benchmarks/optimizer.py [--repeat 3] [--cases NAME ...] [--no-cpsat]
                                   [--cpsat-limit 60] [--output benchmarks/RESULTS.md]

Every run is the whole command line in a fresh process (`python -m oncall_opt solve in.json
-o out.json -q`), timed from outside: Python's start, imports, reading, building, solving and
writing output.json. Each case is also solved once with `--time-limit 10` (the limit must hold
within 11 s, with a bound), and once by CP-SAT (2 workers, its own process, the same model
written again in `ortools_cpsat.py`). The reference time is `python -c "import pyomo.environ"`
measured in the same run (the 500x365 target is a multiple of it).

Instances come from `instances.py` (deterministic): 22 side-rule instances (two layers; at
most 2 in a row; 3 rest slots after a run; weekend balance; all four together; 20x90 to
100x365), the extended 50x365, 500x365, 1000x365 and 12-hour shifts for 100 people x 365 days.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from engine import write_results
from instances import instance
from run import environment

HERE = Path(__file__).resolve().parent
START, END = "<!-- optimizer:start -->", "<!-- optimizer:end -->"
TITLE = "Optimizer: side rules, large teams, the whole-time limit (issue 14)"

RULES = {
    "layers": dict(layers=2),
    "2 in a row": dict(max_consecutive_shifts=2),
    "rest 3": dict(min_rest_shifts=3),
    "weekend": dict(weekend_balance=True),
    "all rules": dict(layers=2, max_consecutive_shifts=2, min_rest_shifts=3, weekend_balance=True),
}
SIZES = [(20, 90), (30, 365), (50, 365), (100, 365)]


def side_rule_cases() -> dict[str, dict]:
    """5 rule sets x 4 sizes, plus every rule at 30x180 and 50x180: 22 instances."""
    cases = {
        f"{name} {users}x{days}": dict(users=users, days=days, **rules)
        for users, days in SIZES
        for name, rules in RULES.items()
    }
    for users in (30, 50):
        cases[f"all rules {users}x180"] = dict(users=users, days=180, **RULES["all rules"])
    return cases


CASES = {
    **side_rule_cases(),
    "extended 50x365": dict(users=50, days=365, extended=True),
    "500x365": dict(users=500, days=365),
    "1000x365": dict(users=1000, days=365),
    "12-hour 100x365": dict(users=100, days=365, shift={"length": "PT12H"}),
}
SIDE_RULE_TARGET = 30.0  # s, whole CLI, side-rule instances at 100x365
EXTENDED_TARGET = 15.0
IMPORT_MULTIPLE = 10.0  # 500x365: at most this many times `import pyomo.environ`
LARGE_TARGET = 60.0  # 1000x365
SHORT_LIMIT, SHORT_MARGIN = 10.0, 1.0


def cli(path: Path, time_limit: float) -> dict:
    """One whole command-line solve, timed from outside; output.json's statistics."""
    out = path.with_suffix(".out.json")
    out.unlink(missing_ok=True)
    command = [sys.executable, "-m", "oncall_opt", "solve", str(path), "-o", str(out), "-q"]
    command += ["--time-limit", str(time_limit)]
    t0 = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=time_limit * 3 + 60)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"seconds": seconds, "status": f"exit {done.returncode}: {tail}"}
    stats = json.loads(out.read_text())["statistics"]
    keys = ("status", "objective", "bound", "method")
    return {"seconds": seconds, **{k: stats[k] for k in keys},
            "wishes_seconds": stats.get("wishes_seconds", 0.0)}  # fmt: skip


def cpsat(path: Path, time_limit: float) -> dict:
    command = [sys.executable, str(HERE / "ortools_cpsat.py"), str(path)]
    command += ["--time-limit", str(time_limit), "--workers", "2"]
    t0 = time.perf_counter()
    done = subprocess.run(
        command, capture_output=True, text=True, cwd=HERE, timeout=2 * time_limit + 120
    )
    seconds = time.perf_counter() - t0
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("{"):
            return {"seconds": seconds, **json.loads(line)}
    tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
    return {"seconds": seconds, "status": f"exit {done.returncode}: {tail}"}


def pyomo_import_seconds(repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import pyomo.environ"], check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def target(case: str, seconds: float, run: dict, reference: float) -> str:
    proven = run.get("status") == "optimal"
    if case == "extended 50x365":
        limit, what = EXTENDED_TARGET, f"proven ≤ {EXTENDED_TARGET:g} s"
    elif case == "500x365":
        limit = IMPORT_MULTIPLE * reference
        what = (
            f"proven ≤ {IMPORT_MULTIPLE:g}× pyomo import ({limit:.2f} s); "
            f"here {seconds / reference:.1f}×"
        )
    elif case == "1000x365":
        limit, what = LARGE_TARGET, f"proven ≤ {LARGE_TARGET:g} s"
    elif case.endswith("100x365") and not case.startswith("12-hour"):
        limit, what = SIDE_RULE_TARGET, f"proven ≤ {SIDE_RULE_TARGET:g} s"
    else:
        return "proven" if proven else "**not proven**"
    met = proven and seconds <= limit
    return f"{'met' if met else '**missed**'}: {what}"


def short_limit(run: dict) -> str:
    ok = run["seconds"] <= SHORT_LIMIT + SHORT_MARGIN and run.get("bound") is not None
    verdict = "met" if ok else "**missed**"
    return f"{run['seconds']:.2f} s, {run.get('status')}, bound {_num(run.get('bound'))}: {verdict}"


def versus(ours: dict, theirs: dict | None) -> str:
    if theirs is None:
        return ""
    status = theirs.get("status", "—")
    if theirs.get("objective") is None:
        return status
    text = f"{status} {_num(theirs['objective'])} (bound {_num(theirs.get('bound'))})"
    if ours.get("objective") is not None:
        diff = theirs["objective"] - ours["objective"]
        relative = diff / max(1.0, abs(ours["objective"]))
        if abs(diff) < 1e-6:
            text += "; same roster value"
        elif diff > 0:
            text += f"; ours {100 * relative:.2f}% better"
        else:
            text += f"; **CP-SAT {-100 * relative:.2f}% better**"
    return text


def _num(value) -> str:
    if value is None:
        return "—"
    return str(int(value)) if float(value).is_integer() else f"{value:.6g}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="CLI runs per case (median)")
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    parser.add_argument("--no-cpsat", action="store_true", help="skip CP-SAT")
    parser.add_argument("--cpsat-limit", type=float, default=60.0, help="CP-SAT seconds")
    parser.add_argument("--time-limit", type=float, default=60.0, help="our limit per solve")
    parser.add_argument("--output", type=Path, help="Markdown file to write the results into")
    args = parser.parse_args(argv)

    env = environment(not args.no_cpsat)
    reference = pyomo_import_seconds(5)
    header = (
        "| case | status | objective | bound | whole CLI s (median, min–max) | target "
        f"| `--time-limit 10` | CP-SAT ({args.cpsat_limit:g} s, 2 workers) | method |"
    )
    lines = [header, "|" + "---|" * header.count(" | ") + "---|"]
    missed = 0
    with tempfile.TemporaryDirectory() as folder:
        for case in args.cases:
            path = Path(folder) / "input.json"
            path.write_text(json.dumps(instance(**CASES[case])))
            runs = []
            for i in range(args.repeat):
                print(f"{case}: run {i + 1}/{args.repeat}", file=sys.stderr, flush=True)
                runs.append(cli(path, args.time_limit))
            runs.sort(key=lambda r: r["seconds"])
            median = runs[(len(runs) - 1) // 2]
            seconds = statistics.median(r["seconds"] for r in runs)
            short = cli(path, SHORT_LIMIT)
            theirs = None if args.no_cpsat else cpsat(path, args.cpsat_limit)
            verdict = target(case, seconds, median, reference)
            limit_text, compared = short_limit(short), versus(median, theirs)
            if "missed" in verdict or "missed" in limit_text or "**CP-SAT" in compared:
                missed += 1
            cells = [
                case,
                median.get("status", "—"),
                _num(median.get("objective")),
                _num(median.get("bound")),
                f"{seconds:.2f} ({runs[0]['seconds']:.2f}–{runs[-1]['seconds']:.2f})",
                verdict,
                limit_text,
                compared,
                median.get("method", ""),
            ]
            lines.append("| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |")
            print(lines[-1], flush=True)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = shlex.join(["python", *sys.argv]) if argv is None else "optimizer.main(...)"
    text = (
        f"{START}\n- Date: {when}\n- Command: `{command}`\n{env}\n"
        f'- Reference: `python -c "import pyomo.environ"` took {reference:.3f} s (median of 5)'
        f" in this run.\n- {args.repeat} whole-CLI run(s) per case; the 10 s-limit run and "
        "CP-SAT once each.\n\n" + "\n".join(lines) + f"\n{END}"
    )
    print(text)
    if args.output:
        write_results(args.output, text, START, END, TITLE)
        print(f"results written to {args.output}", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
