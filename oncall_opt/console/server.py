"""The console's own HTTP parts, served beside the Streamlit app by `st.App`
(`app_streamlit.py`, `oncall_opt/streamlit_app.py`):

- `GET /oncall/sign-in`: the sign-in form; with `?code=`, the confirmation a one-time link
  leads to (nothing is spent until the viewer confirms). `POST /oncall/sign-in` (the form's
  fields: `SlackHandle` and `Password`, or `Code`): signs in at the daemon, keeps the daemon's
  session in this process (`sessions.REGISTRY`) and answers with a cookie holding only a random
  id, which page script cannot read (HttpOnly), no other site can send (SameSite=Strict) and,
  over https, no other origin can plant (`__Host-`, Secure). A post from another site's page
  is refused (login CSRF).
- `GET|POST /oncall/act/{token}`: a page's one-time action link (acknowledge, resolve): the
  GET asks, the POST acts (through the daemon's `/actions/{token}`).
- `GET|POST /oncall/cover/{token}`: a cover ask's one-time link (accept, decline), the same way
  (through the daemon's `/cover-links/{token}`).
- `ConsoleGuard`: every answer carries a Content-Security-Policy (script only from the console
  itself: data can never run as script, nor load anything from elsewhere), no framing and no
  referrer to other sites; the pages' WebSocket (everything a viewer does goes through it) is
  refused to a page of any other origin, another port of this host included (a browser sends
  the SameSite cookie there, since a site ignores ports); and when the daemon asks nobody for
  credentials, the console, like the daemon, answers only to its own names (DNS rebinding).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import os
import re
import threading
import time
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from oncall_opt import times
from oncall_opt.client import ApiError, Client, DaemonUnavailable
from oncall_opt.console import sessions, signin

log = logging.getLogger("oncall_opt.console")

MAX_FORM_BYTES = 16 * 1024


def api_url() -> str:
    url = os.environ.get("ONCALL_API_URL", "").strip()
    return url.rstrip("/") if url else times.daemon_url(os.environ)


def full_name(user: dict) -> str:
    name = f"{user.get('FirstName', '')} {user.get('LastName', '')}".strip()
    handle = user.get("SlackHandle")
    return f"{name} (@{handle})" if handle else name


# ----- signing in -------------------------------------------------------------------------------
def _cross_site(request: Request) -> bool:
    """Whether a browser says the request comes from another site's page (another port of this
    host counts: it is another origin). The browser's own word (`Sec-Fetch-Site`) first;
    browsers without it send `Origin`; scripts send neither."""
    fetch_site = request.headers.get("sec-fetch-site", "").lower()
    if fetch_site:
        return fetch_site not in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None:
        return False
    return urlsplit(origin).netloc.lower() != request.headers.get("host", "").lower()


async def _form(request: Request) -> dict[str, str] | None:
    """The posted form's fields (the first of each), or None when the body is too large."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {key: values[0] for key, values in fields.items()}


def _page(body: str, error: str | None = None, status: int = 200) -> HTMLResponse:
    return HTMLResponse(signin.page("Sign in", body, error), status)


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _set_cookie(request: Request, response: Response, session_id: str, expires: datetime):
    seconds = max(int((expires - datetime.now(UTC)).total_seconds()), 0)
    secure = _secure(request)
    response.set_cookie(
        sessions.SECURE_COOKIE if secure else sessions.PLAIN_COOKIE,
        session_id,
        max_age=seconds,
        path="/",
        secure=secure,
        httponly=True,
        samesite="strict",
    )


def _end(session: sessions.ConsoleSession | None) -> None:
    """End a replaced session at the daemon too (it is down, or it ended already: fine)."""
    if session is None:
        return
    with contextlib.suppress(ApiError, DaemonUnavailable), Client(
        api_url(), token=session.token, timeout=10
    ) as client:  # fmt: skip
        client.logout()


