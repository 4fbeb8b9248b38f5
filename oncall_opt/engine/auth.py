"""Who may do what: roles, passwords and the credentials that act as a person.

- A person's **role** is `admin` (may change people, shifts, rosters and settings) or `member`
  (may trigger, acknowledge, assign and resolve incidents, solve what-ifs, and change their own
  profile, availability, password and keys). The daemon's own `ONCALL_API_TOKEN` acts as an
  admin that is nobody in particular: it is how the first people and keys are made.
- **Credentials** act as a person: API keys (named, until revoked), console sessions (from a
  password or a one-time link, until they expire or the person signs out) and one-time sign-in
  links (15 minutes, used once). Each is a random secret of 256 bits shown once; the store keeps
  its SHA-256 hash and a short prefix to recognise it by. A slow hash buys nothing for secrets
  that cannot be guessed and would cost every request; passwords, which people choose, are
  hashed with argon2id instead (argon2-cffi's defaults, RFC 9106's low-memory profile).
- A credential carries a role no higher than its person's: an admin may make a `member` key for
  a script; a person who stops being admin takes their credentials down with them.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import ipaddress
import math
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from oncall_opt.engine import text
from oncall_opt.engine.store import Store, Transaction
from oncall_opt.engine.users import check_role, get_user, same_handle
from oncall_opt.errors import (
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    TooManyRequestsError,
    UnauthenticatedError,
    UnavailableError,
)

Role = Literal["admin", "member"]
KEY, SESSION, LINK = "key", "session", "link"
_PREFIXES = {KEY: "oo_key_", SESSION: "oo_ses_", LINK: "oo_link_"}

LINK_LIFETIME = timedelta(minutes=15)
LINK_SESSION_NAME = "console (link)"
SESSION_NAMES = {"password": "console (password)", "link": LINK_SESSION_NAME}
MIN_PASSWORD, MAX_PASSWORD = 10, 256
MAX_KEY_NAME = text.MAX_NAME


def rank(role: str) -> int:
    return {"member": 1, "admin": 2}.get(role, 0)


def lower_role(a: str, b: str) -> Role:
    return a if rank(a) <= rank(b) else b  # type: ignore[return-value]


@dataclass(frozen=True)
class Principal:
    """Who a request acts as. `user_id` is None for the daemon's own token and when the daemon
    has no authentication at all (then everyone is an anonymous admin, as in the tutorial)."""

    role: Role
    user_id: int | None = None
    credential_id: int | None = None
    via: Literal["open", "token", "key", "session"] = "open"
    expires_at: datetime | None = None  # a session's end

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


OPEN = Principal(role="admin")  # a daemon without authentication: everyone may do everything
ANONYMOUS = Principal(role="member")  # signing in, the health check, the docs
DAEMON_TOKEN = Principal(role="admin", via="token")


@dataclass(frozen=True)
class Credential:
    id: int
    user_id: int
    kind: str
    name: str
    role: Role
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


_COLUMNS = "id, user_id, kind, name, role, prefix, created_at, expires_at, last_used_at, revoked_at"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def _new_secret(kind: str) -> str:
    return _PREFIXES[kind] + secrets.token_urlsafe(32)


def _issue(
    tx: Transaction,
    user_id: int,
    kind: str,
    name: str,
    role: Role,
    now: datetime,
    expires_at: datetime | None,
    made_with: int | None = None,
) -> tuple[Credential, str]:
    secret = _new_secret(kind)
    row = tx.row(
        "INSERT INTO credentials (user_id, kind, name, role, secret_hash, prefix, created_at, "
        f"expires_at, made_with) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING {_COLUMNS}",
        [
            user_id,
            kind,
            name,
            role,
            hash_secret(secret),
            secret[: len(_PREFIXES[kind]) + 4],
            now,
            expires_at,
            made_with,
        ],
    )
    assert row is not None
    return Credential(**row), secret


# ----- API keys ---------------------------------------------------------------------------------
def create_key(
    store: Store,
    user_id: int,
    name: str,
    now: datetime,
    role: str | None = None,
    made_with: int | None = None,
) -> tuple[Credential, str]:
    """A new API key for `user_id` (their role, or a lower one); the secret is returned once.
    `made_with`: the credential (session or key) the request was made with, if any."""
    name = text.clean("Name", name, MAX_KEY_NAME, refuse_bidi=True)
    if not name:
        raise InvalidRequestError("Name", "must not be empty (say what the key is for)")

    def work(tx: Transaction) -> tuple[Credential, str]:
        person = get_user(tx, user_id)
        wanted = check_role(role) if role is not None else person.role
        if rank(wanted) > rank(person.role):
            raise InvalidRequestError(
                "Role", f"{person.full_name} is a {person.role}; a key cannot be {wanted}"
            )
        return _issue(tx, user_id, KEY, name, wanted, now, None, made_with)

    return store.write(work)


def list_keys(store: Store, user_id: int) -> list[Credential]:
    """The person's API keys that are not revoked, oldest first."""
    get_user(store, user_id)
    rows = store.rows(
        f"SELECT {_COLUMNS} FROM credentials WHERE user_id = ? AND kind = ? "
        "AND revoked_at IS NULL ORDER BY id",
        [user_id, KEY],
    )
    return [Credential(**row) for row in rows]


