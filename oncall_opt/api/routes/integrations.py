"""Monitoring in: PagerDuty's Events API v2 and Prometheus Alertmanager's webhook.

- `POST /v2/enqueue`: PagerDuty's Events API v2, so that anything configured for PagerDuty
  works by changing its URL. The service is the one whose integration key is the event's
  `routing_key`. Answers as PagerDuty does: `202 {"status": "success", "message": "Event
  processed", "dedup_key"}`, or `400 {"status": "invalid event", "message": "Event object is
  invalid", "errors": [...]}`.
- `POST /v2/change/enqueue`: its change events (a deploy, a config change): `202 {"status":
  "success", "message": "Change event processed"}`; listed on the service
  (`GET /services/{id}/changes`) and on its incidents opened within the hour after
  (`GET /incidents/{id}/changes`).
- `POST /integrations/alertmanager/{IntegrationKey}`: Alertmanager's `webhook_configs` (and
  Grafana's alerting webhook): one incident per alert group, resolved with it.

Neither needs the API token: the integration key in the event or the URL is the credential
(so the URL's key is masked in the access log: `api/guards.py`). Triggers go through the same
group commit as `POST /incidents`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from oncall_opt import times
from oncall_opt.api.common import error, now_of, store_of
from oncall_opt.api.routes.incidents import batcher_of
from oncall_opt.api.throttle import EventThrottle
from oncall_opt.engine import changes, incidents, maintenance
from oncall_opt.engine.integrations import (
    Event,
    EventError,
    alertmanager_events,
    check_routing_key,
    pagerduty_change,
    pagerduty_event,
)
from oncall_opt.engine.services import Service, service_for_key
from oncall_opt.errors import ConflictError

T = TypeVar("T")

router = APIRouter(tags=["integrations"])

ALERTMANAGER_PREFIX = "/integrations/alertmanager/"
MAX_EVENT_BYTES = 512 * 1024  # PagerDuty refuses events over 512 KB


KEY_CACHE_SECONDS = 10.0


async def service_of(request: Request, key: str) -> Service | None:
    """The service of an integration key, remembered for a few seconds: a busy integration
    costs one lookup per KEY_CACHE_SECONDS, not one per event. Rotating, changing or deleting
    a service clears it (`forget_keys`), so an old key stops working at once."""
    cache: dict[str, tuple[Service | None, float]] | None
    cache = getattr(request.app.state, "service_keys", None)
    if cache is None:
        cache = request.app.state.service_keys = {}
    hit = cache.get(key)
    if hit is not None and time.monotonic() - hit[1] < KEY_CACHE_SECONDS:
        return hit[0]
    service = await run_in_threadpool(service_for_key, store_of(request), key)
    if len(cache) > 10_000:
        cache.clear()
    cache[key] = (service, time.monotonic())
    return service


def forget_keys(app) -> None:
    cache = getattr(app.state, "service_keys", None)
    if cache is not None:
        cache.clear()


class EnqueueOut(BaseModel):
    status: str
    message: str
    dedup_key: str | None = None


class InvalidEventOut(BaseModel):
    status: str = "invalid event"
    message: str = "Event object is invalid"
    errors: list[str]


THROTTLED = {
    "status": "throttle event",
    "message": "Requests for this service are arriving too quickly.  Please retry later.",
}  # PagerDuty's words


def throttled(request: Request, service: Service) -> JSONResponse | None:
    """429 with Retry-After when the service's integration key is over its rate limit."""
    throttle = getattr(request.app.state, "event_throttle", None)
    if throttle is None:
        throttle = request.app.state.event_throttle = EventThrottle()
    per_minute = service.events_per_minute or request.app.state.settings.events_per_minute
    wait = throttle.take(service.id, per_minute, now_of(request).timestamp())
    if not wait:
        return None
    return JSONResponse(THROTTLED, 429, headers={"Retry-After": str(wait)})


async def _routed(
    request: Request, parse: Callable[[Any, Service], T]
) -> tuple[Service, T] | JSONResponse:
    """An Events API request read: its JSON, the service of its routing key, `parse`d, and
    within that key's rate limit; else the answer PagerDuty gives (400 or 429)."""
    body, errors = await _json(request)
    if errors:
        return _invalid(errors)
    try:
        service = await service_of(request, check_routing_key(body))
        if service is None:
            return _invalid(["'routing_key' is not the integration key of any service"])
        parsed = parse(body, service)
    except EventError as exc:
        return _invalid(exc.errors)
    return throttled(request, service) or (service, parsed)


def _invalid(errors: list[str]) -> JSONResponse:
    return JSONResponse(InvalidEventOut(errors=errors).model_dump(), 400)


