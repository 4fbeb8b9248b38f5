"""Counting who can cover a stretch of slots under the run and rest rules, before any solver.

A person with at most `m` slots in a row and `r` free slots after a run is on call at most `m`
times in any `m + r` slots in a row (two runs in one such window would leave less than `r`
free slots between them), so at most `(w // (m + r)) * m + min(m, w % (m + r))` times in any
`w` slots in a row, and never more than the slots they are available in. When those bounds,
added up over the team, fall short of the `layers x w` shifts of some stretch, no roster
exists, whatever a solver would do with more time: `shortfalls` finds such stretches with the
people and dates, for the reasons a team lead reads. The same counts say how tight a team
is (`tightness`): the share of its capacity the tightest stretch needs, which tells the
solver that a rotation's roster is too constrained for LP-guided dives to help.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from oncall_opt.roster.problem import Problem


@dataclass(frozen=True)
class Shortfall:
    """A stretch of `length` slots from slot `start` whose shifts outnumber what the people
    available then can take under their rules."""

    start: int
    length: int
    shifts: int  # layers x length
    takeable: int  # the most the team can take there
    per_person: tuple[tuple[int, int], ...]  # (person, the most they can take there), > 0


def most_in_a_stretch(problem: Problem, u: int, length: int) -> int:
    """The most slots `u` can be on call in any `length` slots in a row, by their run and
    rest rules alone (availability aside)."""
    limit = problem.max_consecutive[u]
    if limit is None:
        return length
    cycle = limit + max(problem.min_rest[u], 1)
    return (length // cycle) * limit + min(limit, length % cycle)


def _longest_cycle(problem: Problem) -> int:
    return max(
        (c + max(r, 1) for c, r in zip(problem.max_consecutive, problem.min_rest, strict=True)
         if c is not None),
        default=0,
    )  # fmt: skip


def _running_availability(problem: Problem) -> np.ndarray:
    """people x (slots + 1): how many slots each person is available in before each slot."""
    available = np.zeros((problem.n_users, problem.n_slots + 1), dtype=np.int64)
    for u, slots in enumerate(problem.available):
        available[u, 1:][list(slots)] = 1
    return np.cumsum(available, axis=1)


def _takeable(problem: Problem, running: np.ndarray, length: int) -> np.ndarray:
    """people x stretches: the most each person can take in the `length` slots from each
    start (available slots, capped by the rules and by max_shifts)."""
    counts = running[:, length:] - running[:, :-length]
    caps = np.array(
        [min(most_in_a_stretch(problem, u, length), problem.max_shifts(u))
         for u in range(problem.n_users)]
    )  # fmt: skip
    return np.minimum(counts, caps[:, None])


def _lengths(problem: Problem) -> range:
    """Stretch lengths worth counting: up to three of the longest run-and-rest cycles (beyond
    that a stretch's count is about the sum of shorter ones')."""
    return range(2, min(problem.n_slots, 3 * _longest_cycle(problem)) + 1)


def shortfalls(problem: Problem, most: int = 3) -> list[Shortfall]:
    """Up to `most` stretches that cannot be covered, shortest and earliest first, none
    overlapping another. Empty when the counts leave room (which does not prove
    that a roster exists)."""
    if not _longest_cycle(problem):
        return []
    layers, running = len(problem.layers), _running_availability(problem)
    found: list[Shortfall] = []
    for length in _lengths(problem):
        takeable = _takeable(problem, running, length)
        short = np.flatnonzero(takeable.sum(axis=0) < layers * length)
        for start in short:
            span = range(int(start), int(start) + length)
            if any(span.start < f.start + f.length and f.start < span.stop for f in found):
                continue  # the same people and days, told once
            column = takeable[:, start]
            found.append(
                Shortfall(
                    start=int(start),
                    length=length,
                    shifts=layers * length,
                    takeable=int(column.sum()),
                    per_person=tuple((u, int(n)) for u, n in enumerate(column) if n > 0),
                )
            )
            if len(found) >= most:
                return found
    return found


def tightness(problem: Problem) -> float:
    """The largest share of the team's capacity (by the counts above) that any stretch of
    one to three run-and-rest cycles needs: near 1 in a tight rotation, near 0 when many
    people share a few shifts. 0 when nobody has a run limit."""
    if not _longest_cycle(problem):
        return 0.0
    layers, running = len(problem.layers), _running_availability(problem)
    worst = 0.0
    for length in _lengths(problem):
        supply = _takeable(problem, running, length).sum(axis=0)
        worst = max(worst, float(np.max(layers * length / np.maximum(supply, 1))))
    return worst
