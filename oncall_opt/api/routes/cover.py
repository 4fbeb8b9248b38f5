"""Finding cover for a stretch of a team's layer (`engine/cover.py`):

- `POST /teams/{id}/cover {Start, End, Layer?, Reason?, Note?, TimeoutMinutes?, Deadline?}`:
  ranks who could take it, asks the first (a member: for their own shifts; an admin: anyone's);
- `GET /teams/{id}/cover[?Status=]`, `GET /cover/{id}`: requests with their ranking (each
  candidate's why), who was asked when, and the answers;
- `PUT /cover/{id}/accept {UserId?}`, `PUT /cover/{id}/decline {UserId?}`: a candidate answers
  for themself (an admin for any candidate); the first acceptance becomes the override, a
  later one is a 409 naming who covers it;
- `PUT /cover/{id}/cancel`: the person who asked, the person covered, or an admin;
- `GET|POST /cover-links/{token}`: an ask's one-time Accept or Decline link: what it would do,
  and doing it as the person asked (the link is the credential; the console's
  `/oncall/cover/{token}` page asks first).

Every route on a request checks that the caller is a member of its team (or an admin).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
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
from oncall_opt.engine import cover
from oncall_opt.engine.auth import acting_user
from oncall_opt.engine.paging import cover_links
from oncall_opt.engine.teams import get_team, is_member
from oncall_opt.errors import InvalidRequestError, PermissionDeniedError

router = APIRouter(route_class=JSONBodyRoute, tags=["cover"], responses=ERROR_RESPONSES)

Status = Literal["asking", "covered", "unanswered", "cancelled"]


class CoverIn(RequestBody):
    Start: Timestamp
    End: Timestamp
    Layer: int = Field(1, description="1 primary (default), 2 secondary")
    Reason: str = Field("asked", description="away, sick or asked")
    Note: str = Field("", max_length=cover.MAX_NOTE)
    TimeoutMinutes: int = Field(
        cover.DEFAULT_TIMEOUT_MINUTES, description="how long each person asked has to answer"
    )
    Deadline: Timestamp | None = Field(
        None, description="after it nobody is asked (default: Start, or End when Start is near)"
    )


class AnswerIn(RequestBody):
    UserId: Annotated[int, Field(ge=1, le=ID_MAX)] | None = None


class CandidateOut(BaseModel):
    Rank: int
    User: UserOut
    Why: str
    AskedAt: UtcTime | None
    Answer: Literal["accepted", "declined", "timed out", "skipped"] | None
    AnsweredAt: UtcTime | None


class CoverOut(BaseModel):
    Id: int
    TeamId: int
    Layer: int
    For: UserOut  # the person on the final schedule then, who needs cover
    Start: UtcTime
    End: UtcTime
    Reason: str
    Note: str
    Status: Status
    TimeoutMinutes: int
    Deadline: UtcTime
    CreatedBy: int | None
    CreatedAt: UtcTime
    Asked: UserOut | None  # asked now, waiting for their answer
    AskedUntil: UtcTime | None  # when the next is asked without an answer
    CoveredBy: UserOut | None
    OverrideId: int | None
    DecidedAt: UtcTime | None
    Outcome: str | None
    Candidates: list[CandidateOut]

    @classmethod
    def of(cls, r: cover.CoverRequest) -> CoverOut:
        asked = r.asked
        until = None
        if asked is not None and asked.asked_at is not None:
            until = min(asked.asked_at + timedelta(minutes=r.timeout_minutes), r.deadline)
        return cls(
            Id=r.id, TeamId=r.team_id, Layer=r.layer, For=UserOut.of(r.for_user), Start=r.start,
            End=r.end, Reason=r.reason, Note=r.note, Status=r.status,
            TimeoutMinutes=r.timeout_minutes, Deadline=r.deadline, CreatedBy=r.created_by,
            CreatedAt=r.created_at, Asked=UserOut.of(asked.user) if asked else None,
            AskedUntil=until, CoveredBy=UserOut.of(r.covered_by), OverrideId=r.override_id,
            DecidedAt=r.decided_at, Outcome=r.outcome,
            Candidates=[
                CandidateOut(Rank=c.rank, User=UserOut.of(c.user), Why=c.why, AskedAt=c.asked_at,
                             Answer=c.answer, AnsweredAt=c.answered_at)
                for c in r.candidates
            ],
        )  # fmt: skip


class CoverList(BaseModel):
    Items: list[CoverOut]


def _member_or_admin(request: Request, team_id: int) -> None:
    principal = principal_of(request)
    if principal.is_admin:
        return
    store = store_of(request)
    get_team(store, team_id)
    if principal.user_id is None or not is_member(store, team_id, principal.user_id):
        raise PermissionDeniedError(
            f"cover requests of team {team_id} are for its members (and admins) only"
        )


def _console(request: Request) -> str:
    return request.app.state.settings.public_url


def _request(request: Request, request_id: int) -> cover.CoverRequest:
    found = cover.get_request(store_of(request), request_id)
    _member_or_admin(request, found.team_id)
    return found


@router.post("/teams/{id}/cover", response_model=CoverOut, status_code=201)
def create(id: IdPath, params: CoverIn, request: Request) -> CoverOut:
    """Find cover for Start to End of the team's layer: everyone who could take it without
    breaking a rule, fairest first; the first is asked now."""
    principal = principal_of(request)
    _member_or_admin(request, id)
    made = cover.create_request(
        store_of(request), id, params.Layer, params.Start, params.End, now_of(request),
        reason=params.Reason, note=params.Note, timeout_minutes=params.TimeoutMinutes,
        deadline=params.Deadline, created_by=principal.user_id, by_admin=principal.is_admin,
        console_url=_console(request),
    )  # fmt: skip
    return CoverOut.of(made)


@router.get("/teams/{id}/cover", response_model=CoverList)
def list_requests(
    id: IdPath,
    request: Request,
    status: Annotated[
        Literal["asking", "covered", "unanswered", "cancelled", "all"], Query(alias="Status")
    ] = "all",
) -> CoverList:
    """The team's cover requests, by start: who is asked, who answered what, the result."""
    _member_or_admin(request, id)
    found = cover.list_requests(store_of(request), id, None if status == "all" else status)
    return CoverList(Items=[CoverOut.of(r) for r in found])


