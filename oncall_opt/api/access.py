"""Who a request acts as, and whether that role may do it.

Authentication happens in `Guard` (plain ASGI middleware, before the body is read, so a bad
body without a credential is a 401, not a 400). With no `ONCALL_API_TOKEN` the daemon has no
authentication at all: every request acts as an anonymous admin, so the tutorial's curl
commands work unchanged on loopback. With a token, every request needs a credential (reads
too), except the open paths (health, docs, signing in, and the integrations, whose integration
key is their credential): the daemon's token (an admin that is nobody in particular), a
person's API key, or a console session.

Authorisation is one table, `RULES`, checked by `authorize` (a dependency of every route)
against the route's path template: reads need any credential, writes an admin, except the
member actions listed (incidents, what-if solves), the `SELF` ones, which a member may do for
their own user id, and the `TEAM` ones, which a member may do in a team they belong to (a
member of one team must not be able to put themself on call for another, or revoke its
calendar feed). Routes on one team's object (an override, a swap) check its team themselves.
"""

from __future__ import annotations

import hmac
import logging
from enum import Enum

from fastapi import Request
from pydantic import SecretStr
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from oncall_opt.api.common import error
from oncall_opt.api.guards import masked
from oncall_opt.engine import teams
from oncall_opt.engine.auth import ANONYMOUS, DAEMON_TOKEN, OPEN, Authenticator, Principal
from oncall_opt.errors import PermissionDeniedError

log = logging.getLogger("oncall_opt.api")


# Open without a credential: a health check for load balancers, the API's own documentation
# (neither holds any data) and signing in.
OPEN_PATHS = frozenset(
    {
        "/healthz",
        "/openapi.json",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
        "/auth/login",
        "/v2/enqueue",
        "/v2/change/enqueue",
    }
)
# Integrations: the integration key in the event or the URL is the credential; so is a
# calendar feed's token, a page's one-time action link, and a cover ask's.
OPEN_PREFIXES = (
    "/integrations/alertmanager/", "/integrations/slack/", "/integrations/twilio/",
    "/calendar/", "/actions/", "/heartbeat/", "/cover-links/",
)  # fmt: skip


def is_open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


class Need(Enum):
    MEMBER = "any signed-in person"
    SELF = "an admin, or the person themself"
    TEAM = "an admin, or a member of the team"
    ADMIN = "an admin"


RULES: dict[tuple[str, str], Need] = {
    ("POST", "/incidents"): Need.MEMBER,
    ("POST", "/incidents/acknowledge_all"): Need.MEMBER,
    ("PUT", "/incidents/{id}/acknowledge"): Need.MEMBER,
    ("PUT", "/incidents/{id}/assign"): Need.MEMBER,
    ("PUT", "/incidents/{id}/resolve"): Need.MEMBER,
    ("POST", "/incidents/{id}/unresolve"): Need.MEMBER,
    ("PUT", "/incidents/{id}/snooze"): Need.MEMBER,
    ("PUT", "/incidents/{id}/escalate"): Need.MEMBER,
    ("POST", "/incidents/{id}/notes"): Need.MEMBER,
    ("POST", "/roster/solve"): Need.MEMBER,  # a what-if: nothing changes until a publish
    ("POST", "/auth/logout"): Need.MEMBER,
    ("DELETE", "/api-keys/{id}"): Need.MEMBER,  # the route checks that it is the caller's
    ("POST", "/teams/{id}/overrides"): Need.TEAM,  # the route: for themself
    ("POST", "/teams/{id}/overrides/take"): Need.TEAM,
    ("DELETE", "/overrides/{id}"): Need.MEMBER,  # the route: their own
    ("POST", "/teams/{id}/swaps"): Need.TEAM,
    ("PUT", "/swaps/{id}/accept"): Need.MEMBER,  # the route: a member of the swap's team
    ("PUT", "/swaps/{id}/cancel"): Need.MEMBER,  # the route: their own
    ("POST", "/teams/{id}/calendar"): Need.TEAM,
    # Finding cover: the routes check the request's team, and whose shift it is.
    ("POST", "/teams/{id}/cover"): Need.TEAM,
    ("PUT", "/cover/{id}/accept"): Need.MEMBER,
    ("PUT", "/cover/{id}/decline"): Need.MEMBER,
    ("PUT", "/cover/{id}/cancel"): Need.MEMBER,
    ("POST", "/users/{id}/calendar"): Need.SELF,
    ("DELETE", "/users/{id}/calendar"): Need.SELF,
    ("PUT", "/users/{id}"): Need.SELF,  # the route keeps Role for admins
    ("PUT", "/users/{id}/availability"): Need.SELF,
    ("PUT", "/users/{id}/password"): Need.SELF,
    ("GET", "/users/{id}/api-keys"): Need.SELF,
    ("POST", "/users/{id}/api-keys"): Need.SELF,
    # Contact methods: a person's own (addresses are personal); the routes check the owner.
    ("GET", "/users/{id}/contact-methods"): Need.SELF,
    ("POST", "/users/{id}/contact-methods"): Need.SELF,
    ("PUT", "/contact-methods/{id}"): Need.MEMBER,
    ("DELETE", "/contact-methods/{id}"): Need.MEMBER,
    ("POST", "/contact-methods/{id}/verify"): Need.MEMBER,
    ("POST", "/contact-methods/{id}/test"): Need.MEMBER,
    ("GET", "/users/{id}/notification-rules"): Need.SELF,
    ("POST", "/users/{id}/notification-rules"): Need.SELF,
    ("DELETE", "/notification-rules/{id}"): Need.MEMBER,  # the route: their own
    # Maintenance: a deploy is a team's own business; the routes check the service's team.
    ("POST", "/services/{id}/maintenance"): Need.MEMBER,
    ("POST", "/teams/{id}/maintenance"): Need.TEAM,
    ("DELETE", "/maintenance/{id}"): Need.MEMBER,
    # Who carried the pages, and when they sleep: the team's own business.
    ("GET", "/teams/{id}/analytics"): Need.TEAM,
    ("GET", "/teams/{id}/burden"): Need.TEAM,
}
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def need_of(method: str, path_template: str) -> Need:
    default = Need.MEMBER if method in READ_METHODS else Need.ADMIN
    return RULES.get((method, path_template), default)


