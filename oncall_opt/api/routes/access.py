"""Signing in and the credentials that act as a person.

- `POST /auth/login {SlackHandle, Password}` or `{Code}` (a one-time sign-in link's code):
  a console session `{Token, ExpiresAt, User, Role}`. Open: needs no credential.
- `POST /auth/logout`: ends the session it is sent with.
- `GET /auth/me`: who the credential acts as, and whether the daemon asks for one at all.
- `PUT /users/{id}/password {Password, CurrentPassword}` (`""` removes it): the person (who
  confirms the current one) or an admin.
- `POST /users/{id}/login-link` (admin): a one-time code, valid 15 minutes;
  `oncall-opt login-link` prints it as a console link.
- `GET|POST /users/{id}/api-keys`, `DELETE /api-keys/{id}`: a person's API keys, the secret
  shown once at creation.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, model_validator

from oncall_opt.api.access import principal_of
from oncall_opt.api.common import (
    ERROR_RESPONSES,
    IdPath,
    JSONBodyRoute,
    RequestBody,
    UserOut,
    UtcTime,
    now_of,
    store_of,
)
from oncall_opt.engine import auth, users
from oncall_opt.engine.auth import Credential
from oncall_opt.errors import PermissionDeniedError

router = APIRouter(route_class=JSONBodyRoute, tags=["access"], responses=ERROR_RESPONSES)

RoleName = Literal["admin", "member"]


class Login(RequestBody):
    """Either a Slack handle and password, or the code of a sign-in link."""

    SlackHandle: str | None = Field(None, max_length=256)
    Password: str | None = Field(None, max_length=auth.MAX_PASSWORD)
    Code: str | None = Field(None, max_length=256)

    @model_validator(mode="after")
    def _one_way(self) -> Login:
        if self.Code is None and (self.SlackHandle is None or self.Password is None):
            raise ValueError("give SlackHandle and Password, or the Code of a sign-in link")
        return self


class Session(BaseModel):
    Token: str  # send as Authorization: Bearer <Token>
    ExpiresAt: UtcTime
    User: UserOut
    Role: RoleName


class Me(BaseModel):
    AuthRequired: bool  # false: the daemon has no ONCALL_API_TOKEN and asks nobody for one
    Role: RoleName
    Via: Literal["open", "token", "key", "session"]
    User: UserOut | None  # None for the daemon's own token, or without authentication


class PasswordIn(RequestBody):
    Password: str = Field(max_length=auth.MAX_PASSWORD)  # "" removes it
    # The person's own change, when they have a password: the one they have now.
    CurrentPassword: str | None = Field(None, max_length=auth.MAX_PASSWORD)


class PasswordOut(BaseModel):
    UserId: int
    HasPassword: bool


class LinkOut(BaseModel):
    UserId: int
    Code: str  # once; POST /auth/login {"Code": ...}, or the console's ?login=<Code>
    ExpiresAt: UtcTime


class KeyIn(RequestBody):
    Name: str  # what the key is for, e.g. "grafana" or "my laptop"
    Role: RoleName | None = None  # default: the person's own; never higher


class KeyOut(BaseModel):
    Id: int
    UserId: int
    Name: str
    Role: RoleName
    Prefix: str  # the key's first characters, to recognise it
    CreatedAt: UtcTime
    LastUsedAt: UtcTime | None

    @classmethod
    def of(cls, credential: Credential) -> KeyOut:
        return cls(
            Id=credential.id,
            UserId=credential.user_id,
            Name=credential.name,
            Role=credential.role,
            Prefix=credential.prefix,
            CreatedAt=credential.created_at,
            LastUsedAt=credential.last_used_at,
        )


class KeyCreated(KeyOut):
    Key: str  # the secret: shown this once, stored only as a hash


class KeyList(BaseModel):
    Items: list[KeyOut]


def _session_lifetime(request: Request) -> timedelta:
    return timedelta(hours=request.app.state.settings.session_hours)


@router.post("/auth/login", response_model=Session)
def login(params: Login, request: Request) -> Session:
    """A console session from a password or a one-time sign-in link's code. Failed passwords
    are throttled per address and handle (429, see `auth.SignInThrottle`); password checks
    run a few at a time (503 when too many wait)."""
    store, now = store_of(request), now_of(request)
    if params.Code is not None:
        credential, token = auth.sign_in_with_link(
            store, params.Code, now, _session_lifetime(request)
        )
    else:
        assert params.SlackHandle is not None and params.Password is not None
        credential, token = auth.sign_in_with_password(
            store,
            params.SlackHandle,
            params.Password,
            now,
            _session_lifetime(request),
            request.app.state.login_throttle,
            request.app.state.hash_gate,
            request.client.host if request.client else None,
        )
    assert credential.expires_at is not None
    return Session(
        Token=token,
        ExpiresAt=credential.expires_at,
        User=UserOut.of(users.get_user(store, credential.user_id)),
        Role=credential.role,
    )


@router.post("/auth/logout", response_model=Me)
def logout(request: Request) -> Me:
    """End the console session this request is made with (other credentials: no change)."""
    principal = principal_of(request)
    if principal.via == "session" and principal.credential_id is not None:
        auth.revoke(store_of(request), principal.credential_id, now_of(request))
        request.app.state.authenticator.forget()
    return me(request)


@router.get("/auth/me", response_model=Me)
def me(request: Request) -> Me:
    """Who this request acts as. Without ONCALL_API_TOKEN: `AuthRequired` false, an admin."""
    principal = principal_of(request)
    person = None
    if principal.user_id is not None:
        person = UserOut.of(users.get_user(store_of(request), principal.user_id))
    return Me(
        AuthRequired=request.app.state.settings.api_token is not None,
        Role=principal.role,
        Via=principal.via,
        User=person,
    )


@router.put("/users/{id}/password", response_model=PasswordOut)
def set_password(id: IdPath, params: PasswordIn, request: Request) -> PasswordOut:
    """Set the console password (at least 10 characters), or remove it with `""`. Changing
    your own asks for the current one (`CurrentPassword`). The person's other console sessions
    end, and so do the API keys those sessions made; keys made otherwise keep working."""
    store, now, principal = store_of(request), now_of(request), principal_of(request)
    state = request.app.state
    own = principal.user_id == id
    if own:
        auth.check_current_password(
            store, id, params.CurrentPassword, now, state.login_throttle, state.hash_gate,
            request.client.host if request.client else None,
            credential_id=principal.credential_id if principal.via == "session" else None,
        )  # fmt: skip
    keep = principal.credential_id if own and principal.via == "session" else None
    auth.set_password(store, id, params.Password, now, state.hash_gate, keep_session=keep)
    state.authenticator.forget()
    return PasswordOut(UserId=id, HasPassword=bool(params.Password))


@router.post("/users/{id}/login-link", response_model=LinkOut, status_code=201)
def login_link(id: IdPath, request: Request) -> LinkOut:
    """A one-time sign-in code for person `id` (an admin's job: `oncall-opt login-link`)."""
    credential, code = auth.create_link(store_of(request), id, now_of(request))
    assert credential.expires_at is not None
    return LinkOut(UserId=id, Code=code, ExpiresAt=credential.expires_at)


@router.get("/users/{id}/api-keys", response_model=KeyList)
def list_keys(id: IdPath, request: Request) -> KeyList:
    """The person's API keys (never their secrets)."""
    return KeyList(Items=[KeyOut.of(k) for k in auth.list_keys(store_of(request), id)])


@router.post("/users/{id}/api-keys", response_model=KeyCreated, status_code=201)
def create_key(id: IdPath, params: KeyIn, request: Request) -> KeyCreated:
    """A new API key acting as person `id`, with their role or a lower one. `Key` is shown in
    this answer only."""
    credential, secret = auth.create_key(
        store_of(request), id, params.Name, now_of(request), params.Role,
        made_with=principal_of(request).credential_id,
    )  # fmt: skip
    return KeyCreated(**KeyOut.of(credential).model_dump(), Key=secret)


@router.delete("/api-keys/{id}", response_model=KeyOut)
def revoke_key(id: IdPath, request: Request) -> KeyOut:
    """Revoke an API key at once (its owner or an admin)."""
    store, principal = store_of(request), principal_of(request)
    credential = auth.get_credential(store, id)
    if not principal.is_admin and credential.user_id != principal.user_id:
        raise PermissionDeniedError("a member may revoke only their own keys")
    revoked = auth.revoke(store, id, now_of(request))
    request.app.state.authenticator.forget()
    return KeyOut.of(revoked)