def get_credential(store: Store, credential_id: int) -> Credential:
    row = store.row(f"SELECT {_COLUMNS} FROM credentials WHERE id = ?", [credential_id])
    if row is None or row["kind"] != KEY:
        raise NotFoundError(f"no API key with id {credential_id}")
    return Credential(**row)


def revoke(store: Store, credential_id: int, now: datetime) -> Credential:
    """Revoke a credential at once (again: no change)."""
    row = store.write(
        lambda tx: tx.row(
            "UPDATE credentials SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ? "
            f"RETURNING {_COLUMNS}",
            [now, credential_id],
        )
    )
    if row is None:
        raise NotFoundError(f"no API key with id {credential_id}")
    return Credential(**row)


# ----- passwords --------------------------------------------------------------------------------
def _hasher():
    from argon2 import PasswordHasher  # loaded on first use: only sign-ins need it

    return PasswordHasher()


def set_password(
    store: Store,
    user_id: int,
    password: str,
    now: datetime,
    gate: HashGate | None = None,
    keep_session: int | None = None,
) -> None:
    """Set (or, with "", remove) a person's console password. Whoever had the old one loses
    what they made with it: the person's console sessions end (but `keep_session`, the one
    making the change), and so do the API keys any of those sessions made (and keys those keys
    made). Keys an admin or the daemon's token made stay."""
    if not isinstance(password, str):
        raise InvalidRequestError("Password", "must be text")
    if password and not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidRequestError(
            "Password", f"must be {MIN_PASSWORD} to {MAX_PASSWORD} characters long"
        )
    text.clean("Password", password, MAX_PASSWORD, multiline=True)  # valid Unicode
    hashed = None
    if password:
        with gate.slot() if gate is not None else contextlib.nullcontext():
            hashed = _hasher().hash(password)

    def work(tx: Transaction) -> None:
        get_user(tx, user_id)
        tx.execute("UPDATE users SET password_hash = ? WHERE id = ?", [hashed, user_id])
        made = {
            r["id"]: r["made_with"]
            for r in tx.rows(
                "SELECT id, made_with FROM credentials WHERE user_id = ? AND kind IN (?, ?)",
                [user_id, SESSION, KEY],
            )
        }
        sessions = {
            r["id"]
            for r in tx.rows(
                "SELECT id FROM credentials WHERE user_id = ? AND kind = ?", [user_id, SESSION]
            )
        } - {keep_session}
        ending = set(sessions)
        while True:  # keys made by ending credentials end too, to any depth
            more = {cid for cid, parent in made.items() if parent in ending} - ending
            if not more:
                break
            ending |= more
        if ending:
            marks = ", ".join("?" for _ in ending)
            tx.execute(
                f"UPDATE credentials SET revoked_at = ? WHERE id IN ({marks}) "
                "AND revoked_at IS NULL",
                [now, *sorted(ending)],
            )

    store.write(work)


def has_password(store: Store, user_id: int) -> bool:
    row = store.row("SELECT password_hash FROM users WHERE id = ?", [user_id])
    return bool(row and row["password_hash"])


