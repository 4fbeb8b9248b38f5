"""Escalation policies: who is paged, in which order, when nobody acknowledges.

A policy is ordered steps, each `DelayMinutes` after the one before (the first after the
trigger, usually 0) with its targets: a team's layer (whoever is on call in it then) or a
person. When the last step has been paged and still nobody acknowledged, the whole policy runs
again `repeats` times, `repeat_after_minutes` after the last step. The "Default" policy (id 1)
pages the Default team's primary at once and its secondary after 15 minutes, as the fixed
escalation did before policies existed. How an incident walks through its policy is
`jobs/escalation.py`; resolving targets to people is `page`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from oncall_opt.engine import text
from oncall_opt.engine.records import User
from oncall_opt.engine.store import Store, Transaction, check_unique_name
from oncall_opt.engine.users import users_by_id
from oncall_opt.errors import ConflictError, InvalidRequestError, NotFoundError

DEFAULT_POLICY = 1
# What the store remembers of services, policies and team names (see services.routing); every
# write to those tables forgets it.
ROUTING_MEMO = "routing"
MAX_STEPS, MAX_TARGETS, MAX_DELAY, MAX_REPEATS = 20, 20, 7 * 24 * 60, 9
DEFAULT_REPEAT_AFTER = 15
_COLUMNS = "id, name, steps, repeats, created_at"


@dataclass(frozen=True)
class Target:
    type: Literal["layer", "user"]
    team_id: int | None = None
    layer: int | None = None
    user_id: int | None = None

    def describe(self, teams: dict[int, str]) -> str:
        if self.type == "user":
            return "named in the policy"
        layer = {1: "primary", 2: "secondary"}.get(self.layer or 0, f"layer {self.layer}")
        return f"{layer} on call in {teams.get(self.team_id or 0, f'team {self.team_id}')}"

    def as_json(self) -> dict[str, Any]:
        if self.type == "user":
            return {"Type": "user", "UserId": self.user_id}
        return {"Type": "layer", "TeamId": self.team_id, "Layer": self.layer}


@dataclass(frozen=True)
class Step:
    delay_minutes: int
    targets: tuple[Target, ...]


@dataclass(frozen=True)
class Policy:
    id: int
    name: str
    steps: tuple[Step, ...]
    repeats: int
    repeat_after_minutes: int
    created_at: datetime


def _steps_json(steps: Sequence[Step], repeat_after: int) -> str:
    # repeat_after rides along in the steps document: one column, no migration for it
    return json.dumps(
        {
            "Steps": [
                {"DelayMinutes": s.delay_minutes, "Targets": [t.as_json() for t in s.targets]}
                for s in steps
            ],
            "RepeatAfterMinutes": repeat_after,
        }
    )


def parse_steps(raw: str) -> tuple[tuple[Step, ...], int]:
    doc = json.loads(raw)
    steps, repeat_after = (
        (doc, DEFAULT_REPEAT_AFTER)
        if isinstance(doc, list)
        else (doc["Steps"], doc.get("RepeatAfterMinutes", DEFAULT_REPEAT_AFTER))
    )
    return (
        tuple(
            Step(
                int(s["DelayMinutes"]),
                tuple(
                    Target(t["Type"], t.get("TeamId"), t.get("Layer"), t.get("UserId"))
                    for t in s["Targets"]
                ),
            )
            for s in steps
        ),
        int(repeat_after),
    )


def policy_of_row(row: dict[str, Any]) -> Policy:
    steps, repeat_after = parse_steps(row["steps"])
    return Policy(row["id"], row["name"], steps, row["repeats"], repeat_after, row["created_at"])


def check_steps(tx: Transaction, steps: Sequence[Step]) -> None:
    """Every step has a delay in range and 1-20 targets, each a known team's layer 1 or 2, or
    a known person; errors name the step and target (`Steps[1].Targets[0].TeamId`)."""
    if not 1 <= len(steps) <= MAX_STEPS:
        raise InvalidRequestError("Steps", f"give 1 to {MAX_STEPS} steps")
    teams = {row["id"] for row in tx.rows("SELECT id FROM teams")}
    users = set(users_by_id(tx, {t.user_id for s in steps for t in s.targets if t.user_id}))
    for i, step in enumerate(steps):
        where = f"Steps[{i}]"
        if not 0 <= step.delay_minutes <= MAX_DELAY:
            raise InvalidRequestError(f"{where}.DelayMinutes", f"must be 0 to {MAX_DELAY}")
        if not 1 <= len(step.targets) <= MAX_TARGETS:
            raise InvalidRequestError(f"{where}.Targets", f"give 1 to {MAX_TARGETS} targets")
        for j, target in enumerate(step.targets):
            at = f"{where}.Targets[{j}]"
            if target.type == "layer":
                if target.team_id not in teams:
                    raise NotFoundError(f"{at}.TeamId: no team with id {target.team_id}")
                if target.layer not in (1, 2):
                    raise InvalidRequestError(f"{at}.Layer", "must be 1 (primary) or 2")
            elif target.user_id not in users:
                raise NotFoundError(f"{at}.UserId: no user with id {target.user_id}")


def _check_counts(repeats: int, repeat_after: int) -> None:
    if not 0 <= repeats <= MAX_REPEATS:
        raise InvalidRequestError("Repeat", f"must be 0 to {MAX_REPEATS}")
    if not 1 <= repeat_after <= MAX_DELAY:
        raise InvalidRequestError("RepeatAfterMinutes", f"must be 1 to {MAX_DELAY}")


def create_policy(
    store: Store,
    name: str,
    steps: Sequence[Step],
    now: datetime,
    repeats: int = 0,
    repeat_after_minutes: int = DEFAULT_REPEAT_AFTER,
) -> Policy:
    name = text.name("Name", name)
    _check_counts(repeats, repeat_after_minutes)

    def work(tx: Transaction) -> Policy:
        return insert_policy(tx, name, steps, now, repeats, repeat_after_minutes)

    return store.write(work)


def insert_policy(
    tx: Transaction,
    name: str,
    steps: Sequence[Step],
    now: datetime,
    repeats: int = 0,
    repeat_after_minutes: int = DEFAULT_REPEAT_AFTER,
) -> Policy:
    """`create_policy` inside a transaction of the caller's (name already cleaned)."""
    check_steps(tx, steps)
    check_unique_name(tx, "escalation_policies", name, "an escalation policy")
    tx.forget(ROUTING_MEMO)
    row = tx.row(
        "INSERT INTO escalation_policies (name, steps, repeats, created_at) "
        f"VALUES (?, ?, ?, ?) RETURNING {_COLUMNS}",
        [name, _steps_json(steps, repeat_after_minutes), repeats, now],
    )
    assert row is not None
    return policy_of_row(row)


