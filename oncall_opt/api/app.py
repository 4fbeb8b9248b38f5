"""The FastAPI application: routers per area, errors in Encore's envelope `{"code", "message",
"details"}` with the right status, authentication and roles (`access.py`), and the job loop
started and stopped with the app's lifespan."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from oncall_opt.api.access import Guard, authorize
from oncall_opt.api.common import error
from oncall_opt.api.guards import BodyLimit, SameOrigin, mask_access_log
from oncall_opt.engine.auth import Authenticator, HashGate, SignInThrottle
from oncall_opt.engine.clock import Clock, SystemClock
from oncall_opt.engine.jobs.loop import JobLoop
from oncall_opt.engine.settings import Settings
from oncall_opt.engine.store import Store
from oncall_opt.errors import (
    ConflictError,
    InfeasibleError,
    NotFoundError,
    OncallOptError,
    PermissionDeniedError,
    TooManyRequestsError,
    UnauthenticatedError,
    UnavailableError,
    UpstreamError,
)

log = logging.getLogger("oncall_opt.api")


# The status and Encore code of each error a user can cause; a subclass takes its nearest
# listed ancestor's.
ERROR_STATUS: dict[type[Exception], tuple[int, str]] = {
    NotFoundError: (404, "not_found"),
    ConflictError: (409, "already_exists"),
    InfeasibleError: (400, "failed_precondition"),
    UnauthenticatedError: (401, "unauthenticated"),
    PermissionDeniedError: (403, "permission_denied"),
    TooManyRequestsError: (429, "resource_exhausted"),
    UnavailableError: (503, "unavailable"),
    UpstreamError: (502, "unavailable"),
    OncallOptError: (400, "invalid_argument"),
}


def status_of(exc: Exception) -> tuple[int, str]:
    found = (ERROR_STATUS[cls] for cls in type(exc).__mro__ if cls in ERROR_STATUS)
    return next(found, (500, "internal"))


def _methods_of(request: Request) -> list[str]:
    """The methods the API serves at the request's path, from its OpenAPI document (routes of
    one path may live in different routers)."""
    path = request.url.path
    methods: set[str] = set()
    for template, operations in request.app.openapi()["paths"].items():
        pattern = re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, path):
            methods |= {method.upper() for method in operations}
    return sorted(methods)


def create_app(
    store: Store, settings: Settings, clock: Clock | None = None, run_jobs: bool = True
) -> FastAPI:
    """The API over `store`. With `run_jobs`, the job loop (reminders, auto-assign, escalation,
    outbox delivery) runs in a thread for the app's lifetime."""
    clock = clock or SystemClock()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loop = None
        if run_jobs:
            loop = JobLoop(store, settings, clock)
            loop.start()
        try:
            yield
        finally:
            if loop is not None:
                loop.stop()

    app = FastAPI(
        title="oncall_opt",
        summary="On-call schedules, incidents and fair rosters",
        lifespan=lifespan,
        dependencies=[Depends(authorize)],
    )
    app.state.store, app.state.settings, app.state.clock = store, settings, clock
    app.state.run_jobs = run_jobs
    app.state.authenticator = Authenticator(store, clock.now)
    app.state.login_throttle = SignInThrottle()
    app.state.hash_gate = HashGate()

    # Outermost first: the Host and cross-site checks, then who the request is, then its body.
    app.add_middleware(
        BodyLimit, idle_timeout=settings.body_timeout, total_timeout=4 * settings.body_timeout
    )
    app.add_middleware(Guard, token=settings.api_token, authenticator=app.state.authenticator)
    if settings.api_token is None:
        app.add_middleware(SameOrigin, allowed_hosts=settings.allowed_hosts)
    mask_access_log()

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """Whether the daemon answers and its database is readable; needs no token."""
        store.rows("SELECT 1 AS ok")
        return {"Status": "ok"}

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for e in exc.errors():
            if e["type"] == "json_invalid":
                return error(400, f"malformed JSON: {e.get('ctx', {}).get('error', e['msg'])}")
            where = ".".join(str(p) for p in e["loc"] if p not in ("body", "query", "path"))
            problems.append(f"{where or 'body'}: {e['msg']}")
        return error(400, "; ".join(problems))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = error(exc.status_code, str(exc.detail))
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:  # every method of the path (Starlette names one route's)
            response.headers["Allow"] = ", ".join(_methods_of(request))
        return response

    @app.exception_handler(OncallOptError)
    async def domain_error(request: Request, exc: OncallOptError) -> JSONResponse:
        status, code = status_of(exc)
        # What a program needs beyond the message (the rules a change breaks, one by one)
        response = error(status, str(exc), code, getattr(exc, "details", None))
        if status in (429, 503):
            response.headers["Retry-After"] = "1" if status == 503 else "60"
        return response

    from oncall_opt.api.routes import (
        access,
        analytics,
        cover,
        heartbeats,
        incidents,
        integrations,
        maintenance,
        messages,
        pagerduty,
        paging,
        roster,
        rota,
        schedules,
        services,
        teams,
        users,
    )

    routers = (
        users, access, paging, teams, services, schedules, rota, incidents,
        integrations, maintenance, heartbeats, roster, messages, pagerduty, analytics, cover,
    )  # fmt: skip
    for module in routers:
        app.include_router(module.router)
    return app
