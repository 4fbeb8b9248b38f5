"""A small client for the daemon's HTTP API (the one `python runner.py` serves).

    from oncall_opt.client import Client
    with Client() as api:                      # http://127.0.0.1:8080, or Client.from_settings()
        katy = api.create_user("Katy", "Smith", "katy")
        api.create_schedule(katy["Id"], "2022-09-28T10:00:00Z", "2022-09-29T10:00:00Z")
        incident = api.trigger_incident("Checkout is down")
        api.acknowledge(incident["Id"], user_id=katy["Id"])

Methods return the JSON the API sends, as plain dicts (lists for the `{"Items": [...]}` answers),
with the API's field names (`Id`, `FirstName`, `Time.Start`, ...). Timestamps may be given as
aware datetimes or RFC 3339 strings. An error answer raises `ApiError(status, code, message)`;
a daemon that cannot be reached raises `DaemonUnavailable` (a subclass, status 503).

To add an endpoint, write a method over `self.request(method, path, json=..., params=...)`.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any
from urllib.parse import quote

import httpx

from oncall_opt import secretsfile, times
from oncall_opt.tls import trust

DEFAULT_URL = "http://127.0.0.1:8080"


PAGE = 1000  # items asked for per request when following pages (the API's maximum)
# A push to PagerDuty waits out PagerDuty's rate limits (over three minutes at worst) before the
# daemon answers, far beyond the usual timeout.
PAGERDUTY_PUSH_TIMEOUT = 300.0


# Whom `up`'s one-time setup link signs in on a database with nobody in it: the console then
# asks them for their own name and Slack handle (console/common.py, `first_admin_setup`).
FIRST_ADMIN = {"FirstName": "First", "LastName": "Admin", "SlackHandle": "admin"}


class ApiError(Exception):
    """The API answered with an error: HTTP `status`, `code` (`not_found`, `already_exists`,
    `invalid_argument`, ...), a `message` for people and `details` for programs (a change
    refused for the team's rules: `{"RulesBroken": [{"Rule", "Message"}, ...]}`)."""

    def __init__(self, status: int, code: str, message: str, details: Any = None):
        self.status, self.code, self.message, self.details = status, code, message, details
        super().__init__(f"{status} {code}: {message}")

    @property
    def rules_broken(self) -> list[dict]:
        """The rules a refused change breaks, each `{Rule, Message}` ([] for other errors)."""
        found = self.details.get("RulesBroken") if isinstance(self.details, dict) else None
        return [r for r in found if isinstance(r, dict)] if isinstance(found, list) else []


class DaemonUnavailable(ApiError):
    """The daemon could not be reached (not running, wrong address, or not answering)."""

    def __init__(self, message: str):
        super().__init__(503, "unavailable", message)


def _time(value: datetime | str) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"{value!r} has no time zone; the API needs an offset")
        return value.isoformat()
    return value


def _day(value: date | str | None) -> str | None:
    if isinstance(value, datetime):
        raise ValueError(f"{value!r}: give a calendar day (a date or YYYY-MM-DD), not a time")
    return value.isoformat() if isinstance(value, date) else value


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


