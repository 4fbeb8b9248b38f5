"""Incidents: `POST /incidents`, `GET /incidents`, `GET /incidents/{id}`,
`PUT /incidents/{id}/acknowledge|assign|resolve` and `POST /incidents/{id}/unresolve`.

A new incident goes to whoever is on call now (layer 1), or stays unassigned. A trigger with a
`DedupKey` matching an open incident counts against it (`Count`, `Created: false`).

Triggers are group-committed: concurrent `POST /incidents` go to the app's `TriggerBatcher`
(created with the first one, stopped with the app's lifespan), which writes whatever is waiting
in one transaction; each request awaits its own answer, the same as if triggered one by one.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Literal

from fastapi import APIRouter, FastAPI, Query, Request
from pydantic import BaseModel, Field

from oncall_opt.api.access import principal_of
from oncall_opt.api.common import (
    DEFAULT_LIMIT,
    ERROR_RESPONSES,
    ID_MAX,
    CursorQuery,
    IdPath,
    IncidentCreated,
    IncidentList,
    IncidentOut,
    JSONBodyRoute,
    LimitQuery,
    RequestBody,
    UserOut,
    UtcTime,
    cursor_id,
    next_cursor,
    now_of,
    store_of,
)
from oncall_opt.engine import incidents, timeline
from oncall_opt.engine.auth import acting_user
from oncall_opt.engine.batching import TriggerBatcher
from oncall_opt.engine.jobs import escalation

_batcher_lock = threading.Lock()


def batcher_of(app: FastAPI) -> TriggerBatcher:
    """The app's trigger batcher, created on first use (again after a shutdown)."""
    batcher: TriggerBatcher | None = getattr(app.state, "trigger_batcher", None)
    if batcher is None or batcher.stopped:
        with _batcher_lock:
            batcher = getattr(app.state, "trigger_batcher", None)
            if batcher is None or batcher.stopped:
                batcher = TriggerBatcher(app.state.store, app.state.clock)
                app.state.trigger_batcher = batcher
    return batcher


def stop_batcher(app: FastAPI, timeout: float = 2.0) -> bool:
    """Stop the app's batcher, if any (what is queued is written first); whether it ended."""
    with _batcher_lock:
        batcher: TriggerBatcher | None = getattr(app.state, "trigger_batcher", None)
        app.state.trigger_batcher = None
    return batcher.stop(timeout) if batcher is not None else True


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Merged into the app's lifespan by include_router: the batcher ends with the app."""
    try:
        yield
    finally:
        stop_batcher(app)


router = APIRouter(
    route_class=JSONBodyRoute, tags=["incidents"], responses=ERROR_RESPONSES, lifespan=lifespan
)

StatusFilter = Literal["unacknowledged", "triggered", "acknowledged", "resolved", "open", "all"]
UserIdField = Annotated[int, Field(ge=1, le=ID_MAX, description="a user's id")]


class IncidentCreate(RequestBody):
    Body: str
    DedupKey: str | None = Field(None, description="repeats of an open incident count against it")
    ServiceId: int = Field(1, ge=1, le=ID_MAX, description="default 1, the Default service")
    Urgency: Literal["high", "low"] | None = Field(
        None, description="low: paged through the first escalation step only (default high)"
    )


class Actor(RequestBody):
    UserId: UserIdField | None = None  # who does it (optional)


def _actor(request: Request, params: Actor | None) -> int | None:
    """Who the action is recorded as: `UserId`, else the signed-in person (a member may name
    only themself)."""
    return acting_user(principal_of(request), params.UserId if params else None)


class Assignment(RequestBody):
    UserId: UserIdField


@router.post("/incidents", response_model=IncidentCreated)
async def trigger_incident(params: IncidentCreate, request: Request) -> IncidentCreated:
    """Open an incident (or count it against the open one with the same DedupKey)."""
    trigger = incidents.check_trigger(
        params.Body, params.DedupKey, params.ServiceId, params.Urgency
    )
    future = batcher_of(request.app).submit(trigger)
    incident, created = await asyncio.wrap_future(future)
    return IncidentCreated(**IncidentOut.fields_of(incident), Created=created)


@router.get("/incidents", response_model=IncidentList)
def list_incidents(
    request: Request,
    status: Annotated[StatusFilter, Query(alias="Status")] = "unacknowledged",
    assignee_id: Annotated[int | None, Query(alias="AssigneeId", ge=1, le=ID_MAX)] = None,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
    service_id: Annotated[int | None, Query(alias="ServiceId", ge=1, le=ID_MAX)] = None,
    team_id: Annotated[int | None, Query(alias="TeamId", ge=1, le=ID_MAX)] = None,
    urgency: Annotated[Literal["high", "low"] | None, Query(alias="Urgency")] = None,
) -> IncidentList:
    """Incidents by status (and service, team, urgency), newest first, a page at a time
    (`Limit`, then `Cursor` set to the answer's `NextCursor`); by default the unacknowledged
    ones, as in the tutorial."""
    found = incidents.list_incidents(
        store_of(request),
        status,
        assignee_id,
        limit + 1,
        cursor_id(cursor),
        service_id=service_id,
        team_id=team_id,
        urgency=urgency,
    )
    return IncidentList(
        Items=[IncidentOut.of(i) for i in found[:limit]],
        NextCursor=next_cursor([i.id for i in found], limit),
    )


