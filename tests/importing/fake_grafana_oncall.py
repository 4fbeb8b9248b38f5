"""A stand-in for Grafana OnCall's public API (`/api/v1/...`) on 127.0.0.1, keeping its state,
in the documented shapes: lists answer `{count, next, previous, results, page_size,
current_page_number, total_pages}` with at most `page` items, so clients must follow `next`;
`users/`, `teams/`, `schedules/`, `schedules/{id}/final_shifts?start_date&end_date` (computed
from the schedule's rotations and overrides: an override over every rotation, the newest
first; a rotation of a higher `level` over a lower one), `on_call_shifts/?schedule_id`,
`escalation_chains/`, `escalation_policies/?escalation_chain_id`, `integrations/`,
`routes/?integration_id`.

Every request must carry `Authorization: <token>` (else 401). `rate_limit = n` answers the next
n requests with 429 and Retry-After.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qs, urlencode, urlsplit
from zoneinfo import ZoneInfo

from fake_http import JsonHandler, serve_in_thread, stop
from fake_pagerduty import Layer, stamp


@dataclass
class Rotation:
    """An on-call shift of type rolling_users: its documented JSON and how it turns."""

    json: dict
    layer: Layer

    @property
    def level(self) -> int:
        return int(self.json.get("level") or 0)


@dataclass
class Override:
    json: dict
    start: datetime
    end: datetime
    user: str


@dataclass
class Schedule:
    json: dict
    rotations: list[Rotation] = field(default_factory=list)
    overrides: list[Override] = field(default_factory=list)


class FakeGrafanaOnCall:
    def __init__(self, token: str, page: int = 2) -> None:
        self.token = token
        self.page = page
        self.users: list[dict] = []
        self.teams: list[dict] = []
        self.schedules: dict[str, Schedule] = {}
        self.chains: list[dict] = []
        self.steps: list[dict] = []  # escalation policies, each with its escalation_chain_id
        self.integrations: list[dict] = []
        self.routes: list[dict] = []
        self.requests: list[str] = []
        self.rate_limit = 0
        self.rate_limited: list[str] = []
        self.refused_auth = 0
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        fake = self

        class Handler(JsonHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(url.query).items()}
                with fake._lock:
                    fake.requests.append(f"GET {url.path}")
                    if self.headers.get("Authorization") != fake.token:
                        fake.refused_auth += 1
                        self._answer(401, {"detail": "Invalid token."})
                        return
                    if fake.rate_limit > 0:
                        fake.rate_limit -= 1
                        fake.rate_limited.append(url.path)
                        self._answer(429, {"detail": "Request was throttled."},
                                     {"Retry-After": "2"})  # fmt: skip
                        return
                    status, body = fake.route(url.path, query)
                    self._answer(status, body)

        self.server, self.url = serve_in_thread(Handler)

    def close(self) -> None:
        stop(self.server)

    def _id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):06d}"

    # ----- the organisation ----------------------------------------------------------------
    def add_user(self, username: str, email: str, role: str = "user", timezone: str = "UTC",
                 teams: list[str] | None = None, slack: str | None = None) -> str:  # fmt: skip
        user_id = self._id("U")
        slack_links = [{"user_id": slack, "team_id": "TSLACK1"}] if slack else []
        self.users.append({"id": user_id, "grafana_id": len(self.users) + 1, "email": email,
                           "slack": slack_links, "username": username, "role": role,
                           "timezone": timezone, "teams": list(teams or [])})  # fmt: skip
        return user_id

    def add_team(self, name: str) -> str:
        team_id = self._id("T")
        self.teams.append({"id": team_id, "grafana_id": len(self.teams) + 1, "name": name,
                           "email": "", "avatar_url": "/avatar/x"})  # fmt: skip
        return team_id

    def add_schedule(self, name: str, team_id: str | None, time_zone: str) -> str:
        schedule_id = self._id("S")
        self.schedules[schedule_id] = Schedule({
            "id": schedule_id, "name": name, "type": "web", "team_id": team_id,
            "time_zone": time_zone, "on_call_now": [], "slack": None,
            "ical_url_overrides": None,
        })  # fmt: skip
        return schedule_id

    def add_rotation(self, schedule_id: str, name: str, layer: Layer, level: int = 0) -> str:
        """A rolling_users shift turning as `layer` does (its rotation's order: user ids)."""
        shift_id = self._id("O")
        rotation = layer.rotation
        zone = rotation.zone or "UTC"
        local_start = rotation.start.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
        weekly = rotation.length % timedelta(days=7) == timedelta(0)
        duration = (
            int(layer.daily_hours * 3600)
            if layer.daily_from is not None
            else int(rotation.length.total_seconds())
        )
        shift = {
            "id": shift_id, "name": name, "type": "rolling_users", "team_id": None,
            "time_zone": zone, "level": level, "start": local_start.isoformat(),
            "rotation_start": local_start.isoformat(), "duration": duration,
            "frequency": "weekly" if weekly else "daily",
            "interval": rotation.length // timedelta(days=7 if weekly else 1),
            "week_start": "MO", "by_day": [], "by_month": None, "by_monthday": None,
            "rolling_users": [[u] for u in dict.fromkeys(rotation.order)],
            "start_rotation_from_user_index": 0, "schedule": schedule_id,
        }  # fmt: skip
        self.schedules[schedule_id].rotations.append(Rotation(shift, layer))
        return shift_id

    def add_override(self, schedule_id: str, start: datetime, end: datetime, user: str) -> str:
        shift_id = self._id("O")
        shift = {"id": shift_id, "name": f"override {shift_id}", "type": "override",
                 "team_id": None, "time_zone": "UTC", "level": 99,
                 "start": start.astimezone(UTC).replace(tzinfo=None).isoformat(),
                 "rotation_start": start.astimezone(UTC).replace(tzinfo=None).isoformat(),
                 "duration": int((end - start).total_seconds()), "users": [user],
                 "schedule": schedule_id}  # fmt: skip
        self.schedules[schedule_id].overrides.append(Override(shift, start, end, user))
        return shift_id

    def add_chain(self, name: str, team_id: str | None, steps: list[dict]) -> str:
        """`steps`: escalation policies without id/chain/position (`{"type": "wait",
        "duration": 300}`, ...)."""
        chain_id = self._id("F")
        self.chains.append({"id": chain_id, "team_id": team_id, "name": name})
        for position, step in enumerate(steps):
            self.steps.append({"id": self._id("E"), "escalation_chain_id": chain_id,
                               "position": position, **step})  # fmt: skip
        return chain_id

    def add_integration(self, name: str, kind: str, team_id: str | None, chain_id: str,
                        extra_routes: list[tuple[str, str]] = ()) -> str:  # fmt: skip
        """`extra_routes`: (routing_regex, escalation chain id) each, before the default."""
        integration_id = self._id("C")
        default = {"id": self._id("R"), "escalation_chain_id": chain_id, "slack": None}
        self.integrations.append({
            "id": integration_id, "name": name, "team_id": team_id,
            "link": f"{self.url}/integrations/v1/{kind}/{integration_id}/", "type": kind,
            "default_route": default, "templates": {}, "maintenance_mode": None,
        })  # fmt: skip
        for position, (regex, chain) in enumerate(extra_routes):
            self.routes.append({"id": self._id("R"), "integration_id": integration_id,
                                "escalation_chain_id": chain, "routing_regex": regex,
                                "routing_type": "regex", "position": position,
                                "is_the_last_route": False})  # fmt: skip
        self.routes.append({**default, "integration_id": integration_id, "routing_regex": None,
                            "routing_type": "regex", "position": len(extra_routes),
                            "is_the_last_route": True})  # fmt: skip
        return integration_id

    # ----- who is on call --------------------------------------------------------------------
    def on_call(self, schedule_id: str, at: datetime) -> str | None:
        schedule = self.schedules[schedule_id]
        covering = [o for o in schedule.overrides if o.start <= at < o.end]
        if covering:
            return covering[-1].user
        for rotation in sorted(schedule.rotations, key=lambda r: -r.level):
            if (user := rotation.layer.on_call(at)) is not None:
                return user
        return None

    def final_shifts(self, schedule_id: str, since: datetime, until: datetime) -> list[dict]:
        schedule = self.schedules[schedule_id]
        cuts = {since, until}
        for rotation in schedule.rotations:
            cuts |= {t for t in rotation.layer.cuts(since, until) if since < t < until}
        for override in schedule.overrides:
            cuts |= {t for t in (override.start, override.end) if since < t < until}
        shifts: list[dict] = []
        for start, end in itertools.pairwise(sorted(cuts)):
            user_id = self.on_call(schedule_id, start)
            if user_id is None:
                continue
            if (
                shifts
                and shifts[-1]["user_pk"] == user_id
                and shifts[-1]["shift_end"] == stamp(start)
            ):
                shifts[-1]["shift_end"] = stamp(end)
                continue
            user = next(u for u in self.users if u["id"] == user_id)
            shifts.append({"user_pk": user_id, "user_email": user["email"],
                           "user_username": user["username"], "shift_start": stamp(start),
                           "shift_end": stamp(end)})  # fmt: skip
        return shifts

    # ----- the API -------------------------------------------------------------------------
    def _paged(self, path: str, items: list[dict], query: dict) -> dict:
        number = int(query.get("page", 1))
        chunk = items[(number - 1) * self.page : number * self.page]
        more = number * self.page < len(items)
        following = {**query, "page": number + 1}
        return {
            "count": len(items),
            "next": f"{self.url}{path}?{urlencode(following)}" if more else None,
            "previous": None if number == 1 else f"{self.url}{path}?page={number - 1}",
            "results": chunk,
            "current_page_number": number,
            "page_size": self.page,
            "total_pages": max(1, -(-len(items) // self.page)),
        }

    def route(self, path: str, query: dict) -> tuple[int, object]:
        parts = path.strip("/").split("/")
        if parts[:2] != ["api", "v1"]:
            return 404, {"detail": "Not found."}
        name = parts[2:]
        lists = {
            ("users",): lambda: self.users,
            ("teams",): lambda: self.teams,
            ("schedules",): lambda: [s.json for s in self.schedules.values()],
            ("escalation_chains",): lambda: self.chains,
            ("integrations",): lambda: self.integrations,
            ("escalation_policies",): lambda: [
                s for s in self.steps
                if s["escalation_chain_id"] == query.get("escalation_chain_id")
            ],
            ("on_call_shifts",): lambda: [
                shift
                for s in self.schedules.values() if s.json["id"] == query.get("schedule_id")
                for shift in [*(r.json for r in s.rotations), *(o.json for o in s.overrides)]
            ],
            ("routes",): lambda: [
                r for r in self.routes if r["integration_id"] == query.get("integration_id")
            ],
        }  # fmt: skip
        if tuple(name) in lists:
            return 200, self._paged(path, lists[tuple(name)](), query)
        if len(name) == 3 and name[0] == "schedules" and name[2] == "final_shifts":
            if name[1] not in self.schedules:
                return 404, {"detail": "Not found."}
            try:
                first = date.fromisoformat(query["start_date"])
                last = date.fromisoformat(query["end_date"])
            except (KeyError, ValueError):
                return 400, {"detail": "start_date and end_date: ISO 8601 dates"}
            since = datetime(first.year, first.month, first.day, tzinfo=UTC)
            until = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
            return 200, self._paged(path, self.final_shifts(name[1], since, until), query)
        return 404, {"detail": "Not found."}
