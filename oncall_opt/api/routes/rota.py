"""The schedule people live with: overrides, the final schedule, swap requests, "my shifts",
calendar feeds and the fairness report.

- `POST /teams/{id}/overrides {Start, End, UserId, Layer?, IKnow?}`,
  `GET /teams/{id}/overrides`, `DELETE /overrides/{id}` (one under way ends now),
  `POST /teams/{id}/overrides/take {UserId?, Layer?, IKnow?}` ("I'll take it from now").
  Each keeps the team's rules (409 with every reason) unless an admin sends `IKnow: true`:
  then it is made and `RulesBroken`/`KnownBy` say so.
- `GET /teams/{id}/final?Start=&End=[&Layer=]`: contiguous segments, each with its source.
- `POST /teams/{id}/swaps {Start, End, FromUserId?, Note?, Layer?}`, `GET /teams/{id}/swaps`,
  `PUT /swaps/{id}/accept {UserId?, IKnow?}`, `PUT /swaps/{id}/cancel`.
- `GET /users/{id}/shifts?Start=&End=`: the person's final schedule, every team and layer.
- `POST|DELETE /users/{id}/calendar`, `POST|DELETE /teams/{id}/calendar`: a secret feed URL
  (made again: the old one stops), `GET /calendar/{token}.ics` (no API token: the URL is the
  secret).
- `GET /teams/{id}/report?Start=&End=`: hours per layer, weekend and night hours, covered and
  given away, incidents received, per person.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from oncall_opt.api.access import principal_of
from oncall_opt.api.common import (
    ERROR_RESPONSES,
    ID_MAX,
    IdPath,
    JSONBodyRoute,
    RequestBody,
    Timestamp,
    UserOut,
    UtcTime,
    now_of,
    store_of,
)
from oncall_opt.api.routes.schedules import TimeRange
from oncall_opt.engine import calendar, final, overrides, report, teams
from oncall_opt.engine.auth import acting_user
from oncall_opt.engine.shifts import check_team
from oncall_opt.engine.teams import is_member
from oncall_opt.engine.users import get_user
from oncall_opt.errors import InvalidRequestError, PermissionDeniedError

router = APIRouter(route_class=JSONBodyRoute, tags=["rota"], responses=ERROR_RESPONSES)

UserIdField = Annotated[int, Field(ge=1, le=ID_MAX)]
LayerField = Annotated[int, Field(ge=1, le=2, description="1 primary (default), 2 secondary")]
LayerQuery = Annotated[int | None, Query(alias="Layer", ge=1, le=2)]
IKnowField = Annotated[
    bool,
    Field(
        description="an admin's \"I know\": make the change even though it breaks the team's "
        "rules (two layers at once, rest, shifts in a row, a day away); it is recorded"
    ),
]
MAX_RANGE_DAYS = 400


def _window(window: tuple[datetime, datetime]) -> tuple[datetime, datetime]:
    start, end = window
    if end <= start:
        raise InvalidRequestError("End", "must be after Start")
    if (end - start).days > MAX_RANGE_DAYS:
        raise InvalidRequestError("End", f"the range is longer than {MAX_RANGE_DAYS} days")
    return start, end


def _i_know(request: Request, i_know: bool) -> tuple[bool, int | None]:
    """An "I know" is an admin's to give: (whether to break rules, who knew)."""
    principal = principal_of(request)
    if i_know and not principal.is_admin:
        raise PermissionDeniedError(
            "IKnow: only an admin may make a change that breaks the team's rules"
        )
    return i_know, principal.user_id


def _as_self(request: Request, user_id: int | None, what: str) -> int:
    """The person an action is for: `UserId`, else the signed-in person; a member may act only
    for themself."""
    chosen = acting_user(principal_of(request), user_id)
    if chosen is None:
        raise InvalidRequestError("UserId", f"say who {what} (or sign in as them)")
    return chosen


# ----- overrides and the final schedule ---------------------------------------------------------
class OverrideIn(RequestBody):
    Start: Timestamp
    End: Timestamp
    UserId: UserIdField | None = None  # default: the signed-in person
    Layer: LayerField = 1
    IKnow: IKnowField = False


class TakeIn(RequestBody):
    UserId: UserIdField | None = None
    Layer: LayerField = 1
    IKnow: IKnowField = False


