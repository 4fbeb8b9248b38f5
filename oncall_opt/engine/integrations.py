"""Alerts from monitoring, read into what the engine does with them: PagerDuty's Events API v2
and Prometheus Alertmanager's webhook (which Grafana's alerting webhook also speaks).

Both are pure translations (a payload in; `Event`s out, or `EventError`s naming every problem),
so the API layer only authenticates the integration key and applies the events:

- a trigger becomes an `incidents.Trigger` with the service's id, a dedup key (generated when
  an Events API trigger has none, so that a later acknowledge or resolve can name it), the
  severity (and from it the urgency) and the integration's details as JSON;
- acknowledge and resolve name an open incident of the service by its dedup key; when there is
  none, nothing happens (as PagerDuty does).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass, replace
from typing import Any, Literal

from oncall_opt import times
from oncall_opt.engine import text
from oncall_opt.engine.incidents import SEVERITIES, Trigger, check_trigger
from oncall_opt.errors import InvalidRequestError, OncallOptError

MAX_SUMMARY = 1024  # PagerDuty's limit on payload.summary
ROUTING_KEY_LENGTH = 32


class EventError(OncallOptError):
    """The event is invalid: `errors` lists every problem, each naming its field."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("; ".join(errors))


@dataclass(frozen=True)
class Event:
    action: Literal["trigger", "acknowledge", "resolve"]
    dedup_key: str
    trigger: Trigger | None = None  # for "trigger"
    body: str | None = None  # for "resolve": what the incident says now (the alerts resolved)


# ----- PagerDuty Events API v2 -------------------------------------------------------------------
_EVENT_FIELDS = {"routing_key", "event_action", "dedup_key", "payload", "links", "images",
                 "client", "client_url"}  # fmt: skip
_PAYLOAD_FIELDS = {"summary", "source", "severity", "timestamp", "component", "group", "class",
                   "custom_details"}  # fmt: skip


def routing_key_of(body: Any) -> str | None:
    """The event's routing key when it is a string of the right length, else None."""
    if isinstance(body, dict):
        key = body.get("routing_key")
        if isinstance(key, str) and len(key) == ROUTING_KEY_LENGTH:
            return key
    return None


def check_routing_key(body: Any) -> str:
    if not isinstance(body, dict):
        raise EventError(["the event must be a JSON object"])
    key = body.get("routing_key")
    if key is None:
        raise EventError(["'routing_key' is missing"])
    if not isinstance(key, str) or len(key) != ROUTING_KEY_LENGTH:
        raise EventError(
            [f"Length of 'routing_key' is incorrect (should be {ROUTING_KEY_LENGTH} characters)"]
        )
    return key


def _string(errors: list[str], where: str, value: Any, limit: int, required: bool) -> str | None:
    if value is None:
        if required:
            errors.append(f"'{where}' is missing or blank")
        return None
    if not isinstance(value, str):
        errors.append(f"'{where}' must be a string")
        return None
    try:
        cleaned = text.clean(where, value, limit, multiline=where.endswith("summary"))
    except InvalidRequestError as exc:
        errors.append(f"'{where}' {str(exc).split(': ', 1)[1]}")
        return None
    if required and not cleaned:
        errors.append(f"'{where}' is missing or blank")
        return None
    return cleaned or None


_PD_OFFSET = re.compile(r"([+-]\d{2})(\d{2})$")  # +0000, as PagerDuty's own example writes it
_NO_OFFSET = re.compile(r".*[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$")


def event_timestamp(value: Any) -> str:
    """An event's timestamp as RFC 3339 (UTC offsets `Z`, `+00:00`, `+0000` and `+00`; none
    at all is UTC, as PagerDuty reads it); ValueError for anything else."""
    if not isinstance(value, str):
        raise ValueError("not a string")
    stamp = value.strip()
    stamp = _PD_OFFSET.sub(r"\1:\2", stamp) if "T" in stamp.upper() else stamp
    if re.search(r"[+-]\d{2}$", stamp) and "T" in stamp.upper():
        stamp += ":00"
    if _NO_OFFSET.fullmatch(stamp):
        stamp += "Z"
    return times.parse_timestamp(stamp).isoformat()


def pagerduty_event(body: Any, service_id: int) -> Event:
    """One Events API v2 event (`routing_key` already matched to `service_id`)."""
    errors: list[str] = []
    if not isinstance(body, dict):
        raise EventError(["the event must be a JSON object"])
    action = body.get("event_action")
    if action not in ("trigger", "acknowledge", "resolve"):
        errors.append("'event_action' must be one of trigger, acknowledge, resolve")
    dedup = _string(errors, "dedup_key", body.get("dedup_key"), text.MAX_KEY, False)
    if action in ("acknowledge", "resolve") and dedup is None and "dedup_key" not in str(errors):
        errors.append(f"'dedup_key' is required to {action}")
    trigger = None
    if action == "trigger":
        trigger = _trigger(errors, body, dedup, service_id)
    if errors:
        raise EventError(errors)
    key = dedup if dedup is not None else uuid.uuid4().hex
    if trigger is not None and trigger.dedup_key is None:
        trigger = Trigger(**{**trigger.__dict__, "dedup_key": key})
    return Event(action, key, trigger)  # type: ignore[arg-type]


