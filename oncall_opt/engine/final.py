"""The final schedule: the published roster with overrides on top (PagerDuty's semantics).

An override puts someone on call in a team's layer for a range, whatever the roster says; where
overrides overlap, the one created last wins. Everything that decides who is paged reads the
final schedule (`policies.OnCallNow` for a single instant, which folds overrides into its one
query); this module lays it out over a range as contiguous segments, each saying where it comes
from (`roster` or `override`) and, for an override, whose roster shift it covers: the timeline
the console draws, "my shifts", the calendar feeds, the handoff notices and the fairness report
all start from here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from itertools import pairwise
from typing import Literal

from oncall_opt.engine.records import User
from oncall_opt.engine.store import Store, Transaction
from oncall_opt.engine.users import users_by_id

ROSTER, OVERRIDE = "roster", "override"


@dataclass(frozen=True)
class Segment:
    team_id: int
    layer: int
    start: datetime
    end: datetime
    user: User
    source: Literal["roster", "override"]
    shift_id: int | None = None  # the roster shift underneath, if any
    override_id: int | None = None
    covers: User | None = None  # an override over someone's roster shift: whose
    rules_broken: str | None = None  # an override an admin made knowing it breaks these rules
    known_by: int | None = None  # that admin

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600


def segments(
    source: Store | Transaction,
    team_id: int,
    start: datetime,
    end: datetime,
    layers: Iterable[int] | None = None,
) -> list[Segment]:
    """The team's final schedule over [start, end), per layer in time order, clipped to the
    range; gaps (nobody on call) are simply absent."""
    shifts = source.rows(
        "SELECT id, user_id, layer, start_time, end_time FROM schedules WHERE team_id = ? "
        "AND start_time < ? AND end_time > ?",
        [team_id, end, start],
    )
    overrides = source.rows(
        "SELECT id, user_id, layer, start_time, end_time, rules_broken, known_by FROM overrides "
        "WHERE team_id = ? "
        "AND start_time < ? AND end_time > ? ORDER BY id",
        [team_id, end, start],
    )
    people = users_by_id(source, {r["user_id"] for r in [*shifts, *overrides]})
    wanted = set(layers) if layers is not None else {r["layer"] for r in [*shifts, *overrides]}
    found: list[Segment] = []
    for layer in sorted(wanted):
        found += _layer(
            team_id,
            layer,
            start,
            end,
            [r for r in shifts if r["layer"] == layer and r["user_id"] in people],
            [r for r in overrides if r["layer"] == layer and r["user_id"] in people],
            people,
        )
    return found


def _layer(team_id, layer, start, end, shifts, overrides, people) -> list[Segment]:
    points = {start, end}
    for row in [*shifts, *overrides]:
        points.update(t for t in (row["start_time"], row["end_time"]) if start < t < end)
    out: list[Segment] = []
    for a, b in pairwise(sorted(points)):
        shift = next((s for s in shifts if s["start_time"] <= a < s["end_time"]), None)
        over = None
        for o in overrides:  # in id order: the last one covering wins
            if o["start_time"] <= a < o["end_time"]:
                over = o
        if over is None and shift is None:
            continue
        if over is not None:
            covers = people.get(shift["user_id"]) if shift else None
            piece = Segment(
                team_id,
                layer,
                a,
                b,
                people[over["user_id"]],
                OVERRIDE,
                shift["id"] if shift else None,
                over["id"],
                covers,
                over["rules_broken"],
                over["known_by"],
            )
        else:
            piece = Segment(team_id, layer, a, b, people[shift["user_id"]], ROSTER, shift["id"])
        last = out[-1] if out else None
        if last is not None and last.end == a and _same(last, piece):
            out[-1] = replace(last, end=b)
        else:
            out.append(piece)
    return out


def _same(a: Segment, b: Segment) -> bool:
    if a.user.id != b.user.id or a.source != b.source:
        return False
    if a.source == OVERRIDE:
        return a.override_id == b.override_id and a.shift_id == b.shift_id
    return True  # back-to-back roster shifts of one person are one stretch on call


def teams_of_user(source: Store | Transaction, user_id: int, start, end) -> list[int]:
    """The teams in whose shifts or overrides the person appears over [start, end)."""
    rows = source.rows(
        "SELECT DISTINCT team_id FROM schedules WHERE user_id = ? AND start_time < ? "
        "AND end_time > ? UNION SELECT DISTINCT team_id FROM overrides WHERE user_id = ? "
        "AND start_time < ? AND end_time > ?",
        [user_id, end, start, user_id, end, start],
    )
    return sorted(r["team_id"] for r in rows)


def user_segments(
    source: Store | Transaction, user_id: int, start: datetime, end: datetime
) -> list[Segment]:
    """Where the person is on call over [start, end) in the final schedule, every team and
    layer, in time order."""
    mine = [
        segment
        for team_id in teams_of_user(source, user_id, start, end)
        for segment in segments(source, team_id, start, end)
        if segment.user.id == user_id
    ]
    return sorted(mine, key=lambda s: (s.start, s.team_id, s.layer))


def gaps(
    found: list[Segment], layer: int, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """The stretches of [start, end) with nobody on call in `layer`."""
    holes, cursor = [], start
    for segment in sorted((s for s in found if s.layer == layer), key=lambda s: s.start):
        if segment.start > cursor:
            holes.append((cursor, segment.start))
        cursor = max(cursor, segment.end)
    if cursor < end:
        holes.append((cursor, end))
    return holes