class OverrideOut(BaseModel):
    Id: int
    TeamId: int
    Layer: int
    User: UserOut
    Start: UtcTime
    End: UtcTime
    CreatedAt: UtcTime
    CreatedBy: int | None
    SwapId: int | None
    RulesBroken: str | None = None  # made with an admin's "I know": the rules it breaks
    KnownBy: int | None = None  # the admin who knew

    @classmethod
    def of(cls, o: overrides.Override) -> OverrideOut:
        return cls(
            Id=o.id,
            TeamId=o.team_id,
            Layer=o.layer,
            User=UserOut.of(o.user),
            Start=o.start,
            End=o.end,
            CreatedAt=o.created_at,
            CreatedBy=o.created_by,
            SwapId=o.swap_id,
            RulesBroken=o.rules_broken,
            KnownBy=o.known_by,
        )


class OverrideList(BaseModel):
    Items: list[OverrideOut]


@router.post("/teams/{id}/overrides", response_model=OverrideOut, status_code=201)
def create_override(id: IdPath, params: OverrideIn, request: Request) -> OverrideOut:
    """Put someone on call in the team's layer from Start to End, over the published roster
    (the last override created wins where they overlap). A member may put only themself on.
    One that breaks the team's rules is refused (409, every reason) unless an admin says
    `IKnow`."""
    principal = principal_of(request)
    who = _as_self(request, params.UserId, "goes on call")
    i_know, _ = _i_know(request, params.IKnow)
    made = overrides.create_override(
        store_of(request),
        id,
        who,
        params.Start,
        params.End,
        now_of(request),
        params.Layer,
        created_by=principal.user_id,
        i_know=i_know,
    )
    return OverrideOut.of(made)


@router.post("/teams/{id}/overrides/take", response_model=OverrideOut, status_code=201)
def take(id: IdPath, request: Request, params: TakeIn | None = None) -> OverrideOut:
    """ "I'll take it from now": an override from now to the end of the current stretch."""
    params = params or TakeIn()
    who = _as_self(request, params.UserId, "takes over")
    i_know, known_by = _i_know(request, params.IKnow)
    return OverrideOut.of(
        overrides.take_now(
            store_of(request), id, who, now_of(request), params.Layer, i_know, known_by
        )
    )


@router.get("/teams/{id}/overrides", response_model=OverrideList)
def list_overrides(id: IdPath, request: Request, window: TimeRange) -> OverrideList:
    found = overrides.list_overrides(store_of(request), id, *_window(window))
    return OverrideList(Items=[OverrideOut.of(o) for o in found])


@router.delete("/overrides/{id}", response_model=OverrideOut)
def delete_override(id: IdPath, request: Request) -> OverrideOut:
    """Remove an override to come, or end one under way now (a member: their own only)."""
    store, principal = store_of(request), principal_of(request)
    found = overrides.get_override(store, id)
    if not principal.is_admin and principal.user_id not in (found.user.id, found.created_by):
        raise PermissionDeniedError("a member may remove only their own overrides")
    return OverrideOut.of(overrides.delete_override(store, id, now_of(request)))


class SegmentOut(BaseModel):
    TeamId: int
    Layer: int
    Start: UtcTime
    End: UtcTime
    User: UserOut
    Source: Literal["roster", "override"]
    ShiftId: int | None
    OverrideId: int | None
    Covers: UserOut | None  # an override over someone's roster shift: whose
    RulesBroken: str | None = None  # an override made with an admin's "I know": what it breaks
    KnownBy: int | None = None  # that admin

    @classmethod
    def of(cls, s: final.Segment) -> SegmentOut:
        return cls(
            TeamId=s.team_id,
            Layer=s.layer,
            Start=s.start,
            End=s.end,
            User=UserOut.of(s.user),
            Source=s.source,
            ShiftId=s.shift_id,
            OverrideId=s.override_id,
            Covers=UserOut.of(s.covers),
            RulesBroken=s.rules_broken,
            KnownBy=s.known_by,
        )


class SegmentList(BaseModel):
    Items: list[SegmentOut]