def _trigger(errors: list[str], body: dict, dedup: str | None, service_id: int) -> Trigger | None:
    payload = body.get("payload")
    if not isinstance(payload, dict):
        errors.append("'payload' is missing or not an object")
        return None
    summary = _string(errors, "payload.summary", payload.get("summary"), MAX_SUMMARY, True)
    source = _string(errors, "payload.source", payload.get("source"), text.MAX_NAME, True)
    severity = payload.get("severity")
    if severity not in SEVERITIES:
        errors.append(f"'payload.severity' must be one of {', '.join(SEVERITIES)}")
    stamp = payload.get("timestamp")
    if stamp is not None:
        try:
            stamp = event_timestamp(stamp)
        except (ValueError, TypeError):
            errors.append("'payload.timestamp' must be an ISO 8601 timestamp")
    for name in ("component", "group", "class"):
        _string(errors, f"payload.{name}", payload.get(name), text.MAX_NAME, False)
    for name in ("links", "images"):
        if name in body and not isinstance(body[name], list):
            errors.append(f"'{name}' must be an array")
    if errors or summary is None:
        return None
    details = {
        key: value
        for key, value in {
            "source": source,
            "timestamp": stamp,
            "component": payload.get("component"),
            "group": payload.get("group"),
            "class": payload.get("class"),
            "custom_details": payload.get("custom_details"),
            "links": body.get("links"),
            "images": body.get("images"),
            "client": body.get("client"),
            "client_url": body.get("client_url"),
            # What PagerDuty's documentation does not name is kept, not refused: a sender's
            # extra field must not lose its alert.
            "other": {k: v for k, v in body.items() if k not in _EVENT_FIELDS} or None,
            "other_payload": {k: v for k, v in payload.items() if k not in _PAYLOAD_FIELDS} or None,
        }.items()
        if value is not None
    }
    try:
        return check_trigger(summary, dedup, service_id, severity=severity, source=source,
                             details=details)  # fmt: skip
    except InvalidRequestError as exc:
        errors.append(str(exc))
        return None


@dataclass(frozen=True)
class ChangeEvent:
    summary: str
    source: str | None
    timestamp: str | None  # RFC 3339, when the change happened (None: when it arrived)
    details: dict[str, Any]


def pagerduty_change(body: Any) -> ChangeEvent:
    """One change event of the Events API v2 (`POST /v2/change/enqueue`): `{"routing_key",
    "payload": {"summary", "timestamp"?, "source"?, "custom_details"?}, "links"?}`."""
    errors: list[str] = []
    if not isinstance(body, dict):
        raise EventError(["the event must be a JSON object"])
    payload = body.get("payload")
    if not isinstance(payload, dict):
        raise EventError(["'payload' is missing or not an object"])
    summary = _string(errors, "payload.summary", payload.get("summary"), MAX_SUMMARY, True)
    source = _string(errors, "payload.source", payload.get("source"), text.MAX_NAME, False)
    stamp = payload.get("timestamp")
    if stamp is not None:
        try:
            stamp = event_timestamp(stamp)
        except (ValueError, TypeError):
            errors.append("'payload.timestamp' must be an ISO 8601 timestamp")
    if "links" in body and not isinstance(body["links"], list):
        errors.append("'links' must be an array")
    if errors or summary is None:
        raise EventError(errors or ["'payload.summary' is missing or blank"])
    details = {
        key: value
        for key, value in {
            "custom_details": payload.get("custom_details"),
            "links": body.get("links"),
            "other": {k: v for k, v in body.items() if k not in ("routing_key", "payload",
                                                                 "links")} or None,
        }.items()
        if value is not None
    }  # fmt: skip
    return ChangeEvent(summary, source, stamp, details)


# ----- Prometheus Alertmanager (and Grafana) webhook ---------------------------------------------
AM_SEVERITY = {
    "critical": "critical", "page": "critical", "high": "error", "error": "error",
    "major": "error", "warning": "warning", "warn": "warning", "minor": "warning",
    "info": "info", "low": "info", "none": "info",
}  # fmt: skip
MAX_LISTED = 10  # alerts named in an incident's body
ALERT_FIELDS = ("status", "labels", "annotations", "startsAt", "endsAt", "generatorURL",
                "fingerprint")  # fmt: skip
ALERT_FIELDS = ("status", "labels", "annotations", "startsAt", "endsAt", "generatorURL",
                "fingerprint")  # fmt: skip