def update_policy(
    store: Store,
    policy_id: int,
    name: str | None = None,
    steps: Sequence[Step] | None = None,
    repeats: int | None = None,
    repeat_after_minutes: int | None = None,
) -> Policy:
    """Change the fields given. Incidents already on their way through the policy go on from
    the step they reached, with the new steps."""
    new_name = text.name("Name", name) if name is not None else None

    def work(tx: Transaction) -> Policy:
        current = get_policy(tx, policy_id)
        final_repeats = current.repeats if repeats is None else repeats
        final_after = (
            current.repeat_after_minutes if repeat_after_minutes is None else repeat_after_minutes
        )
        _check_counts(final_repeats, final_after)
        final_steps = current.steps if steps is None else steps
        if steps is not None:
            check_steps(tx, steps)
        if new_name is not None:
            check_unique_name(
                tx, "escalation_policies", new_name, "an escalation policy", policy_id
            )
        tx.forget(ROUTING_MEMO)
        row = tx.row(
            "UPDATE escalation_policies SET name = ?, steps = ?, repeats = ? WHERE id = ? "
            f"RETURNING {_COLUMNS}",
            [
                new_name or current.name,
                _steps_json(final_steps, final_after),
                final_repeats,
                policy_id,
            ],
        )
        assert row is not None
        return policy_of_row(row)

    return store.write(work)


