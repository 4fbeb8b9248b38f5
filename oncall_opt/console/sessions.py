"""Console sign-ins, held by the console's own process.

The browser keeps only a random id, in a cookie that page script cannot read (HttpOnly, set by
a server response of `console/server.py`, SameSite=Strict, `__Host-` and Secure where the
browser allows it). The daemon session that id stands for stays here, in memory: the id is
useless against the API, and a stolen daemon token was never in the browser to steal. A
restart of the console signs everyone out of it (their daemon sessions simply expire).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

# `__Host-`: only a secure origin may set it, with Path=/ and no Domain, so another site or a
# subdomain cannot plant one. Browsers count http://localhost and 127.0.0.1 as secure; a console
# served over plain http on another name uses the plain name.
SECURE_COOKIE = "__Host-oncall_console"
PLAIN_COOKIE = "oncall_console"


@dataclass(frozen=True)
class ConsoleSession:
    token: str  # the daemon's session secret (Authorization: Bearer)
    user: dict  # the API's User
    role: str
    expires_at: datetime


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()


class Registry:
    """Console session ids (kept as hashes) to the daemon sessions they stand for."""

    def __init__(self, limit: int = 10_000):
        self.limit = limit
        self._sessions: dict[str, ConsoleSession] = {}
        self._lock = threading.Lock()

    def add(self, session: ConsoleSession, now: datetime | None = None) -> str:
        """Keep `session`; returns the new id for the browser's cookie."""
        session_id = secrets.token_urlsafe(32)
        with self._lock:
            if len(self._sessions) >= self.limit:
                self._drop_expired(now or datetime.now(UTC))
            if len(self._sessions) >= self.limit:  # full of live ones: the oldest goes
                self._sessions.pop(next(iter(self._sessions)))
            self._sessions[_key(session_id)] = session
        return session_id

    def get(self, session_id: str | None, now: datetime | None = None) -> ConsoleSession | None:
        if not session_id:
            return None
        with self._lock:
            found = self._sessions.get(_key(session_id))
            if found is not None and found.expires_at <= (now or datetime.now(UTC)):
                self._sessions.pop(_key(session_id), None)
                return None
        return found

    def drop(self, session_id: str | None) -> ConsoleSession | None:
        if not session_id:
            return None
        with self._lock:
            return self._sessions.pop(_key(session_id), None)

    def _drop_expired(self, now: datetime) -> None:
        for key in [k for k, s in self._sessions.items() if s.expires_at <= now]:
            del self._sessions[key]


REGISTRY = Registry()  # one per console process, shared by its pages and its sign-in routes


def cookie_value(cookies: Mapping[str, str] | None, secure: bool) -> str | None:
    """The console session id a browser sent: over https only the `__Host-` cookie counts (a
    plain one could have been planted by a sibling name or over plain http)."""
    if not cookies:
        return None
    return cookies.get(SECURE_COOKIE) if secure else cookies.get(PLAIN_COOKIE)
