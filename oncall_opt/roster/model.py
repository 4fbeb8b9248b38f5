"""The roster as a Pyomo model: sets, variables, one function per rule and objective term.

Notation: `u` a person, `t` a slot, `l` a layer (1 = primary, 2 = secondary), `g` a balance
group (a layer, split into weekdays and weekends when `weekend_balance` is on).

The balance term is the sum of squares of shifts, which HiGHS (no MIQP) cannot take directly.
It is linearised exactly with unit "steps": a person's k-th shift in a group costs
(h + k)^2 - (h + k - 1)^2 = 2(h + k) - 1 (h = shifts already worked, from `history`), divided by
their weight. Step costs rise with k, so steps fill in order and the sum equals the square.
The min-happiness term is a max-min variable bounded by every person's granted preferences.

Without side rules (layers, consecutive limits, rest, weekend balance) the model is a network
flow: slots send one unit each to people, people's shifts flow through convex-cost steps. For a
fixed happiness level its LP relaxation has integral optimal vertices; `solve.py` uses that.

This is the definition of record: notebooks print it and tests check against it. The solver
hands HiGHS the same rows and columns built directly (`matrix.py`, proven equal by
`tests/roster/test_matrix.py`), so a change here needs the same change there.
"""

from __future__ import annotations

from collections import defaultdict

import pyomo.environ as pyo

from oncall_opt.roster.problem import Problem
from oncall_opt.roster.structure import (
    balance_groups,
    candidates,
    carried,
    cycle_length,
    default_steps,
    group_capacity,
    group_of,
    happiness_cap,
    history_in_group,
)


def _rule(index, rule) -> pyo.Constraint:
    """A constraint family whose documentation is its rule's sentence."""
    return pyo.Constraint(index, rule=rule, doc=rule.__doc__)


