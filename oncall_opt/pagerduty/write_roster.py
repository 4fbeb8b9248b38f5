"""Push: make a PagerDuty schedule's final schedule equal a roster, with overrides (`push`).

For each slot that has not started yet: an override that already puts the right person on
exactly that slot is left as it is; an override someone made themselves that covers part of the
slot is left alone too, and reported (their arrangement wins); otherwise an override is created.
Overrides this tool created earlier (remembered in `state.py`) that no slot wants any more are
removed, if they have not started. Creations go first, in batches, so that the final schedule
is right as early as possible; the memory is saved after each batch, so a run stopped half-way
is finished by running again.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from oncall_opt.errors import InputError, OncallOptError
from oncall_opt.pagerduty.connection import (
    PagerDutyError,
    fetch_schedule,
    make_client,
    overrides_between,
    reworded,
)
from oncall_opt.pagerduty.roster import Slot, checked, slots_from_output
from oncall_opt.pagerduty.state import Remembered, state_dir
from oncall_opt.times import format_utc, parse_timestamp

BATCH = 25  # overrides per POST: a failed request costs little to repeat


@dataclass(frozen=True)
class Existing:
    """An override PagerDuty holds: who (PagerDuty user id and name) from when to when."""

    id: str
    start: datetime
    end: datetime
    user: str
    name: str

    @property
    def span(self) -> str:
        return f"{format_utc(self.start)} – {format_utc(self.end)}"

    def overlaps(self, slot: Slot) -> bool:
        return self.start < slot.end and slot.start < self.end


@dataclass(frozen=True)
class Row:
    """One line of the change: a slot, who is on PagerDuty's final schedule now, who will be."""

    span: str
    now: str
    after: str
    action: str


class UnmatchedPeopleError(OncallOptError):
    """Some people of the roster are not PagerDuty users of the account; nothing was written."""

    def __init__(self, people: list[str]):
        self.people = people
        super().__init__(
            f"{len(people)} of the roster's people match no PagerDuty user (by user id or email), "
            f"so nothing was written: {', '.join(people)}"
        )


class PushIncompleteError(OncallOptError):
    """The push stopped half-way or PagerDuty refused some overrides: `result` says what was
    and was not written. Running the push again finishes it."""

    def __init__(self, result: PushResult):
        self.result = result
        super().__init__(f"{result.error or 'PagerDuty refused some overrides'}\n{result.report()}")


@dataclass
class PushResult:
    """What a push found and did (or, with dry_run, would do)."""

    schedule: str
    dry_run: bool
    slots: int = 0  # slots of the roster that have not started
    started: int = 0  # slots already started or over: left as they are
    rows: list[Row] = field(default_factory=list)
    kept: list[Existing] = field(default_factory=list)  # overrides already right
    left_alone: list[tuple[Existing, Slot]] = field(default_factory=list)  # people's own
    created: list[Existing] = field(default_factory=list)
    deleted: list[Existing] = field(default_factory=list)
    to_create: list[Slot] = field(default_factory=list)
    to_delete: list[Existing] = field(default_factory=list)
    refused: list[tuple[Slot, str]] = field(default_factory=list)  # PagerDuty said no
    error: str | None = None

    @property
    def not_written(self) -> list[str]:
        if self.dry_run:
            return []
        made = {(o.start, o.end) for o in self.created}
        gone = {o.id for o in self.deleted}
        return [
            f"create {s.span} {s.label}" for s in self.to_create if (s.start, s.end) not in made
        ] + [f"delete {o.span} {o.name}" for o in self.to_delete if o.id not in gone]

    @property
    def complete(self) -> bool:
        return self.dry_run or not self.not_written

    @property
    def writes(self) -> int:
        return len(self.created) + len(self.deleted)

    def table(self) -> str:
        """The change, one slot a line: slot, now, after, and what is done about it."""
        if not self.rows:
            return "nothing to change: PagerDuty's schedule already matches the roster"
        header = Row("slot (UTC)", "now", "after", "")
        widths = [
            max(len(getattr(r, name)) for r in [header, *self.rows])
            for name in ("span", "now", "after")
        ]
        lines = []
        for row in [header, *self.rows]:
            cells = [
                row.span.ljust(widths[0]),
                row.now.ljust(widths[1]),
                row.after.ljust(widths[2]),
            ]
            lines.append("  ".join([*cells, row.action]).rstrip())
        return "\n".join(lines)

    def summary(self) -> str:
        verb = "would create" if self.dry_run else "created"
        created = len(self.to_create) if self.dry_run else len(self.created)
        deleted = len(self.to_delete) if self.dry_run else len(self.deleted)
        parts = [
            f"{self.slots} slot(s) to come",
            f"{verb} {created} override(s)",
            f"{'would delete' if self.dry_run else 'deleted'} {deleted} created earlier",
            f"{len(self.kept)} already right",
        ]
        if self.left_alone:
            slots = len({slot for _, slot in self.left_alone})
            parts.append(f"{slots} slot(s) left to people's own overrides")
        if self.started:
            parts.append(f"{self.started} slot(s) already started, left as they are")
        return f"schedule {self.schedule}: " + ", ".join(parts)

    def report(self) -> str:
        lines = [self.summary()]
        lines += [f"  created {o.span} {o.name} ({o.id})" for o in self.created]
        lines += [f"  deleted {o.span} {o.name} ({o.id})" for o in self.deleted]
        lines += [
            f"  left alone: {o.name}'s own override {o.span} covers the roster's {s.span} {s.label}"
            for o, s in self.left_alone
        ]
        lines += [f"  refused by PagerDuty: {s.span} {s.label}: {why}" for s, why in self.refused]
        missing = self.not_written
        if missing:
            lines.append(f"  not written ({len(missing)}; run the push again to finish):")
            lines += [f"    {line}" for line in missing]
        return "\n".join(lines)


