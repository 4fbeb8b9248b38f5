"""Shifts: `POST /users/{id}/schedules`, `GET /scheduled[/{timestamp}]`, `GET /schedules`,
`DELETE /schedules` (by time range) and `DELETE /schedules/{id}`.

Shifts are half-open [Start, End): back-to-back shifts are fine, overlapping ones in the same
layer of a team are refused with 409. Range queries act on every shift that OVERLAPS the range.
Every route takes a team (`TeamId`), by default the Default team, so the tutorial's commands
work unchanged.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import Field

from oncall_opt.api.common import (
    ERROR_RESPONSES,
    ID_MAX,
    IdPath,
    JSONBodyRoute,
    RequestBody,
    ScheduleList,
    ScheduleOut,
    TimeRangeOut,
    Timestamp,
    UserOut,
    now_of,
    store_of,
)
from oncall_opt.engine import overrides, shifts
from oncall_opt.errors import InvalidRequestError, NotFoundError

router = APIRouter(route_class=JSONBodyRoute, tags=["schedules"], responses=ERROR_RESPONSES)

LAYER_HELP = "1 = primary (default), 2 = secondary"
LayerQuery = Annotated[int, Query(alias="Layer", ge=1, le=2, description=LAYER_HELP)]
AnyLayerQuery = Annotated[
    int | None, Query(alias="Layer", ge=1, le=2, description="only this layer (default: all)")
]
_TIME_HELP = "RFC 3339 with an offset (`start` is read too, as the tutorial's example app sends)"
MaybeTime = Annotated[Timestamp | None, Query(description=_TIME_HELP)]
HiddenTime = Annotated[Timestamp | None, Query(include_in_schema=False)]
TeamQuery = Annotated[
    int, Query(alias="TeamId", ge=1, le=ID_MAX, description="the team (default 1, Default)")
]


def time_range(
    Start: MaybeTime = None,
    End: MaybeTime = None,
    start: HiddenTime = None,
    end: HiddenTime = None,
) -> tuple[datetime, datetime]:
    """[Start, End) from the query, its names in either case (`Start` or `start`)."""
    first, last = Start or start, End or end
    missing = [name for name, value in (("Start", first), ("End", last)) if value is None]
    if missing:  # worded as the API's other missing fields: "Start: Field required; End: ..."
        rest = "".join(f"; {name}: Field required" for name in missing[1:])
        raise InvalidRequestError(missing[0], "Field required" + rest)
    return first, last


TimeRange = Annotated[tuple[datetime, datetime], Depends(time_range)]


class ScheduleCreate(RequestBody):
    Start: Timestamp
    End: Timestamp
    Layer: int = Field(1, ge=1, le=2, description=LAYER_HELP)
    TeamId: int = Field(1, ge=1, le=ID_MAX, description="the team (default 1, Default)")


@router.post("/users/{id}/schedules", response_model=ScheduleOut)
def create_schedule(id: IdPath, params: ScheduleCreate, request: Request) -> ScheduleOut:
    """Put user `id` on call from Start to End in a team's layer; 409 when it overlaps a shift
    of that layer."""
    schedule = shifts.create_schedule(
        store_of(request), id, params.Start, params.End, params.Layer, params.TeamId
    )
    return ScheduleOut.of(schedule)


def _on_call(request: Request, instant, layer: int, team_id: int) -> ScheduleOut:
    """The final schedule at `instant`: an override in force (`Source: "override"`, its `Id`
    the override's), else the published shift."""
    store = store_of(request)
    shifts.check_team(store, team_id)
    override = overrides.active_override(store, instant, layer, team_id)
    if override is not None:
        return ScheduleOut(
            Id=override.id,
            User=UserOut.of(override.user),
            Time=TimeRangeOut(Start=override.start, End=override.end),
            Layer=layer,
            TeamId=team_id,
            Source="override",
        )
    found = shifts.scheduled_at(store, instant, layer, team_id)
    if found is None:
        raise NotFoundError("no schedule found")
    return ScheduleOut.of(found)


@router.get("/scheduled", response_model=ScheduleOut)
def scheduled_now(request: Request, layer: LayerQuery = 1, team: TeamQuery = 1) -> ScheduleOut:
    """Who is on call now; 404 `no schedule found` when nobody is."""
    return _on_call(request, now_of(request), layer, team)


@router.get("/scheduled/{timestamp}", response_model=ScheduleOut)
def scheduled_at(
    timestamp: Annotated[Timestamp, Path(description="RFC 3339 with an offset")],
    request: Request,
    layer: LayerQuery = 1,
    team: TeamQuery = 1,
) -> ScheduleOut:
    """Who is on call at `timestamp`; 404 `no schedule found` when nobody is."""
    return _on_call(request, timestamp, layer, team)


@router.get("/schedules", response_model=ScheduleList)
def list_schedules(
    request: Request, window: TimeRange, layer: AnyLayerQuery = None, team: TeamQuery = 1
):
    """Every shift of the team that overlaps [Start, End), in start order."""
    found = shifts.list_schedules(store_of(request), *window, layer, team)
    return ScheduleList(Items=[ScheduleOut.of(s) for s in found])


@router.delete("/schedules", response_model=ScheduleList)
def delete_schedules(
    request: Request, window: TimeRange, layer: AnyLayerQuery = None, team: TeamQuery = 1
):
    """Delete every shift of the team that overlaps [Start, End); returns the deleted shifts."""
    gone = shifts.delete_schedules(store_of(request), *window, layer, team)
    return ScheduleList(Items=[ScheduleOut.of(s) for s in gone])


@router.delete("/schedules/{id}", response_model=ScheduleOut)
def delete_schedule(id: IdPath, request: Request) -> ScheduleOut:
    """Delete one shift; returns it."""
    return ScheduleOut.of(shifts.delete_schedule(store_of(request), id))
