"""Heartbeat monitors (engine/heartbeats.py).

- `POST /services/{id}/heartbeats {"Name", "IntervalMinutes"}` (admins): a monitor and its
  secret URL, shown this once; `GET /services/{id}/heartbeats`; `DELETE /heartbeats/{id}`.
- `GET|POST /heartbeat/{token}`: a ping (no API token: the URL is the credential; masked in
  the access log). An unknown token is 404.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from oncall_opt.api.common import (
    ERROR_RESPONSES,
    IdPath,
    JSONBodyRoute,
    RequestBody,
    UtcTime,
    now_of,
    store_of,
)
from oncall_opt.engine import heartbeats, services

router = APIRouter(route_class=JSONBodyRoute, tags=["heartbeats"], responses=ERROR_RESPONSES)


class HeartbeatIn(RequestBody):
    Name: str = Field(max_length=200)
    IntervalMinutes: int = Field(ge=1, le=10080)


class HeartbeatOut(BaseModel):
    Id: int
    ServiceId: int
    Name: str
    IntervalMinutes: int
    LastPingAt: UtcTime | None
    Down: bool  # no ping for its interval: its incident is open

    @classmethod
    def of(cls, beat: heartbeats.Heartbeat) -> HeartbeatOut:
        return cls(
            Id=beat.id, ServiceId=beat.service_id, Name=beat.name,
            IntervalMinutes=beat.interval_seconds // 60, LastPingAt=beat.last_ping_at,
            Down=beat.alerted_at is not None,
        )  # fmt: skip


class HeartbeatMade(HeartbeatOut):
    Url: str  # shown this once: ping it (GET or POST) at least every IntervalMinutes


class HeartbeatList(BaseModel):
    Items: list[HeartbeatOut]


class PingOut(BaseModel):
    status: str
    Name: str


@router.post("/services/{id}/heartbeats", response_model=HeartbeatMade, status_code=201)
def make_heartbeat(id: IdPath, params: HeartbeatIn, request: Request) -> HeartbeatMade:
    beat, token = heartbeats.create(
        store_of(request), id, params.Name, params.IntervalMinutes, now_of(request)
    )
    base = request.app.state.settings.public_api_url or str(request.base_url)
    url = f"{base.rstrip('/')}/heartbeat/{token}"
    return HeartbeatMade(**HeartbeatOut.of(beat).model_dump(), Url=url)


@router.get("/services/{id}/heartbeats", response_model=HeartbeatList)
def list_heartbeats(id: IdPath, request: Request) -> HeartbeatList:
    store = store_of(request)
    services.get_service(store, id)
    return HeartbeatList(Items=[HeartbeatOut.of(b) for b in heartbeats.of_service(store, id)])


@router.delete("/heartbeats/{id}", response_model=HeartbeatOut)
def delete_heartbeat(id: IdPath, request: Request) -> HeartbeatOut:
    return HeartbeatOut.of(heartbeats.delete(store_of(request), id))


@router.api_route("/heartbeat/{token}", methods=["GET", "POST"], response_model=PingOut)
async def ping(token: str, request: Request) -> PingOut:
    """A ping from the job the monitor watches."""
    beat = await run_in_threadpool(heartbeats.ping, store_of(request), token[:200], now_of(request))
    return PingOut(status="ok", Name=beat.name)
