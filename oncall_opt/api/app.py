"""The FastAPI application: routers per area, errors as JSON `{"code", "message"}` with the
right status, a bearer token on every write when one is configured, and the job loop started
and stopped with the app's lifespan."""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import SecretStr
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


# Open without the token: a health check for load balancers and the API's own documentation
# (neither holds any data).
OPEN_PATHS = frozenset({"/healthz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})


def token_given(header: str, token: str) -> bool:
    """Whether an Authorization header carries `token` as a Bearer credential. The scheme's case
    does not matter (RFC 7235); the token is compared exactly, in constant time."""
    scheme, _, credential = header.strip().partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        credential.strip().encode(), token.encode()
    )


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


def _unauthenticated() -> JSONResponse:
    response = error(401, "this request needs the header Authorization: Bearer <API token>")
    response.headers["WWW-Authenticate"] = "Bearer"
    return response


class _Guard:
    """Plain ASGI middleware (Starlette's BaseHTTPMiddleware costs every request a task and a
    stream) with two jobs:

    - with ONCALL_API_TOKEN set, every request needs it, reads too, and before anything else
      is looked at (a malformed body without the token is a 401, not a 400);
    - a fault of ours answers 500 as JSON, logged once with its traceback, the connection kept
      open (an exception handler for Exception would re-raise to the server, which logs it a
      second time and closes the connection).
    """

    def __init__(self, app, token: SecretStr | None):
        self.app, self.token = app, token

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if self.token is not None and not self._open(scope):
            header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
            if not token_given(header, self.token.get_secret_value()):
                return await _unauthenticated()(scope, receive, send)
        started = False

        async def watched(message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception:
            log.exception("unexpected error on %s %s", scope["method"], scope["path"])
            if started:  # too late for an answer of ours
                raise
            await error(500, "internal error; the daemon's log has the details")(
                scope, receive, send
            )

    @staticmethod
    def _open(scope) -> bool:
        return scope["path"] in OPEN_PATHS or scope["method"] == "OPTIONS"


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
    )
    app.state.store, app.state.settings, app.state.clock = store, settings, clock

    app.add_middleware(_Guard, token=settings.api_token)

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
        return error(422, "; ".join(problems))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = error(exc.status_code, str(exc.detail))
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:  # every method of the path (Starlette names one route's)
            response.headers["Allow"] = ", ".join(_methods_of(request))
        return response

    @app.exception_handler(OncallOptError)
    async def domain_error(request: Request, exc: OncallOptError) -> JSONResponse:
        return error(status_of(exc), str(exc))

    from oncall_opt.api.routes import incidents, messages, roster, schedules, users

    routers = (users, schedules, incidents, roster, messages)
    for module in routers:
        app.include_router(module.router)
    return app