def build_model(
    problem: Problem, relax: bool = False, steps: dict[tuple[int, int], int] | None = None
) -> pyo.ConcreteModel:
    """The roster model. `relax` makes assignments continuous (for the network LP).

    `steps` limits the balance steps per (person, group), by default to what the person could
    take. Below that, the last step absorbs any further shifts at its own cost: the convex
    cost's tangent, a lower bound on it. So a limited model never cuts a roster off, and its
    cost is exact for any roster that stays within the steps."""
    m = pyo.ConcreteModel(name="oncall_roster")
    users, layers = range(problem.n_users), problem.layers
    groups = balance_groups(problem)
    weights = problem.term_weights

    # ----- sets ------------------------------------------------------------------------------
    cells = [
        (u, t, l) for t in range(problem.n_slots) for l in layers for u in candidates(problem, t, l)
    ]
    m.CELLS = pyo.Set(initialize=cells, dimen=3, ordered=True, doc="(person, slot, layer) allowed")
    if steps is None:
        steps = default_steps(problem)
    m.STEPS = pyo.Set(
        initialize=[(u, g, k) for (u, g), n in steps.items() for k in range(1, n + 1)],
        dimen=3,
        ordered=True,
        doc="(person, group, k): the k-th shift of a person in a balance group",
    )

    by_slot: dict[tuple[int, int], list] = defaultdict(list)
    by_person: dict[int, list] = defaultdict(list)
    by_group: dict[tuple[int, int], list] = defaultdict(list)
    by_person_slot: dict[tuple[int, int], list] = defaultdict(list)
    for cell in cells:
        u, t, l = cell
        by_slot[t, l].append(cell)
        by_person[u].append(cell)
        by_group[u, group_of(problem, t, l)].append(cell)
        by_person_slot[u, t].append(cell)

    # ----- variables -------------------------------------------------------------------------
    m.x = pyo.Var(
        m.CELLS,
        domain=pyo.UnitInterval if relax else pyo.Binary,
        doc="1 when the person is on call in that slot and layer",
    )

    capacity = {key: group_capacity(problem, *key) for key in steps}

    def step_bounds(m, u, g, k):
        last_of_fewer = k == steps[u, g] and k < capacity[u, g]
        return (0, capacity[u, g] - k + 1 if last_of_fewer else 1)

    m.step = pyo.Var(m.STEPS, bounds=step_bounds, doc="1 when the person works their k-th shift")
    m.min_happiness = pyo.Var(
        domain=pyo.NonNegativeReals if relax else pyo.NonNegativeIntegers,
        bounds=(0, happiness_cap(problem)),
        doc="preferred slots granted to the least-happy person",
    )

    # ----- rules -----------------------------------------------------------------------------
    def one_person_per_slot(m, t, l):
        """Every slot has exactly one person on call in each layer."""
        return pyo.quicksum(m.x[c] for c in by_slot[t, l]) == 1

    m.one_person_per_slot = _rule(
        [(t, l) for t in range(problem.n_slots) for l in layers], one_person_per_slot
    )

    def steps_count_shifts(m, u, g):
        """A person's balance steps in a group add up to the shifts they work in it (with
        slot weights: to the burden points of those shifts)."""
        worked = pyo.quicksum(
            problem.slot_weight(c[1]) * m.x[c] for c in by_group[u, g] if problem.slot_weight(c[1])
        )
        return worked == pyo.quicksum(m.step[u, g, k] for k in range(1, steps[u, g] + 1))

    m.steps_count_shifts = _rule(
        # A person with no slot in a group (all pinned to others, no weekend in the window)
        # has nothing to count there.
        # nor anything to count when all its slots weigh nothing and it has no steps
        [
            (u, g)
            for u in users
            for g in range(len(groups))
            if by_group[u, g]
            and (steps.get((u, g)) or any(problem.slot_weight(c[1]) for c in by_group[u, g]))
        ],
        steps_count_shifts,
    )

    def shift_limits(m, u):
        """Nobody works fewer than min_shifts or more than max_shifts."""
        worked = pyo.quicksum(m.x[c] for c in by_person[u])
        return (problem.min_shifts(u), worked, problem.max_shifts(u))

    # The precheck has already refused a min_shifts above the slots a person can take.
    m.shift_limits = _rule([u for u in users if by_person[u]], shift_limits)

    def happiness_floor(m, u):
        """The least-happy level is at most the preferred slots each person who asked for
        some is granted (`Problem.wishers`)."""
        granted = pyo.quicksum(m.x[c] for c in by_person[u] if c[1] in problem.preferred[u])
        return m.min_happiness <= granted

    m.happiness_floor = _rule(problem.wishers, happiness_floor)

    if len(layers) > 1:

        def one_layer_at_a_time(m, u, t):
            """Nobody is primary and secondary in the same slot."""
            return pyo.quicksum(m.x[c] for c in by_person_slot[u, t]) <= 1

        pairs = [key for key, cs in by_person_slot.items() if len(cs) > 1]
        m.one_layer_at_a_time = _rule(pairs, one_layer_at_a_time)

    def on_call(m, u, t):
        """On call in slot t: a sum of cells, or before the window (t < 0) what carry_in says."""
        if t < 0:
            return carried(problem, u, t)
        return pyo.quicksum(m.x[c] for c in by_person_slot.get((u, t), ()))

    def can_work(u, t):
        return (u, t) in by_person_slot

    def breakable(u, window, limit):
        """A window of slots whose rule a roster could break: more than `limit` slots in it
        could be on call (carried ones count), and some of them are the roster's to give."""
        return any(can_work(u, s) for s in window) and (
            sum(can_work(u, s) or carried(problem, u, s) for s in window) > limit
        )

    # Only windows and runs that could actually break a rule get a constraint; those that
    # begin before the window (carry_in) count who was on call then.
    consecutive = [
        (u, t)
        for u in users
        if problem.max_consecutive[u] is not None
        for t in range(-problem.max_consecutive[u], problem.n_slots - problem.max_consecutive[u])
        if breakable(u, range(t, t + problem.max_consecutive[u] + 1), problem.max_consecutive[u])
    ]
    if consecutive:

        def at_most_consecutive(m, u, t):
            """Nobody is on call more than max_consecutive_shifts slots in a row."""
            limit = problem.max_consecutive[u]
            return pyo.quicksum(on_call(m, u, s) for s in range(t, t + limit + 1)) <= limit

        m.at_most_consecutive = _rule(consecutive, at_most_consecutive)

    rest = [
        (u, t, j)
        for u in users
        for t in range(-problem.min_rest[u], problem.n_slots - 2)
        if can_work(u, t) or carried(problem, u, t)
        for j in range(2, problem.min_rest[u] + 1)
        if 0 <= t + j < problem.n_slots and can_work(u, t + j)
    ]
    if rest:

        def rest_after_a_run(m, u, t, j):
            """After a run ends, a person has min_rest_shifts free slots before the next."""
            return on_call(m, u, t) - on_call(m, u, t + 1) + on_call(m, u, t + j) <= 1

        m.rest_after_a_run = _rule(rest, rest_after_a_run)

    cycles = [
        (u, t)
        for u in users
        if problem.max_consecutive[u] is not None and problem.min_rest[u] > 1
        for t in range(problem.n_slots - cycle_length(problem, u) + 1)  # see matrix.py
        if breakable(u, range(t, t + cycle_length(problem, u)), problem.max_consecutive[u])
    ]
    if cycles:

        def at_most_a_run_per_cycle(m, u, t):
            """In any max_consecutive_shifts + min_rest_shifts slots in a row, nobody is on
            call more than max_consecutive_shifts of them. The two rules above already say
            so for whole rosters (two runs in one window leave the rest between them too
            short); said outright it keeps the LP from spreading half-shifts over a rotation
            (one in four: at most 1/4 of a person per slot, where the rules above allow 1/2)."""
            window = range(t, t + cycle_length(problem, u))
            return pyo.quicksum(on_call(m, u, s) for s in window) <= problem.max_consecutive[u]

        m.at_most_a_run_per_cycle = _rule(cycles, at_most_a_run_per_cycle)

    if problem.weighted:

        def load_in_whole_slots(m, u, g):
            """A load of whole slots costs at least each slot's own square: (h + Σ w)² - h²
            >= Σ (2h w + w²) over the slots taken, as (Σ w)² >= Σ w² for whole slots. Whole
            rosters keep this anyway (a cut, also under the steps' tangent, which starts at
            least as steep as the heaviest slot); said outright it stops the LP from sharing
            heavy slots out in fractions that the convex steps would price as light (1000
            people x 365 days, a slot or none each: the LP's bound was under half the
            optimum)."""
            h = history_in_group(problem, u, g)
            taken = pyo.quicksum(
                (2 * h * problem.slot_weight(c[1]) + problem.slot_weight(c[1]) ** 2) * m.x[c]
                for c in by_group[u, g]
                if problem.slot_weight(c[1])
            )
            cost = pyo.quicksum(
                (2 * (h + k) - 1) * m.step[u, g, k] for k in range(1, steps[u, g] + 1)
            )
            return taken - cost <= 0

        m.load_in_whole_slots = _rule(
            [(u, g) for (u, g), n in steps.items() if n and by_group[u, g]], load_in_whole_slots
        )

    # ----- objective -------------------------------------------------------------------------
    def step_cost(u, g, k):
        h = history_in_group(problem, u, g)
        return (2 * (h + k) - 1) / problem.users[u].weight

    m.balance = pyo.Expression(
        expr=sum(history_in_group(problem, u, g) ** 2 / problem.users[u].weight for (u, g) in steps)
        + pyo.quicksum(step_cost(u, g, k) * m.step[u, g, k] for (u, g, k) in m.STEPS),
        doc="sum over people and groups of (shifts, or burden points, incl. history)^2 / weight",
    )
    m.avoided = pyo.Expression(
        expr=pyo.quicksum(m.x[c] for c in cells if c[1] in problem.avoided[c[0]]),
        doc="slots given to someone who would rather not",
    )
    m.changed = pyo.Expression(
        expr=pyo.quicksum(
            m.x[c] for c in cells if problem.previous.get((c[1], c[2]), c[0]) != c[0]
        ),
        doc="slots given to someone other than in the previous roster",
    )
    m.objective = pyo.Objective(
        expr=weights.balance * m.balance
        - weights.happiness * m.min_happiness
        + weights.avoid * m.avoided
        + (weights.stability if problem.previous else 0) * m.changed,
        sense=pyo.minimize,
    )
    return m