@router.get("/cover/{id}", response_model=CoverOut)
def show(id: IdPath, request: Request) -> CoverOut:
    return CoverOut.of(_request(request, id))


def _answerer(request: Request, params: AnswerIn | None) -> int:
    chosen = acting_user(principal_of(request), params.UserId if params else None)
    if chosen is None:
        raise InvalidRequestError("UserId", "say who answers (or sign in as them)")
    return chosen


@router.put("/cover/{id}/accept", response_model=CoverOut)
def accept(id: IdPath, request: Request, params: AnswerIn | None = None) -> CoverOut:
    """Take the stretch (a candidate who has not declined): the first acceptance becomes the
    override; a later one is refused naming who covers it."""
    _request(request, id)
    who = _answerer(request, params)
    done, _ = cover.accept(store_of(request), id, who, now_of(request))
    return CoverOut.of(done)


@router.put("/cover/{id}/decline", response_model=CoverOut)
def decline(id: IdPath, request: Request, params: AnswerIn | None = None) -> CoverOut:
    """Say no: when it was you who was asked, the next candidate is asked now."""
    _request(request, id)
    who = _answerer(request, params)
    found = cover.decline(
        store_of(request), id, who, now_of(request), console_url=_console(request)
    )
    return CoverOut.of(found)


@router.put("/cover/{id}/cancel", response_model=CoverOut)
def cancel(id: IdPath, request: Request) -> CoverOut:
    """Withdraw the request: the person who asked, the person covered, or an admin."""
    found = _request(request, id)
    principal = principal_of(request)
    if not principal.is_admin and principal.user_id not in (found.created_by, found.for_user.id):
        raise PermissionDeniedError(
            "only the person who asked, the person covered, or an admin may cancel it"
        )
    return CoverOut.of(cover.cancel(store_of(request), id, now_of(request)))


# ----- one-time links ---------------------------------------------------------------------------
class CoverLinkOut(BaseModel):
    Action: Literal["accept", "decline"]
    RequestId: int
    Team: str
    Layer: int
    Start: UtcTime
    End: UtcTime
    For: str
    Status: str
    Person: str  # whom the link acts as
    Done: bool = False


Token = Annotated[str, Path(max_length=100)]


@router.get("/cover-links/{token}", response_model=CoverLinkOut)
def peek_link(token: Token, request: Request) -> CoverLinkOut:
    """What an ask's one-time link would do; nothing is spent (the link is the credential)."""
    store = store_of(request)
    link = cover_links.peek(store, token, now_of(request))
    return CoverLinkOut(**cover_links.describe(store, link))


@router.post("/cover-links/{token}", response_model=CoverLinkOut)
def use_link(token: Token, request: Request) -> CoverLinkOut:
    """Accept or decline as the person asked, once (409 when it is covered already, or
    cancelled; the link is spent only when the answer is taken)."""
    store, now = store_of(request), now_of(request)
    link = cover_links.peek(store, token, now)  # a clear 401 for a used or expired link
    if link.action == "accept":
        cover.accept(store, link.request_id, link.user_id, now, via="link", token=token)
    else:
        cover.decline(
            store, link.request_id, link.user_id, now, token=token, console_url=_console(request)
        )
    return CoverLinkOut(**cover_links.describe(store, link), Done=True)