@router.get("/teams/{id}/final", response_model=SegmentList)
def final_schedule(
    id: IdPath, request: Request, window: TimeRange, layer: LayerQuery = None
) -> SegmentList:
    """The final schedule (roster with overrides applied) over [Start, End), per layer in
    time order; nobody on call is simply a hole between segments."""
    store = store_of(request)
    check_team(store, id)
    found = final.segments(store, id, *_window(window), [layer] if layer else None)
    return SegmentList(Items=[SegmentOut.of(s) for s in found])


@router.get("/users/{id}/shifts", response_model=SegmentList)
def my_shifts(id: IdPath, request: Request, window: TimeRange) -> SegmentList:
    """When the person is on call over [Start, End): the final schedule, every team and layer."""
    store = store_of(request)
    get_user(store, id)
    found = final.user_segments(store, id, *_window(window))
    return SegmentList(Items=[SegmentOut.of(s) for s in found])


# ----- swap requests ----------------------------------------------------------------------------
class SwapIn(RequestBody):
    Start: Timestamp
    End: Timestamp
    FromUserId: UserIdField | None = None  # default: the signed-in person
    Note: str = ""
    Layer: LayerField = 1


SwapStatus = Literal["open", "accepted", "cancelled", "all"]


class AcceptIn(RequestBody):
    UserId: UserIdField | None = None
    IKnow: IKnowField = False


class SwapOut(BaseModel):
    Id: int
    TeamId: int
    Layer: int
    From: UserOut
    Start: UtcTime
    End: UtcTime
    Note: str
    Status: Literal["open", "accepted", "cancelled"]
    AcceptedBy: UserOut | None
    OverrideId: int | None
    CreatedAt: UtcTime
    DecidedAt: UtcTime | None
    # In the answer that asks: where the team is told ("the team's Slack channel"), queued to go
    # out within seconds; null when no Slack channel is set up (nobody is told).
    AnnouncedIn: str | None = None

    @classmethod
    def of(cls, s: overrides.Swap) -> SwapOut:
        return cls(
            Id=s.id,
            TeamId=s.team_id,
            Layer=s.layer,
            From=UserOut.of(s.from_user),
            Start=s.start,
            End=s.end,
            Note=s.note,
            Status=s.status,
            AcceptedBy=UserOut.of(s.accepted_by),
            OverrideId=s.override_id,
            CreatedAt=s.created_at,
            DecidedAt=s.decided_at,
        )


class SwapList(BaseModel):
    Items: list[SwapOut]


@router.post("/teams/{id}/swaps", response_model=SwapOut, status_code=201)
def request_swap(id: IdPath, params: SwapIn, request: Request) -> SwapOut:
    """Ask the team for someone to take [Start, End) (posted in the team's channel)."""
    who = _as_self(request, params.FromUserId, "needs someone")
    swap = overrides.request_swap(
        store_of(request),
        id,
        who,
        params.Start,
        params.End,
        now_of(request),
        params.Note,
        params.Layer,
    )
    where = teams.channel_of(store_of(request), request.app.state.settings, id)
    return SwapOut.of(swap).model_copy(update={"AnnouncedIn": where})


@router.get("/teams/{id}/swaps", response_model=SwapList)
def list_swaps(
    id: IdPath,
    request: Request,
    status: Annotated[
        Literal["open", "accepted", "cancelled", "all"], Query(alias="Status")
    ] = "open",
) -> SwapList:
    found = overrides.list_swaps(store_of(request), id, None if status == "all" else status)
    return SwapList(Items=[SwapOut.of(s) for s in found])


@router.put("/swaps/{id}/accept", response_model=SwapOut)
def accept_swap(id: IdPath, request: Request, params: AcceptIn | None = None) -> SwapOut:
    """Take the swap (a member of the team, keeping the team's rules unless an admin says
    `IKnow`): creates the override."""
    store, principal = store_of(request), principal_of(request)
    who = _as_self(request, params.UserId if params else None, "takes it")
    i_know, known_by = _i_know(request, bool(params and params.IKnow))
    swap = overrides.get_swap(store, id)
    if not principal.is_admin and not is_member(store, swap.team_id, who):
        raise PermissionDeniedError(
            f"swap #{id} is team {swap.team_id}'s; only its members (or an admin) may take it"
        )
    return SwapOut.of(overrides.accept_swap(store, id, who, now_of(request), i_know, known_by))