# ----- sign-in ---------------------------------------------------------------------------------
class HashGate:
    """At most `workers` password hashes at once (an argon2id hash holds 64 MiB and a core for
    tens of milliseconds), with at most `queue` more waiting their turn; past that, a sign-in
    is answered 503 at once. Strangers can then neither exhaust the daemon's memory nor starve
    its other requests, however many sign-ins they send."""

    def __init__(self, workers: int = 2, queue: int = 8):
        self.workers, self.queue = workers, queue
        self._slots = threading.BoundedSemaphore(workers)
        self._admitted = 0
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        with self._lock:
            if self._admitted >= self.workers + self.queue:
                raise UnavailableError(
                    "too many sign-ins at once; retry in a moment (or use a sign-in link)"
                )
            self._admitted += 1
        try:
            with self._slots:
                yield
        finally:
            with self._lock:
                self._admitted -= 1


def address_key(address: str | None) -> str:
    """Whom failures are counted against: the IPv4 address, or an IPv6 address's /64 (one
    machine is usually given a whole /64)."""
    if not address:
        return "unknown"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class SignInThrottle:
    """Failed password sign-ins, counted in the store (so a restart forgets nothing) over
    `window`. Past any of these the answer is 429, without hashing, until the oldest failure
    of that kind ages out:

    - `per_address` failures from one address, whatever the handles (one guesser);
    - `per_pair` failures for one handle from one address (a person mistyping their own);
    - `per_handle` failures for one handle from anywhere (many addresses at one person).

    Someone else's guesses can thus lock a person out of password sign-in only by coming from
    many addresses, and never out of one-time sign-in links, which are not throttled."""

    def __init__(
        self,
        per_address: int = 20,
        per_pair: int = 5,
        per_handle: int = 50,
        window: timedelta = timedelta(minutes=15),
    ):
        self.per_address, self.per_pair, self.per_handle = per_address, per_pair, per_handle
        self.window = window

    def check(self, store: Store, handle: str, address: str, now: datetime) -> None:
        row = store.row(
            "SELECT sum(CASE WHEN address = ? THEN 1 ELSE 0 END) AS by_address, "
            "sum(CASE WHEN address = ? AND handle = ? THEN 1 ELSE 0 END) AS by_pair, "
            "sum(CASE WHEN handle = ? THEN 1 ELSE 0 END) AS by_handle, "
            "min(CASE WHEN address = ? THEN failed_at END) AS oldest_address, "
            "min(CASE WHEN address = ? AND handle = ? THEN failed_at END) AS oldest_pair, "
            "min(CASE WHEN handle = ? THEN failed_at END) AS oldest_handle "
            "FROM sign_in_failures WHERE failed_at > ? AND (address = ? OR handle = ?)",
            [address, address, handle, handle, address, address, handle, handle,
             now - self.window, address, handle],
        )  # fmt: skip
        assert row is not None
        for kind, limit, whose in (
            ("pair", self.per_pair, f"@{handle}"),
            ("handle", self.per_handle, f"@{handle}"),
            ("address", self.per_address, "your address"),
        ):
            if (row[f"by_{kind}"] or 0) >= limit:
                oldest = row[f"oldest_{kind}"]
                wait = max(1, math.ceil((oldest + self.window - now).total_seconds() / 60))
                raise TooManyRequestsError(
                    f"too many failed sign-ins for {whose}; try again in {wait} min "
                    "or ask an admin for a sign-in link"
                )

    def failed(self, store: Store, handle: str, address: str, now: datetime) -> None:
        def work(tx: Transaction) -> None:
            tx.execute("DELETE FROM sign_in_failures WHERE failed_at <= ?", [now - self.window])
            tx.execute(
                "INSERT INTO sign_in_failures (handle, address, failed_at) VALUES (?, ?, ?)",
                [handle, address, now],
            )

        store.write(work)

    def succeeded(self, store: Store, handle: str, address: str) -> None:
        store.write(
            lambda tx: tx.execute(
                "DELETE FROM sign_in_failures WHERE handle = ? AND address = ?", [handle, address]
            )
        )


