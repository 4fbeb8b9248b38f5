"""The roster to push, as slots: from an output.json (the file `oncall-opt solve` writes, or the
same dict). A team's published shifts in the running daemon are read by `team_roster.py`, apart,
so that the daemon, which pushes its own final schedule, never loads its own client."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from oncall_opt.errors import InputError
from oncall_opt.times import format_utc

LAYER_KEYS = {1: "overrides", 2: "secondary_overrides"}


@dataclass(frozen=True)
class Slot:
    """One stretch of the roster: `person` (our id) is on call from `start` to `end`."""

    start: datetime
    end: datetime
    person: str
    name: str = ""
    emails: tuple[str, ...] = ()  # what the person is known by at PagerDuty, when not by id

    @property
    def label(self) -> str:
        return (
            f"{self.name} ({self.person})"
            if self.name and self.name != self.person
            else self.person
        )

    @property
    def span(self) -> str:
        return f"{format_utc(self.start)} – {format_utc(self.end)}"


def slots_from_output(source: str | os.PathLike | Mapping[str, Any], layer: int = 1) -> list[Slot]:
    """The slots of `layer` (1 primary, 2 secondary) in an output.json path or dict; an
    InputError naming the field for anything malformed or overlapping."""
    from oncall_opt.roster.load import read_json
    from oncall_opt.roster.spec import Previous

    name = "the roster"
    if isinstance(source, str | os.PathLike):
        name = str(source)
        source = read_json(source)
    if not isinstance(source, Mapping) or "overrides" not in source:
        raise InputError([(name, "is not an output.json: it has no 'overrides' list")])
    try:
        document = Previous.model_validate(dict(source))
    except ValidationError as exc:
        raise InputError(
            [(_path(error["loc"]), _message(error)) for error in exc.errors(include_url=False)]
        ) from None
    overrides = document.overrides if layer == 1 else document.secondary_overrides
    if not overrides:
        raise InputError([(LAYER_KEYS[layer], "holds no slot to push")])
    slots = []
    for override in overrides:
        person = override.user.id
        slots.append(
            Slot(
                override.start,
                override.end,
                person,
                override.user.name,
                (person,) if "@" in person else (),
            )
        )
    return checked(slots, LAYER_KEYS[layer])


def checked(slots: Sequence[Slot], where: str) -> list[Slot]:
    """The slots in start order; an InputError for one that ends before it starts or overlaps
    the one before (a schedule layer has one person on call at a time)."""
    ordered = sorted(slots, key=lambda slot: slot.start)
    problems = []
    for i, slot in enumerate(ordered):
        if slot.end <= slot.start:
            problems.append((f"{where}[{i}]", f"ends ({format_utc(slot.end)}) before it starts"))
        elif i and slot.start < ordered[i - 1].end:
            problems.append(
                (
                    f"{where}[{i}]",
                    f"starts at {format_utc(slot.start)}, before the slot before "
                    f"it ends ({format_utc(ordered[i - 1].end)})",
                )
            )
    if problems:
        raise InputError(problems)
    return ordered


def _message(error: Mapping[str, Any]) -> str:
    if error["type"] == "value_error" and "ctx" in error:
        return str(error["ctx"]["error"])  # our own words, without pydantic's "Value error, "
    if error["type"] == "missing":
        return "required field is missing"
    return str(error["msg"])


def _path(loc: tuple) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "top level"