@router.post("/incidents/acknowledge_all", response_model=IncidentList)
def acknowledge_all(request: Request, params: Actor | None = None) -> IncidentList:
    """Acknowledge every triggered incident (as the tutorial's example app does); returns them.
    A member acknowledges those of their own teams' services only."""
    who = _actor(request, params)
    principal = principal_of(request)
    scope = None if principal.is_admin else principal.user_id
    done = incidents.acknowledge_all(store_of(request), now_of(request), who, of_teams_of=scope)
    return IncidentList(Items=[IncidentOut.of(i) for i in done])


@router.get("/incidents/{id}", response_model=IncidentOut)
def get_incident(id: IdPath, request: Request) -> IncidentOut:
    return IncidentOut.of(incidents.get_incident(store_of(request), id))


@router.put("/incidents/{id}/acknowledge", response_model=IncidentOut)
def acknowledge(id: IdPath, request: Request, params: Actor | None = None) -> IncidentOut:
    """Acknowledge a triggered incident, assigned or not; 409 if it is not triggered."""
    who = _actor(request, params)
    return IncidentOut.of(incidents.acknowledge(store_of(request), id, now_of(request), who))


@router.put("/incidents/{id}/assign", response_model=IncidentOut)
def assign(id: IdPath, params: Assignment, request: Request) -> IncidentOut:
    """Hand an open incident to `UserId`; an unknown user is 404 and changes nothing."""
    return IncidentOut.of(incidents.assign(store_of(request), id, params.UserId, now_of(request)))


@router.put("/incidents/{id}/resolve", response_model=IncidentOut)
def resolve(id: IdPath, request: Request, params: Actor | None = None) -> IncidentOut:
    """Resolve an open incident (acknowledging it too if it was not)."""
    who = _actor(request, params)
    return IncidentOut.of(incidents.resolve(store_of(request), id, now_of(request), who))


@router.post("/incidents/{id}/unresolve", response_model=IncidentOut)
def unresolve(id: IdPath, request: Request, params: Actor | None = None) -> IncidentOut:
    """Reopen a resolved incident (an undo): acknowledged again if it had been acknowledged,
    else triggered again; 409 if it is not resolved or its dedup key has opened another
    incident since."""
    who = _actor(request, params)
    return IncidentOut.of(incidents.unresolve(store_of(request), id, now_of(request), who))


class Snooze(RequestBody):
    Minutes: int = Field(ge=1, le=incidents.MAX_SNOOZE, description="how long to be quiet")
    UserId: UserIdField | None = None


@router.put("/incidents/{id}/snooze", response_model=IncidentOut)
def snooze(id: IdPath, params: Snooze, request: Request) -> IncidentOut:
    """No reminders or escalation for `Minutes` (the incident counts as acknowledged until
    then); then it is triggered again and paged from the first step, unless resolved."""
    who = acting_user(principal_of(request), params.UserId)
    return IncidentOut.of(
        incidents.snooze(store_of(request), id, params.Minutes, now_of(request), who)
    )


class EscalateIn(RequestBody):
    Step: int | None = Field(None, ge=1, le=20, description="1-based; default the next step")


@router.put("/incidents/{id}/escalate", response_model=IncidentOut)
def escalate(id: IdPath, request: Request, params: EscalateIn | None = None) -> IncidentOut:
    """Page a step of the incident's escalation policy now (default: the next one) and hand
    the incident to the first person it pages."""
    step = params.Step if params else None
    return IncidentOut.of(escalation.escalate(store_of(request), id, step, now_of(request)))


class LogEntryOut(BaseModel):
    Id: int
    At: UtcTime
    Kind: str  # triggered, repeated, paged, escalated, acknowledged, reassigned, snoozed, note...
    Message: str
    User: UserOut | None

    @classmethod
    def of(cls, entry: timeline.Entry) -> LogEntryOut:
        return cls(
            Id=entry.id, At=entry.at, Kind=entry.kind, Message=entry.message,
            User=UserOut.of(entry.user),
        )  # fmt: skip


class LogOut(BaseModel):
    Items: list[LogEntryOut]


@router.get("/incidents/{id}/log", response_model=LogOut)
def incident_log(id: IdPath, request: Request) -> LogOut:
    """The incident's timeline, oldest first: triggered, each repeat, who was paged through
    which step, escalations, acknowledgement, reassignments, snoozes, notes, resolution."""
    return LogOut(Items=[LogEntryOut.of(e) for e in timeline.entries(store_of(request), id)])


class NoteIn(RequestBody):
    Text: str
    UserId: UserIdField | None = None


@router.post("/incidents/{id}/notes", response_model=LogEntryOut, status_code=201)
def add_note(id: IdPath, params: NoteIn, request: Request) -> LogEntryOut:
    """A note on the incident's timeline (who wrote it: `UserId`, else the signed-in person)."""
    who = acting_user(principal_of(request), params.UserId)
    entry = timeline.add_note(store_of(request), id, params.Text, now_of(request), who)
    return LogEntryOut.of(entry)