async def sign_in(request: Request) -> Response:
    current = sessions.REGISTRY.get(sessions.cookie_value(request.cookies, _secure(request)))
    next_path = signin.safe_next(request.query_params.get("next"))
    if request.method == "GET":
        code = request.query_params.get("code")
        if code:
            who = full_name(current.user) if current else None
            return HTMLResponse(signin.page("Sign in", signin.link_form(code, who, next_path)))
        return _page(signin.password_form(next_path))
    if _cross_site(request):
        return _page(signin.password_form(), "Refused: this came from another site's page.", 403)
    fields = await _form(request)
    if fields is None:
        return _page(signin.password_form(), "Refused: the form is too large.", 413)
    next_path = signin.safe_next(fields.get("next"))
    code = fields.get("Code") or None
    handle, password = fields.get("SlackHandle", ""), fields.get("Password", "")
    if code is None and not (handle.strip() and password):
        return _page(signin.password_form(next_path), "Give your Slack handle and password.", 400)
    address = request.client.host if request.client else None

    def attempt() -> dict:
        # The daemon counts failed sign-ins per address: it is told the browser's (uvicorn
        # believes X-Forwarded-For from loopback, where the console usually runs).
        headers = {"X-Forwarded-For": address} if address else None
        with Client(api_url(), timeout=15, headers=headers) as anonymous:
            if code is not None:
                return anonymous.login(code=code)
            return anonymous.login(handle.strip(), password)

    try:
        session = await run_in_threadpool(attempt)
    except DaemonUnavailable:
        return _page(
            signin.password_form(next_path),
            "The on-call daemon is not running: start it, then sign in again.",
            503,
        )
    except ApiError as exc:
        again = signin.password_form(next_path)
        return _page(again, f"Could not sign in: {exc.message}", exc.status)
    replaced = sessions.REGISTRY.drop(sessions.cookie_value(request.cookies, _secure(request)))
    if replaced is not None:
        await run_in_threadpool(_end, replaced)
    expires = datetime.fromisoformat(session["ExpiresAt"].replace("Z", "+00:00"))
    session_id = sessions.REGISTRY.add(
        sessions.ConsoleSession(session["Token"], session["User"], session["Role"], expires)
    )
    log.info("console sign-in: @%s", session["User"].get("SlackHandle"))
    response = RedirectResponse(next_path, status_code=303)
    _set_cookie(request, response, session_id, expires)
    return response


ACT_PATH = "/oncall/act/{token}"


def _act_page(title: str, body: str, error: str | None = None, status: int = 200):
    return HTMLResponse(signin.page(title, body, error, hint=False), status)


async def _one_time_link(
    request: Request, peek: str, use: str, refused: str
) -> tuple[dict, None] | tuple[None, Response]:
    """What a one-time link's token says (GET: `peek`, changing nothing, as a mail scanner or a
    link preview would) or does (POST: `use`, once): the client method's answer, or the page
    that says why not (another site's form, the daemon down, the token spent or unknown)."""
    token = request.path_params["token"]
    if request.method == "POST" and _cross_site(request):
        return None, _act_page("Refused", "", "Refused: this came from another site's page.", 403)

    def ask() -> dict:
        with Client(api_url(), timeout=15) as anonymous:
            return getattr(anonymous, peek if request.method == "GET" else use)(token)

    try:
        return await run_in_threadpool(ask), None
    except DaemonUnavailable:
        return None, _act_page(
            "Not now", "", "The on-call daemon is not running: try again soon.", 503
        )
    except ApiError as exc:
        status = exc.status if exc.status in (401, 404, 409) else 400
        return None, _act_page(refused, "", exc.message, status)


async def act(request: Request) -> Response:
    """A page's one-time link (acknowledge, resolve): the GET shows what it does and asks (a
    mail scanner or a link preview changes nothing), the POST acts, once, as the person the
    page went to. An ntfy push button POSTs straight here (no browser, no Origin)."""
    what, why_not = await _one_time_link(
        request, "peek_action", "use_action", "This link cannot act"
    )
    if what is None:
        return why_not
    if request.method == "GET":
        verb = "Acknowledge" if what["Action"] == "acknowledge" else "Resolve"
        return _act_page(
            f"{verb} incident #{what['IncidentId']}?",
            signin.action_form(request.url.path, what),
        )
    done = "acknowledged" if what["Action"] == "acknowledge" else "resolved"
    body = (
        f"<p>Incident #{what['IncidentId']} is {done} by {escape(what['Person'])}. You can "
        "close this page.</p>"
    )
    return _act_page(f"#{what['IncidentId']} {done}", body)


COVER_PATH = "/oncall/cover/{token}"


async def cover(request: Request) -> Response:
    """A cover ask's one-time link (accept, decline): the GET shows the shift and asks (a mail
    scanner or a link preview changes nothing), the POST answers, once, as the person asked.
    An ntfy push button POSTs straight here."""
    what, why_not = await _one_time_link(
        request, "peek_cover_link", "use_cover_link", "This link cannot answer"
    )
    if what is None:
        return why_not
    accepting = what["Action"] == "accept"
    if request.method == "GET":
        verb = "Cover" if accepting else "Decline"
        title = f"{verb} {what['For']}'s shift?"
        return _act_page(title, signin.cover_form(request.url.path, what, _span(what)))
    done = (
        f"You ({escape(what['Person'])}) cover {escape(what['For'])}: {escape(_span(what))}."
        if accepting
        else f"Declined: the next person is asked to cover {escape(what['For'])}."
    )
    return _act_page(
        "Covered" if accepting else "Declined", f"<p>{done} You can close this page.</p>"
    )


def _span(what: dict) -> str:
    """`Default primary, Tue 6 Jan 09:00 UTC to Wed 7 Jan 09:00 UTC` (times in UTC: the page
    does not know the reader's zone)."""
    layer = {1: "primary", 2: "secondary"}.get(what["Layer"], f"layer {what['Layer']}")

    def at(value: str) -> str:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
        return f"{moment:%a} {moment.day} {moment:%b %H:%M} UTC"

    return f"{what['Team']} {layer}, {at(what['Start'])} to {at(what['End'])}"


