"""A person's contact methods: how to reach them (an email address, an ntfy topic on their
phone, a webhook of theirs), each checked when given, and, for the kinds a stranger's address
could be typed into, verified with a short code sent there before pages go to it.

An address is shown back only to its person and admins, and only as much as is safe: a push
topic's or a webhook's path is a secret (whoever knows it can read or forge the pages), so it
is masked. A webhook's signing secret is shown once, when the method is made."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from oncall_opt.engine import destinations, text
from oncall_opt.engine.paging import notifications, rules
from oncall_opt.engine.paging.channels import apprise_url, available
from oncall_opt.engine.paging.channels.slack_dm import USER_ID as SLACK_USER_ID
from oncall_opt.engine.paging.channels.twilio import E164
from oncall_opt.engine.settings import Settings
from oncall_opt.engine.store import Store, Transaction
from oncall_opt.engine.users import get_user
from oncall_opt.errors import (
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    TooManyRequestsError,
)

KINDS = ("email", "sms", "voice", "push", "slack", "webhook", "apprise")
# A code proves the person reads it there (a typed address could be anyone's).
VERIFIED_BY_CODE = frozenset({"email", "sms", "voice", "push", "slack", "apprise"})
CODE_LIFETIME = timedelta(minutes=15)
MAX_CODE_ATTEMPTS = 5
CODE_GAP = timedelta(minutes=1)  # between two codes to one method
CODES_PER_METHOD_HOUR = 5
CODES_PER_PERSON_HOUR = 10
MAX_METHODS = 20  # per person
_EMAIL = re.compile(r"[^@\s<>\"'(),;:\[\]\\]+@[^@\s<>\"'(),;:\[\]\\]+\.[^@\s<>\"'(),;:\[\]\\]+")
_COLUMNS = (
    "id, user_id, type, name, address, shown, secret, verified_at, code_hash, code_expires_at, "
    "code_attempts, created_at"
)


@dataclass(frozen=True)
class ContactMethod:
    id: int
    user_id: int
    type: str
    name: str
    address: str  # in full: for the channels only, never in an answer
    shown: str  # what answers show
    secret: str | None
    verified_at: datetime | None
    code_hash: str | None
    code_expires_at: datetime | None
    code_attempts: int
    created_at: datetime

    @property
    def verified(self) -> bool:
        return self.verified_at is not None

    def __repr__(self) -> str:
        return f"ContactMethod(id={self.id}, type={self.type!r}, shown={self.shown!r})"


def _of(row: dict[str, Any]) -> ContactMethod:
    return ContactMethod(**row)


def check_address(kind: str, address: object, settings: Settings) -> tuple[str, str]:
    """The address as stored and as shown, or InvalidRequestError naming `Address`."""
    value = text.clean("Address", address if address is not None else "", 2048, refuse_bidi=True)
    if not value:
        raise InvalidRequestError("Address", "must not be empty")
    if kind == "email":
        if len(value) > 254 or not _EMAIL.fullmatch(value):
            raise InvalidRequestError("Address", "is not an e-mail address (name@example.com)")
        return value, value
    if kind in ("sms", "voice"):
        number = value.replace(" ", "").replace("-", "")
        if not E164.fullmatch(number):
            raise InvalidRequestError(
                "Address", "is not a phone number in international form (+4915112345678)"
            )
        return number, number
    if kind == "slack":
        if not SLACK_USER_ID.fullmatch(value):
            raise InvalidRequestError(
                "Address", "is not a Slack member id (U0123ABCD: Slack profile, ⋮, Copy member ID)"
            )
        return value, value
    if kind == "apprise":
        return apprise_url.check(value, settings)
    try:
        topic = urlsplit(value).path.strip("/")
    except ValueError:
        topic = ""
    if kind == "push" and not topic:
        raise InvalidRequestError("Address", "must name the ntfy topic: https://ntfy.sh/<topic>")
    url = destinations.check_url("Address", value, settings.allow_private_webhooks)
    parts = urlsplit(url)
    return url, f"{parts.scheme}://{parts.netloc}/…"


def check_kind(kind: object, settings: Settings) -> str:
    if kind not in KINDS:
        raise InvalidRequestError("Type", f"must be one of {', '.join(KINDS)}")
    missing = available(settings)[kind]  # type: ignore[index]
    if missing:
        raise InvalidRequestError(
            "Type", f"{kind} is not set up on this daemon: it needs {missing}"
        )
    return kind  # type: ignore[return-value]


def _first_rules(tx: Transaction, method: ContactMethod, now: datetime) -> None:
    rules.ensure_default(tx, method.user_id, method.id, now)


def _code_hash(method_id: int, code: str) -> str:
    return hashlib.sha256(f"{method_id}:{code}".encode()).hexdigest()


def _new_code(tx: Transaction, method: ContactMethod, now: datetime) -> None:
    """A fresh code for `method`, stored as a hash, sent by the notify job (durable). Codes
    are rationed: each text or call costs money (and a stream of them is a way to pump SMS to
    numbers one does not own), and each new code would bring five more guesses."""
    sent = tx.row(
        "SELECT COUNT(*) FILTER (WHERE contact_method_id = ?) AS method_hour, "
        "COUNT(*) FILTER (WHERE contact_method_id = ? AND created_at > ?) AS method_minute, "
        "COUNT(*) AS person_hour FROM notifications "
        "WHERE kind = 'verify' AND user_id = ? AND created_at > ?",
        [method.id, method.id, now - CODE_GAP, method.user_id, now - timedelta(hours=1)],
    )
    assert sent is not None
    if sent["method_minute"]:
        raise TooManyRequestsError("a code was sent there less than a minute ago: wait for it")
    if sent["method_hour"] >= CODES_PER_METHOD_HOUR or sent["person_hour"] >= CODES_PER_PERSON_HOUR:
        raise TooManyRequestsError("too many codes were sent in the last hour: try again later")
    code = f"{secrets.randbelow(10**6):06d}"
    tx.execute(
        "UPDATE contact_methods SET code_hash = ?, code_expires_at = ?, code_attempts = 0 "
        "WHERE id = ?",
        [_code_hash(method.id, code), now + CODE_LIFETIME, method.id],
    )
    notifications.queue(tx, "verify", method.user_id, method.id, now, body=code)


def create(
    store: Store,
    user_id: int,
    kind: object,
    address: object,
    name: object,
    now: datetime,
    settings: Settings,
) -> tuple[ContactMethod, str | None]:
    """A new method, and its signing secret when it is a webhook (shown this once). A method
    reached by code is sent one, and is not paged until verified."""
    kind = check_kind(kind, settings)
    stored, shown = check_address(kind, address, settings)
    label = text.clean("Name", name if name is not None else "", text.MAX_NAME, refuse_bidi=True)
    secret = "whsec_" + secrets.token_urlsafe(32) if kind == "webhook" else None

    def work(tx: Transaction) -> ContactMethod:
        get_user(tx, user_id)
        count = tx.row("SELECT count(*) AS n FROM contact_methods WHERE user_id = ?", [user_id])
        if count and count["n"] >= MAX_METHODS:
            raise ConflictError(f"a person has at most {MAX_METHODS} contact methods")
        row = tx.row(
            "INSERT INTO contact_methods (user_id, type, name, address, shown, secret, "
            f"verified_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING {_COLUMNS}",
            [user_id, kind, label or kind, stored, shown, secret,
             None if kind in VERIFIED_BY_CODE else now, now],
        )  # fmt: skip
        assert row is not None
        method = _of(row)
        if kind in VERIFIED_BY_CODE:
            _new_code(tx, method, now)
        else:
            _first_rules(tx, method, now)
        return method

    return store.write(work), secret


def get(source: Store | Transaction, method_id: int) -> ContactMethod:
    row = source.row(f"SELECT {_COLUMNS} FROM contact_methods WHERE id = ?", [method_id])
    if row is None:
        raise NotFoundError(f"no contact method with id {method_id}")
    return _of(row)


def of_user(source: Store | Transaction, user_id: int) -> list[ContactMethod]:
    rows = source.rows(
        f"SELECT {_COLUMNS} FROM contact_methods WHERE user_id = ? ORDER BY id", [user_id]
    )
    return [_of(r) for r in rows]


def update(
    store: Store,
    method_id: int,
    now: datetime,
    settings: Settings,
    name: object = None,
    address: object = None,
) -> ContactMethod:
    """Rename a method, or give it a new address (verified again, as a new one would be)."""
    label = text.clean("Name", name, text.MAX_NAME, refuse_bidi=True) if name is not None else None

    def work(tx: Transaction) -> ContactMethod:
        method = get(tx, method_id)
        if label:
            tx.execute("UPDATE contact_methods SET name = ? WHERE id = ?", [label, method_id])
        if address is not None:
            stored, shown = check_address(method.type, address, settings)
            if stored != method.address:
                again = method.type in VERIFIED_BY_CODE
                tx.execute(
                    "UPDATE contact_methods SET address = ?, shown = ?, verified_at = ? "
                    "WHERE id = ?",
                    [stored, shown, None if again else now, method_id],
                )
                notifications.cancel_queued_for_method(tx, method_id, now)
                if again:
                    _new_code(tx, get(tx, method_id), now)
        return get(tx, method_id)

    return store.write(work)


def delete(store: Store, method_id: int, now: datetime) -> ContactMethod:
    """Remove a method, its notification rules, and what was still waiting to go to it."""

    def work(tx: Transaction) -> ContactMethod:
        method = get(tx, method_id)
        notifications.cancel_queued_for_method(tx, method_id, now)
        tx.execute("DELETE FROM notification_rules WHERE contact_method_id = ?", [method_id])
        tx.execute("DELETE FROM contact_methods WHERE id = ?", [method_id])
        return method

    return store.write(work)


def verify(store: Store, method_id: int, code: str | None, now: datetime) -> ContactMethod:
    """Check `code` (six digits, 15 minutes, five tries); without one, send a new code."""

    def work(tx: Transaction) -> tuple[ContactMethod, str | None]:
        method = get(tx, method_id)
        if method.verified:
            return method, None
        if code is None:
            _new_code(tx, method, now)
            return get(tx, method_id), None
        given = text.clean("Code", code, 20).replace(" ", "")
        if method.code_hash is None or method.code_expires_at is None:
            return method, "no code was sent; ask for one (verify without a Code)"
        if method.code_expires_at <= now or method.code_attempts >= MAX_CODE_ATTEMPTS:
            return method, "the code has expired or was tried too often; ask for a new one"
        if not secrets.compare_digest(_code_hash(method_id, given), method.code_hash):
            tx.execute(
                "UPDATE contact_methods SET code_attempts = code_attempts + 1 WHERE id = ?",
                [method_id],
            )
            left = MAX_CODE_ATTEMPTS - method.code_attempts - 1
            return method, f"that is not the code sent there ({left} tries left)"
        if taken := _linked_elsewhere(tx, method):
            return method, taken
        tx.execute(
            "UPDATE contact_methods SET verified_at = ?, code_hash = NULL, "
            "code_expires_at = NULL WHERE id = ?",
            [now, method_id],
        )
        _first_rules(tx, method, now)
        notifications.cancel_codes(tx, method_id)
        return get(tx, method_id), None

    method, problem = store.write(work)  # a wrong try is counted even though it is refused
    if problem:
        raise InvalidRequestError("Code", problem)
    return method


def _linked_elsewhere(tx: Transaction, method: ContactMethod) -> str | None:
    """Why a Slack member id cannot be verified for this person: someone else has it verified
    (a Slack button press acts as the one person who owns that id)."""
    if method.type != "slack":
        return None
    row = tx.row(
        "SELECT id FROM contact_methods WHERE type = 'slack' AND address = ? AND user_id <> ? "
        "AND verified_at IS NOT NULL",
        [method.address, method.user_id],
    )
    if row is None:
        return None
    return "this Slack member id is already linked to someone else (ask an admin)"


def mark_verified(store: Store, method_id: int, now: datetime) -> ContactMethod:
    """An admin vouches for the address."""

    def work(tx: Transaction) -> ContactMethod:
        method = get(tx, method_id)
        if taken := _linked_elsewhere(tx, method):
            raise InvalidRequestError("Verified", taken)
        tx.execute(
            "UPDATE contact_methods SET verified_at = coalesce(verified_at, ?), code_hash = NULL, "
            "code_expires_at = NULL WHERE id = ?",
            [now, method_id],
        )
        _first_rules(tx, method, now)
        notifications.cancel_codes(tx, method_id)
        return get(tx, method_id)

    return store.write(work)
