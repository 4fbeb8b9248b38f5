"""A solved roster: who is on call in each slot and layer, its statistics and DataFrames.

The objective is recomputed here from the assignment itself, not read back from the solver, so
the figures reported are exact whatever the solver's floating-point tolerances.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from oncall_opt.roster.problem import Problem
from oncall_opt.roster.structure import balance_groups, group_of, history_in_group
from oncall_opt.times import format_timestamp

if TYPE_CHECKING:  # pandas loads only for the DataFrames: output.json never needs it
    import pandas as pd

Assignment = dict[tuple[int, int], int]  # (slot, layer) -> person


@dataclass(frozen=True)
class Breakdown:
    """The objective's terms for one roster, and the weighted total."""

    balance: float
    min_happiness: int
    avoided: int
    changed: int
    total: float


def evaluate(problem: Problem, assignment: Assignment) -> Breakdown:
    """The objective of a complete assignment, term by term."""
    groups = balance_groups(problem)
    counts = {(u, g): 0 for u in range(problem.n_users) for g in range(len(groups))}
    granted = [0] * problem.n_users
    avoided = changed = 0
    for (t, layer), u in assignment.items():
        counts[u, group_of(problem, t, layer)] += problem.slot_weight(t)
        granted[u] += t in problem.preferred[u]
        avoided += t in problem.avoided[u]
        changed += problem.previous.get((t, layer), u) != u
    balance = sum(
        (n + history_in_group(problem, u, g)) ** 2 / problem.users[u].weight
        for (u, g), n in counts.items()
    )
    w = problem.term_weights
    stability = w.stability if problem.previous else 0.0
    min_happiness = min(granted[u] for u in problem.wishers)
    total = (
        w.balance * balance - w.happiness * min_happiness + w.avoid * avoided + stability * changed
    )
    return Breakdown(balance, min_happiness, avoided, changed, _tidy(total))


def _tidy(value: float) -> float | int:
    return round(value) if abs(value - round(value)) < 1e-9 else value