def alertmanager_events(body: Any, service_id: int) -> list[Event]:
    """Alertmanager's webhook notification (version 4) for one alert group: one event, whose
    dedup key is the group key (hashed when longer than a dedup key may be): `firing` triggers
    (or counts against) the group's incident, `resolved` resolves it."""
    errors: list[str] = []
    if not isinstance(body, dict):
        raise EventError(["the notification must be a JSON object (Alertmanager's webhook)"])
    status = body.get("status")
    if status not in ("firing", "resolved"):
        errors.append("status: must be firing or resolved")
    group_key = body.get("groupKey")
    if not isinstance(group_key, str) or not group_key:
        errors.append("groupKey: missing (is this Alertmanager's webhook payload?)")
    alerts = body.get("alerts")
    if not isinstance(alerts, list) or not all(isinstance(a, dict) for a in alerts):
        errors.append("alerts: must be an array of alerts")
        alerts = []
    for name in ("commonLabels", "commonAnnotations", "groupLabels"):
        if name in body and not isinstance(body[name], dict):
            errors.append(f"{name}: must be an object")
    if errors:
        raise EventError(errors)
    key = _group_dedup_key(group_key)
    labels = _strings(body.get("commonLabels") or {})
    annotations = _strings(body.get("commonAnnotations") or {})
    if status == "resolved":  # the incident says so when its resolution is announced
        said = _body(body, labels, annotations, alerts, "[RESOLVED]")
        return [Event("resolve", key, body=text.clean("Body", said, text.MAX_BODY, multiline=True))]
    firing = [a for a in alerts if a.get("status", "firing") == "firing"]
    if not firing:  # nothing fires (an empty list, or only resolved alerts): nothing to open
        return []
    severity = AM_SEVERITY.get(labels.get("severity", "").lower())
    if severity is None:  # the worst severity among the firing alerts, if they say one
        found = [AM_SEVERITY.get(_strings(a.get("labels") or {}).get("severity", "").lower())
                 for a in firing]  # fmt: skip
        severity = next((s for s in SEVERITIES if s in found), "critical")
    details = {
        "groupKey": group_key,
        "receiver": body.get("receiver"),
        "externalURL": body.get("externalURL"),
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "truncatedAlerts": body.get("truncatedAlerts", 0),
        "alerts": [
            {field: alert[field] for field in ALERT_FIELDS if alert.get(field) is not None}
            for alert in alerts[:50]
        ],
    }
    for extra in ("title", "message", "state", "orgId"):  # Grafana's additions
        if body.get(extra) is not None:
            details[extra] = body[extra]
    try:
        trigger = check_trigger(
            _body(body, labels, annotations, firing, f"[FIRING:{len(firing)}]"), key,
            service_id, severity=severity, source=_source(body), details=details,
        )  # fmt: skip
    except InvalidRequestError as exc:
        raise EventError([str(exc)]) from None
    # Each notification says what fires now: the open incident follows it.
    return [Event("trigger", key, replace(trigger, refresh=True))]


def _group_dedup_key(group_key: str) -> str:
    if len(group_key) <= text.MAX_KEY and group_key.isprintable():
        return group_key
    return "alertmanager:" + hashlib.sha256(group_key.encode("utf-8", "surrogatepass")).hexdigest()


def _strings(mapping: dict) -> dict[str, str]:
    return {str(k): str(v) for k, v in mapping.items() if isinstance(v, str | int | float)}


def _source(body: dict) -> str:
    return "grafana" if "orgId" in body or "state" in body else "alertmanager"


def _body(body: dict, labels: dict, annotations: dict, firing: list[dict], state: str) -> str:
    """What the incident says: `state` (`[FIRING:2]`, `[RESOLVED]`), the group's summary (or
    Grafana's title), and each alert's summary or description."""
    names = []
    for alert in firing:
        name = _strings(alert.get("labels") or {}).get("alertname")
        if name and name not in names:
            names.append(name)
    headline = (
        annotations.get("summary")
        or (body.get("title") if isinstance(body.get("title"), str) else None)
        or ", ".join(names)
        or "alert"
    )
    lines = [f"{state} {headline}"]
    description = annotations.get("description")
    if description and description != headline:
        lines.append(description)
    for alert in firing[:MAX_LISTED]:
        alert_labels = _strings(alert.get("labels") or {})
        alert_notes = _strings(alert.get("annotations") or {})
        said = alert_notes.get("summary") or ""
        if said in ("", headline):  # the headline says it already: the details say more
            said = alert_notes.get("description") or ""
        name = alert_labels.get("alertname", "alert")
        where = alert_labels.get("instance") or alert_labels.get("job") or ""
        lines.append(
            f"- {name}" + (f" on {where}" if where else "") + (f": {said}" if said else "")
        )
    if len(firing) > MAX_LISTED:
        lines.append(f"... and {len(firing) - MAX_LISTED} more")
    truncated = body.get("truncatedAlerts")
    if isinstance(truncated, int) and truncated > 0:
        lines.append(f"({truncated} more alerts left out by Alertmanager)")
    return "\n".join(lines)
