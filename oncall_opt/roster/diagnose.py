"""Why no roster exists, in words a team lead understands.

`precheck` finds the common causes by counting, before any solver runs: slots nobody can take,
limits that cannot add up, pinned slots that break a rule. When the counts look fine but the
solver still proves infeasibility, `explain` drops one family of rules at a time and reports
which ones clash.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from itertools import groupby, pairwise

from oncall_opt.roster.capacity import Shortfall, shortfalls
from oncall_opt.roster.problem import Problem
from oncall_opt.roster.spec import LAYER_NAMES
from oncall_opt.roster.structure import candidates


def _layer(problem: Problem, layer: int) -> str:
    return f" ({LAYER_NAMES[layer]})" if len(problem.layers) > 1 else ""


def slot_label(problem: Problem, t: int) -> str:
    start = problem.grid.local(problem.grid.starts[t])
    if start.hour == 0 and start.minute == 0:
        return start.strftime("%a %Y-%m-%d")
    return start.strftime("%a %Y-%m-%d %H:%M")


def _spans(problem: Problem, slots: list[int]) -> list[str]:
    """Consecutive slots folded into 'Mon 2024-03-04 to Wed 2024-03-06' (whole days), or, when
    shifts run from a handoff, 'the shifts from Mon 2024-03-04 09:00 to Wed 2024-03-06 09:00'
    (start to end): a day marked away blocks the shift that ends on it too, and naming only
    starts would point at the day before."""
    spans = []
    grid = problem.grid
    for _, run in groupby(enumerate(sorted(slots)), key=lambda pair: pair[1] - pair[0]):
        run = [t for _, t in run]
        first, last = slot_label(problem, run[0]), slot_label(problem, run[-1])
        start = grid.local(grid.starts[run[0]])
        if (start.hour, start.minute) == (0, 0) and _whole_days(problem):
            spans.append(first if run[0] == run[-1] else f"{first} to {last}")
            continue
        end = grid.local(grid.ends[run[-1]])
        what = "the shift" if run[0] == run[-1] else "the shifts"
        spans.append(f"{what} from {first} to {end.strftime('%a %Y-%m-%d %H:%M')}")
    return spans


def _whole_days(problem: Problem) -> bool:
    grid = problem.grid
    if len(grid) < 2:
        return True
    return grid.starts[1] - grid.starts[0] == timedelta(days=1)


def precheck(problem: Problem) -> list[str]:
    """Reasons found by counting alone; empty when nothing obvious is wrong."""
    reasons: list[str] = []
    users, n, layers = problem.users, problem.n_slots, problem.layers

    for (t, layer), u in sorted(problem.pins.items()):
        if t not in problem.available[u]:
            # The shift's start and end: a day away blocks the shift that ends on it too.
            [shift] = _spans(problem, [t])
            reasons.append(
                f"{users[u].label} is pinned to {shift}{_layer(problem, layer)} "
                "but is unavailable then"
            )
    if len(layers) > 1:
        for t in range(n):
            if problem.pins.get((t, 1)) is not None and problem.pins.get(
                (t, 1)
            ) == problem.pins.get((t, 2)):
                reasons.append(
                    f"{users[problem.pins[t, 1]].label} is pinned to both primary and secondary "
                    f"on {slot_label(problem, t)}"
                )

    for u, user in enumerate(users):
        pinned = sorted(t for (t, _), v in problem.pins.items() if v == u)
        if user.max_shifts is not None and len(pinned) > user.max_shifts:
            reasons.append(
                f"{user.label} is pinned to {len(pinned)} slots but max_shifts is {user.max_shifts}"
            )
        limit = problem.max_consecutive[u]
        runs = _runs(pinned)
        for run in runs:
            if limit is not None and len(run) > limit:
                reasons.append(
                    f"{user.label} is pinned to {len(run)} slots in a row from "
                    f"{slot_label(problem, run[0])}, more than max_consecutive_shifts {limit}"
                )
        for before, after in pairwise(runs):
            gap = after[0] - before[-1] - 1
            if 0 < gap < problem.min_rest[u]:
                reasons.append(
                    f"{user.label} is pinned to {slot_label(problem, before[-1])} and "
                    f"{slot_label(problem, after[0])} with only {gap} free slot(s) between, "
                    f"less than min_rest_shifts {problem.min_rest[u]}"
                )
        takeable = (
            sum(
                1
                for t in problem.available[u]
                if any(problem.pins.get((t, layer), u) == u for layer in layers)
            )
            if problem.min_shifts(u)  # else nobody can ask for too many (1000 x 365: 0.5 s)
            else 0
        )
        if problem.min_shifts(u) > takeable:
            reasons.append(
                f"{user.label} must work at least {problem.min_shifts(u)} slots (min_shifts) "
                f"but can take only {takeable} (available and not pinned to someone else)"
            )

    for layer in layers:
        # A pinned slot with nobody is reported above as the pin's fault.
        empty = [
            t
            for t in range(n)
            if (t, layer) not in problem.pins and not candidates(problem, t, layer)
        ]
        if empty:
            for span in _spans(problem, empty):
                reasons.append(
                    f"nobody can take {span}{_layer(problem, layer)}: everyone is unavailable"
                )
    if len(layers) > 1:
        short = [t for t in range(n) if sum(t in a for a in problem.available) == 1]
        for span in _spans(problem, short):
            reasons.append(
                f"only one person is available on {span}, but primary and secondary "
                "must be two different people"
            )

    if not reasons:  # a stretch nobody can take is already named above, more plainly
        reasons += [_shortfall_reason(problem, short) for short in shortfalls(problem)]

    slots = n * len(layers)
    if any(user.max_shifts is not None for user in users):
        capacity = sum(problem.max_shifts(u) for u in range(len(users)))
        if capacity < slots:
            reasons.append(
                f"max_shifts (capped by availability) add up to {capacity} "
                f"but there are {slots} slots to fill"
            )
    floor = sum(problem.min_shifts(u) for u in range(len(users)))
    if floor > slots:
        reasons.append(f"min_shifts add up to {floor} but there are only {slots} slots")
    return reasons


def _shortfall_reason(problem: Problem, short: Shortfall) -> str:
    """'Fri 2027-01-15 to Mon 2027-01-18: 8 shifts to fill (2 layers x 4 slots), but at most
    7 can be taken under ...: 1 each by Ana, Ben, ...; nobody else can be on call then'"""
    users = problem.users
    [span] = _spans(problem, list(range(short.start, short.start + short.length)))
    layers = len(problem.layers)
    shape = f"{layers} layers x {short.length} slots" if layers > 1 else f"{short.length} slots"
    caps = {n for _, n in short.per_person}
    if len(caps) == 1:
        who = [users[u].label for u, _ in short.per_person]
        by = f"{caps.pop()} each by "
    else:
        who = [f"{users[u].label} ({n})" for u, n in short.per_person]
        by = "by "
    listed = ", ".join(who[:12]) + (f" and {len(who) - 12} more" if len(who) > 12 else "")
    rest = "; nobody else can be on call then" if len(who) < problem.n_users else ""
    return (
        f"{span}: {short.shifts} shifts to fill ({shape}), but at most {short.takeable} can "
        f"be taken under max_consecutive_shifts, min_rest_shifts and availability: "
        f"{by}{listed}{rest}"
    )


