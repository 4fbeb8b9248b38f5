"""Maintenance windows (engine/maintenance.py): while one is on, a service's alert events open
no incident and page nobody; they are kept on the window.

- `POST /services/{id}/maintenance {"Minutes": 30}` (or `{"Start", "End"}`, `"Reason"`): a
  window for the service; `POST /teams/{id}/maintenance`: for every service of the team.
  Admins, or members of the service's (the) team.
- `GET /services/{id}/maintenance`: its windows (its own and its team's) of the last week and
  to come, each with the number of events kept.
- `DELETE /maintenance/{id}`: end a window now.
- `GET /maintenance/{id}/events`: what came in during it.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from oncall_opt.api.access import principal_of
from oncall_opt.api.common import (
    ERROR_RESPONSES,
    IdPath,
    JSONBodyRoute,
    RequestBody,
    Timestamp,
    UtcTime,
    now_of,
    store_of,
)
from oncall_opt.engine import maintenance, services, teams
from oncall_opt.errors import PermissionDeniedError

router = APIRouter(route_class=JSONBodyRoute, tags=["maintenance"], responses=ERROR_RESPONSES)


class WindowIn(RequestBody):
    Minutes: int | None = Field(None, description="for the next N minutes (or Start and End)")
    Start: Timestamp | None = None
    End: Timestamp | None = None
    Reason: str = Field("", max_length=500)


class WindowOut(BaseModel):
    Id: int
    ServiceId: int | None
    TeamId: int | None
    Start: UtcTime
    End: UtcTime
    Reason: str
    CreatedBy: int | None
    On: bool  # on right now
    EventsKept: int = 0

    @classmethod
    def of(cls, window: maintenance.Window, now, kept: int = 0) -> WindowOut:
        return cls(
            Id=window.id, ServiceId=window.service_id, TeamId=window.team_id,
            Start=window.starts_at, End=window.ends_at, Reason=window.reason,
            CreatedBy=window.created_by, On=window.on_at(now), EventsKept=kept,
        )  # fmt: skip


class WindowList(BaseModel):
    Items: list[WindowOut]


class KeptEventOut(BaseModel):
    Id: int
    ServiceId: int
    Summary: str
    DedupKey: str | None
    Source: str | None
    ReceivedAt: UtcTime


class KeptEventList(BaseModel):
    Items: list[KeptEventOut]


def _may_manage(request: Request, team_id: int) -> None:
    principal = principal_of(request)
    if principal.is_admin:
        return
    if principal.user_id is None or not teams.is_member(
        store_of(request), team_id, principal.user_id
    ):
        raise PermissionDeniedError(
            f"only an admin or a member of team {team_id} may put its services in maintenance"
        )


def _open(request: Request, params: WindowIn, **target) -> WindowOut:
    now = now_of(request)
    begin, end = maintenance.span(now, params.Minutes, params.Start, params.End)
    window = maintenance.start(
        store_of(request), now, begin, end, reason=params.Reason,
        by_user_id=principal_of(request).user_id, **target,
    )  # fmt: skip
    return WindowOut.of(window, now)


@router.post("/services/{id}/maintenance", response_model=WindowOut, status_code=201)
def service_maintenance(id: IdPath, params: WindowIn, request: Request) -> WindowOut:
    """Put the service in maintenance: its alert events open nothing and page nobody."""
    service = services.get_service(store_of(request), id)
    _may_manage(request, service.team_id)
    return _open(request, params, service_id=service.id)


@router.post("/teams/{id}/maintenance", response_model=WindowOut, status_code=201)
def team_maintenance(id: IdPath, params: WindowIn, request: Request) -> WindowOut:
    """Put every service of the team in maintenance."""
    teams.get_team(store_of(request), id)
    _may_manage(request, id)
    return _open(request, params, team_id=id)


@router.get("/services/{id}/maintenance", response_model=WindowList)
def list_maintenance(id: IdPath, request: Request) -> WindowList:
    store, now = store_of(request), now_of(request)
    services.get_service(store, id)
    windows = maintenance.of_service(store, id, now)
    kept = maintenance.kept_counts(store, [w.id for w in windows])
    return WindowList(Items=[WindowOut.of(w, now, kept.get(w.id, 0)) for w in windows])


@router.delete("/maintenance/{id}", response_model=WindowOut)
def end_maintenance(id: IdPath, request: Request) -> WindowOut:
    """End the window now."""
    store, now = store_of(request), now_of(request)
    window = maintenance.get(store, id)
    team_id = window.team_id
    if team_id is None:
        assert window.service_id is not None
        team_id = services.get_service(store, window.service_id).team_id
    _may_manage(request, team_id)
    return WindowOut.of(maintenance.end_now(store, id, now), now)


@router.get("/maintenance/{id}/events", response_model=KeptEventList)
def kept_events(id: IdPath, request: Request) -> KeptEventList:
    """The alert events that came in during the window (newest first, at most 500)."""
    store = store_of(request)
    maintenance.get(store, id)
    items = [
        KeptEventOut(Id=e.id, ServiceId=e.service_id, Summary=e.summary, DedupKey=e.dedup_key,
                     Source=e.source, ReceivedAt=e.received_at)
        for e in maintenance.kept(store, id)
    ]  # fmt: skip
    return KeptEventList(Items=items)