@router.put("/swaps/{id}/cancel", response_model=SwapOut)
def cancel_swap(id: IdPath, request: Request) -> SwapOut:
    """Withdraw an open swap request (its requester, or an admin)."""
    store, principal = store_of(request), principal_of(request)
    swap = overrides.get_swap(store, id)
    if not principal.is_admin and principal.user_id != swap.from_user.id:
        raise PermissionDeniedError("only the person who asked (or an admin) may cancel it")
    return SwapOut.of(overrides.cancel_swap(store, id, now_of(request)))


# ----- calendar feeds ---------------------------------------------------------------------------
class FeedOut(BaseModel):
    Url: str  # shown once: subscribe to it; making a new one stops this one


def _feed_url(request: Request, token: str) -> str:
    """The feed at the daemon's public address (ONCALL_PUBLIC_API_URL: a calendar app elsewhere
    fetches it), else at the address this request came to."""
    base = request.app.state.settings.public_api_url or str(request.base_url)
    return base.rstrip("/") + f"/calendar/{token}.ics"


@router.post("/users/{id}/calendar", response_model=FeedOut, status_code=201)
def user_feed(id: IdPath, request: Request) -> FeedOut:
    """A calendar subscription URL with the person's shifts (the old URL stops working)."""
    feed = calendar.make_feed(store_of(request), "user", id, now_of(request))
    return FeedOut(Url=_feed_url(request, feed.token))


@router.delete("/users/{id}/calendar", status_code=204)
def revoke_user_feed(id: IdPath, request: Request) -> Response:
    calendar.revoke_feeds(store_of(request), "user", id, now_of(request))
    return Response(status_code=204)


@router.post("/teams/{id}/calendar", response_model=FeedOut, status_code=201)
def team_feed(id: IdPath, request: Request) -> FeedOut:
    """A calendar subscription URL with the team's final schedule."""
    feed = calendar.make_feed(store_of(request), "team", id, now_of(request))
    return FeedOut(Url=_feed_url(request, feed.token))


@router.delete("/teams/{id}/calendar", status_code=204)
def revoke_team_feed(id: IdPath, request: Request) -> Response:
    calendar.revoke_feeds(store_of(request), "team", id, now_of(request))
    return Response(status_code=204)


@router.get(
    "/calendar/{token}.ics",
    response_class=Response,
    responses={200: {"content": {"text/calendar": {}}, "description": "an iCalendar feed"}},
)
def feed(token: Annotated[str, Field(max_length=200)], request: Request) -> Response:
    """The iCalendar feed behind a subscription URL (no API token: the URL is the secret)."""
    text = calendar.feed_ics(store_of(request), token, now_of(request))
    return Response(text, media_type="text/calendar; charset=utf-8")


# ----- the fairness report ----------------------------------------------------------------------
class PersonReportOut(BaseModel):
    User: UserOut
    Hours: float
    HoursByLayer: dict[str, float]
    WeekendHours: float
    NightHours: float  # 22:00-07:00 in the person's time zone
    CoveredHours: float  # standing in for someone's roster shift (overrides taken)
    GivenAwayHours: float  # their roster hours someone else's override covered
    Incidents: int  # of the team's services, created in the range, assigned to them


class ReportOut(BaseModel):
    TeamId: int
    Start: UtcTime
    End: UtcTime
    Items: list[PersonReportOut]


@router.get("/teams/{id}/report", response_model=ReportOut)
def team_report(id: IdPath, request: Request, window: TimeRange) -> ReportOut:
    """Who carried how much of the team's on-call time over [Start, End)."""
    start, end = _window(window)
    rows = report.team_report(store_of(request), id, start, end)
    return ReportOut(
        TeamId=id,
        Start=start,
        End=end,
        Items=[
            PersonReportOut(
                User=UserOut.of(r.user),
                Hours=round(r.hours, 2),
                HoursByLayer={str(k): round(v, 2) for k, v in sorted(r.hours_by_layer.items())},
                WeekendHours=round(r.weekend_hours, 2),
                NightHours=round(r.night_hours, 2),
                CoveredHours=round(r.covered_hours, 2),
                GivenAwayHours=round(r.given_away_hours, 2),
                Incidents=r.incidents,
            )
            for r in rows
        ],
    )