def _runs(slots: list[int]) -> list[list[int]]:
    return [[t for _, t in run] for _, run in groupby(enumerate(slots), key=lambda p: p[1] - p[0])]


RULE_FAMILIES: dict[str, Callable[[dict], None]] = {
    "max_shifts": lambda raw: [user.pop("max_shifts", None) for user in raw["users"]],
    "min_shifts": lambda raw: [user.pop("min_shifts", None) for user in raw["users"]],
    "max_consecutive_shifts": lambda raw: [
        d.pop("max_consecutive_shifts", None) for d in (raw, *raw["users"])
    ],
    "min_rest_shifts": lambda raw: [d.pop("min_rest_shifts", None) for d in (raw, *raw["users"])],
    "fixed (pinned slots)": lambda raw: raw.pop("fixed", None),
    "carry_in (on call just before the window)": lambda raw: raw.pop("carry_in", None),
    "layers: 2": lambda raw: raw.update(
        layers=1,
        fixed=[p for p in raw.get("fixed", []) if p.get("layer", 1) == 1],
        carry_in=[{**c, "layer": 1} for c in raw.get("carry_in", [])],  # rules count any layer
    ),
}


def _family_in_use(problem: Problem, name: str) -> bool:
    doc = problem.document
    return {
        "max_shifts": any(u.max_shifts is not None for u in doc.users),
        "min_shifts": any(u.min_shifts for u in doc.users),
        "max_consecutive_shifts": any(c is not None for c in problem.max_consecutive),
        "min_rest_shifts": any(r > 1 for r in problem.min_rest),
        "fixed (pinned slots)": bool(problem.pins),
        "carry_in (on call just before the window)": any(problem.carried),
        "layers: 2": len(problem.layers) > 1,
    }[name]


def explain(problem: Problem, is_feasible: Callable[[Problem], bool | None]) -> list[str]:
    """Reasons for infeasibility: the counting checks, else which rule families clash."""
    reasons = precheck(problem)
    if reasons:
        return reasons
    in_use = [name for name in RULE_FAMILIES if _family_in_use(problem, name)]
    if not in_use:
        return ["the availability alone leaves no way to cover every slot"]
    answers = {name: is_feasible(problem.revise(RULE_FAMILIES[name])) for name in in_use}
    culprits = [name for name, feasible in answers.items() if feasible is True]
    if culprits:
        return [
            f"{', '.join(in_use)} cannot all hold with this availability; a roster exists "
            f"without {' or without '.join(culprits)}"
        ]
    if None in answers.values():  # the time ran out before some answer: claim nothing more
        return [
            f"{', '.join(in_use)} cannot all hold with this availability (the time ran out "
            "before finding which of them to drop; allow more time for the reason)"
        ]
    return [
        f"{', '.join(in_use)} cannot all hold with this availability, even with one of them dropped"
    ]