def principal_of(request: Request) -> Principal:
    """Who the request acts as (an anonymous admin when the daemon has no authentication)."""
    return request.scope.get("state", {}).get("principal") or OPEN


async def authorize(request: Request) -> None:
    """A dependency of every route: refuses (403) what the caller's role may not do."""
    route = request.scope.get("route")
    principal = principal_of(request)
    if route is None or principal.is_admin or is_open(request.url.path):
        return
    need = need_of(request.method, route.path)
    if need is Need.MEMBER:
        return
    if need is Need.SELF and str(principal.user_id) == str(request.path_params.get("id")):
        return
    if need is Need.TEAM and principal.user_id is not None:
        try:
            team_id = int(str(request.path_params.get("id", "")))
        except ValueError:
            return  # no team has such an id: the route's own check answers 400
        store = request.app.state.store
        if await run_in_threadpool(teams.is_member, store, team_id, principal.user_id):
            return
        raise PermissionDeniedError(
            f"{request.method} {route.path} needs {need.value}; you (user {principal.user_id}) "
            f"are not a member of team {team_id}"
        )
    raise PermissionDeniedError(
        f"{request.method} {route.path} needs {need.value}; you are a member"
        + (f" (user {principal.user_id})" if principal.user_id else "")
    )


def bearer_credential(header: str) -> str | None:
    """The credential of an `Authorization: Bearer <credential>` header (the scheme in any
    case, RFC 7235), or None."""
    scheme, _, credential = header.strip().partition(" ")
    credential = credential.strip()
    return credential if scheme.lower() == "bearer" and credential else None


def _unauthenticated():
    response = error(401, "this request needs the header Authorization: Bearer <API token>")
    response.headers["WWW-Authenticate"] = "Bearer"
    return response


class Guard:
    """Plain ASGI middleware (Starlette's BaseHTTPMiddleware costs every request a task and a
    stream) with two jobs:

    - authentication: puts the request's `Principal` in its state, or answers 401 before
      anything else is looked at;
    - a fault of ours answers 500 as JSON, logged once with its traceback, the connection kept
      open (an exception handler for Exception would re-raise to the server, which logs it a
      second time and closes the connection).
    """

    def __init__(self, app, token: SecretStr | None, authenticator: Authenticator):
        self.app, self.token, self.authenticator = app, token, authenticator

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        principal = await self._principal(scope)
        if principal is None:
            return await _unauthenticated()(scope, receive, send)
        scope.setdefault("state", {})["principal"] = principal
        started = False

        async def watched(message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except ClientDisconnect:  # the client went away: nobody to answer, nothing to trace
            log.info("%s %s: the client went away", scope["method"], masked(scope["path"]))
        except Exception:
            log.exception("unexpected error on %s %s", scope["method"], masked(scope["path"]))
            if started:  # too late for an answer of ours
                raise
            await error(500, "internal error; the daemon's log has the details")(
                scope, receive, send
            )

    async def _principal(self, scope) -> Principal | None:
        """Who the request acts as; None means 401. Without a token everyone is OPEN (an
        anonymous admin); with one, open paths are served to an ANONYMOUS member."""
        if self.token is None:
            return OPEN
        if is_open(scope["path"]) or scope["method"] == "OPTIONS":
            return ANONYMOUS
        header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
        credential = bearer_credential(header)
        if credential is None:
            return None
        if hmac.compare_digest(credential.encode(), self.token.get_secret_value().encode()):
            return DAEMON_TOKEN
        hit, principal = self.authenticator.cached(credential)
        if not hit:
            principal = await run_in_threadpool(self.authenticator.lookup, credential)
        return principal