def delete_policy(store: Store, policy_id: int) -> Policy:
    if policy_id == DEFAULT_POLICY:
        raise ConflictError("the Default escalation policy cannot be deleted")

    def work(tx: Transaction) -> Policy:
        policy = get_policy(tx, policy_id)
        users = tx.rows(
            "SELECT name FROM services WHERE escalation_policy_id = ? ORDER BY id", [policy_id]
        )
        if users:
            names = ", ".join(f"'{s['name']}'" for s in users)
            raise ConflictError(
                f"escalation policy '{policy.name}' is used by the services {names}: give "
                "them another policy first"
            )
        tx.forget(ROUTING_MEMO)
        tx.execute("DELETE FROM escalation_policies WHERE id = ?", [policy_id])
        return policy

    return store.write(work)


def get_policy(source: Store | Transaction, policy_id: int) -> Policy:
    row = source.row(f"SELECT {_COLUMNS} FROM escalation_policies WHERE id = ?", [policy_id])
    if row is None:
        raise NotFoundError(f"no escalation policy with id {policy_id}")
    return policy_of_row(row)


def list_policies(source: Store | Transaction) -> list[Policy]:
    rows = source.rows(f"SELECT {_COLUMNS} FROM escalation_policies ORDER BY id")
    return [policy_of_row(r) for r in rows]


# ----- paging: targets to people -------------------------------------------------------------
@dataclass(frozen=True)
class Page:
    """One target of a step, resolved at a moment: the person paged, or None when nobody is on
    call in that layer (`why` says which layer of which team)."""

    target: Target
    user: User | None
    why: str


class OnCallNow:
    """Who is on call in every team's layers at one instant, with the people's records and
    the teams' names (given, when the caller has them remembered): two plain queries for all
    teams (DuckDB runs them faster than one join), so a batch of triggers over many services
    costs the same as one."""

    def __init__(
        self,
        source: Store | Transaction,
        instant: datetime,
        team_names: dict[int, str] | None = None,
    ):
        # The final schedule at `instant`: a shift, unless an override covers it (the last
        # created wins); rows come roster first, then overrides by id, so the last row wins.
        rows = source.rows(
            "SELECT team_id, layer, user_id, 0 AS precedence, 0 AS id FROM schedules "
            "WHERE start_time <= ? AND ? < end_time UNION ALL "
            "SELECT team_id, layer, user_id, 1 AS precedence, id FROM overrides "
            "WHERE start_time <= ? AND ? < end_time",
            [instant, instant, instant, instant],
        )
        rows.sort(key=lambda r: (r["precedence"], r["id"]))
        self.people: dict[int, User] = users_by_id(source, {r["user_id"] for r in rows})
        self.by_layer = {
            (r["team_id"], r["layer"]): r["user_id"] for r in rows if r["user_id"] in self.people
        }
        if team_names is None:
            team_names = {r["id"]: r["name"] for r in source.rows("SELECT id, name FROM teams")}
        self.team_names = team_names

    def page(
        self, source: Store | Transaction, step: Step, people: dict[int, User] | None = None
    ) -> list[Page]:
        """`step`'s targets as people (in the targets' order, each person once)."""
        people = {**self.people, **(people or {})}
        named = {t.user_id for t in step.targets if t.type == "user"} - people.keys() - {None}
        if named:  # people a step names directly: read once, then remembered
            self.people.update(users_by_id(source, named))  # type: ignore[arg-type]
            people.update(self.people)
        pages, seen = [], set()
        for target in step.targets:
            why = target.describe(self.team_names)
            if target.type == "layer":
                user_id = self.by_layer.get((target.team_id, target.layer))
            else:
                user_id = target.user_id
            user = people.get(user_id) if user_id is not None else None
            if user is not None and user.id in seen:
                continue
            if user is not None:
                seen.add(user.id)
            pages.append(Page(target, user, why))
        return pages