async def _json(request: Request) -> tuple[Any, list[str]]:
    raw = await request.body()
    if len(raw) > MAX_EVENT_BYTES:
        return None, [f"the event is larger than {MAX_EVENT_BYTES // 1024} KB"]
    try:
        return json.loads(raw), []
    except (ValueError, UnicodeDecodeError) as exc:
        return None, [f"the body is not valid JSON: {exc}"]


async def apply(request: Request, service: Service, event: Event) -> None:
    """Trigger through the group commit; acknowledge or resolve the service's open incident
    with the event's dedup key (none open, or already so: nothing happens)."""
    store, now = store_of(request), now_of(request)
    if event.action == "trigger":
        assert event.trigger is not None
        if await run_in_threadpool(_kept_in_maintenance, store, service, event, now):
            return
        await asyncio.wrap_future(batcher_of(request.app).submit(event.trigger))
        return

    def act() -> None:
        incident = incidents.by_key(store, service.id, event.dedup_key)
        if incident is None:
            return
        try:
            if event.action == "acknowledge":
                incidents.acknowledge(store, incident.id, now)
            else:
                incidents.resolve(store, incident.id, now, body=event.body)
        except ConflictError:  # acknowledged or resolved meanwhile: the outcome stands
            pass

    await run_in_threadpool(act)


def _kept_in_maintenance(store, service: Service, event: Event, now) -> bool:
    """When the service is in maintenance: the trigger is kept on the window, opening nothing
    and paging nobody; True."""
    window = maintenance.active(store, service.id, now)
    if window is None:
        return False
    trigger = event.trigger
    assert trigger is not None
    summary = trigger.body.splitlines()[0][:1024] if trigger.body else ""
    store.write(
        lambda tx: maintenance.keep(
            tx, window, service.id, summary, trigger.dedup_key, trigger.source, now
        )
    )
    return True


@router.post(
    "/v2/enqueue",
    status_code=202,
    response_model=EnqueueOut,
    responses={400: {"model": InvalidEventOut, "description": "the event is invalid"}},
)
async def enqueue(request: Request) -> Any:
    """PagerDuty's Events API v2: `{"routing_key", "event_action": "trigger" | "acknowledge" |
    "resolve", "dedup_key"?, "payload": {"summary", "source", "severity", "timestamp"?,
    "component"?, "group"?, "class"?, "custom_details"?}, "links"?, "images"?}`."""
    read = await _routed(request, lambda body, service: pagerduty_event(body, service.id))
    if isinstance(read, JSONResponse):
        return read
    service, event = read
    await apply(request, service, event)
    return EnqueueOut(status="success", message="Event processed", dedup_key=event.dedup_key)


@router.post(
    "/v2/change/enqueue",
    status_code=202,
    response_model=EnqueueOut,
    responses={400: {"model": InvalidEventOut, "description": "the event is invalid"}},
)
async def change_enqueue(request: Request) -> Any:
    """PagerDuty's change events: `{"routing_key", "payload": {"summary", "timestamp"?,
    "source"?, "custom_details"?}, "links"?}`. Nobody is paged; the change is listed on the
    service and on its incidents opened within the hour after."""
    read = await _routed(request, lambda body, service: pagerduty_change(body))
    if isinstance(read, JSONResponse):
        return read
    service, change = read
    store, now = store_of(request), now_of(request)
    happened = times.parse_timestamp(change.timestamp) if change.timestamp else now

    def keep(tx) -> int:
        return changes.record(
            tx, service.id, change.summary, change.source, happened, change.details, now
        )

    await run_in_threadpool(store.write, keep)
    return EnqueueOut(status="success", message="Change event processed")


class AlertmanagerOut(BaseModel):
    status: str
    dedup_key: str
    action: str


@router.api_route(
    ALERTMANAGER_PREFIX + "{key}", methods=["POST", "PUT"], response_model=AlertmanagerOut
)  # Grafana's webhook contact point may be set to PUT
async def alertmanager(key: str, request: Request) -> Any:
    """Prometheus Alertmanager's webhook receiver (payload version 4), Grafana's alerting
    webhook too: one incident per alert group (its group key is the dedup key); a repeated
    notification counts against it, a `resolved` one resolves it; the `severity` label sets
    the urgency."""
    service = await service_of(request, key)
    if service is None:
        return error(404, "no service has this integration key (see GET /services)")
    body, errors = await _json(request)
    if errors:
        return error(400, errors[0])
    try:
        events = alertmanager_events(body, service.id)
    except EventError as exc:
        return error(400, "; ".join(exc.errors))
    if refused := throttled(request, service):
        return refused
    for event in events:
        await apply(request, service, event)
    if not events:  # nothing fires: answered, nothing opened
        group = body.get("groupKey") if isinstance(body, dict) else ""
        return AlertmanagerOut(status="success", dedup_key=str(group)[:200], action="none")
    last = events[-1]
    return AlertmanagerOut(status="success", dedup_key=last.dedup_key, action=last.action)
