"""What every request passes before a route sees it, as plain ASGI middleware:

- `SameOrigin` (only without `ONCALL_API_TOKEN`, when nobody signs in): the daemon answers only
  to its own names (loopback names, IP literals and `ONCALL_ALLOWED_HOSTS`), so a web page
  whose name is made to resolve to 127.0.0.1 (DNS rebinding) gets nothing; and a request that
  changes something is refused when a browser says it comes from another site (`Origin`,
  `Sec-Fetch-Site`). Scripts and curl send neither header and work as before. With a token,
  every request needs an `Authorization` header, which no other site can make a browser send.
- `BodyLimit`: a request body is read here, before the route, with a size limit per route
  (a declared `Content-Length` over it is refused before a byte is read; a streamed body is cut
  at it), a deadline for slow senders, and a shared budget for the bodies of requests nobody
  has authenticated, so a stranger cannot hold the daemon's memory.
- `MaskSecretsInAccessLog`: integration keys and calendar tokens in a URL are credentials:
  masked in uvicorn's access log lines.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from collections.abc import Iterable
from urllib.parse import urlsplit

from oncall_opt.api.common import error
from oncall_opt.engine.auth import ANONYMOUS
from oncall_opt.times import host_name, is_own_name

log = logging.getLogger("oncall_opt.api")

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


class SameOrigin:
    """Refuses, without a token, a Host that is not one of the daemon's names (400) and a
    state-changing request a browser sent from another site (403)."""

    def __init__(self, app, allowed_hosts: Iterable[str] = ()):
        self.app = app
        self.allowed = frozenset(h.strip().lower() for h in allowed_hosts if h.strip())

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        host = _header(scope, b"host") or ""
        if not is_own_name(host_name(host), self.allowed):
            shown = host_name(host)[:80] or "(none)"
            response = error(
                400,
                f"the Host header '{shown}' is not a name of this daemon; without "
                "ONCALL_API_TOKEN it answers only to loopback names and IP addresses "
                "(add other names to ONCALL_ALLOWED_HOSTS)",
            )
            return await response(scope, receive, send)
        if scope["method"] not in SAFE_METHODS and self._cross_site(scope, host):
            response = error(
                403,
                "refused: a browser sent this from another site's page (Origin / "
                "Sec-Fetch-Site), and without ONCALL_API_TOKEN nothing else would stop it",
                "permission_denied",
            )
            return await response(scope, receive, send)
        return await self.app(scope, receive, send)

    def _cross_site(self, scope, host: str) -> bool:
        # The browser's own word first (same-site: another port of this host, another origin);
        # browsers without it send Origin; scripts and curl send neither.
        fetch_site = (_header(scope, b"sec-fetch-site") or "").lower()
        if fetch_site:
            return fetch_site not in ("same-origin", "none")
        origin = _header(scope, b"origin")
        if origin is None:
            return False  # curl, scripts, the console's server: not a browser page
        parts = urlsplit(origin.strip())
        return parts.netloc.lower() != host.strip().lower() or parts.scheme not in (
            "http",
            "https",
        )


# ----- bodies ---------------------------------------------------------------------------------
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
KB, MB = 1024, 1024 * 1024
DEFAULT_BODY_LIMIT = 1 * MB
# The largest body each kind of route takes; the first matching prefix wins.
BODY_LIMITS: tuple[tuple[str, int], ...] = (
    ("/auth/", 16 * KB),
    ("/v2/", 1 * MB),  # an event: PagerDuty takes up to 512 KB
    ("/integrations/twilio/", 64 * KB),  # a text's reply or a key press: a few fields
    ("/integrations/slack/", 64 * KB),  # a button press
    ("/integrations/", 4 * MB),  # an Alertmanager group of many alerts
    ("/roster/", 16 * MB),  # input.json and output.json of a large team over a year
)
UNAUTHENTICATED_BUDGET = 32 * MB  # bodies of requests nobody has authenticated, at once
PER_ADDRESS_BUDGET = 8 * MB  # ... of which one client address may hold


def body_limit(path: str) -> int:
    return next((limit for prefix, limit in BODY_LIMITS if path.startswith(prefix)), None) or (
        DEFAULT_BODY_LIMIT
    )


class _Budget:
    """Bytes that bodies of unauthenticated requests hold at once, in all and per client
    address, charged as they arrive (a declared length costs nothing until it is sent)."""

    def __init__(self, capacity: int, per_address: int):
        self.capacity, self.per_address, self.used = capacity, per_address, 0
        self.by_address: dict[str, int] = {}
        self._lock = threading.Lock()

    def take(self, address: str, size: int) -> bool:
        with self._lock:
            held = self.by_address.get(address, 0)
            if self.used + size > self.capacity or held + size > self.per_address:
                return False
            self.used += size
            self.by_address[address] = held + size
            return True

    def give(self, address: str, size: int) -> None:
        with self._lock:
            self.used -= size
            left = self.by_address.get(address, 0) - size
            if left > 0:
                self.by_address[address] = left
            else:
                self.by_address.pop(address, None)


class _TooLarge(Exception):
    pass


class _Slow(Exception):
    pass


class _Gone(Exception):
    pass


class _Busy(Exception):
    pass


class BodyLimit:
    """Reads each request body whole before the app sees it, bounded in size and time; the app
    then gets it as one message. `idle_timeout`: the longest wait for the next piece of a
    body; `total_timeout`: for all of it."""

    def __init__(
        self,
        app,
        idle_timeout: float = 15.0,
        total_timeout: float = 60.0,
        budget: int = UNAUTHENTICATED_BUDGET,
        per_address: int = PER_ADDRESS_BUDGET,
    ):
        self.app = app
        self.idle_timeout, self.total_timeout = idle_timeout, total_timeout
        self.budget = _Budget(budget, per_address)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS:
            return await self.app(scope, receive, send)
        path, method = masked(scope["path"]), scope["method"]
        limit = body_limit(scope["path"])
        declared = _header(scope, b"content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            return await self._too_large(scope, receive, send, limit)
        stranger = scope.get("state", {}).get("principal", ANONYMOUS) is ANONYMOUS
        address = (scope.get("client") or ("unknown", 0))[0]
        held = [0]  # bytes of this body charged to the budget so far
        try:
            try:
                body = await self._read(receive, limit, address if stranger else None, held)
            except _Busy:
                log.info("%s %s: bodies of strangers at their limit; answered 503", method, path)
                response = error(503, "too many requests are being received at once; retry")
                response.headers["Retry-After"] = "1"
                response.headers["Connection"] = "close"
                return await response(scope, receive, send)
            except _TooLarge:
                return await self._too_large(scope, receive, send, limit)
            except _Slow:
                log.info("%s %s: the body came too slowly; answered 408", method, path)
                response = error(408, "the request body came too slowly", "deadline_exceeded")
                response.headers["Connection"] = "close"
                return await response(scope, receive, send)
            except _Gone:
                log.info("%s %s: the client went away while sending its body", method, path)
                return None
            delivered = False

            async def replay():
                nonlocal delivered
                if not delivered:
                    delivered = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()  # after the body: only a disconnect can come

            return await self.app(scope, replay, send)
        finally:
            if held[0]:
                self.budget.give(address, held[0])

    async def _read(self, receive, limit: int, stranger: str | None, held: list[int]) -> bytes:
        """The body; a stranger's (`stranger`: their address) is charged to the budget piece
        by piece as it arrives (`held[0]`: how much so far)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.total_timeout
        chunks, size = [], 0
        while True:
            wait = min(self.idle_timeout, deadline - loop.time())
            if wait <= 0:
                raise _Slow
            try:
                async with asyncio.timeout(wait):  # no task per piece, unlike wait_for
                    message = await receive()
            except TimeoutError:
                raise _Slow from None
            if message["type"] == "http.disconnect":
                raise _Gone
            piece = message.get("body", b"")
            size += len(piece)
            if size > limit:
                raise _TooLarge
            if stranger is not None and piece:
                if not self.budget.take(stranger, len(piece)):
                    raise _Busy
                held[0] += len(piece)
            chunks.append(piece)
            if not message.get("more_body", False):
                return b"".join(chunks)

    @staticmethod
    async def _too_large(scope, receive, send, limit: int) -> None:
        response = error(
            413, f"the request body is larger than {limit} bytes, the most {scope['path']} takes"
        )
        response.headers["Connection"] = "close"  # the rest of the body is not read
        await response(scope, receive, send)