def sign_in_with_password(
    store: Store,
    slack_handle: str,
    password: str,
    now: datetime,
    lifetime: timedelta,
    throttle: SignInThrottle,
    gate: HashGate,
    address: str | None = None,
) -> tuple[Credential, str]:
    """A console session for the person with this Slack handle and password. The answer to a
    wrong handle and to a wrong password is the same, and costs the same work."""
    handle = text.clean("SlackHandle", slack_handle, text.MAX_NAME).removeprefix("@").casefold()
    where = address_key(address)
    throttle.check(store, handle, where, now)
    candidates = [
        row
        for row in store.rows(
            "SELECT id, slack_handle, password_hash FROM users "
            "WHERE password_hash IS NOT NULL ORDER BY id"
        )
        if same_handle(row["slack_handle"], handle)
    ]
    hasher = _hasher()
    with gate.slot():
        found = next(
            (c["id"] for c in candidates if _verifies(hasher, c["password_hash"], password)), None
        )
        if not candidates:  # as slow as a wrong password, so handles cannot be probed by timing
            _verifies(hasher, _dummy_hash(), password)
    if found is not None:
        throttle.succeeded(store, handle, where)
        return _session(store, found, "password", now, lifetime)
    throttle.failed(store, handle, where, now)
    raise UnauthenticatedError("wrong Slack handle or password")


def check_current_password(
    store: Store,
    user_id: int,
    password: str | None,
    now: datetime,
    throttle: SignInThrottle,
    gate: HashGate,
    address: str | None = None,
    credential_id: int | None = None,
) -> None:
    """Refuse (401) a change of your own password whose `CurrentPassword` is missing or wrong,
    counting a wrong one as a failed sign-in: a stolen session cannot guess its way to a new
    password. Without a password yet, the first one may be set only from a session a one-time
    link made minutes ago (`credential_id`): a session stolen later cannot set one and keep
    the account."""
    row = store.row("SELECT slack_handle, password_hash FROM users WHERE id = ?", [user_id])
    if row is None:
        raise NotFoundError(f"no user with id {user_id}")
    if not row["password_hash"]:
        if not _fresh_link_session(store, credential_id, user_id, now):
            raise UnauthenticatedError(
                "CurrentPassword: you have no password yet; to set your first one, sign in "
                f"with a new one-time link (it counts for {LINK_LIFETIME.seconds // 60} minutes "
                "after signing in), or ask an admin"
            )
        return
    if not password:
        raise UnauthenticatedError("CurrentPassword: give your current password to change it")
    handle, where = row["slack_handle"].casefold(), address_key(address)
    throttle.check(store, handle, where, now)
    with gate.slot():
        right = _verifies(_hasher(), row["password_hash"], password)
    if not right:
        throttle.failed(store, handle, where, now)
        raise UnauthenticatedError("CurrentPassword: that is not your current password")


def _fresh_link_session(
    store: Store, credential_id: int | None, user_id: int, now: datetime
) -> bool:
    if credential_id is None:
        return False
    row = store.row(
        "SELECT created_at FROM credentials WHERE id = ? AND user_id = ? AND kind = ? "
        "AND name = ? AND revoked_at IS NULL",
        [credential_id, user_id, SESSION, LINK_SESSION_NAME],
    )
    return row is not None and now - row["created_at"] < LINK_LIFETIME


@functools.cache
def _dummy_hash() -> str:
    return _hasher().hash(secrets.token_urlsafe(16))


def _verifies(hasher, hashed: str, password: str) -> bool:
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return hasher.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


def _session(
    store: Store, user_id: int, how: str, now: datetime, lifetime: timedelta
) -> tuple[Credential, str]:
    def work(tx: Transaction) -> tuple[Credential, str]:
        person = get_user(tx, user_id)
        return _issue(tx, user_id, SESSION, SESSION_NAMES[how], person.role, now, now + lifetime)

    return store.write(work)


def create_link(store: Store, user_id: int, now: datetime) -> tuple[Credential, str]:
    """A one-time sign-in code for `user_id`, valid for 15 minutes."""

    def work(tx: Transaction) -> tuple[Credential, str]:
        person = get_user(tx, user_id)
        return _issue(tx, user_id, LINK, "sign-in link", person.role, now, now + LINK_LIFETIME)

    return store.write(work)


