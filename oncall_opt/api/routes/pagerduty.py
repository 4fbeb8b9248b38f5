"""`POST /teams/{id}/pagerduty/push {Start, End, Layer?, DryRun?}` (admins): make the PagerDuty
schedule the team is linked to (`PagerDutySchedule`) show the team's final schedule over
[Start, End) in that layer, as overrides, through the PagerDuty bridge (`oncall_opt.pagerduty`).

The bridge reads the daemon's own environment: `PAGERDUTY_API_TOKEN` (or the secrets file),
`PAGERDUTY_API_URL`, `PAGERDUTY_API_CA`, `PAGERDUTY_STATE_DIR`. What PagerDuty refuses is never
a 5xx of ours: a schedule PagerDuty does not have is a 400 naming `PagerDutySchedule`, people it
does not know a 400 naming them, anything else it refused or did not answer a 502 saying what was
asked (and, after a push stopped half-way, what was and was not written). The bridge words its
errors so that the token is never in them.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from oncall_opt.api.common import (
    ERROR_RESPONSES,
    ErrorOut,
    IdPath,
    JSONBodyRoute,
    RequestBody,
    Timestamp,
    now_of,
    store_of,
)
from oncall_opt.engine import final, teams
from oncall_opt.engine.paging import methods
from oncall_opt.engine.store import Store
from oncall_opt.errors import (
    ConfigError,
    ConflictError,
    InvalidRequestError,
    OncallOptError,
    UpstreamError,
)
from oncall_opt.pagerduty.connection import PagerDutyError
from oncall_opt.pagerduty.roster import Slot
from oncall_opt.pagerduty.write_roster import (
    PushIncompleteError,
    PushResult,
    UnmatchedPeopleError,
    push,
)
from oncall_opt.times import format_utc

log = logging.getLogger("oncall_opt.api")

router = APIRouter(
    route_class=JSONBodyRoute,
    tags=["pagerduty"],
    responses={
        **ERROR_RESPONSES,
        502: {"model": ErrorOut, "description": "PagerDuty refused the push or did not answer"},
    },
)

MAX_RANGE_DAYS = 400  # a year's roster and some: the bridge reads PagerDuty 90 days at a time


class PushIn(RequestBody):
    Start: Timestamp
    End: Timestamp
    Layer: Annotated[int, Field(ge=1, le=2, description="1 primary (default), 2 secondary")] = 1
    DryRun: bool = Field(False, description="true: say what would change, write nothing")


class PushRowOut(BaseModel):
    Slot: str = Field(description="the stretch, in UTC")
    Now: str = Field(description="who PagerDuty's final schedule has on call there now")
    After: str = Field(description="who it will have")
    Action: str = Field(description="create, delete an override pushed earlier, or left alone")


class PushOut(BaseModel):
    Schedule: str
    DryRun: bool
    Rows: list[PushRowOut] = Field(description="what changes (would change), slot by slot")
    Summary: str
    Slots: int = Field(description="stretches of the final schedule that have not started")
    Started: int = Field(description="stretches already started: left as they are")
    Created: int = Field(description="overrides created (with DryRun: that would be)")
    Deleted: int = Field(description="overrides an earlier push made, deleted (would be)")
    Kept: int = Field(description="overrides already right")
    LeftAlone: int = Field(description="stretches left to people's own overrides")

    @classmethod
    def of(cls, result: PushResult) -> PushOut:
        return cls(
            Schedule=result.schedule,
            DryRun=result.dry_run,
            Rows=[
                PushRowOut(Slot=row.span, Now=row.now, After=row.after, Action=row.action)
                for row in result.rows
            ],
            Summary=result.summary(),
            Slots=result.slots,
            Started=result.started,
            Created=len(result.to_create) if result.dry_run else len(result.created),
            Deleted=len(result.to_delete) if result.dry_run else len(result.deleted),
            Kept=len(result.kept),
            LeftAlone=len({slot for _, slot in result.left_alone}),
        )


# One push per PagerDuty schedule at a time: two at once would both create the missing
# overrides, and the memory of which overrides were pushed would keep only one run's.
_pushing: set[str] = set()
_pushing_lock = threading.Lock()


@contextmanager
def _only_push_to(schedule: str) -> Iterator[None]:
    with _pushing_lock:
        if schedule in _pushing:
            raise ConflictError(
                f"a push to PagerDuty schedule {schedule} is already running: try again when it "
                "is done"
            )
        _pushing.add(schedule)
    try:
        yield
    finally:
        with _pushing_lock:
            _pushing.discard(schedule)


def final_schedule_slots(
    store: Store, team_id: int, start: datetime, end: datetime, layer: int
) -> list[Slot]:
    """The team's final schedule over [start, end) in `layer` as the bridge's slots: each
    person by their id here, with their email contact methods (what PagerDuty may know them
    by)."""
    segments = final.segments(store, team_id, start, end, [layer])
    emails: dict[int, tuple[str, ...]] = {}
    for user_id in {segment.user.id for segment in segments}:
        emails[user_id] = tuple(
            method.address for method in methods.of_user(store, user_id) if method.type == "email"
        )
    slots = []
    for segment in segments:
        user = segment.user
        name = f"{user.first_name} {user.last_name}".strip() or user.slack_handle
        slots.append(Slot(segment.start, segment.end, str(user.id), name, emails[user.id]))
    return slots


@router.post("/teams/{id}/pagerduty/push", response_model=PushOut)
def push_to_pagerduty(id: IdPath, params: PushIn, request: Request) -> PushOut:
    """Make the team's PagerDuty schedule show its final schedule (roster and overrides) over
    [Start, End) in `Layer`: overrides are created where PagerDuty differs, those an earlier
    push made that nothing wants any more are deleted, people's own overrides are left alone,
    stretches already started are left as they are. With `DryRun`, nothing is written. People
    are matched to PagerDuty users by their email contact methods."""
    store = store_of(request)
    team = teams.get_team(store, id)
    schedule = team.pagerduty_schedule
    if schedule is None:
        raise InvalidRequestError(
            "PagerDutySchedule",
            f"team '{team.name}' is not linked to a PagerDuty schedule: set one first with "
            f'PUT /teams/{id} {{"PagerDutySchedule": "PABC123"}} (or on the People page)',
        )
    start, end = params.Start, params.End
    if end <= start:
        raise InvalidRequestError("End", "must be after Start")
    if (end - start).days > MAX_RANGE_DAYS:
        raise InvalidRequestError("End", f"the range is longer than {MAX_RANGE_DAYS} days")
    slots = final_schedule_slots(store, id, start, end, params.Layer)
    if not slots:
        raise InvalidRequestError(
            "Start",
            f"nobody is on call in team '{team.name}''s layer {params.Layer} from "
            f"{format_utc(start)} to {format_utc(end)}: nothing to push (publish a roster first)",
        )
    with _only_push_to(schedule):
        result = _push(slots, schedule, params.DryRun, now_of(request))
    if not params.DryRun:
        log.info("team %s pushed to PagerDuty: %s", id, result.summary())
    return PushOut.of(result)


def _push(slots: list[Slot], schedule: str, dry_run: bool, now: datetime) -> PushResult:
    """The bridge's push, its errors turned into answers (none a 5xx of ours)."""
    try:
        return push(slots, schedule, dry_run=dry_run, environ=os.environ, now=now)
    except UnmatchedPeopleError as exc:
        raise OncallOptError(
            f"{exc}. Give them an email contact method with the address PagerDuty knows them by"
        ) from None
    except PushIncompleteError as exc:
        raise UpstreamError(f"PagerDuty schedule {schedule}: {exc}") from None
    except PagerDutyError as exc:
        if exc.status == 404:
            raise InvalidRequestError(
                "PagerDutySchedule",
                f"PagerDuty has no schedule '{schedule}' (or the API key may not read it)",
            ) from None
        raise UpstreamError(str(exc)) from None
    except ConfigError as exc:
        raise OncallOptError(f"the daemon's PagerDuty settings: {exc}") from None
    except OSError as exc:  # the CA file, or the state directory
        where = f" ({exc.filename})" if exc.filename else ""
        raise OncallOptError(
            f"the daemon's PagerDuty settings: {exc.strerror or type(exc).__name__}{where}"
        ) from None
