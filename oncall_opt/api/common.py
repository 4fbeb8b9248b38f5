"""What the routers share: the JSON-whatever-the-content-type route class, RFC 3339 timestamps,
id parameters, the response models in the Encore tutorial's field names, and request helpers.

Routers are built as `APIRouter(route_class=JSONBodyRoute)`. Handlers are plain `def` (run in
the thread pool, each thread with its own store cursor), except `POST /incidents`, which awaits
the trigger batcher's group commit.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Path, Query, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, WithJsonSchema
from pydantic_core import PydanticCustomError

from oncall_opt import times
from oncall_opt.engine.clock import Clock
from oncall_opt.engine.incidents import Incident
from oncall_opt.engine.shifts import Schedule
from oncall_opt.engine.store import Store
from oncall_opt.engine.users import User
from oncall_opt.errors import InvalidRequestError

# Encore's error code strings (the tutorial's framework), so its clients read our errors.
STATUS_CODES = {
    400: "invalid_argument",
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    405: "unimplemented",
    409: "already_exists",
    413: "resource_exhausted",
    429: "resource_exhausted",
    500: "internal",
    502: "unavailable",
    503: "unavailable",
}


def error(status: int, message: str, code: str | None = None, details: Any = None) -> JSONResponse:
    """An error answer in Encore's envelope; `code` defaults to the status's usual one."""
    body = {
        "code": code or STATUS_CODES.get(status, "unknown"),
        "message": message,
        "details": details,
    }
    return JSONResponse(body, status)


ID_MAX = 2**63 - 1  # BIGINT: a larger id cannot exist, and would not fit a query parameter
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class JSONBodyRoute(APIRoute):
    """Reads request bodies as JSON whatever their Content-Type: the tutorial's
    `curl -d '{...}'` sends `application/x-www-form-urlencoded`. An empty body stays empty, so
    `curl -X PUT` works where every field is optional. The body has been read, bounded, by
    `guards.BodyLimit` already."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            if request.method in _BODY_METHODS:
                body = await request.body()

                async def receive() -> dict[str, Any]:
                    return {"type": "http.request", "body": body, "more_body": False}

                headers = [(k, v) for k, v in request.scope["headers"] if k != b"content-type"]
                headers.append((b"content-type", b"application/json"))
                request = Request({**request.scope, "headers": headers}, receive)
            return await handler(request)

        return handle


# ----- timestamps -------------------------------------------------------------------------------
EXAMPLE_TIME = "2022-09-28T10:00:00Z"  # the tutorial's


def parse_timestamp(value: Any) -> datetime:
    """An RFC 3339 timestamp WITH an offset (see `oncall_opt.times`). A `+` that a query string
    turned into a space is put back first."""
    if isinstance(value, str):
        value = re.sub(r"(:\d{2}(?:\.\d+)?) (\d{2}:\d{2})$", r"\1+\2", value.strip())
    return times.parse_timestamp(value)


def _validate_timestamp(value: Any) -> datetime:
    try:
        return parse_timestamp(value)
    except ValueError as exc:  # reported without pydantic's "Value error, " prefix
        raise PydanticCustomError("timestamp", str(exc)) from None


Timestamp = Annotated[
    datetime,
    BeforeValidator(_validate_timestamp),
    WithJsonSchema({"type": "string", "format": "date-time", "examples": [EXAMPLE_TIME]}),
]
"""An input timestamp: RFC 3339 with an offset."""

UtcTime = Annotated[
    datetime,
    PlainSerializer(times.format_utc, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time", "examples": [EXAMPLE_TIME]}),
]
"""An output timestamp: UTC with `Z`."""

IdPath = Annotated[int, Path(ge=1, le=ID_MAX, description="numeric id")]


# ----- request plumbing -------------------------------------------------------------------------
def store_of(request: Request) -> Store:
    return request.app.state.store


def now_of(request: Request) -> datetime:
    clock: Clock = request.app.state.clock
    return clock.now()


class RequestBody(BaseModel):
    """A request body: unknown fields are refused (a typo must not be silently ignored), and
    types are strict: an id or a layer is a JSON number, never `true`, `"1"` or `1.0`."""

    model_config = ConfigDict(extra="forbid", strict=True)


# ----- responses --------------------------------------------------------------------------------
class ErrorOut(BaseModel):
    """Every error answer, in Encore's envelope: `code` is one of Encore's code strings
    (invalid_argument, unauthenticated, not_found, already_exists, resource_exhausted,
    unimplemented, internal...); `message` says what is wrong (and names the field); `details`
    is null."""

    code: str
    message: str
    details: Any = None


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": description}
    for status, description in (
        (400, "malformed JSON, or a field is missing or wrong (the message names it)"),
        (401, "no valid credential (when the daemon has ONCALL_API_TOKEN)"),
        (403, "the credential's role may not do this"),
        (404, "no such user, shift or incident"),
        (409, "clashes with the current state (overlapping shift, already acknowledged...)"),
    )
}
"""For `APIRouter(responses=ERROR_RESPONSES)`: documents the error JSON in OpenAPI."""


