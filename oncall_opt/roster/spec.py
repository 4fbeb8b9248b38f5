"""The input document (`input.json`) as typed, immutable pydantic models.

The Nextmv pager-duty template's format is read unchanged; every extension is an optional field
whose absence gives the template's behaviour. Unknown fields are refused, so a typo such as
`"prefrences"` is reported instead of silently ignored.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    Tag,
)

from oncall_opt import times
from oncall_opt.times import format_timestamp

LAYER_NAMES = {1: "primary", 2: "secondary"}  # what `layers: 2` plans


def _parse_timestamp(value: Any) -> datetime:
    if not isinstance(value, str | datetime):
        raise ValueError(f"expected an RFC 3339 timestamp string, got {json_type(value)}")
    return times.parse_timestamp(value)


def _parse_moment(value: Any) -> datetime | date:
    """A timestamp with offset, or a bare calendar date (`2024-03-01`)."""
    if times.is_date_text(value) or (isinstance(value, date) and not isinstance(value, datetime)):
        return times.parse_date(value)
    return _parse_timestamp(value)


def _format_moment(value: datetime | date) -> str:
    if isinstance(value, datetime):
        return format_timestamp(value)
    return value.isoformat()


def json_type(value: Any) -> str:
    """The JSON name of a Python value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


Timestamp = Annotated[
    datetime, BeforeValidator(_parse_timestamp), PlainSerializer(format_timestamp)
]
Moment = Annotated[datetime | date, BeforeValidator(_parse_moment), PlainSerializer(_format_moment)]


# A slot's burden in points (`slot_weights`): the balance term squares each person's points, so
# its steps (one column per point) grow with them; 1,000 points a slot is finer than any
# estimate of pages needs.
MAX_SLOT_WEIGHT = 1_000

# The run and rest rules' rows grow with slots x the rule's length (and carry_in looks back
# that far): beyond this no team's rule means anything different, and an input with 10**9
# must not keep the solver building rows for hours.
MAX_RUN_RULE = 1_000

# What a person already worked (`history`: shifts, or burden points): the balance costs are
# floats of twice history + load, which a history of 10**400 overflows in the solve's worker;
# a billion is beyond any team's past and keeps those costs exact.
MAX_HISTORY = 1_000_000_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class DateRange(_Strict):
    """A span of unavailability. `end` is exclusive for a timestamp and inclusive for a date."""

    start: Moment
    end: Moment


def _entry_kind(value: Any) -> str:
    return "range" if isinstance(value, dict | DateRange) else "moment"


UnavailableEntry = Annotated[
    Annotated[Moment, Tag("moment")] | Annotated[DateRange, Tag("range")],
    Discriminator(_entry_kind),
]


class Preferences(_Strict):
    days: list[Moment] | None = None
    avoid_days: list[Moment] | None = None


class User(_Strict):
    id: str = Field(min_length=1)
    name: str = ""
    type: str | None = None
    unavailable: list[UnavailableEntry] | None = None
    preferences: Preferences | None = None
    max_shifts: int | None = Field(default=None, ge=0)
    min_shifts: int | None = Field(default=None, ge=0)
    weight: float = Field(default=1.0, gt=0)
    max_consecutive_shifts: int | None = Field(default=None, ge=1, le=MAX_RUN_RULE)
    min_rest_shifts: int | None = Field(default=None, ge=0, le=MAX_RUN_RULE)

    @property
    def label(self) -> str:
        return self.name or self.id


class Shift(_Strict):
    length: str = "P1D"
    time_zone: str | None = None


class Pin(_Strict):
    user: str = Field(min_length=1)
    start: Timestamp
    layer: Literal[1, 2] = 1


class CarryIn(_Strict):
    """Someone on call just before the window (from `start` to `end`, both at or before
    schedule_start): rest and max-in-a-row count those slots, so two windows planned one
    after the other join without breaking either rule at the seam."""

    user: str = Field(min_length=1)
    start: Timestamp
    end: Timestamp
    layer: Literal[1, 2] = 1


class History(_Strict):
    shifts: int = Field(ge=0, le=MAX_HISTORY)
    weekend_shifts: int = Field(default=0, ge=0)
    # With `slot_weights`: the burden already borne, in the same points (weekend_burden the
    # part of it at weekends, counted apart under weekend_balance).
    burden: int | None = Field(default=None, ge=0, le=MAX_HISTORY)
    weekend_burden: int | None = Field(default=None, ge=0)


class _Lenient(BaseModel):
    """Parts of an earlier output.json: extra fields (statistics, ...) are not ours to police."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class OverrideUser(_Lenient):
    id: str
    name: str = ""
    type: str | None = None


class Override(_Lenient):
    start: Timestamp
    end: Timestamp
    user: OverrideUser
    time_zone: str = "UTC"


class Previous(_Lenient):
    overrides: list[Override]
    secondary_overrides: list[Override] = []


class ObjectiveWeights(_Strict):
    balance: float = Field(default=1.0, ge=0)
    happiness: float = Field(default=1.0, ge=0)
    avoid: float = Field(default=1.0, ge=0)
    stability: float = Field(default=10.0, ge=0)


class InputDocument(_Strict):
    schedule_start: Timestamp
    schedule_end: Timestamp
    users: list[User]
    shift: Shift | None = None
    max_consecutive_shifts: int | None = Field(default=None, ge=1, le=MAX_RUN_RULE)
    min_rest_shifts: int | None = Field(default=None, ge=0, le=MAX_RUN_RULE)
    fixed: list[Pin] | None = None
    history: dict[str, Annotated[int, Field(ge=0, le=MAX_HISTORY)] | History] | None = None
    carry_in: list[CarryIn] | None = None
    weekend_balance: bool = False
    previous: Previous | None = None
    layers: Literal[1, 2] = 1
    objective: ObjectiveWeights | None = None
    # Each slot's expected burden in whole points, in slot order, for every layer: fairness
    # then balances points instead of shifts (see README "Fair by burden").
    slot_weights: list[Annotated[int, Field(ge=0, le=MAX_SLOT_WEIGHT)]] | None = None

    def to_json_dict(self) -> dict[str, Any]:
        """The document as input.json would hold it (absent optional fields left out)."""
        return self.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
