"""The roster model of `model.py` as HiGHS's matrices, built directly and in bulk.

`model.py` is the definition of record (readable, printed by notebooks). Handing a Pyomo model
of 100 people x 365 days to HiGHS costs seconds of expression walking, so the solver builds
the same rows, columns and coefficients here in plain lists and passes them in one call.
`tests/roster/test_matrix.py` proves the two equal on small instances of every rule, so a
change to one without the other fails there.

Columns come in Pyomo's order: the cells x[u, t, l], then the balance steps, then
min_happiness. Rows too: one family after another, in the order `build_model` declares them.
"""

from __future__ import annotations

import gc
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property

import highspy
import numpy as np

from oncall_opt.roster.problem import Problem
from oncall_opt.roster.result import Assignment, evaluate
from oncall_opt.roster.structure import (
    balance_groups,
    candidates,
    carried,
    cycle_length,
    default_steps,
    group_capacity,
    group_of,
    happiness_cap,
    history_constant,
    history_in_group,
    load_of,
)

INF = highspy.kHighsInf
# A cell value this close to 0 or 1 is whole (HiGHS's own feasibility tolerance is 1e-7).
INTEGRALITY = 1e-6
_CYCLE_IMPLIES = frozenset({"at_most_consecutive", "rest_after_a_run"})
# Rule families whose rows an LP solution breaks only here and there (a few thousand of
# 118,263 at 100 people x 365 days with every rule): the LP leaves them out until needed.
LAZY_FAMILIES = frozenset(
    {
        "one_layer_at_a_time",
        "at_most_consecutive",
        "rest_after_a_run",
        "at_most_a_run_per_cycle",
        "load_in_whole_slots",
    }
)
# Cuts: rows every whole roster keeps on its own, there only to tighten the LP; the MIP
# leaves them out unless an LP needed them.
CUT_FAMILIES = frozenset({"load_in_whole_slots"})


