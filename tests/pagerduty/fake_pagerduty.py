"""A stand-in for PagerDuty's REST API v2 on 127.0.0.1 over HTTPS (the official client refuses
plain http), keeping its state, in the documented shapes:

- `GET /users` (`limit`/`offset`/`more` pages, at most `page` items each, so clients must follow
  pages; `include[]=contact_methods` embeds each user's contact methods), `GET /schedules`,
  `GET /schedules/{id}` (with `since`/`until`: `final_schedule.rendered_schedule_entries`,
  overrides winning over the layers, the newest override over older ones, a higher layer over a
  lower one where its restriction lets it; `schedule_layers` as documented),
- `GET /schedules/{id}/overrides?since&until` (overrides overlapping the window, paged likewise;
  at most 3 months at a time),
  `POST /schedules/{id}/overrides` with `{"overrides": [...]}` answering 201 with one
  `{status, override}` or `{status, errors}` per item, `DELETE /schedules/{id}/overrides/{oid}`,
- `GET /teams`, `GET /teams/{id}/members`, `GET /escalation_policies`, `GET /services`
  (`include[]=integrations` embeds the integrations), all paged likewise, holding what the test
  put there in the documented shapes.

Every request must carry `Authorization: Token token=<token>` (else 401). Tests can ask for a 429
with Retry-After on the next requests (`rate_limit`), for a 500 on the n-th POST (`fail_post`)
and for single overrides refused in a POST's answer (`refuse`).
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import trustme
from fake_http import JsonHandler, serve_in_thread, stop


def stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@dataclass
class Rotation:
    """One layer: `order` takes turns of `length` from `start`. With `zone`, turns are counted
    on that zone's wall clock, as PagerDuty does: a weekly 09:00 handoff stays at 09:00 local
    across a daylight-saving change."""

    start: datetime
    length: timedelta
    order: list[str]
    zone: str | None = None

    def _wall(self, at: datetime) -> datetime:
        return at.astimezone(ZoneInfo(self.zone)).replace(tzinfo=None) if self.zone else at

    def _instant(self, wall: datetime) -> datetime:
        return wall.replace(tzinfo=ZoneInfo(self.zone)).astimezone(UTC) if self.zone else wall

    def on_call(self, at: datetime) -> str | None:
        if at < self.start:
            return None
        turn = int((self._wall(at) - self._wall(self.start)) / self.length)
        return self.order[turn % len(self.order)]

    def handoffs(self, since: datetime, until: datetime) -> list[datetime]:
        first = max(0, int((self._wall(since) - self._wall(self.start)) / self.length) - 1)
        found = []
        for turn in itertools.count(first):
            at = self._instant(self._wall(self.start) + turn * self.length)
            if at >= until:
                return found
            if at >= since:
                found.append(at)
        return found


@dataclass
class Layer:
    """A schedule layer above the first: its rotation counts only from `daily_from` for
    `daily_hours` each day in `zone` (PagerDuty's daily restriction), or always."""

    name: str
    rotation: Rotation
    zone: str = "UTC"
    daily_from: time | None = None
    daily_hours: float = 24

    def on_call(self, at: datetime) -> str | None:
        if self.daily_from is not None:
            local = at.astimezone(ZoneInfo(self.zone))
            opened = datetime.combine(local.date(), self.daily_from, ZoneInfo(self.zone))
            window = timedelta(hours=self.daily_hours)
            if not any(o <= at < o + window for o in (opened, opened - timedelta(days=1))):
                return None
        return self.rotation.on_call(at)

    def cuts(self, since: datetime, until: datetime) -> set[datetime]:
        found = set(self.rotation.handoffs(since, until))
        if self.daily_from is not None:
            day = since.astimezone(ZoneInfo(self.zone)).date() - timedelta(days=1)
            while True:
                opened = datetime.combine(day, self.daily_from, ZoneInfo(self.zone))
                if opened.astimezone(UTC) >= until:
                    break
                found |= {opened.astimezone(UTC),
                          (opened + timedelta(hours=self.daily_hours)).astimezone(UTC)}  # fmt: skip
                day += timedelta(days=1)
        return found

    def json(self, fake: FakePagerDuty, index: int) -> dict:
        restrictions = []
        if self.daily_from is not None:
            restrictions.append({
                "type": "daily_restriction",
                "start_time_of_day": self.daily_from.strftime("%H:%M:%S"),
                "duration_seconds": int(self.daily_hours * 3600),
            })  # fmt: skip
        return {
            "id": f"L{index}",
            "name": self.name,
            "start": stamp(self.rotation.start),
            "end": None,
            "rotation_virtual_start": stamp(self.rotation.start),
            "rotation_turn_length_seconds": int(self.rotation.length.total_seconds()),
            "users": [{"user": fake.ref(u)} for u in dict.fromkeys(self.rotation.order)],
            "restrictions": restrictions,
        }


@dataclass
class Override:
    id: str
    start: datetime
    end: datetime
    user: str
    made: int  # creation order: the newest override wins


@dataclass
class Schedule:
    id: str
    name: str
    time_zone: str
    rotation: Rotation
    overrides: list[Override] = field(default_factory=list)
    layers: list[Layer] = field(default_factory=list)  # above the rotation, the last on top
    team: str | None = None


class FakePagerDuty:
    def __init__(self, token: str, ca: trustme.CA, page: int = 3) -> None:
        self.token = token
        self.page = page
        self.users: list[dict] = []
        self.schedules: dict[str, Schedule] = {}
        self.contact_methods: dict[str, list[dict]] = {}  # user id -> their methods
        self.teams: list[dict] = []
        self.members: dict[str, list[dict]] = {}  # team id -> [{user, role}]
        self.policies: list[dict] = []
        self.services: list[dict] = []
        self.writes: list[str] = []  # "POST /schedules/X/overrides (n)", "DELETE ..."
        self.requests: list[str] = []
        self.rate_limited: list[str] = []  # requests answered 429
        self.rate_limit = 0  # answer the next n requests with 429
        self.fail_post: set[int] = set()  # 1-based numbers of POSTs to answer with 500
        self.refuse: set[str] = set()  # override starts to refuse, one by one, with a 400
        self.posts = 0
        self.refused_auth = 0
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        fake = self

        class Handler(JsonHandler):
            def _handle(self, method: str) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                url = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(url.query).items()}
                with fake._lock:
                    fake.requests.append(f"{method} {url.path}")
                    if self.headers.get("Authorization") != f"Token token={fake.token}":
                        fake.refused_auth += 1
                        self._answer(401, {"error": {"message": "Unauthorized", "code": 2006}})
                        return
                    if fake.rate_limit > 0:
                        fake.rate_limit -= 1
                        fake.rate_limited.append(f"{method} {url.path}")
                        self._answer(
                            429,
                            {"error": {"message": "Rate Limit Exceeded", "code": 2020}},
                            {"Retry-After": "1"},
                        )
                        return
                    status, body = fake.route(method, url.path, query, raw)
                    self._answer(status, body)

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

            def do_DELETE(self) -> None:
                self._handle("DELETE")

        self.server, self.url = serve_in_thread(Handler, ca)

    def close(self) -> None:
        stop(self.server)

    # ----- the account ---------------------------------------------------------------------
    def add_user(
        self, user_id: str, name: str, email: str, role: str = "user", time_zone: str = "UTC"
    ) -> dict:
        user = {
            "id": user_id,
            "type": "user",
            "name": name,
            "summary": name,
            "email": email,
            "self": f"{self.url}/users/{user_id}",
            "html_url": f"https://acme.pagerduty.com/users/{user_id}",
            "role": role,
            "time_zone": time_zone,
        }
        self.users.append(user)
        self.contact_methods[user_id] = [self._method(user_id, "email_contact_method", email,
                                                      "Default")]  # fmt: skip
        return user

    def _method(self, user_id: str, kind: str, address: str, label: str, **extra) -> dict:
        number = len(self.contact_methods.get(user_id, [])) + 1
        return {"id": f"PC{user_id}{number}", "type": kind, "summary": label, "label": label,
                "address": address, **extra}  # fmt: skip

    def add_contact_method(self, user_id: str, kind: str, address: str, label: str, **extra):
        """`kind` as PagerDuty names it: sms_contact_method, phone_contact_method (with
        `country_code`), push_notification_contact_method..."""
        self.contact_methods[user_id].append(self._method(user_id, kind, address, label, **extra))

    def add_team(self, team_id: str, name: str, members: list[str]) -> None:
        self.teams.append({"id": team_id, "type": "team", "name": name, "summary": name})
        self.members[team_id] = [{"user": self.ref(m), "role": "responder"} for m in members]

    def add_schedule(
        self,
        schedule_id: str,
        rotation: Rotation,
        time_zone: str = "UTC",
        name: str = "Checkout",
        layers: list[Layer] | None = None,
        team: str | None = None,
    ) -> None:
        self.schedules[schedule_id] = Schedule(
            schedule_id, name, time_zone, rotation, layers=list(layers or []), team=team
        )

    def add_escalation_policy(self, policy_id: str, name: str, rules: list[tuple], loops: int):
        """`rules`: (delay in minutes, [("schedule" | "user", id), ...]) each."""
        escalation_rules = [
            {
                "id": f"R{policy_id}{n}",
                "escalation_delay_in_minutes": delay,
                "targets": [{"id": i, "type": f"{kind}_reference"} for kind, i in targets],
            }
            for n, (delay, targets) in enumerate(rules)
        ]
        self.policies.append({"id": policy_id, "type": "escalation_policy", "name": name,
                              "summary": name, "num_loops": loops,
                              "escalation_rules": escalation_rules, "teams": []})  # fmt: skip

    def add_service(self, service_id: str, name: str, policy: str, team: str | None,
                    integrations: list[tuple[str, str, str]], **fields) -> None:  # fmt: skip
        """`integrations`: (name, type, vendor summary) each; `fields`: acknowledgement_timeout,
        auto_resolve_timeout (seconds), incident_urgency_rule..."""
        self.services.append({
            "id": service_id, "type": "service", "name": name, "summary": name,
            "escalation_policy": {"id": policy, "type": "escalation_policy_reference"},
            "teams": [{"id": team, "type": "team_reference"}] if team else [],
            "integrations": [
                {"id": f"PI{service_id}{n}", "type": kind, "name": label, "summary": label,
                 "vendor": {"type": "vendor_reference", "summary": vendor} if vendor else None}
                for n, (label, kind, vendor) in enumerate(integrations)
            ],
            "acknowledgement_timeout": None, "auto_resolve_timeout": None,
            "incident_urgency_rule": {"type": "constant", "urgency": "high"},
            **fields,
        })  # fmt: skip

    def add_override(self, schedule_id: str, start: datetime, end: datetime, user: str) -> str:
        override = Override(f"Q{next(self._ids):06d}", start, end, user, next(self._ids))
        self.schedules[schedule_id].overrides.append(override)
        return override.id

    def final_schedule(self, schedule_id: str, since: datetime, until: datetime) -> list[dict]:
        """Who is on call, as PagerDuty renders it: contiguous entries clipped to the window."""
        schedule = self.schedules[schedule_id]
        cuts = {since, until}
        cuts |= {t for t in schedule.rotation.handoffs(since, until) if since < t < until}
        for layer in schedule.layers:
            cuts |= {t for t in layer.cuts(since, until) if since < t < until}
        for override in schedule.overrides:
            cuts |= {t for t in (override.start, override.end) if since < t < until}
        ordered = sorted(cuts)
        entries: list[dict] = []
        for start, end in itertools.pairwise(ordered):
            user = self.on_call(schedule_id, start)
            if user is None:
                continue
            if entries and entries[-1]["user"]["id"] == user and entries[-1]["end"] == stamp(start):
                entries[-1]["end"] = stamp(end)
            else:
                entries.append({"start": stamp(start), "end": stamp(end), "user": self.ref(user)})
        return entries

    def on_call(self, schedule_id: str, at: datetime) -> str | None:
        schedule = self.schedules[schedule_id]
        covering = [o for o in schedule.overrides if o.start <= at < o.end]
        if covering:
            return max(covering, key=lambda o: o.made).user
        for layer in reversed(schedule.layers):
            if (user := layer.on_call(at)) is not None:
                return user
        return schedule.rotation.on_call(at)

    def ref(self, user_id: str) -> dict:
        user = next(u for u in self.users if u["id"] == user_id)
        return {
            "id": user_id,
            "type": "user_reference",
            "summary": user["name"],
            "self": user["self"],
            "html_url": user["html_url"],
        }

    def override_json(self, override: Override) -> dict:
        return {
            "id": override.id,
            "start": stamp(override.start),
            "end": stamp(override.end),
            "user": self.ref(override.user),
        }

    # ----- the API -------------------------------------------------------------------------
    def _paged(self, key: str, items: list[dict], query: dict) -> dict:
        limit = min(int(query.get("limit", 25)), self.page)
        offset = int(query.get("offset", 0))
        chunk = items[offset : offset + limit]
        return {
            key: chunk,
            "limit": limit,
            "offset": offset,
            "more": offset + limit < len(items),
            "total": None,
        }

    def route(self, method: str, path: str, query: dict, raw: bytes) -> tuple[int, object]:
        parts = path.strip("/").split("/")
        not_found = (404, {"error": {"message": "Not Found", "code": 2100}})
        embeds = query.get("include[]", "")
        if method == "GET" and parts == ["users"]:
            users = self.users
            if embeds == "contact_methods":
                users = [{**u, "contact_methods": self.contact_methods[u["id"]]} for u in users]
            return 200, self._paged("users", users, query)
        if method == "GET" and parts == ["teams"]:
            return 200, self._paged("teams", self.teams, query)
        if method == "GET" and len(parts) == 3 and parts[0] == "teams" and parts[2] == "members":
            if parts[1] not in self.members:
                return not_found
            return 200, self._paged("members", self.members[parts[1]], query)
        if method == "GET" and parts == ["escalation_policies"]:
            return 200, self._paged("escalation_policies", self.policies, query)
        if method == "GET" and parts == ["services"]:
            services = self.services
            if embeds != "integrations":
                services = [{**s, "integrations": [{"id": i["id"], "type": f"{i['type']}_reference"}
                                                   for i in s["integrations"]]}
                            for s in services]  # fmt: skip
            return 200, self._paged("services", services, query)
        if method == "GET" and parts == ["schedules"]:
            found = [{"id": s.id, "type": "schedule", "name": s.name, "summary": s.name,
                      "time_zone": s.time_zone} for s in self.schedules.values()]  # fmt: skip
            return 200, self._paged("schedules", found, query)
        if parts[0] != "schedules" or len(parts) < 2 or parts[1] not in self.schedules:
            return not_found
        schedule = self.schedules[parts[1]]
        if method == "GET" and len(parts) == 2:
            members = dict.fromkeys(schedule.rotation.order)
            body = {
                "id": schedule.id,
                "type": "schedule",
                "name": schedule.name,
                "time_zone": schedule.time_zone,
                "users": [self.ref(u) for u in members],
                "teams": [{"id": schedule.team, "type": "team_reference"}] if schedule.team else [],
                "schedule_layers": [
                    layer.json(self, n)
                    for n, layer in enumerate(
                        [Layer("Layer 1", schedule.rotation), *schedule.layers], start=1
                    )
                ],
                "final_schedule": {"name": "Final Schedule", "rendered_schedule_entries": []},
            }
            if "since" in query and "until" in query:
                entries = self.final_schedule(
                    schedule.id, parse(query["since"]), parse(query["until"])
                )
                body["final_schedule"]["rendered_schedule_entries"] = entries
            return 200, {"schedule": body}
        if parts[2:] == ["overrides"] and method == "GET":
            since, until = parse(query["since"]), parse(query["until"])
            if until - since > timedelta(days=92):
                message = "The maximum date range queryable is 3 months"
                return 400, {"error": {"message": "Invalid Input Provided", "code": 2001,
                                       "errors": [message]}}  # fmt: skip
            found = [
                self.override_json(o)
                for o in sorted(schedule.overrides, key=lambda o: o.start)
                if o.start < until and since < o.end
            ]
            return 200, self._paged("overrides", found, query)
        if parts[2:] == ["overrides"] and method == "POST":
            self.posts += 1
            if self.posts in self.fail_post:
                return 500, {"error": {"message": "Internal Server Error", "code": 2000}}
            wanted = json.loads(raw)["overrides"]
            self.writes.append(f"POST {path} ({len(wanted)})")
            answers = []
            for item in wanted:
                user = item["user"]["id"]
                if not any(u["id"] == user for u in self.users):
                    answers.append({"status": 400, "errors": ["User not found"]})
                    continue
                if item["start"] in self.refuse:
                    answers.append({"status": 400, "errors": ["Override must end after it starts"]})
                    continue
                made = self.add_override(
                    schedule.id, parse(item["start"]), parse(item["end"]), user
                )
                override = next(o for o in schedule.overrides if o.id == made)
                answers.append({"status": 201, "override": self.override_json(override)})
            return 201, answers
        if len(parts) == 4 and parts[2] == "overrides" and method == "DELETE":
            override = next((o for o in schedule.overrides if o.id == parts[3]), None)
            if override is None:
                return not_found
            schedule.overrides.remove(override)
            self.writes.append(f"DELETE {path}")
            return 204, None
        return not_found
