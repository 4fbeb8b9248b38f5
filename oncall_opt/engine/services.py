"""Services: what alerts are about (checkout, payments-db...). Each belongs to a team, follows
an escalation policy, and has an integration key that monitoring sends alerts with (the
Events API v2 `routing_key`, the Alertmanager receiver's URL).

An integration key is 32 random hexadecimal characters, as PagerDuty's are: shown once in full
when the service is made or the key rotated, stored only as its SHA-256 hash with its first
characters to recognise it. The "Default" service (id 1) of the Default team takes the
tutorial's `POST /incidents`; it has no key until one is rotated in.

Per service, as PagerDuty's services have: an acknowledgement timeout (an acknowledged incident
that is not resolved in that time is triggered again) and an auto-resolve timeout (an open
incident not triggered again in that time is resolved).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from oncall_opt.engine import text
from oncall_opt.engine.policies import (
    DEFAULT_POLICY,
    ROUTING_MEMO,
    Policy,
    Step,
    Target,
    get_policy,
    insert_policy,
    list_policies,
)
from oncall_opt.engine.store import Store, Transaction, check_unique_name
from oncall_opt.engine.teams import DEFAULT_TEAM, get_team
from oncall_opt.errors import ConflictError, InvalidRequestError, NotFoundError

DEFAULT_SERVICE = 1
MAX_TIMEOUT = 7 * 24 * 60  # minutes
MAX_EVENTS_PER_MINUTE = 100_000
_COLUMNS = (
    "id, name, team_id, escalation_policy_id, key_prefix, ack_timeout_minutes, "
    "auto_resolve_minutes, created_at, events_per_minute"
)


@dataclass(frozen=True)
class Service:
    id: int
    name: str
    team_id: int
    escalation_policy_id: int
    key_prefix: str  # "" until a key is made
    ack_timeout_minutes: int | None
    auto_resolve_minutes: int | None
    created_at: datetime
    events_per_minute: int | None = None  # None: the daemon's ONCALL_EVENTS_PER_MINUTE


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _new_key() -> str:
    return secrets.token_hex(16)


def _service(row: dict[str, Any]) -> Service:
    return Service(**row)


def _check_timeout(field: str, minutes: int | None) -> int | None:
    if minutes is None or minutes == 0:
        return None
    if not 1 <= minutes <= MAX_TIMEOUT:
        raise InvalidRequestError(field, f"must be 1 to {MAX_TIMEOUT} minutes, or 0 for none")
    return minutes


def create_service(
    store: Store,
    name: str,
    now: datetime,
    team_id: int = DEFAULT_TEAM,
    escalation_policy_id: int | None = None,
    ack_timeout_minutes: int | None = None,
    auto_resolve_minutes: int | None = None,
) -> tuple[Service, str]:
    """A new service and its integration key (returned once). Without a policy it follows its
    team's: the Default policy for the Default team, else "<team> on call" (the team's
    primary at once, its secondary after 15 minutes), made the first time it is needed."""
    name = text.name("Name", name)
    ack = _check_timeout("AckTimeoutMinutes", ack_timeout_minutes)
    auto = _check_timeout("AutoResolveMinutes", auto_resolve_minutes)
    key = _new_key()

    def work(tx: Transaction) -> Service:
        team = get_team(tx, team_id)
        policy_id = escalation_policy_id
        if policy_id is None:
            policy_id = DEFAULT_POLICY if team.id == DEFAULT_TEAM else team_policy(tx, team, now)
        get_policy(tx, policy_id)
        check_unique_name(tx, "services", name, "a service")
        tx.forget(ROUTING_MEMO)
        row = tx.row(
            "INSERT INTO services (name, team_id, escalation_policy_id, key_hash, key_prefix, "
            "ack_timeout_minutes, auto_resolve_minutes, created_at) VALUES "
            f"(?, ?, ?, ?, ?, ?, ?, ?) RETURNING {_COLUMNS}",
            [name, team_id, policy_id, hash_key(key), key[:6], ack, auto, now],
        )
        assert row is not None
        return _service(row)

    return store.write(work), key


def team_policy(tx: Transaction, team, now: datetime) -> int:
    """The id of the policy "<team> on call": made (primary at once, secondary after 15
    minutes, as the Default policy) unless it exists."""
    name = f"{team.name} on call"
    found = tx.row("SELECT id FROM escalation_policies WHERE lower(name) = lower(?)", [name])
    if found:
        return found["id"]
    steps = [
        Step(0, (Target("layer", team_id=team.id, layer=1),)),
        Step(15, (Target("layer", team_id=team.id, layer=2),)),
    ]
    return insert_policy(tx, name, steps, now).id


_UNSET: Any = object()


def update_service(
    store: Store,
    service_id: int,
    name: str | None = None,
    team_id: int | None = None,
    escalation_policy_id: int | None = None,
    ack_timeout_minutes: Any = _UNSET,
    auto_resolve_minutes: Any = _UNSET,
    events_per_minute: Any = _UNSET,
) -> Service:
    """Change the fields given (a timeout of 0 or None turns it off; an events-a-minute limit
    of None is the daemon's default)."""
    changes: dict[str, Any] = {}
    if events_per_minute is not _UNSET:
        if events_per_minute is not None and not 1 <= events_per_minute <= MAX_EVENTS_PER_MINUTE:
            raise InvalidRequestError(
                "EventsPerMinute", f"must be 1 to {MAX_EVENTS_PER_MINUTE}, or null for the default"
            )
        changes["events_per_minute"] = events_per_minute
    if name is not None:
        changes["name"] = text.name("Name", name)
    if ack_timeout_minutes is not _UNSET:
        changes["ack_timeout_minutes"] = _check_timeout("AckTimeoutMinutes", ack_timeout_minutes)
    if auto_resolve_minutes is not _UNSET:
        changes["auto_resolve_minutes"] = _check_timeout("AutoResolveMinutes", auto_resolve_minutes)

    def work(tx: Transaction) -> Service:
        get_service(tx, service_id)
        if team_id is not None:
            get_team(tx, team_id)
            changes["team_id"] = team_id
        if escalation_policy_id is not None:
            get_policy(tx, escalation_policy_id)
            changes["escalation_policy_id"] = escalation_policy_id
        if "name" in changes:
            check_unique_name(tx, "services", changes["name"], "a service", service_id)
        if changes:
            tx.forget(ROUTING_MEMO)
            assignments = ", ".join(f"{column} = ?" for column in changes)
            tx.execute(
                f"UPDATE services SET {assignments} WHERE id = ?", [*changes.values(), service_id]
            )
        return get_service(tx, service_id)

    return store.write(work)


def rotate_key(store: Store, service_id: int) -> tuple[Service, str]:
    """A new integration key for the service; the old one stops working at once."""
    key = _new_key()

    def work(tx: Transaction) -> Service:
        get_service(tx, service_id)
        tx.forget(ROUTING_MEMO)
        tx.execute(
            "UPDATE services SET key_hash = ?, key_prefix = ? WHERE id = ?",
            [hash_key(key), key[:6], service_id],
        )
        return get_service(tx, service_id)

    return store.write(work), key


def delete_service(store: Store, service_id: int) -> Service:
    """Delete a service with no open incidents (its resolved ones keep their history)."""
    if service_id == DEFAULT_SERVICE:
        raise ConflictError("the Default service cannot be deleted: POST /incidents uses it")

    def work(tx: Transaction) -> Service:
        service = get_service(tx, service_id)
        open_ = tx.row(
            "SELECT count(*) AS n FROM incidents WHERE service_id = ? AND status <> 'resolved'",
            [service_id],
        )
        if open_ and open_["n"]:
            raise ConflictError(
                f"service '{service.name}' has {open_['n']} open incident(s): resolve them first"
            )
        tx.forget(ROUTING_MEMO)
        tx.execute("DELETE FROM services WHERE id = ?", [service_id])
        return service

    return store.write(work)


def get_service(source: Store | Transaction, service_id: int) -> Service:
    row = source.row(f"SELECT {_COLUMNS} FROM services WHERE id = ?", [service_id])
    if row is None:
        raise NotFoundError(f"no service with id {service_id}")
    return _service(row)


def list_services(store: Store, team_id: int | None = None) -> list[Service]:
    sql, params = f"SELECT {_COLUMNS} FROM services", []
    if team_id is not None:
        sql, params = sql + " WHERE team_id = ?", [team_id]
    return [_service(r) for r in store.rows(sql + " ORDER BY id", params)]


ROUTING_TTL = 5.0  # seconds: how soon a change made by another process is seen


@dataclass(frozen=True)
class Routing:
    """Every service, escalation policy and team name: what a trigger needs to know who to
    page, read once and remembered by the store (`Store.remembered`) until a write to those
    tables commits, or ROUTING_TTL seconds pass."""

    services: dict[int, Service]
    policies: dict[int, Policy]
    team_names: dict[int, str]


def _load_routing(source: Store | Transaction) -> Routing:
    services = {r["id"]: _service(r) for r in source.rows(f"SELECT {_COLUMNS} FROM services")}
    policies = {p.id: p for p in list_policies(source)}
    names = {r["id"]: r["name"] for r in source.rows("SELECT id, name FROM teams")}
    return Routing(services, policies, names)


def routing(source: Store | Transaction, refresh: bool = False) -> Routing:
    """The remembered routing (`refresh`: read it again now, as after an unknown service)."""
    store = source if isinstance(source, Store) else source.store
    if store is None:
        return _load_routing(source)
    if refresh:
        store.forget(ROUTING_MEMO)
    return store.remembered(ROUTING_MEMO, ROUTING_TTL, lambda: _load_routing(source))


def service_for_key(source: Store | Transaction, key: str) -> Service | None:
    """The service whose integration key this is, or None."""
    if not isinstance(key, str) or not key:
        return None
    row = source.row(f"SELECT {_COLUMNS} FROM services WHERE key_hash = ?", [hash_key(key)])
    return _service(row) if row else None
