"""The matrices handed to HiGHS (`roster/matrix.py`) equal the Pyomo model of record
(`roster/model.py`): same columns with the same bounds, integrality and costs, same rows with
the same bounds and coefficients, same objective constant. Pyomo's side is read with Pyomo's
own `generate_standard_repn`, so nothing of `matrix.py` is used to check `matrix.py`."""

from __future__ import annotations

import math
import random

import pyomo.environ as pyo
import pytest
from pyomo.repn import generate_standard_repn
from test_optimality import GENERATORS

import oncall_opt as oo
from oncall_opt.roster.diagnose import precheck
from oncall_opt.roster.matrix import build_matrices
from oncall_opt.roster.model import build_model

TOL = 1e-9


def _key(var) -> tuple:
    name = var.parent_component().local_name
    index = var.index()
    return (name,) if index is None else (name, *index)


def _bound(value) -> float:
    return math.inf if value is None else float(value)


def pyomo_form(m) -> tuple[dict, dict, float]:
    """columns {key: (lower, upper, integer, cost)}, rows {key: (lower, upper, {col: coef})}
    and the objective constant, read from the Pyomo model."""
    objective = generate_standard_repn(m.objective.expr)
    costs = {_key(v): c for v, c in zip(objective.linear_vars, objective.linear_coefs, strict=True)}
    columns = {}
    for var in m.component_data_objects(pyo.Var, active=True):
        lower = -_bound(-var.lb if var.lb is not None else None)
        columns[_key(var)] = (lower, _bound(var.ub), var.is_integer(), costs.get(_key(var), 0))
    rows = {}
    for con in m.component_data_objects(pyo.Constraint, active=True):
        repn = generate_standard_repn(con.body)
        terms = {}
        for v, c in zip(repn.linear_vars, repn.linear_coefs, strict=True):
            terms[_key(v)] = terms.get(_key(v), 0) + c
        terms = {k: c for k, c in terms.items() if c}
        lower = -math.inf if con.lower is None else pyo.value(con.lower) - repn.constant
        upper = math.inf if con.upper is None else pyo.value(con.upper) - repn.constant
        index = con.index()
        index = index if isinstance(index, tuple) else (index,)
        key = (con.parent_component().local_name, *index)
        rows[key] = (lower, upper, terms)
    return columns, rows, objective.constant


def matrix_form(problem, **kwargs) -> tuple[dict, dict, float, list, list]:
    mx = build_matrices(problem, **kwargs)
    names = mx.columns
    columns = {
        names[j]: (mx.lower[j], mx.upper[j], mx.integer[j], mx.cost[j]) for j in range(len(names))
    }
    rows = {}
    for r, key in enumerate(mx.rows):
        terms = {names[j]: c for j, c in mx.row_terms(r).items()}
        rows[key] = (mx.row_lower[r], mx.row_upper[r], terms)
    return columns, rows, mx.offset, names, list(mx.rows)


def assert_same(problem, **kwargs) -> None:
    model = build_model(problem, **kwargs)
    columns, rows, constant = pyomo_form(model)
    m_columns, m_rows, offset, names, row_keys = matrix_form(problem, **kwargs)
    # Same columns and rows in the same order (HiGHS's solution then reads back the same way).
    assert names == [_key(v) for v in model.component_data_objects(pyo.Var, active=True)]
    assert set(row_keys) == set(rows) and len(row_keys) == len(rows)
    assert offset == pytest.approx(constant, abs=TOL)
    for key, (lower, upper, integer, cost) in columns.items():
        m_lower, m_upper, m_integer, m_cost = m_columns[key]
        assert (m_lower, m_upper, m_integer) == (lower, upper, integer), key
        assert m_cost == pytest.approx(cost, abs=TOL), key
    for key, (lower, upper, terms) in rows.items():
        m_lower, m_upper, m_terms = m_rows[key]
        assert (m_lower, m_upper) == (pytest.approx(lower), pytest.approx(upper)), key
        assert m_terms.keys() == terms.keys(), key
        for column, coefficient in terms.items():
            assert m_terms[column] == pytest.approx(coefficient, abs=TOL), (key, column)


KINDS = sorted(GENERATORS)


def problems(kind: str, count: int = 4) -> list:
    """The first `count` instances of a generator that reach the model (the precheck refuses a
    slot nobody can take before any model is built)."""
    found = []
    for seed in range(100):
        problem = oo.load_problem(GENERATORS[kind](random.Random(f"matrix-{kind}-{seed}")))
        if not precheck(problem):
            found.append(problem)
        if len(found) == count:
            return found
    raise AssertionError(f"the {kind} generator gave fewer than {count} feasible instances")