# ----- the access log -------------------------------------------------------------------------
class MaskSecretsInAccessLog(logging.Filter):
    """An Alertmanager receiver's URL holds its integration key, a calendar feed's URL its
    token, a page's action link (and a call's `?token=`) its one-time token: all credentials,
    masked in uvicorn's access log lines."""

    patterns = (
        (re.compile(r"(/integrations/alertmanager/)[^/\s\"?]+"), r"\1***"),
        (re.compile(r"(/calendar/)[^/\s\"?]+?(\.ics)?(?=[\s\"?]|$)"), r"\1***\2"),
        (re.compile(r"(/actions/|/oncall/act/|/heartbeat/)[^/\s\"?]+"), r"\1***"),
        (re.compile(r"([?&]token=)[^&\s\"]+"), r"\1***"),  # a call's key-press link
    )

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args and isinstance(record.args, tuple):
            record.args = tuple(self._mask(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str):
            record.msg = self._mask(record.msg)
        return True

    def _mask(self, text: str) -> str:
        for pattern, replacement in self.patterns:
            text = pattern.sub(replacement, text)
        return text


_mask_filter = MaskSecretsInAccessLog()


def masked(path: str) -> str:
    """`path` as it may be logged: the credentials in it masked."""
    return _mask_filter._mask(path)


def mask_access_log() -> None:
    """Attach the mask to uvicorn's access logger (once)."""
    access = logging.getLogger("uvicorn.access")
    if _mask_filter not in access.filters:
        access.addFilter(_mask_filter)