class UserOut(BaseModel):
    Id: int
    FirstName: str
    LastName: str
    SlackHandle: str
    TimeZone: str | None = None
    Role: Literal["admin", "member"] = "member"

    @classmethod
    def of(cls, user: User | None) -> UserOut | None:
        if user is None:
            return None
        return cls(
            Id=user.id,
            FirstName=user.first_name,
            LastName=user.last_name,
            SlackHandle=user.slack_handle,
            TimeZone=user.time_zone,
            Role=user.role,
        )


class UserList(BaseModel):
    Items: list[UserOut]


class TimeRangeOut(BaseModel):
    Start: UtcTime
    End: UtcTime


class ScheduleOut(BaseModel):
    Id: int
    User: UserOut
    Time: TimeRangeOut
    Layer: int = 1
    TeamId: int = 1
    Source: Literal["roster", "override"] = "roster"  # GET /scheduled: what puts them on call

    @classmethod
    def of(cls, schedule: Schedule) -> ScheduleOut:
        return cls(
            Id=schedule.id,
            User=UserOut.of(schedule.user),
            Time=TimeRangeOut(Start=schedule.start, End=schedule.end),
            Layer=schedule.layer,
            TeamId=schedule.team_id,
        )


class ScheduleList(BaseModel):
    Items: list[ScheduleOut]


class IncidentOut(BaseModel):
    """The tutorial's Incident (Id .. Assignee) and this project's extensions."""

    Id: int
    Body: str
    CreatedAt: UtcTime
    Acknowledged: bool
    AcknowledgedAt: UtcTime | None
    Assignee: UserOut | None
    Status: str
    AcknowledgedBy: UserOut | None
    ResolvedAt: UtcTime | None
    ResolvedBy: UserOut | None
    DedupKey: str | None
    Count: int
    LastTriggeredAt: UtcTime
    EscalatedAt: UtcTime | None
    EscalatedTo: UserOut | None
    ServiceId: int = 1
    TeamId: int = 1
    Urgency: Literal["high", "low"] = "high"
    Severity: str | None = None
    Source: str | None = None
    Details: Any = None  # what the integration sent: custom details, labels, links
    EscalationStep: int = 0  # steps of the policy paged so far (this round)
    NextEscalationAt: UtcTime | None = None
    SnoozedUntil: UtcTime | None = None  # also the end of an acknowledgement timeout

    @classmethod
    def fields_of(cls, incident: Incident) -> dict[str, Any]:
        return {
            "Id": incident.id,
            "Body": incident.body,
            "CreatedAt": incident.created_at,
            "Acknowledged": incident.acknowledged,
            "AcknowledgedAt": incident.acknowledged_at,
            "Assignee": UserOut.of(incident.assignee),
            "Status": incident.status,
            "AcknowledgedBy": UserOut.of(incident.acknowledged_by),
            "ResolvedAt": incident.resolved_at,
            "ResolvedBy": UserOut.of(incident.resolved_by),
            "DedupKey": incident.dedup_key,
            "Count": incident.trigger_count,
            "LastTriggeredAt": incident.last_triggered_at,
            "EscalatedAt": incident.escalated_at,
            "EscalatedTo": UserOut.of(incident.escalated_to),
            "ServiceId": incident.service_id,
            "TeamId": incident.team_id,
            "Urgency": incident.urgency,
            "Severity": incident.severity,
            "Source": incident.source,
            "Details": json.loads(incident.details) if incident.details else None,
            "EscalationStep": incident.escalation_step,
            "NextEscalationAt": incident.next_escalation_at,
            "SnoozedUntil": incident.retrigger_at,
        }

    @classmethod
    def of(cls, incident: Incident) -> IncidentOut:
        return cls(**cls.fields_of(incident))


class IncidentCreated(IncidentOut):
    Created: bool  # false when the trigger was counted against an open incident (DedupKey)


class IncidentList(BaseModel):
    Items: list[IncidentOut]
    NextCursor: str | None = None  # give it as Cursor for the next (older) page


DEFAULT_LIMIT, MAX_LIMIT = 100, 1000
LimitQuery = Annotated[
    int, Query(alias="Limit", ge=1, le=MAX_LIMIT, description="at most this many, newest first")
]
CursorQuery = Annotated[
    str | None,
    Query(alias="Cursor", max_length=20, description="NextCursor of the page before"),
]


def cursor_id(cursor: str | None) -> int | None:
    """The id a Cursor stands for (ids below it come next), or None for the first page."""
    if cursor is None:
        return None
    if not cursor.isdigit() or not 0 < int(cursor) <= ID_MAX:
        raise InvalidRequestError("Cursor", "is not a NextCursor this API gave")
    return int(cursor)


def next_cursor(fetched_ids: list[int], limit: int) -> str | None:
    """Given the ids of up to `limit + 1` rows fetched for a page of `limit`: the cursor of the
    next page, or None when there is none (one row more than the page is how we know)."""
    return str(fetched_ids[limit - 1]) if len(fetched_ids) > limit else None