def push(
    roster: str | os.PathLike | Mapping[str, Any] | Sequence[Slot],
    schedule: str,
    *,
    dry_run: bool = False,
    layer: int = 1,
    environ: Mapping[str, str] | None = None,
    now: datetime | None = None,
    batch: int = BATCH,
    state: str | os.PathLike | None = None,
) -> PushResult:
    """Make PagerDuty schedule `schedule`'s final schedule equal `roster` (an output.json path
    or dict, whose `layer` is taken, or slots) from `now` on. Raises UnmatchedPeopleError (nothing
    written) when someone is not a PagerDuty user, PushIncompleteError when it stopped half-way
    (its `result` says what was written), PagerDutyError when PagerDuty could not be read."""
    env = os.environ if environ is None else environ
    slots = (
        checked(roster, "the roster")  # type: ignore[arg-type]
        if _is_slots(roster)
        else slots_from_output(roster, layer)  # type: ignore[arg-type]
    )
    if not slots:
        raise InputError([("the roster", "holds no slot to push")])
    now = (now or datetime.now(UTC)).astimezone(UTC)
    with make_client(env) as client:
        directory = Path(state) if state else state_dir(env)
        remembered = Remembered.load(directory, client.url, schedule)
        window = (slots[0].start, slots[-1].end)
        on_now = _read_schedule(client, schedule, *window)
        with reworded("list the account's users"):
            users = client.list_all("/users")
        people = _match(slots, users)
        existing = _overrides(client, schedule, *window)
        result = _plan(schedule, dry_run, slots, people, existing, remembered, on_now, now)
        if not dry_run:
            _write(client, result, people, remembered, batch)
    return result


def _is_slots(roster: Any) -> bool:
    return (
        isinstance(roster, Sequence)
        and not isinstance(roster, str)
        and bool(roster)
        and all(isinstance(item, Slot) for item in roster)
    )


def _read_schedule(client: Any, schedule: str, start: datetime, end: datetime) -> list[Existing]:
    """The schedule's final schedule in the window (checks that the schedule exists)."""
    params = {"since": format_utc(start), "until": format_utc(end), "time_zone": "UTC"}
    found = fetch_schedule(client, schedule, params)
    entries = (found.get("final_schedule") or {}).get("rendered_schedule_entries") or []
    return [_existing(entry) for entry in entries]


def _overrides(client: Any, schedule: str, start: datetime, end: datetime) -> list[Existing]:
    return [_existing(o) for o in overrides_between(client, schedule, start, end)]


def _existing(entry: Mapping[str, Any]) -> Existing:
    user = entry.get("user") or {}
    name = user.get("summary") or user.get("name") or user.get("id", "nobody")
    return Existing(
        str(entry.get("id", "")),
        parse_timestamp(entry["start"]).astimezone(UTC),
        parse_timestamp(entry["end"]).astimezone(UTC),
        user.get("id", ""),
        name,
    )


def _match(slots: Sequence[Slot], users: list[dict]) -> dict[str, dict]:
    """Our person id -> their PagerDuty user: by the id the roster carries, else by email."""
    by_id = {user["id"]: user for user in users}
    by_email = {user["email"].casefold(): user for user in users if user.get("email")}
    people: dict[str, dict] = {}
    unmatched: dict[str, str] = {}  # person id -> how they are named in the error
    for slot in slots:
        if slot.person in people or slot.person in unmatched:
            continue
        user = by_id.get(slot.person) or next(
            (by_email[e.casefold()] for e in slot.emails if e.casefold() in by_email), None
        )
        if user is None:
            unmatched[slot.person] = slot.label
        else:
            people[slot.person] = user
    if unmatched:
        raise UnmatchedPeopleError(list(unmatched.values()))
    return people