@dataclass
class Matrices:
    """A linear model: columns (the cells, then the balance steps, then min_happiness) with
    bounds and costs, row keys (family, *index) with bounds, and the row-wise matrix."""

    cells: list[tuple[int, int, int]]  # (u, t, l): column j < len(cells) is cells[j]
    step_keys: list[tuple[int, int, int]]  # (u, g, k): the columns after the cells
    cost: list[float]
    lower: list[float]
    upper: list[float]
    integer: list[bool]
    offset: float = 0.0
    rows: list[tuple] = field(default_factory=list)
    row_lower: list[float] = field(default_factory=list)
    row_upper: list[float] = field(default_factory=list)
    starts: list[int] = field(default_factory=lambda: [0])
    index: list[int] = field(default_factory=list)
    value: list[float] = field(default_factory=list)
    # People whose run and rest rules their cycle rows say whole (see `implied_rows`).
    cycle_only: frozenset[int] = frozenset()
    eager_cuts: bool = False  # see `lazy_rows`

    @property
    def happiness_column(self) -> int:
        return len(self.cells) + len(self.step_keys)

    @property
    def columns(self) -> list[tuple]:
        """Column keys: ("x", u, t, l), ("step", u, g, k), ("min_happiness",)."""
        cells = [("x", *cell) for cell in self.cells]
        return cells + [("step", *key) for key in self.step_keys] + [("min_happiness",)]

    def add_row(self, key: tuple, lower: float, upper: float, *parts: tuple[list[int], float]):
        """A row whose terms are (columns, coefficient) parts; no column repeats in a row."""
        self.rows.append(key)
        self.row_lower.append(lower)
        self.row_upper.append(upper)
        for columns, coefficient in parts:
            self.index.extend(columns)
            self.value.extend([coefficient] * len(columns))
        self.starts.append(len(self.index))

    def row_terms(self, r: int) -> dict[int, float]:
        lo, hi = self.starts[r], self.starts[r + 1]
        return dict(zip(self.index[lo:hi], self.value[lo:hi], strict=True))

    @cached_property
    def _arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return (
            np.asarray(self.starts, dtype=np.int64),
            np.asarray(self.index, dtype=np.int32),
            np.asarray(self.value, dtype=float),
            np.asarray(self.row_lower, dtype=float),
            np.asarray(self.row_upper, dtype=float),
        )

    def submatrix(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Row-wise starts, indices and values of the given rows, in that order."""
        starts, index, value, _, _ = self._arrays
        lengths = starts[rows + 1] - starts[rows]
        new_starts = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=new_starts[1:])
        positions = np.repeat(starts[rows] - new_starts[:-1], lengths) + np.arange(new_starts[-1])
        return new_starts.astype(np.int32), index[positions], value[positions]

    @cached_property
    def implied_rows(self) -> np.ndarray:
        """Rows another row already enforces, LP included: with one shift in a row at most,
        a person's run and rest rows follow from their cycle rows (at most one shift in any
        1 + min_rest_shifts slots in a row), so solvers leave them out (a tight rotation's LP:
        1.4 s against over 40 s with them). Not at the seam: cycle rows start in the window."""
        return np.array(
            [
                key[0] in _CYCLE_IMPLIES and key[1] in self.cycle_only and key[2] >= 0
                for key in self.rows
            ],
            dtype=bool,
        )

    def needed_rows(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Row numbers (of `rows`, default all) that no other row implies and that are no
        cut (which whole rosters keep on their own)."""
        skipped = self.implied_rows | self.cut_rows
        if rows is None:
            return np.flatnonzero(~skipped)
        return rows[~skipped[rows]]

    @cached_property
    def cut_rows(self) -> np.ndarray:
        return np.array([key[0] in CUT_FAMILIES for key in self.rows], dtype=bool)

    @cached_property
    def lazy_rows(self) -> np.ndarray:
        """Rows of the families that an LP solution rarely breaks (see `LAZY_FAMILIES`); the
        cuts go in from the start when the team is so large that most people take a slot or
        none (`eager_cuts`): the first LP breaks every one of them, and adding them all to a
        solved LP took far longer than solving with them (1000 people x 365 days)."""
        return np.array(
            [
                key[0] in LAZY_FAMILIES and not (self.eager_cuts and key[0] in CUT_FAMILIES)
                for key in self.rows
            ],
            dtype=bool,
        )

    def slack(self, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
        """How far each of these rows' left-hand side is below its upper bound at the given
        column values (negative: the row is broken)."""
        starts, index, coefficients = self.submatrix(rows)
        if not len(rows):
            return np.zeros(0)
        activity = np.add.reduceat(coefficients * values[index], starts[:-1])
        return self._arrays[4][rows] - activity

    def touching(self, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """Those of `rows` with a term in one of the marked columns (a boolean per column)."""
        starts, index, _ = self.submatrix(rows)
        if not len(rows):
            return rows
        return rows[np.maximum.reduceat(columns[index], starts[:-1])]

    def to_highs(
        self,
        relax: bool = False,
        rows: np.ndarray | None = None,
        fixed: np.ndarray | None = None,
        **options,
    ) -> highspy.Highs:
        """A highspy model of these matrices (continuous everywhere when `relax`), with only
        `rows` (row numbers) when given. `fixed` (a value per column, NaN where free) leaves
        the fixed columns out: their terms move to the row bounds and the objective's
        offset, and rows left without a free column go (the caller vouches for them). The
        model's columns are then the free ones (NaN in `fixed`), in order."""
        _, _, _, row_lower, row_upper = self._arrays
        if rows is None:
            rows = np.arange(len(self.rows))
        starts, index, value = self.submatrix(rows)
        cost = np.asarray(self.cost, dtype=float)
        lower = np.asarray(self.lower, dtype=float)
        upper = np.asarray(self.upper, dtype=float)
        integer = self.integer
        row_lower, row_upper, offset = row_lower[rows], row_upper[rows], self.offset
        if fixed is not None:
            free = np.isnan(fixed)
            at = np.where(free, 0.0, fixed)
            row_of = np.repeat(np.arange(len(rows)), np.diff(starts))
            activity = np.bincount(row_of, weights=value * at[index], minlength=len(rows))
            kept_terms = free[index]
            counts = np.bincount(row_of[kept_terms], minlength=len(rows))
            kept_rows = counts > 0
            renumber = np.cumsum(free) - 1
            keep = kept_terms & kept_rows[row_of]
            index, value = renumber[index[keep]].astype(np.int32), value[keep]
            starts = np.zeros(int(kept_rows.sum()) + 1, dtype=np.int32)
            np.cumsum(counts[kept_rows], out=starts[1:])
            row_lower = (row_lower - activity)[kept_rows]
            row_upper = (row_upper - activity)[kept_rows]
            offset += float(cost[~free] @ at[~free])
            cost, lower, upper = cost[free], lower[free], upper[free]
            integer = [i for i, f in zip(integer, free, strict=True) if f]
        lp = highspy.HighsLp()
        lp.num_col_ = len(cost)
        lp.num_row_ = len(row_lower)
        lp.col_cost_ = cost
        lp.col_lower_ = lower
        lp.col_upper_ = upper
        lp.row_lower_ = row_lower
        lp.row_upper_ = row_upper
        lp.offset_ = offset
        lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
        lp.a_matrix_.num_col_ = lp.num_col_
        lp.a_matrix_.num_row_ = lp.num_row_
        lp.a_matrix_.start_ = starts
        lp.a_matrix_.index_ = index
        lp.a_matrix_.value_ = value
        if not relax and any(integer):
            lp.integrality_ = [
                highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous
                for i in integer
            ]
        highs = highspy.Highs()
        highs.setOptionValue("output_flag", False)
        for name, option in options.items():
            highs.setOptionValue(name, option)
        status = highs.passModel(lp)
        if status != highspy.HighsStatus.kOk:
            raise RuntimeError(f"HiGHS refused the roster model ({status})")
        return highs

    def column_values(self, problem: Problem, assignment: Assignment) -> np.ndarray:
        """Every column's value for a roster: cells, balance steps filled in order, happiness."""
        values = np.zeros(len(self.cost))
        for j, (u, t, layer) in enumerate(self.cells):
            if assignment.get((t, layer)) == u:
                values[j] = 1.0
        load = load_of(problem, assignment)
        for j, (u, g, k) in enumerate(self.step_keys, start=len(self.cells)):
            # the k-th step holds what is left after the k - 1 before it, up to its bound
            values[j] = min(self.upper[j], max(0.0, load.get((u, g), 0) - (k - 1)))
        values[self.happiness_column] = evaluate(problem, assignment).min_happiness
        return values

    def roster_in(self, values: np.ndarray) -> Assignment | None:
        """The roster in a solution's cell values; None when a cell is fractional."""
        cells = values[: len(self.cells)]
        if np.any((cells > INTEGRALITY) & (cells < 1 - INTEGRALITY)):
            return None
        on = zip(self.cells, cells, strict=True)
        return {(t, layer): u for (u, t, layer), v in on if v > 0.5}

    def add_rows_to(self, highs: highspy.Highs, rows: np.ndarray) -> None:
        """Append these rows to a highspy model made by `to_highs` (a warm start survives)."""
        _, _, _, row_lower, row_upper = self._arrays
        starts, index, value = self.submatrix(rows)
        highs.addRows(
            len(rows), row_lower[rows], row_upper[rows], len(index), starts[:-1], index, value
        )


def highs_start(values: np.ndarray) -> highspy.HighsSolution:
    """Column values as a start for HiGHS's MIP (`Highs.setSolution`)."""
    solution = highspy.HighsSolution()
    solution.col_value = values.tolist()
    solution.value_valid = True
    return solution


def build_matrices(
    problem: Problem, relax: bool = False, steps: dict[tuple[int, int], int] | None = None
) -> Matrices:
    """The matrices of `build_model(problem, relax, steps)`: same rows, columns, coefficients."""
    # The build makes millions of small objects and no cycles: the cyclic collector's passes
    # over them cost nearly half its time (500 people x 365 days: 0.73 s against 0.40 s).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _build(problem, relax, steps)
    finally:
        if collecting:
            gc.enable()


def _by_weight(problem: Problem, cells, columns: list[int]) -> list[tuple[list[int], float]]:
    """A person's cells in a group as (columns, coefficient) parts: each counts 1, or with
    slot weights its slot's burden points (cells of weightless slots count nothing)."""
    if not problem.weighted:
        return [(columns, 1.0)]
    parts: dict[int, list[int]] = defaultdict(list)
    for j in columns:
        weight = problem.slot_weights[cells[j][1]]
        if weight:
            parts[weight].append(j)
    return [(js, float(weight)) for weight, js in sorted(parts.items())]


def _build(problem: Problem, relax: bool, steps: dict[tuple[int, int], int] | None) -> Matrices:
    users, layers = range(problem.n_users), problem.layers
    groups = balance_groups(problem)
    weights = problem.term_weights
    stability = weights.stability if problem.previous else 0

    if steps is None:
        steps = default_steps(problem)

    m = Matrices(cells=[], step_keys=[], cost=[], lower=[], upper=[], integer=[])
    by_slot: dict[tuple[int, int], list[int]] = {}
    by_person: dict[int, list[int]] = defaultdict(list)
    by_group: dict[tuple[int, int], list[int]] = defaultdict(list)
    by_person_slot: dict[tuple[int, int], list[int]] = defaultdict(list)
    preferred_of: dict[int, list[int]] = defaultdict(list)
    avoided, preferred, cells, cost = problem.avoided, problem.preferred, m.cells, m.cost
    for t in range(problem.n_slots):
        for l in layers:
            g = group_of(problem, t, l)
            before = problem.previous.get((t, l))
            people = candidates(problem, t, l)
            by_slot[t, l] = list(range(len(cells), len(cells) + len(people)))
            for u in people:
                j = len(cells)
                cells.append((u, t, l))
                changed = before is not None and before != u
                cost.append(weights.avoid * (t in avoided[u]) + stability * changed)
                by_person[u].append(j)
                by_group[u, g].append(j)
                by_person_slot[u, t].append(j)
                if t in preferred[u]:
                    preferred_of[u].append(j)
    n_cells = len(cells)
    m.lower += [0.0] * n_cells
    m.upper += [1.0] * n_cells
    m.integer += [not relax] * n_cells

    step_columns: dict[tuple[int, int], list[int]] = {}
    for (u, g), n in steps.items():
        h = history_in_group(problem, u, g)
        capacity = group_capacity(problem, u, g)
        step_columns[u, g] = list(range(len(m.cost), len(m.cost) + n))
        for k in range(1, n + 1):
            m.step_keys.append((u, g, k))
            m.cost.append(weights.balance * ((2 * (h + k) - 1) / problem.users[u].weight))
            m.lower.append(0.0)
            m.upper.append(capacity - k + 1 if k == n and k < capacity else 1.0)
            m.integer.append(False)
    m.offset = history_constant(problem)  # steps cover every person and group

    happiness = m.happiness_column
    m.cost.append(-weights.happiness)
    m.lower.append(0.0)
    cap = happiness_cap(problem)
    m.upper.append(INF if cap is None else float(cap))
    m.integer.append(not relax)

    for t in range(problem.n_slots):
        for l in layers:
            m.add_row(("one_person_per_slot", t, l), 1, 1, (by_slot[t, l], 1.0))
    for u in users:
        for g in range(len(groups)):
            counted = _by_weight(problem, cells, by_group[u, g]) if by_group[u, g] else []
            if counted or (by_group[u, g] and step_columns[u, g]):
                parts = (*counted, (step_columns[u, g], -1.0))
                m.add_row(("steps_count_shifts", u, g), 0, 0, *parts)
    for u in users:
        if by_person[u]:
            limits = problem.min_shifts(u), problem.max_shifts(u)
            m.add_row(("shift_limits", u), *limits, (by_person[u], 1.0))
    for u in problem.wishers:
        parts = ([happiness], 1.0), (preferred_of[u], -1.0)
        m.add_row(("happiness_floor", u), -INF, 0, *parts)
    if len(layers) > 1:
        for (u, t), js in by_person_slot.items():
            if len(js) > 1:
                m.add_row(("one_layer_at_a_time", u, t), -INF, 1, (js, 1.0))

    def window_row(family: str, u: int, t: int, length: int, limit: int) -> None:
        """At most `limit` of the `length` slots from `t` on call, the carried ones (before
        the window) moved to the right-hand side; only a window a roster could break."""
        window = [s for s in range(t, t + length) if (u, s) in by_person_slot]
        before = sum(carried(problem, u, s) for s in range(t, min(t + length, 0)))
        if window and len(window) + before > limit:
            columns = [j for s in window for j in by_person_slot[u, s]]
            m.add_row((family, u, t), -INF, limit - before, (columns, 1.0))

    for u in users:
        limit = problem.max_consecutive[u]
        if limit is not None:
            for t in range(-limit, problem.n_slots - limit):
                window_row("at_most_consecutive", u, t, limit + 1, limit)
    for u in users:
        for t in range(-problem.min_rest[u], problem.n_slots - 2):
            if (u, t) not in by_person_slot and not carried(problem, u, t):
                continue
            for gap in range(2, problem.min_rest[u] + 1):
                if 0 <= t + gap < problem.n_slots and (u, t + gap) in by_person_slot:
                    # on(t) - on(t + 1) + on(t + gap) <= 1, slots before the window constants
                    constant = carried(problem, u, t) - carried(problem, u, t + 1)
                    parts = (
                        (by_person_slot.get((u, t), []), 1.0),
                        (by_person_slot.get((u, t + 1), []), -1.0),
                        (by_person_slot[u, t + gap], 1.0),
                    )
                    m.add_row(("rest_after_a_run", u, t, gap), -INF, 1 - constant, *parts)
    cycle_only = set()
    for u in users:
        limit = problem.max_consecutive[u]
        if limit is None or problem.min_rest[u] < 2:
            continue
        length = cycle_length(problem, u)
        if limit == 1 and length <= problem.n_slots:  # every pair within a cycle is in a row
            cycle_only.add(u)
        # Inside the window only: a carry_in may itself have broken a rule, which says
        # nothing about cycles (the run and rest rows hold the seam exactly).
        for t in range(problem.n_slots - length + 1):
            window_row("at_most_a_run_per_cycle", u, t, length, limit)
    m.cycle_only = frozenset(cycle_only)
    if problem.weighted:  # see model.py: load_in_whole_slots (a cut)
        m.eager_cuts = problem.n_slots * len(layers) < 2 * problem.n_users
        for (u, g), columns in step_columns.items():
            if not columns or not by_group[u, g]:
                continue
            h = history_in_group(problem, u, g)
            taken: dict[int, list[int]] = defaultdict(list)
            for j in by_group[u, g]:
                w = problem.slot_weights[cells[j][1]]
                if w:
                    taken[2 * h * w + w * w].append(j)
            parts = [(js, float(c)) for c, js in sorted(taken.items())]
            # each step its own part: the k-th step's coefficient is its own cost
            steps_part = [([j], -float(2 * (h + k) - 1)) for k, j in enumerate(columns, start=1)]
            m.add_row(("load_in_whole_slots", u, g), -INF, 0, *parts, *steps_part)
    return m