class Client:
    """Typed access to the daemon. `token` is sent as `Authorization: Bearer <token>` (needed
    for every request when the daemon has ONCALL_API_TOKEN). `transport` is handed to
    httpx.Client as it is (tests pass `httpx.MockTransport`, or point `base_url` at a real
    server). `headers` go with every request (the console's sign-in forwards the browser's
    address as `X-Forwarded-For`). A daemon serving HTTPS with a certificate from a private CA
    is trusted through `verify` (an SSL context), or ONCALL_API_CA (that CA's PEM file)."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        token: str | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 10,
        headers: Mapping[str, str] | None = None,
        verify: ssl.SSLContext | bool | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        headers = {**(headers or {}), **({"Authorization": f"Bearer {token}"} if token else {})}
        if verify is None:
            verify = trust(os.environ.get("ONCALL_API_CA"))
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, transport=transport, timeout=timeout,
            verify=verify,
        )  # fmt: skip

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None, **kwargs: Any) -> Client:
        """A client for the daemon this machine's environment points at: ONCALL_API_URL, else
        ONCALL_BIND's address, else the default; the token from ONCALL_API_TOKEN or the
        daemon's secrets file."""
        env = os.environ if environ is None else environ
        url = env.get("ONCALL_API_URL", "").strip().rstrip("/") or times.daemon_url(env)
        return cls(url, token=secretsfile.api_token(env), **kwargs)

    @classmethod
    def from_settings(cls, settings: Any, **kwargs: Any) -> Client:
        """A client for the daemon `settings` (oncall_opt.engine.settings.Settings) describe."""
        token = settings.api_token.get_secret_value() if settings.api_token else None
        return cls(settings.api_url, token=token, **kwargs)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----- plumbing -----------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Send one request; returns the decoded JSON, raises ApiError / DaemonUnavailable.
        `timeout`: seconds for this request, when not the client's."""
        waits = {"timeout": timeout} if timeout is not None else {}
        try:
            response = self._http.request(
                method, path, json=json, params=_drop_none(params or {}) or None, **waits
            )
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise DaemonUnavailable(
                f"cannot reach the oncall daemon at {self.base_url} ({exc}). Start it with "
                f"`python runner.py` (ONCALL_BIND=host:port sets its address)."
            ) from exc
        except httpx.TransportError as exc:
            raise DaemonUnavailable(
                f"the oncall daemon at {self.base_url} did not answer {method} {path}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if response.is_success:
            return response.json() if response.content else None
        details = None
        try:
            payload = response.json()
            code, message = str(payload["code"]), str(payload["message"])
            details = payload.get("details")
        except (ValueError, KeyError, TypeError, AttributeError):
            code, message = "error", response.text[:500] or response.reason_phrase
        raise ApiError(response.status_code, code, message, details)

    # ----- users --------------------------------------------------------------------------------
    def create_user(
        self,
        first_name: str,
        last_name: str,
        slack_handle: str,
        time_zone: str | None = None,
        role: str | None = None,
        team_ids: list[int] | None = None,
    ) -> dict:
        """A new person; `role` "admin" or "member" (the default); a member of `team_ids`
        (default: the Default team)."""
        body = {"FirstName": first_name, "LastName": last_name, "SlackHandle": slack_handle}
        extra = {"TimeZone": time_zone, "Role": role, "TeamIds": team_ids}
        return self.request("POST", "/users", json=_drop_none({**body, **extra}))

    def get_user(self, user_id: int) -> dict:
        return self.request("GET", f"/users/{int(user_id)}")

    def list_users(self) -> list[dict]:
        return self.request("GET", "/users")["Items"]

    def update_user(
        self,
        user_id: int,
        first_name: str | None = None,
        last_name: str | None = None,
        slack_handle: str | None = None,
        time_zone: str | None = None,
        role: str | None = None,
    ) -> dict:
        """Change the fields given (None leaves a field as it is; time_zone="" clears it)."""
        body = {
            "FirstName": first_name,
            "LastName": last_name,
            "SlackHandle": slack_handle,
            "TimeZone": time_zone,
            "Role": role,
        }
        return self.request("PUT", f"/users/{int(user_id)}", json=_drop_none(body))

    # ----- signing in and credentials -----------------------------------------------------------
    def me(self) -> dict:
        """`{AuthRequired, Role, Via, User}`: who this client's credential acts as."""
        return self.request("GET", "/auth/me")

    def login(
        self,
        slack_handle: str | None = None,
        password: str | None = None,
        *,
        code: str | None = None,
    ) -> dict:
        """A console session (`{Token, ExpiresAt, User, Role}`) from a Slack handle and password
        or a sign-in link's code. The client does not start using it: make a new
        `Client(url, token=session["Token"])`."""
        body = {"SlackHandle": slack_handle, "Password": password, "Code": code}
        return self.request("POST", "/auth/login", json=_drop_none(body))

    def peek_action(self, token: str) -> dict:
        """What a page's one-time link would do: `{Action, IncidentId, Summary, Status, Person,
        Via}` (nothing is spent)."""
        return self.request("GET", f"/actions/{quote(token, safe='')}")

    def use_action(self, token: str) -> dict:
        """Do what a page's one-time link says (once)."""
        return self.request("POST", f"/actions/{quote(token, safe='')}")

    def logout(self) -> dict:
        """End the session this client signs its requests with."""
        return self.request("POST", "/auth/logout")

    def set_password(self, user_id: int, password: str, current: str | None = None) -> dict:
        """Set a person's console password ("" removes it); their other sessions end, and the
        keys those sessions made. Your own: `current` is the password you have now."""
        body = {"Password": password}
        if current:
            body["CurrentPassword"] = current
        return self.request("PUT", f"/users/{int(user_id)}/password", json=body)

    def login_link(self, user_id: int) -> dict:
        """A one-time sign-in code for a person (admins only): `{UserId, Code, ExpiresAt}`."""
        return self.request("POST", f"/users/{int(user_id)}/login-link")

    def list_api_keys(self, user_id: int) -> list[dict]:
        return self.request("GET", f"/users/{int(user_id)}/api-keys")["Items"]

    def create_api_key(self, user_id: int, name: str, role: str | None = None) -> dict:
        """A new API key acting as the person; the answer's `Key` is the only time the secret
        is shown."""
        body = _drop_none({"Name": name, "Role": role})
        return self.request("POST", f"/users/{int(user_id)}/api-keys", json=body)

    def revoke_api_key(self, key_id: int) -> dict:
        return self.request("DELETE", f"/api-keys/{int(key_id)}")

    # ----- schedules ----------------------------------------------------------------------------
    def create_schedule(
        self, user_id: int, start: datetime | str, end: datetime | str, layer: int = 1
    ) -> dict:
        body = {"Start": _time(start), "End": _time(end), "Layer": layer}
        return self.request("POST", f"/users/{int(user_id)}/schedules", json=body)

    def scheduled(
        self, at: datetime | str | None = None, layer: int = 1, team_id: int | None = None
    ) -> dict | None:
        """The team's shift on call at `at` (default: now), or None when nobody is."""
        path = "/scheduled" if at is None else f"/scheduled/{_time(at)}"
        try:
            params = {"Layer": layer, "TeamId": team_id}
            return self.request("GET", path.replace("+", "%2B"), params=params)
        except ApiError as exc:
            if exc.status == 404 and exc.code == "not_found":
                return None
            raise

    def list_schedules(
        self,
        start: datetime | str,
        end: datetime | str,
        layer: int | None = None,
        team_id: int | None = None,
    ) -> list[dict]:
        """Every shift of the team (default: Default) overlapping [start, end)."""
        params = {"Start": _time(start), "End": _time(end), "Layer": layer, "TeamId": team_id}
        return self.request("GET", "/schedules", params=params)["Items"]

    def delete_schedules(
        self, start: datetime | str, end: datetime | str, layer: int | None = None
    ) -> list[dict]:
        """Delete every shift overlapping [start, end); returns the deleted shifts."""
        params = {"Start": _time(start), "End": _time(end), "Layer": layer}
        return self.request("DELETE", "/schedules", params=params)["Items"]

    def delete_schedule(self, schedule_id: int) -> dict:
        return self.request("DELETE", f"/schedules/{int(schedule_id)}")

    # ----- incidents ----------------------------------------------------------------------------
    def trigger_incident(
        self,
        body: str,
        dedup_key: str | None = None,
        service_id: int | None = None,
        urgency: str | None = None,
    ) -> dict:
        """Open an incident (on the Default service unless `service_id`); the answer's
        `Created` is False when `dedup_key` matched an open incident of that service and the
        trigger was counted against it."""
        fields = {"Body": body, "DedupKey": dedup_key, "ServiceId": service_id, "Urgency": urgency}
        return self.request("POST", "/incidents", json=_drop_none(fields))

    def list_incidents(
        self,
        status: str = "unacknowledged",
        assignee_id: int | None = None,
        limit: int | None = None,
        *,
        service_id: int | None = None,
        team_id: int | None = None,
        urgency: str | None = None,
    ) -> list[dict]:
        """Newest first; status: unacknowledged (default), triggered, acknowledged, resolved,
        open or all; optionally of one service, team or urgency. Every match (fetched a page
        at a time), or the newest `limit`."""
        params = {
            "Status": status,
            "AssigneeId": assignee_id,
            "ServiceId": service_id,
            "TeamId": team_id,
            "Urgency": urgency,
        }
        return self._pages("/incidents", params, limit)

    def _pages(self, path: str, params: dict[str, Any], limit: int | None) -> list[dict]:
        """The items of a paginated list, following NextCursor until `limit` or the end."""
        items: list[dict] = []
        cursor = None
        while True:
            size = PAGE if limit is None else min(PAGE, limit - len(items))
            page = self.request("GET", path, params={**params, "Limit": size, "Cursor": cursor})
            items += page["Items"]
            cursor = page.get("NextCursor")
            if cursor is None or (limit is not None and len(items) >= limit):
                return items

    def get_incident(self, incident_id: int) -> dict:
        return self.request("GET", f"/incidents/{int(incident_id)}")

    def acknowledge(self, incident_id: int, user_id: int | None = None) -> dict:
        body = {"UserId": user_id} if user_id is not None else None
        return self.request("PUT", f"/incidents/{int(incident_id)}/acknowledge", json=body)

    def assign(self, incident_id: int, user_id: int) -> dict:
        body = {"UserId": user_id}
        return self.request("PUT", f"/incidents/{int(incident_id)}/assign", json=body)

    def resolve(self, incident_id: int, user_id: int | None = None) -> dict:
        body = {"UserId": user_id} if user_id is not None else None
        return self.request("PUT", f"/incidents/{int(incident_id)}/resolve", json=body)

    def unresolve(self, incident_id: int, user_id: int | None = None) -> dict:
        """Reopen a resolved incident (an undo): acknowledged again if it had been, else
        triggered again."""
        body = {"UserId": user_id} if user_id is not None else None
        return self.request("POST", f"/incidents/{int(incident_id)}/unresolve", json=body)

    def snooze(self, incident_id: int, minutes: int, user_id: int | None = None) -> dict:
        """No reminders or escalation for `minutes`; then triggered again unless resolved."""
        body = _drop_none({"Minutes": minutes, "UserId": user_id})
        return self.request("PUT", f"/incidents/{int(incident_id)}/snooze", json=body)

    def escalate(self, incident_id: int, step: int | None = None) -> dict:
        """Page a step of the incident's policy now (default the next) and hand it over."""
        body = {"Step": step} if step is not None else None
        return self.request("PUT", f"/incidents/{int(incident_id)}/escalate", json=body)

    def incident_log(self, incident_id: int) -> list[dict]:
        """The incident's timeline, oldest first: `{Id, At, Kind, Message, User}`."""
        return self.request("GET", f"/incidents/{int(incident_id)}/log")["Items"]

    def add_note(self, incident_id: int, text: str, user_id: int | None = None) -> dict:
        body = _drop_none({"Text": text, "UserId": user_id})
        return self.request("POST", f"/incidents/{int(incident_id)}/notes", json=body)

    def incident_notifications(self, incident_id: int) -> list[dict]:
        """Each page about the incident: `{Id, UserId, Type, Status, Error, DueAt, SentAt,
        DeliveredAt, ...}`, in due order."""
        return self.request("GET", f"/incidents/{int(incident_id)}/notifications")["Items"]

    # ----- maintenance windows ------------------------------------------------------------------
    def start_maintenance(
        self,
        service_id: int,
        minutes: int | None = None,
        reason: str = "",
        start: datetime | str | None = None,
        end: datetime | str | None = None,
    ) -> dict:
        """Put a service in maintenance for the next `minutes` (or from `start` to `end`): its
        alert events open nothing and page nobody."""
        body = _drop_none(
            {
                "Minutes": minutes,
                "Reason": reason,
                "Start": _time(start) if start else None,
                "End": _time(end) if end else None,
            }
        )
        return self.request("POST", f"/services/{int(service_id)}/maintenance", json=body)

    def heartbeats(self, service_id: int) -> list[dict]:
        """The service's heartbeat monitors: `{Id, Name, IntervalMinutes, LastPingAt, Down}`."""
        return self.request("GET", f"/services/{int(service_id)}/heartbeats")["Items"]

    def add_heartbeat(self, service_id: int, name: str, interval_minutes: int) -> dict:
        """A monitor; its secret `Url` is in this answer only."""
        body = {"Name": name, "IntervalMinutes": interval_minutes}
        return self.request("POST", f"/services/{int(service_id)}/heartbeats", json=body)

    def delete_heartbeat(self, heartbeat_id: int) -> dict:
        return self.request("DELETE", f"/heartbeats/{int(heartbeat_id)}")

    def incident_changes(self, incident_id: int) -> list[dict]:
        """Change events on the incident's service in the hour before it opened."""
        return self.request("GET", f"/incidents/{int(incident_id)}/changes")["Items"]

    def maintenance_windows(self, service_id: int) -> list[dict]:
        return self.request("GET", f"/services/{int(service_id)}/maintenance")["Items"]

    def end_maintenance(self, window_id: int) -> dict:
        return self.request("DELETE", f"/maintenance/{int(window_id)}")

    # ----- paging people: contact methods and notification rules --------------------------------
    def contact_methods(self, user_id: int) -> dict:
        """`{Items: [...], Available: {type: "" or what the daemon needs for it}}`."""
        return self.request("GET", f"/users/{int(user_id)}/contact-methods")

    def add_contact_method(self, user_id: int, kind: str, address: str, name: str = "") -> dict:
        """A new method (`kind`: email, sms, voice, push, slack, webhook, apprise); a code is
        sent to it unless it is a webhook. A webhook's `Secret` is in this answer only."""
        body = {"Type": kind, "Address": address, "Name": name}
        return self.request("POST", f"/users/{int(user_id)}/contact-methods", json=body)

    def verify_contact_method(
        self, method_id: int, code: str | None = None, verified: bool | None = None
    ) -> dict:
        """With `code`: check it; without: send a new one; `verified=True`: an admin vouches."""
        body = _drop_none({"Code": code, "Verified": verified})
        return self.request("POST", f"/contact-methods/{int(method_id)}/verify", json=body)

    def test_contact_method(self, method_id: int) -> dict:
        return self.request("POST", f"/contact-methods/{int(method_id)}/test")

    def delete_contact_method(self, method_id: int) -> dict:
        return self.request("DELETE", f"/contact-methods/{int(method_id)}")

    def notification_rules(self, user_id: int) -> list[dict]:
        return self.request("GET", f"/users/{int(user_id)}/notification-rules")["Items"]

    def add_notification_rule(
        self, user_id: int, method_id: int, delay_minutes: int = 0, urgency: str = "high"
    ) -> dict:
        body = {"ContactMethodId": method_id, "DelayMinutes": delay_minutes, "Urgency": urgency}
        return self.request("POST", f"/users/{int(user_id)}/notification-rules", json=body)

    def delete_notification_rule(self, rule_id: int) -> dict:
        return self.request("DELETE", f"/notification-rules/{int(rule_id)}")

    # ----- teams, services, escalation policies -------------------------------------------------
    def list_teams(self) -> list[dict]:
        return self.request("GET", "/teams")["Items"]

    def get_team(self, team_id: int) -> dict:
        return self.request("GET", f"/teams/{int(team_id)}")

    def create_team(
        self, name: str, user_ids: list[int] | None = None, slack_webhook_url: str | None = None
    ) -> dict:
        body = {"Name": name, "UserIds": list(user_ids or []), "SlackWebhookUrl": slack_webhook_url}
        return self.request("POST", "/teams", json=_drop_none(body))

    def update_team(self, team_id: int, **fields: Any) -> dict:
        """Change the API's fields given: Name, UserIds, SlackWebhookUrl, SlackChannel,
        PagerDutySchedule ("" removes any of the last three)."""
        return self.request("PUT", f"/teams/{int(team_id)}", json=fields)

    def set_team_members(self, team_id: int, user_ids: list[int]) -> dict:
        body = {"UserIds": list(user_ids)}
        return self.request("PUT", f"/teams/{int(team_id)}/members", json=body)

    def delete_team(self, team_id: int) -> dict:
        return self.request("DELETE", f"/teams/{int(team_id)}")

    def list_services(self, team_id: int | None = None) -> list[dict]:
        return self.request("GET", "/services", params={"TeamId": team_id})["Items"]

    def create_service(self, name: str, team_id: int = 1, **fields: Any) -> dict:
        """A new service; the answer's `IntegrationKey` is the only time the key is shown.
        `fields`: EscalationPolicyId, AckTimeoutMinutes, AutoResolveMinutes."""
        body = {"Name": name, "TeamId": team_id, **fields}
        return self.request("POST", "/services", json=body)

    def update_service(self, service_id: int, **fields: Any) -> dict:
        return self.request("PUT", f"/services/{int(service_id)}", json=fields)

    def rotate_service_key(self, service_id: int) -> dict:
        return self.request("POST", f"/services/{int(service_id)}/rotate-key")

    def delete_service(self, service_id: int) -> dict:
        return self.request("DELETE", f"/services/{int(service_id)}")

    def list_policies(self) -> list[dict]:
        return self.request("GET", "/escalation-policies")["Items"]

    def create_policy(
        self, name: str, steps: list[dict], repeat: int = 0, repeat_after_minutes: int = 15
    ) -> dict:
        """`steps`: `[{"DelayMinutes": 0, "Targets": [{"Type": "layer", "TeamId": 1,
        "Layer": 1}]}, ...]`."""
        body = {
            "Name": name,
            "Steps": steps,
            "Repeat": repeat,
            "RepeatAfterMinutes": repeat_after_minutes,
        }
        return self.request("POST", "/escalation-policies", json=body)

    def update_policy(self, policy_id: int, **fields: Any) -> dict:
        return self.request("PUT", f"/escalation-policies/{int(policy_id)}", json=fields)

    def delete_policy(self, policy_id: int) -> dict:
        return self.request("DELETE", f"/escalation-policies/{int(policy_id)}")

    # ----- availability -------------------------------------------------------------------------
    def get_availability(self, user_id: int, start: date | str, end: date | str) -> dict:
        """User `user_id`'s days from `start` to `end` (both included): `{UserId, Start, End,
        Days: {"2026-12-01": "unavailable" | "preferred" | "avoid"}}`."""
        params = {"Start": _day(start), "End": _day(end)}
        return self.request("GET", f"/users/{int(user_id)}/availability", params=params)

    def set_availability(
        self, user_id: int, start: date | str, end: date | str, days: dict[Any, str | None]
    ) -> dict:
        """Replace the user's days from `start` to `end`: the days given get their kind, every
        other day of the range is cleared."""
        body = {
            "Start": _day(start),
            "End": _day(end),
            "Days": {_day(day): kind for day, kind in days.items()},
        }
        return self.request("PUT", f"/users/{int(user_id)}/availability", json=body)

    def team_availability(
        self, start: date | str, end: date | str, team_id: int | None = None
    ) -> dict:
        """Everyone's days (a team's members with `team_id`): `{Start, End, Items: [{UserId,
        FirstName, LastName, Days}]}`."""
        params = {"Start": _day(start), "End": _day(end), "TeamId": team_id}
        return self.request("GET", "/availability", params=params)

    # ----- roster -------------------------------------------------------------------------------
    def roster_input(self, start: date | str, end: date | str, **options: Any) -> dict:
        """The input.json for the window; `options` are the API's (ShiftLength="P7D",
        TimeZone="Europe/Berlin", Handoff="09:00", Layers=2, MaxConsecutiveShifts=...)."""
        params = {"Start": _day(start), "End": _day(end), **options}
        if isinstance(params.get("UserIds"), list | tuple):
            params["UserIds"] = list(params["UserIds"])
        return self.request("GET", "/roster/input", params=params)

    def start_solve(
        self,
        start: date | str | None = None,
        end: date | str | None = None,
        *,
        input: dict | None = None,
        time_limit: float = 30.0,
        gap: float | None = None,
        **options: Any,
    ) -> dict:
        """Start solving a window (`start`, `end`, options) or an input.json (`input`); answers
        at once with `{JobId, Status, ...}`. Poll with `solve_job`."""
        body: dict[str, Any] = {"TimeLimit": time_limit, "Gap": gap}
        if input is not None:
            body["Input"] = input
        else:
            body.update({"Start": _day(start), "End": _day(end), **options})
        return self.request("POST", "/roster/solve", json=_drop_none(body))

    def solve_job(self, job_id: str) -> dict:
        """A solve job: `Status` queued, running, done (`Output`) or failed (`Error`,
        `Reasons`)."""
        return self.request("GET", f"/roster/solve/{job_id}")

    def publish_roster(
        self,
        output: dict | None = None,
        *,
        job_id: str | None = None,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        team_id: int | None = None,
        freeze_hours: float | None = None,
        planned_with: dict | None = None,
    ) -> list[dict]:
        """Publish an output.json (or a finished job's) as the window's schedules of a team
        (default: the job's team, else Default); returns the shifts now published in it.
        Shifts published before now + `freeze_hours` (default 48) stay; `publish` gives the
        whole answer (the changes too). `planned_with`: the input.json it was solved from (the
        team keeps its shift length, run and rest rules)."""
        return self.publish(
            output, job_id=job_id, start=start, end=end, team_id=team_id,
            freeze_hours=freeze_hours, planned_with=planned_with,
        )["Items"]  # fmt: skip

    def publish(
        self,
        output: dict | None = None,
        *,
        job_id: str | None = None,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        team_id: int | None = None,
        freeze_hours: float | None = None,
        planned_with: dict | None = None,
    ) -> dict:
        """`POST /roster/publish`: `{Items, Changes, FrozenUntil}`."""
        body = {
            "Output": output,
            "Input": planned_with,
            "JobId": job_id,
            "TeamId": team_id,
            "FreezeHours": freeze_hours,
            "Start": _time(start) if start is not None else None,
            "End": _time(end) if end is not None else None,
        }
        return self.request("POST", "/roster/publish", json=_drop_none(body))

    # ----- overrides, swaps, the final schedule, calendars, the report ----------------------
    def create_override(
        self,
        team_id: int,
        start: datetime | str,
        end: datetime | str,
        user_id: int | None = None,
        layer: int = 1,
        i_know: bool = False,
    ) -> dict:
        """Put someone on call over [start, end). One that breaks the team's rules is refused
        (ConflictError, every reason) unless an admin passes `i_know` (then it is recorded)."""
        body = _drop_none(
            {"Start": _time(start), "End": _time(end), "UserId": user_id, "Layer": layer}
        )
        if i_know:
            body["IKnow"] = True
        return self.request("POST", f"/teams/{int(team_id)}/overrides", json=body)

    def take_shift(
        self, team_id: int, user_id: int | None = None, layer: int = 1, i_know: bool = False
    ) -> dict:
        """ "I'll take it from now": an override to the end of the current stretch (the
        team's rules kept unless an admin passes `i_know`)."""
        body = _drop_none({"UserId": user_id, "Layer": layer})
        if i_know:
            body["IKnow"] = True
        return self.request("POST", f"/teams/{int(team_id)}/overrides/take", json=body)

    def list_overrides(self, team_id: int, start: datetime | str, end: datetime | str) -> list:
        params = {"Start": _time(start), "End": _time(end)}
        return self.request("GET", f"/teams/{int(team_id)}/overrides", params=params)["Items"]

    def delete_override(self, override_id: int) -> dict:
        return self.request("DELETE", f"/overrides/{int(override_id)}")

    def final_schedule(
        self, team_id: int, start: datetime | str, end: datetime | str, layer: int | None = None
    ) -> list[dict]:
        """Contiguous segments `{TeamId, Layer, Start, End, User, Source, Covers, ...}`."""
        params = {"Start": _time(start), "End": _time(end), "Layer": layer}
        return self.request("GET", f"/teams/{int(team_id)}/final", params=params)["Items"]

    def push_to_pagerduty(
        self,
        team_id: int,
        start: datetime | str,
        end: datetime | str,
        layer: int = 1,
        dry_run: bool = False,
    ) -> dict:
        """Make the PagerDuty schedule the team is linked to show its final schedule over
        [start, end) in `layer` (admins). `{Schedule, DryRun, Rows: [{Slot, Now, After, Action}],
        Summary, Slots, Started, Created, Deleted, Kept, LeftAlone}`; with `dry_run`, what would
        change, nothing written."""
        body = {"Start": _time(start), "End": _time(end), "Layer": layer, "DryRun": dry_run}
        return self.request(
            "POST",
            f"/teams/{int(team_id)}/pagerduty/push",
            json=body,
            timeout=PAGERDUTY_PUSH_TIMEOUT,
        )

    def my_shifts(self, user_id: int, start: datetime | str, end: datetime | str) -> list[dict]:
        params = {"Start": _time(start), "End": _time(end)}
        return self.request("GET", f"/users/{int(user_id)}/shifts", params=params)["Items"]

    def request_swap(
        self,
        team_id: int,
        start: datetime | str,
        end: datetime | str,
        from_user_id: int | None = None,
        note: str = "",
        layer: int = 1,
    ) -> dict:
        body = _drop_none(
            {
                "Start": _time(start),
                "End": _time(end),
                "FromUserId": from_user_id,
                "Note": note,
                "Layer": layer,
            }
        )
        return self.request("POST", f"/teams/{int(team_id)}/swaps", json=body)

    def list_swaps(self, team_id: int, status: str = "open") -> list[dict]:
        params = {"Status": status}
        return self.request("GET", f"/teams/{int(team_id)}/swaps", params=params)["Items"]

    def accept_swap(self, swap_id: int, user_id: int | None = None, i_know: bool = False) -> dict:
        """Take a swap (the team's rules kept unless an admin passes `i_know`)."""
        body: dict[str, Any] = {"UserId": user_id} if user_id is not None else {}
        if i_know:
            body["IKnow"] = True
        return self.request("PUT", f"/swaps/{int(swap_id)}/accept", json=body or None)

    def cancel_swap(self, swap_id: int) -> dict:
        return self.request("PUT", f"/swaps/{int(swap_id)}/cancel")

    # ----- finding cover ------------------------------------------------------------------------
    def find_cover(
        self,
        team_id: int,
        start: datetime | str,
        end: datetime | str,
        layer: int = 1,
        reason: str = "asked",
        note: str = "",
        timeout_minutes: int | None = None,
        deadline: datetime | str | None = None,
    ) -> dict:
        """Ask for cover of Start to End of the team's layer: the answer carries the ranking
        (`Candidates`, each with `Why`) and who is asked first (`Asked`)."""
        body = _drop_none(
            {
                "Start": _time(start),
                "End": _time(end),
                "Layer": layer,
                "Reason": reason,
                "Note": note,
                "TimeoutMinutes": timeout_minutes,
                "Deadline": _time(deadline) if deadline is not None else None,
            }
        )
        return self.request("POST", f"/teams/{int(team_id)}/cover", json=body)

    def list_cover(self, team_id: int, status: str = "all") -> list[dict]:
        """The team's cover requests: asking, covered, unanswered, cancelled or all."""
        params = {"Status": status}
        return self.request("GET", f"/teams/{int(team_id)}/cover", params=params)["Items"]

    def get_cover(self, request_id: int) -> dict:
        return self.request("GET", f"/cover/{int(request_id)}")

    def accept_cover(self, request_id: int, user_id: int | None = None) -> dict:
        """Take the stretch: the first acceptance becomes the override (409 once covered)."""
        body = {"UserId": user_id} if user_id is not None else None
        return self.request("PUT", f"/cover/{int(request_id)}/accept", json=body)

    def decline_cover(self, request_id: int, user_id: int | None = None) -> dict:
        body = {"UserId": user_id} if user_id is not None else None
        return self.request("PUT", f"/cover/{int(request_id)}/decline", json=body)

    def cancel_cover(self, request_id: int) -> dict:
        return self.request("PUT", f"/cover/{int(request_id)}/cancel")

    def peek_cover_link(self, token: str) -> dict:
        """What a cover ask's one-time link would do (nothing is spent)."""
        return self.request("GET", f"/cover-links/{quote(token, safe='')}")

    def use_cover_link(self, token: str) -> dict:
        """Accept or decline as the person asked (once)."""
        return self.request("POST", f"/cover-links/{quote(token, safe='')}")

    def calendar_url(self, user_id: int | None = None, team_id: int | None = None) -> str:
        """A new calendar subscription URL for a person or a team (the old one stops)."""
        path = f"/users/{int(user_id)}/calendar" if user_id else f"/teams/{int(team_id)}/calendar"
        return self.request("POST", path)["Url"]

    def team_report(self, team_id: int, start: datetime | str, end: datetime | str) -> dict:
        params = {"Start": _time(start), "End": _time(end)}
        return self.request("GET", f"/teams/{int(team_id)}/report", params=params)

    def team_analytics(self, team_id: int, start: datetime | str, end: datetime | str) -> dict:
        """Who carried the team's pages over [start, end) (at most 400 days): the team, each
        service, person and month, and pages by hour of the week (`GET /teams/{id}/analytics`)."""
        params = {"Start": _time(start), "End": _time(end)}
        return self.request("GET", f"/teams/{int(team_id)}/analytics", params=params)

    def team_burden(self, team_id: int, start: date | str, end: date | str, **options) -> dict:
        """The expected burden of each slot of the days start..end from the team's page
        history, and how it was estimated (`GET /teams/{id}/burden`): what the planner's
        `BalanceBy="burden"` hands the optimizer. Options: ShiftLength, TimeZone, Handoff,
        NightWeight."""
        params = {"Start": str(start), "End": str(end), **_drop_none(options)}
        return self.request("GET", f"/teams/{int(team_id)}/burden", params=params)

    # ----- Slack messages -----------------------------------------------------------------------
    def list_messages(self, status: str = "all", limit: int | None = 100) -> list[dict]:
        """Outbox messages, newest first: status pending, sent, failed, skipped or all; the
        newest `limit` (None: all of them, a page at a time)."""
        return self._pages("/messages", {"Status": status}, limit)

    def send_test_message(self, text: str | None = None) -> dict:
        """Queue a test Slack message; the daemon's delivery job posts it."""
        return self.request("POST", "/messages/test", json=_drop_none({"Text": text}))