def _plan(
    schedule: str,
    dry_run: bool,
    slots: Sequence[Slot],
    people: Mapping[str, dict],
    existing: list[Existing],
    remembered: Remembered,
    on_now: list[Existing],
    now: datetime,
) -> PushResult:
    result = PushResult(schedule, dry_run)
    coming = [slot for slot in slots if slot.start >= now]
    result.slots, result.started = len(coming), len(slots) - len(coming)
    # What was remembered but is gone from PagerDuty (removed by hand) is forgotten.
    present = {o.id for o in existing}
    for override_id, seen in list(remembered.overrides.items()):
        inside = slots[0].start <= parse_timestamp(seen["start"]) < slots[-1].end
        if inside and override_id not in present:
            remembered.forget(override_id)
    wanted: set[str] = set()
    for slot in coming:
        user = people[slot.person]
        exact = [
            o for o in existing if (o.start, o.end, o.user) == (slot.start, slot.end, user["id"])
        ]
        # Someone's own override over part of the slot wins there: it is reported, never touched.
        theirs = [o for o in existing if o.id not in remembered and o.overlaps(slot)]
        theirs = [o for o in theirs if o not in exact]
        result.left_alone += [(o, slot) for o in theirs]
        if exact:
            result.kept.append(exact[0])
            wanted.add(exact[0].id)
            if theirs:
                result.rows.append(
                    Row(
                        slot.span,
                        _who(on_now, slot),
                        _who(on_now, slot),
                        f"left alone: {theirs[0].name}'s own override",
                    )
                )
            continue
        if theirs:
            # The slot is left as it is, overrides pushed earlier included: removing those would
            # hand the part of the slot their override leaves free to the rotation.
            wanted.update(o.id for o in existing if o.id in remembered and o.overlaps(slot))
            result.rows.append(
                Row(
                    slot.span,
                    _who(on_now, slot),
                    _who(on_now, slot),
                    f"left alone: {theirs[0].name}'s own override (the roster says {user['name']})",
                )
            )
            continue
        result.to_create.append(slot)
        result.rows.append(
            Row(slot.span, _who(on_now, slot), user.get("name", user["id"]), "create")
        )
    for override in existing:
        if override.id in remembered and override.id not in wanted and override.start >= now:
            result.to_delete.append(override)
            if not any(override.overlaps(slot) for slot in result.to_create):
                result.rows.append(
                    Row(
                        override.span,
                        override.name,
                        "(the rotation)",
                        "delete an override pushed earlier",
                    )
                )
    return result


def _who(entries: list[Existing], slot: Slot) -> str:
    names = []
    for entry in entries:
        if entry.overlaps(slot) and entry.name not in names:
            names.append(entry.name)
    return " / ".join(names) or "nobody"


def _write(
    client: Any, result: PushResult, people: Mapping[str, dict], remembered: Remembered, batch: int
) -> None:
    path = f"/schedules/{result.schedule}/overrides"
    try:
        for first in range(0, len(result.to_create), batch):
            chunk = result.to_create[first : first + batch]
            body = [
                {
                    "start": format_utc(s.start),
                    "end": format_utc(s.end),
                    "user": {"id": people[s.person]["id"], "type": "user_reference"},
                }
                for s in chunk
            ]
            with reworded(f"create overrides {chunk[0].span} ..."):
                answers = client.rpost(path, json=body)
            for slot, answer in zip(chunk, answers, strict=False):
                if answer.get("status") == 201 and answer.get("override"):
                    made = _existing(answer["override"])
                    remembered.add(made.id, format_utc(made.start), format_utc(made.end), made.user)
                    result.created.append(made)
                else:
                    result.refused.append((slot, _errors(answer)))
            remembered.save()
        for override in result.to_delete:
            try:
                with reworded(f"delete override {override.id}"):
                    client.rdelete(f"{path}/{override.id}")
            except PagerDutyError as exc:
                if exc.status != 404:  # already gone is what was wanted
                    raise
            remembered.forget(override.id)
            result.deleted.append(override)
    except PagerDutyError as exc:
        result.error = str(exc)
    finally:
        remembered.save()
    if result.error or result.refused:
        raise PushIncompleteError(result)


def _errors(answer: Mapping[str, Any]) -> str:
    errors = answer.get("errors") or answer.get("error") or "no reason given"
    return "; ".join(map(str, errors)) if isinstance(errors, list) else str(errors)