NOTIFY_SCRIPT_PATH = "/oncall/notify.js"
NOTIFY_SCRIPT = (Path(__file__).resolve().parent / "static" / "notify.js").read_bytes()


async def notify_script(request: Request) -> Response:
    """The browser notifications' script (console/alerts.py): a file of the package, no data."""
    return Response(
        NOTIFY_SCRIPT,
        media_type="text/javascript",
        headers={"cache-control": "no-cache"},
    )


def routes() -> list[Route]:
    return [
        Route(signin.SIGN_IN_PATH, sign_in, methods=["GET", "POST"]),
        Route(ACT_PATH, act, methods=["GET", "POST"]),
        Route(COVER_PATH, cover, methods=["GET", "POST"]),
        Route(NOTIFY_SCRIPT_PATH, notify_script, methods=["GET"]),
    ]


# ----- headers and names ------------------------------------------------------------------------
def _inline_script_hashes() -> list[str]:
    """CSP hashes of the inline scripts in Streamlit's own index.html (it has one), so the
    policy allows exactly those and no other inline script."""
    import streamlit

    index = Path(streamlit.__file__).parent / "static" / "index.html"
    try:
        html = index.read_text()
    except OSError:
        return []
    found = re.findall(r"<script>(.*?)</script>", html, flags=re.S)
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
        for s in found
    ]


def content_security_policy() -> str:
    scripts = " ".join(["'self'", *_inline_script_hashes()])
    return "; ".join(
        (
            "default-src 'self'",
            f"script-src {scripts}",
            "style-src 'self' 'unsafe-inline'",  # Streamlit styles its elements inline
            "img-src 'self' data: blob:",
            "font-src 'self' data:",
            "connect-src 'self'",
            "media-src 'self' data: blob:",
            "worker-src 'self' blob:",
            "frame-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


class _AuthRequired:
    """Whether the daemon asks for credentials, asked again every `ttl` seconds (and assumed
    not while the daemon is down: the stricter reading)."""

    def __init__(self, ttl: float = 30.0):
        self.ttl, self._value, self._at = ttl, False, float("-inf")
        self._lock = threading.Lock()

    def __call__(self) -> bool:
        with self._lock:
            if time.monotonic() - self._at < self.ttl:
                return self._value
        value = False
        try:
            with Client(api_url(), timeout=5) as anonymous:
                value = bool(anonymous.me().get("AuthRequired"))
        except ApiError as exc:
            value = exc.status == 401  # it asks for credentials
        except DaemonUnavailable:
            pass
        with self._lock:
            self._value, self._at = value, time.monotonic()
        return value


class ConsoleGuard:
    """Plain ASGI middleware: the security headers on every answer, and the Host check while
    the daemon asks nobody for credentials."""

    def __init__(self, app, allowed_hosts: str | None = None):
        self.app = app
        names = allowed_hosts if allowed_hosts is not None else os.environ.get(
            "ONCALL_ALLOWED_HOSTS", ""
        )  # fmt: skip
        self.allowed = frozenset(n.strip().lower() for n in names.split(",") if n.strip())
        self.headers = [
            (b"content-security-policy", content_security_policy().encode()),
            (b"x-frame-options", b"DENY"),
            (b"x-content-type-options", b"nosniff"),
            # Not no-referrer: a form posted under it says `Origin: null`, which reads as
            # another site's.
            (b"referrer-policy", b"same-origin"),
        ]
        self.auth_required = _AuthRequired()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        host = dict(scope.get("headers", ())).get(b"host", b"").decode("latin-1")
        name = times.host_name(host)
        if not times.is_own_name(name, self.allowed) and not await run_in_threadpool(
            self.auth_required
        ):
            if scope["type"] == "websocket":
                return await send({"type": "websocket.close", "code": 1008})
            text = (
                f"The Host '{name[:80]}' is not a name of this console. Without sign-in it "
                "answers only to loopback names and IP addresses (add names to "
                "ONCALL_ALLOWED_HOSTS)."
            )
            return await Response(text, 400, media_type="text/plain")(scope, receive, send)
        if scope["type"] == "websocket":
            origin = dict(scope.get("headers", ())).get(b"origin", b"").decode("latin-1")
            if origin and urlsplit(origin.strip()).netloc.lower() != host.strip().lower():
                log.info("refused a WebSocket from another origin: %s", origin[:100])
                return await send({"type": "websocket.close", "code": 1008})
            return await self.app(scope, receive, send)

        async def with_headers(message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *self.headers]
            await send(message)

        return await self.app(scope, receive, with_headers)


def middleware() -> list[Middleware]:
    return [Middleware(ConsoleGuard)]