@dataclass(frozen=True)
class Roster:
    """The answer to a `Problem`. Build outputs with `to_output()`, `assignments`, `per_user`."""

    problem: Problem
    assignment: Assignment
    status: str  # "optimal" | "feasible" (stopped at the time limit with a roster)
    bound: float | None
    build_seconds: float
    solve_seconds: float
    method: str
    solver_log: list[str] = field(default_factory=list)
    # Of solve_seconds, those spent after the proof on granting more preferred slots.
    wishes_seconds: float = 0.0

    @cached_property
    def breakdown(self) -> Breakdown:
        return evaluate(self.problem, self.assignment)

    @property
    def objective(self) -> float:
        return self.breakdown.total

    @property
    def gap(self) -> float | None:
        if self.bound is None:
            return None
        return max(0.0, self.objective - self.bound) / max(1.0, abs(self.objective))

    def user_of(self, t: int, layer: int = 1) -> int:
        return self.assignment[t, layer]

    @cached_property
    def assignments(self) -> pd.DataFrame:
        """One row per slot and layer: start, end (in the schedule's zone), person, flags."""
        import pandas as pd

        p, grid = self.problem, self.problem.grid
        rows = []
        for (t, layer), u in sorted(self.assignment.items()):
            user = p.users[u]
            rows.append(
                {
                    "slot": t,
                    "layer": layer,
                    "start": pd.Timestamp(grid.local(grid.starts[t])),
                    "end": pd.Timestamp(grid.local(grid.ends[t])),
                    "user_id": user.id,
                    "user_name": user.label,
                    "preferred": t in p.preferred[u],
                    "avoided": t in p.avoided[u],
                    "weekend": grid.is_weekend[t],
                    "changed": p.previous.get((t, layer), u) != u,
                }
            )
        return pd.DataFrame(rows)

    @cached_property
    def per_user_rows(self) -> list[dict[str, Any]]:
        """`per_user` as plain rows (what output.json and the summary use, without pandas)."""
        p = self.problem
        total_weight = sum(user.weight for user in p.users)
        total_slots = p.n_slots * len(p.layers)
        shifts, weekend, granted, avoided, points = ([0] * p.n_users for _ in range(5))
        for (t, _layer), u in self.assignment.items():
            shifts[u] += 1
            points[u] += p.slot_weight(t)
            weekend[u] += bool(p.grid.is_weekend[t])
            granted[u] += t in p.preferred[u]
            avoided[u] += t in p.avoided[u]
        total_points = sum(p.slot_weight(t) for t in range(p.n_slots)) * len(p.layers)
        return [
            {
                "user_id": user.id,
                "user_name": user.label,
                "shifts": shifts[u],
                "fair_share": round(total_slots * user.weight / total_weight, 2),
                # with slot weights: burden points taken, and the even share of all of them
                **(
                    {
                        "burden": points[u],
                        "fair_burden": round(total_points * user.weight / total_weight, 2),
                    }
                    if p.weighted
                    else {}
                ),
                "weekend_shifts": weekend[u],
                "preferred_granted": granted[u],
                "preferred_asked": len(p.preferred[u]),
                "avoided_given": avoided[u],
                "history": sum(p.history[u]),
            }
            for u, user in enumerate(p.users)
        ]

    @cached_property
    def per_user(self) -> pd.DataFrame:
        """One row per person: shifts against the fair share, preferences granted, avoids given."""
        import pandas as pd

        return pd.DataFrame(self.per_user_rows)

    @property
    def statistics(self) -> dict[str, Any]:
        b = self.breakdown
        return {
            "status": self.status,
            "objective": self.objective,
            "bound": self.bound,
            "gap": self.gap,
            "terms": {
                "balance": _tidy(b.balance),
                "min_happiness": b.min_happiness,
                "avoided": b.avoided,
                "changed": b.changed,
            },
            "method": self.method,
            "build_seconds": round(self.build_seconds, 3),
            "solve_seconds": round(self.solve_seconds, 3),
            "wishes_seconds": round(self.wishes_seconds, 3),
            "slots": self.problem.n_slots,
            "layers": len(self.problem.layers),
            "users": [
                {
                    "id": row["user_id"],
                    "name": row["user_name"],
                    "shifts": row["shifts"],
                    "preferred_granted": row["preferred_granted"],
                    "preferred_asked": row["preferred_asked"],
                    "avoided_given": row["avoided_given"],
                    **({"burden": row["burden"]} if "burden" in row else {}),
                }
                for row in self.per_user_rows
            ],
        }

    def overrides(self, layer: int = 1, merge: bool = False) -> list[dict[str, Any]]:
        """PagerDuty overrides for one layer, one per slot in order (or per run when `merge`)."""
        p, grid = self.problem, self.problem.grid
        result: list[dict[str, Any]] = []
        previous_user = None
        for t in range(p.n_slots):
            u = self.assignment[t, layer]
            if merge and u == previous_user:
                result[-1]["end"] = format_timestamp(grid.local(grid.ends[t]))
                continue
            user = p.users[u]
            person = {"name": user.name, "id": user.id, "type": user.type}
            result.append(
                {
                    "start": format_timestamp(grid.local(grid.starts[t])),
                    "end": format_timestamp(grid.local(grid.ends[t])),
                    "user": {k: v for k, v in person.items() if v},  # omitempty, as Go writes
                    "time_zone": grid.zone_name,
                }
            )
            previous_user = u
        return result

    def to_output(self, merge: bool = False) -> dict[str, Any]:
        """The output.json document: `overrides` can be POSTed to PagerDuty as they are."""
        output: dict[str, Any] = {"overrides": self.overrides(1, merge)}
        if len(self.problem.layers) > 1:
            output["secondary_overrides"] = self.overrides(2, merge)
        output["min_days_worked"] = min(row["shifts"] for row in self.per_user_rows)
        output["statistics"] = self.statistics
        return output

    def summary(self) -> str:
        """A readable per-person summary, as the CLI prints it."""
        s = self.statistics
        lines = [
            f"{self.problem.n_slots} slots x {len(self.problem.layers)} layer(s), "
            f"{self.problem.n_users} people: {s['status']}, objective {s['objective']}"
            + (f", gap {s['gap']:.2%}" if s["gap"] else "")
            + (", gap unknown (stopped before a bound)" if s["gap"] is None else "")
            + f" ({s['method']}; build {s['build_seconds']:.2f}s, solve {s['solve_seconds']:.2f}s"
            + (f", of which wishes {s['wishes_seconds']:.2f}s" if s["wishes_seconds"] else "")
            + ")",
        ]
        table = self.per_user_rows
        width = max(len("person"), *(len(row["user_name"]) for row in table))
        weighted = self.problem.weighted
        lines.append(
            f"{'person':<{width}}  shifts  fair share  preferred granted  avoided given"
            + ("  burden  fair burden" if weighted else "")
        )
        for row in table:
            lines.append(
                f"{row['user_name']:<{width}}  {row['shifts']:>6}  {row['fair_share']:>10}  "
                f"{row['preferred_granted']:>8} of {row['preferred_asked']:<6}  "
                f"{row['avoided_given']:>13}"
                + (f"  {row['burden']:>6}  {row['fair_burden']:>11}" if weighted else "")
            )
        return "\n".join(lines)
