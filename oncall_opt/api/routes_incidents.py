"""Incidents: `POST /incidents`, `GET /incidents`, `GET /incidents/{id}` and
`PUT /incidents/{id}/acknowledge|assign|resolve`.

A new incident goes to whoever is on call now (layer 1), or stays unassigned. A trigger with a
`DedupKey` matching an open incident counts against it (`Count`, `Created: false`).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import Field

from .. import incidents
from .common import (
    ERROR_RESPONSES,
    ID_MAX,
    IdPath,
    IncidentCreated,
    IncidentList,
    IncidentOut,
    JSONBodyRoute,
    RequestBody,
    now_of,
    store_of,
)

router = APIRouter(route_class=JSONBodyRoute, tags=["incidents"], responses=ERROR_RESPONSES)

StatusFilter = Literal["unacknowledged", "triggered", "acknowledged", "resolved", "open", "all"]
UserIdField = Annotated[int, Field(ge=1, le=ID_MAX, description="a user's id")]


class IncidentCreate(RequestBody):
    Body: str
    DedupKey: str | None = Field(None, description="repeats of an open incident count against it")


class Actor(RequestBody):
    UserId: UserIdField | None = None  # who does it (optional)


class Assignment(RequestBody):
    UserId: UserIdField


@router.post("/incidents", response_model=IncidentCreated)
def trigger_incident(params: IncidentCreate, request: Request) -> IncidentCreated:
    """Open an incident (or count it against the open one with the same DedupKey)."""
    incident, created = incidents.trigger(
        store_of(request), params.Body, now_of(request), params.DedupKey
    )
    return IncidentCreated(**IncidentOut.fields_of(incident), Created=created)


@router.get("/incidents", response_model=IncidentList)
def list_incidents(
    request: Request,
    status: Annotated[StatusFilter, Query(alias="Status")] = "unacknowledged",
    assignee_id: Annotated[int | None, Query(alias="AssigneeId", ge=1, le=ID_MAX)] = None,
) -> IncidentList:
    """Incidents by status; by default the unacknowledged ones, as in the tutorial."""
    found = incidents.list_incidents(store_of(request), status, assignee_id)
    return IncidentList(Items=[IncidentOut.of(i) for i in found])


@router.get("/incidents/{id}", response_model=IncidentOut)
def get_incident(id: IdPath, request: Request) -> IncidentOut:
    return IncidentOut.of(incidents.get_incident(store_of(request), id))


@router.put("/incidents/{id}/acknowledge", response_model=IncidentOut)
def acknowledge(id: IdPath, request: Request, params: Actor | None = None) -> IncidentOut:
    """Acknowledge a triggered incident, assigned or not; 409 if it is not triggered."""
    who = params.UserId if params else None
    return IncidentOut.of(incidents.acknowledge(store_of(request), id, now_of(request), who))


@router.put("/incidents/{id}/assign", response_model=IncidentOut)
def assign(id: IdPath, params: Assignment, request: Request) -> IncidentOut:
    """Hand an open incident to `UserId`; an unknown user is 404 and changes nothing."""
    return IncidentOut.of(incidents.assign(store_of(request), id, params.UserId, now_of(request)))


@router.put("/incidents/{id}/resolve", response_model=IncidentOut)
def resolve(id: IdPath, request: Request, params: Actor | None = None) -> IncidentOut:
    """Resolve an open incident (acknowledging it too if it was not)."""
    who = params.UserId if params else None
    return IncidentOut.of(incidents.resolve(store_of(request), id, now_of(request), who))