def sign_in_with_link(
    store: Store, code: str, now: datetime, lifetime: timedelta
) -> tuple[Credential, str]:
    """Trade a one-time code for a console session; the code is spent either way."""
    if not isinstance(code, str) or not code.startswith(_PREFIXES[LINK]):
        raise UnauthenticatedError("this sign-in link is not valid; ask for a new one")

    def work(tx: Transaction) -> int | None:
        row = tx.row(
            "UPDATE credentials SET revoked_at = ?, last_used_at = ? WHERE secret_hash = ? "
            "AND kind = ? AND revoked_at IS NULL AND expires_at > ? RETURNING user_id",
            [now, now, hash_secret(code), LINK, now],
        )
        return row["user_id"] if row else None

    user_id = store.write(work)
    if user_id is None:
        raise UnauthenticatedError(
            "this sign-in link was used already or has expired (links last 15 minutes and "
            "work once); ask for a new one"
        )
    return _session(store, user_id, "link", now, lifetime)


# ----- who a request acts as --------------------------------------------------------------------
def principal_for(store: Store, secret: str, now: datetime) -> Principal | None:
    """The person and role a key or session secret acts as, or None when it is unknown,
    revoked or expired. The role is the lower of the credential's and the person's now."""
    row = store.row(
        "SELECT c.id, c.user_id, c.kind, c.role, c.expires_at, c.last_used_at, "
        "u.role AS user_role "
        "FROM credentials c JOIN users u ON u.id = c.user_id WHERE c.secret_hash = ? "
        "AND c.kind IN (?, ?) AND c.revoked_at IS NULL AND (c.expires_at IS NULL OR "
        "c.expires_at > ?)",
        [hash_secret(secret), KEY, SESSION, now],
    )
    if row is None:
        return None
    if row["last_used_at"] is None or now - row["last_used_at"] > timedelta(minutes=1):
        store.write(
            lambda tx: tx.execute(
                "UPDATE credentials SET last_used_at = ? WHERE id = ?", [now, row["id"]]
            )
        )
    return Principal(
        role=lower_role(row["role"], row["user_role"]),
        user_id=row["user_id"],
        credential_id=row["id"],
        via=row["kind"],
        expires_at=row["expires_at"],
    )


class Authenticator:
    """Secrets to principals, with a short cache so that a busy key costs one lookup per
    `ttl` seconds instead of one per request. Anything that revokes or changes a role calls
    `forget()`; another daemon on the same database sees a revocation within `ttl`."""

    def __init__(self, store: Store, now: Callable[[], datetime], ttl: float = 10.0):
        self.store, self.now, self.ttl = store, now, ttl
        self._cache: dict[str, tuple[Principal | None, float]] = {}
        self._lock = threading.Lock()

    def cached(self, secret: str) -> tuple[bool, Principal | None]:
        """(True, what the secret acted as moments ago), or (False, None): look it up."""
        with self._lock:
            hit = self._cache.get(secret)
        if hit is None or time.monotonic() - hit[1] >= self.ttl:
            return False, None
        principal = hit[0]
        if principal is not None and principal.expires_at and principal.expires_at <= self.now():
            return False, None
        return True, principal

    def lookup(self, secret: str) -> Principal | None:
        principal = principal_for(self.store, secret, self.now())
        with self._lock:
            if len(self._cache) > 10_000:  # bounded: unknown secrets are cached too
                self._cache.clear()
            self._cache[secret] = (principal, time.monotonic())
        return principal

    def forget(self) -> None:
        with self._lock:
            self._cache.clear()


def require_self_or_admin(principal: Principal, user_id: int, what: str) -> None:
    if not principal.is_admin and principal.user_id != user_id:
        raise PermissionDeniedError(f"a member may {what} only for themself; ask an admin")


def acting_user(principal: Principal, given: int | None) -> int | None:
    """Who an action on an incident is recorded as: the given UserId, else the signed-in
    person. A member may act only as themself."""
    if given is None:
        return principal.user_id
    if principal.user_id is not None and given != principal.user_id and not principal.is_admin:
        raise PermissionDeniedError(
            f"UserId: you are user {principal.user_id}; a member acts only as themself"
        )
    return given
