"""Users: `POST /users`, `GET /users/{id}`, `GET /users`, `PUT /users/{id}`."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import Field

from oncall_opt.api.access import principal_of
from oncall_opt.api.common import (
    ERROR_RESPONSES,
    IdPath,
    JSONBodyRoute,
    RequestBody,
    UserList,
    UserOut,
    now_of,
    store_of,
)
from oncall_opt.engine import users
from oncall_opt.errors import PermissionDeniedError

router = APIRouter(route_class=JSONBodyRoute, tags=["users"], responses=ERROR_RESPONSES)


RoleName = Literal["admin", "member"]


class UserCreate(RequestBody):
    FirstName: str
    LastName: str
    SlackHandle: str
    TimeZone: str | None = None  # an IANA zone such as Europe/Berlin
    Role: RoleName = "member"  # admin: may change people, shifts, rosters and settings
    TeamIds: list[int] = Field(default_factory=lambda: [1], description="default: [1], Default")


class UserUpdate(RequestBody):
    """Only the fields given change. A member may edit their own profile, not their role."""

    FirstName: str | None = None
    LastName: str | None = None
    SlackHandle: str | None = None
    TimeZone: str | None = None
    Role: RoleName | None = None


@router.post("/users", response_model=UserOut)
def create_user(params: UserCreate, request: Request) -> UserOut:
    """Create a user (the tutorial's first curl command). A leading `@` on the handle goes."""
    user = users.create_user(
        store_of(request),
        params.FirstName,
        params.LastName,
        params.SlackHandle,
        now_of(request),
        time_zone=params.TimeZone,
        role=params.Role,
        team_ids=params.TeamIds,
    )
    return UserOut.of(user)


@router.get("/users", response_model=UserList)
def list_users(request: Request) -> UserList:
    return UserList(Items=[UserOut.of(u) for u in users.list_users(store_of(request))])


@router.get("/users/{id}", response_model=UserOut)
def get_user(id: IdPath, request: Request) -> UserOut:
    return UserOut.of(users.get_user(store_of(request), id))


@router.put("/users/{id}", response_model=UserOut)
def update_user(id: IdPath, params: UserUpdate, request: Request) -> UserOut:
    """Edit some of a user's fields; an empty name is refused."""
    if params.Role is not None and not principal_of(request).is_admin:
        raise PermissionDeniedError("only an admin may change a role")
    user = users.update_user(
        store_of(request),
        id,
        first_name=params.FirstName,
        last_name=params.LastName,
        slack_handle=params.SlackHandle,
        time_zone=params.TimeZone,
        role=params.Role,
    )
    request.app.state.authenticator.forget()  # a role change applies to their keys at once
    return UserOut.of(user)
