"""The FastAPI application: routers per area, errors as JSON `{"code", "message"}` with the
right status, a bearer token on every write when one is configured, and the job loop started
and stopped with the app's lifespan."""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from oncall_opt.api.common import error
from oncall_opt.engine.clock import Clock, SystemClock
from oncall_opt.engine.jobs.loop import JobLoop
from oncall_opt.engine.settings import Settings
from oncall_opt.engine.store import Store
from oncall_opt.errors import (
    ConflictError,
    InfeasibleError,
    InputError,
    InvalidRequestError,
    NotFoundError,
    OncallOptError,
)

log = logging.getLogger("oncall_opt.api")


# The status of each error a user can cause; a subclass takes its nearest listed ancestor's.
ERROR_STATUS: dict[type[Exception], int] = {
    NotFoundError: 404,
    ConflictError: 409,
    InvalidRequestError: 422,
    InputError: 422,
    InfeasibleError: 422,
    OncallOptError: 400,
}


def status_of(exc: Exception) -> int:
    return next((ERROR_STATUS[cls] for cls in type(exc).__mro__ if cls in ERROR_STATUS), 500)


async def require_token(request: Request) -> None:
    """Writes need `Authorization: Bearer <token>` when ONCALL_API_TOKEN is set."""
    settings: Settings = request.app.state.settings
    if settings.api_token is None or request.method in ("GET", "HEAD", "OPTIONS"):
        return
    expected = f"Bearer {settings.api_token.get_secret_value()}"
    given = request.headers.get("authorization", "")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise _Unauthenticated()


class _Unauthenticated(Exception):
    pass


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
        dependencies=[Depends(require_token)],
    )
    app.state.store, app.state.settings, app.state.clock = store, settings, clock

    @app.exception_handler(_Unauthenticated)
    async def unauthenticated(request: Request, exc: _Unauthenticated) -> JSONResponse:
        return error(401, "this write needs the header Authorization: Bearer <API token>")

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for e in exc.errors():
            if e["type"] == "json_invalid":
                return error(400, f"malformed JSON: {e.get('ctx', {}).get('error', e['msg'])}")
            where = ".".join(str(p) for p in e["loc"] if p not in ("body", "query", "path"))
            problems.append(f"{where or 'body'}: {e['msg']}")
        return error(422, "; ".join(problems))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error(exc.status_code, str(exc.detail))

    @app.exception_handler(OncallOptError)
    async def domain_error(request: Request, exc: OncallOptError) -> JSONResponse:
        return error(status_of(exc), str(exc))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error(500, "internal error; the daemon's log has the details")

    from oncall_opt.api.routes import incidents, messages, roster, schedules, users

    routers = (users, schedules, incidents, roster, messages)
    for module in routers:
        app.include_router(module.router)
    return app