@pytest.mark.parametrize("kind", KINDS)
def test_matrices_equal_the_pyomo_model(kind):
    for problem in problems(kind):
        assert_same(problem)
        assert_same(problem, relax=True)


def test_matrices_equal_the_pyomo_model_with_limited_steps():
    """The network method's limited balance steps (the last step absorbs the rest)."""
    doc = GENERATORS["history"](random.Random("matrix-steps"))
    problem = oo.load_problem(doc)
    steps = {(u, 0): 1 for u in range(problem.n_users)}
    assert_same(problem, relax=True, steps=steps)


def test_every_rule_family_is_compared():
    """The instances above reach every constraint family of the model (else a family could
    differ unnoticed)."""
    seen = set()
    for kind in KINDS:
        for problem in problems(kind):
            model = build_model(problem)
            seen |= {
                c.local_name
                for c in model.component_objects(pyo.Constraint, active=True)
                if len(c) > 0
            }
    assert seen == {
        "one_person_per_slot",
        "steps_count_shifts",
        "shift_limits",
        "happiness_floor",
        "one_layer_at_a_time",
        "at_most_consecutive",
        "rest_after_a_run",
        "at_most_a_run_per_cycle",
        "load_in_whole_slots",
    }


def test_rows_the_solver_leaves_out_change_nothing():
    """With at most one shift in a row, a person's run and rest rows follow from their cycle
    rows: the solvers leave them out (`Matrices.needed_rows`). Only those rows go, and the LP
    relaxation (so every bound) and the best roster are the same without them."""
    import numpy as np

    checked = 0
    for problem in problems("rotation", count=6):
        mx = build_matrices(problem)
        left_out = [mx.rows[r] for r in np.flatnonzero(mx.implied_rows)]
        assert all(
            key[0] in ("at_most_consecutive", "rest_after_a_run")
            and problem.max_consecutive[key[1]] == 1
            for key in left_out
        )
        values = []
        for rows, relax in ((None, True), (mx.needed_rows(), True), (None, False),
                            (mx.needed_rows(), False)):  # fmt: skip
            highs = mx.to_highs(relax=relax, rows=rows)
            highs.run()
            values.append(highs.getInfo().objective_function_value)
        assert values[0] == pytest.approx(values[1], abs=1e-6), values
        assert values[2] == pytest.approx(values[3], abs=1e-6), values
        checked += bool(left_out)
    assert checked >= 3


def highs_form(highs, names: list[tuple], row_keys: list[tuple]) -> tuple[dict, dict, float]:
    """What the highspy model holds, read back through HiGHS's own accessors."""
    import highspy

    lp = highs.getLp()
    integer = [v == highspy.HighsVarType.kInteger for v in lp.integrality_] or [False] * len(names)
    columns = {
        name: (lp.col_lower_[j], lp.col_upper_[j], integer[j], lp.col_cost_[j])
        for j, name in enumerate(names)
    }
    rows = {}
    for r, key in enumerate(row_keys):
        _, index, value = highs.getRowEntries(r)
        terms = {names[j]: c for j, c in zip(index, value, strict=True)}
        rows[key] = (lp.row_lower_[r], lp.row_upper_[r], terms)
    return columns, rows, lp.offset_


@pytest.mark.parametrize("kind", ["mixed", "layers", "rest", "consecutive", "weekend"])
def test_highs_holds_the_pyomo_model(kind):
    """Past `build_matrices`: the model HiGHS is handed (all rows, or the dive's subset of
    rows in any order) is the Pyomo model's, read back from HiGHS."""
    import numpy as np

    for problem in problems(kind, count=2):
        model = build_model(problem)
        columns, rows, constant = pyomo_form(model)
        mx = build_matrices(problem)
        names = mx.columns
        h_columns, h_rows, offset = highs_form(mx.to_highs(), names, mx.rows)
        assert offset == pytest.approx(constant, abs=TOL)
        assert h_columns.keys() == columns.keys() and h_rows.keys() == rows.keys()
        for key, (lower, upper, integer, cost) in columns.items():
            assert h_columns[key][:3] == (lower, upper, integer), key
            assert h_columns[key][3] == pytest.approx(cost, abs=TOL), key
        for key, (lower, upper, terms) in rows.items():
            h_lower, h_upper, h_terms = h_rows[key]
            assert (h_lower, h_upper) == (pytest.approx(lower), pytest.approx(upper)), key
            assert h_terms == pytest.approx(terms), key
        subset = np.random.default_rng(0).permutation(len(mx.rows))[: len(mx.rows) // 2]
        chosen = [mx.rows[r] for r in subset]
        _, h_rows, _ = highs_form(mx.to_highs(rows=subset), names, chosen)
        for key in chosen:
            assert h_rows[key][2] == pytest.approx(rows[key][2]), key
