"""A stand-in for Opsgenie's REST API on 127.0.0.1, keeping its state, in the documented shapes:
answers `{data, took, requestId}`; `GET /v2/users` is paged (`limit`/`offset`, the next page's
address in `paging.next`, at most `page` items); `/v2/users/{id}/contacts`, `/v2/teams`,
`/v2/teams/{id}` (with `members`), `/v2/teams/{id}/routing-rules`, `/v2/schedules?expand=rotation`,
`/v2/schedules/{id}/timeline?interval&intervalUnit=days&date` (its `finalTimeline`: the
rotation's periods, an override's period of type `override` over them), `/v2/escalations`,
`/v2/integrations`.

Every request must carry `Authorization: GenieKey <key>` (else 401). `rate_limit = n` answers
the next n requests with 429 (Opsgenie sends no Retry-After).
"""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

from fake_http import JsonHandler, serve_in_thread, stop
from fake_pagerduty import Layer, stamp


class FakeOpsgenie:
    def __init__(self, key: str, page: int = 2) -> None:
        self.key = key
        self.page = page
        self.users: list[dict] = []
        self.contacts: dict[str, list[dict]] = {}
        self.teams: list[dict] = []
        self.members: dict[str, list[dict]] = {}
        self.routing: dict[str, list[dict]] = {}
        self.schedules: dict[str, dict] = {}
        self.rotations: dict[str, Layer] = {}  # schedule id -> how its one rotation turns
        self.overrides: dict[str, list[tuple[datetime, datetime, str]]] = {}
        self.escalations: list[dict] = []
        self.integrations: list[dict] = []
        self.requests: list[str] = []
        self.rate_limit = 0
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        fake = self

        class Handler(JsonHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(url.query).items()}
                with fake._lock:
                    fake.requests.append(f"GET {url.path}")
                    if self.headers.get("Authorization") != f"GenieKey {fake.key}":
                        self._answer(401, {"message": "Could not authenticate", "took": 0.0,
                                           "requestId": "r"})  # fmt: skip
                        return
                    if fake.rate_limit > 0:
                        fake.rate_limit -= 1
                        self._answer(429, {"message": "Too many requests", "took": 0.0,
                                           "requestId": "r"})  # fmt: skip
                        return
                    status, body = fake.route(url.path, query)
                    self._answer(status, body)

        self.server, self.url = serve_in_thread(Handler)

    def close(self) -> None:
        stop(self.server)

    def _id(self) -> str:
        return f"4513b7ea-3b91-438f-b7e4-{next(self._ids):012d}"

    # ----- the account ---------------------------------------------------------------------
    def add_user(self, email: str, full_name: str, role: str = "User", zone: str = "UTC") -> str:
        user_id = self._id()
        self.users.append({"id": user_id, "username": email, "fullName": full_name,
                           "role": {"id": role, "name": role}, "timeZone": zone,
                           "locale": "en_US", "verified": True})  # fmt: skip
        self.contacts[user_id] = [{"id": self._id(), "method": "email", "to": email,
                                   "enabled": True}]  # fmt: skip
        return user_id

    def add_contact(self, user_id: str, method: str, to: str) -> None:
        self.contacts[user_id].append({"id": self._id(), "method": method, "to": to,
                                       "enabled": True})  # fmt: skip

    def add_team(self, name: str, members: list[str]) -> str:
        team_id = self._id()
        self.teams.append({"id": team_id, "name": name, "description": ""})
        by_id = {u["id"]: u for u in self.users}
        self.members[team_id] = [
            {"user": {"id": m, "username": by_id[m]["username"]}, "role": "user"} for m in members
        ]
        self.routing[team_id] = []
        return team_id

    def add_routing_rule(self, team_id: str, name: str, escalation: str, default: bool) -> None:
        self.routing[team_id].append({
            "id": self._id(), "name": name, "isDefault": default,
            "order": len(self.routing[team_id]), "timezone": "UTC",
            "criteria": {"type": "match-all"},
            "notify": {"type": "escalation", "id": escalation, "name": name},
        })  # fmt: skip

    def add_schedule(self, name: str, team_id: str, zone: str, layer: Layer) -> str:
        schedule_id = self._id()
        rotation = layer.rotation
        by_id = {u["id"]: u for u in self.users}
        weekly = rotation.length % timedelta(days=7) == timedelta(0)
        self.schedules[schedule_id] = {
            "id": schedule_id, "name": name, "description": "", "timezone": zone,
            "enabled": True, "ownerTeam": {"id": team_id, "name": "team"},
            "rotations": [{
                "id": self._id(), "name": layer.name,
                "startDate": stamp(rotation.start), "endDate": None,
                "type": "weekly" if weekly else "daily",
                "length": rotation.length // timedelta(days=7 if weekly else 1),
                "participants": [{"type": "user", "id": u, "username": by_id[u]["username"]}
                                 for u in dict.fromkeys(rotation.order)],
            }],
        }  # fmt: skip
        self.rotations[schedule_id] = layer
        self.overrides[schedule_id] = []
        return schedule_id

    def add_override(self, schedule_id: str, start: datetime, end: datetime, user: str) -> None:
        self.overrides[schedule_id].append((start, end, user))

    def add_escalation(self, name: str, team_id: str, rules: list[tuple], repeat: tuple) -> str:
        """`rules`: (minutes from the alert, "schedule" | "user", id) each; `repeat`: (wait
        minutes, count)."""
        escalation_id = self._id()
        self.escalations.append({
            "id": escalation_id, "name": name, "description": "",
            "ownerTeam": {"id": team_id, "name": "team"},
            "rules": [{"condition": "if-not-acked", "notifyType": "default",
                       "delay": {"timeAmount": minutes, "timeUnit": "minutes"},
                       "recipient": {"type": kind, "id": target}}
                      for minutes, kind, target in rules],
            "repeat": {"waitInterval": repeat[0], "count": repeat[1],
                       "resetRecipientStates": False, "closeAlertAfterAll": False},
        })  # fmt: skip
        return escalation_id

    def add_integration(self, name: str, kind: str, team_id: str) -> None:
        self.integrations.append({"id": self._id(), "name": name, "enabled": True, "type": kind,
                                  "teamId": team_id, "version": "v2"})  # fmt: skip

    # ----- who is on call --------------------------------------------------------------------
    def on_call(self, schedule_id: str, at: datetime) -> tuple[str | None, str]:
        covering = [o for o in self.overrides[schedule_id] if o[0] <= at < o[1]]
        if covering:
            return covering[-1][2], "override"
        return self.rotations[schedule_id].on_call(at), "default"

    def periods(self, schedule_id: str, since: datetime, until: datetime) -> list[dict]:
        cuts = {since, until} | {t for t in self.rotations[schedule_id].cuts(since, until)
                                 if since < t < until}  # fmt: skip
        for start, end, _ in self.overrides[schedule_id]:
            cuts |= {t for t in (start, end) if since < t < until}
        by_id = {u["id"]: u for u in self.users}
        found: list[dict] = []
        for start, end in itertools.pairwise(sorted(cuts)):
            user, kind = self.on_call(schedule_id, start)
            if user is None:
                continue
            last = found[-1] if found else None
            if (
                last
                and last["recipient"]["id"] == user
                and last["type"] == kind
                and last["endDate"] == stamp(start)
            ):
                last["endDate"] = stamp(end)
                continue
            found.append({"startDate": stamp(start), "endDate": stamp(end), "type": kind,
                          "recipient": {"id": user, "type": "user",
                                        "name": by_id[user]["username"]}})  # fmt: skip
        return found

    # ----- the API -------------------------------------------------------------------------
    def _answer(self, data: object) -> dict:
        return {"data": data, "took": 0.01, "requestId": self._id()}

    def route(self, path: str, query: dict) -> tuple[int, object]:
        parts = path.strip("/").split("/")
        missing = (404, {"message": "Not found", "took": 0.0, "requestId": "r"})
        if parts[0] != "v2":
            return missing
        name = parts[1:]
        if name == ["users"]:
            offset, limit = int(query.get("offset", 0)), min(int(query.get("limit", 20)), self.page)
            body = self._answer(self.users[offset : offset + limit])
            body["totalCount"] = len(self.users)
            body["paging"] = {"first": f"{self.url}{path}?offset=0&limit={limit}"}
            if offset + limit < len(self.users):
                following = urlencode({"offset": offset + limit, "limit": limit})
                body["paging"]["next"] = f"{self.url}{path}?{following}"
            return 200, body
        if len(name) == 3 and name[0] == "users" and name[2] == "contacts":
            return (
                (200, self._answer(self.contacts[name[1]])) if name[1] in self.contacts else missing
            )
        if name == ["teams"]:
            return 200, self._answer(self.teams)
        if len(name) >= 2 and name[0] == "teams" and name[1] in self.members:
            if len(name) == 2:
                team = next(t for t in self.teams if t["id"] == name[1])
                return 200, self._answer({**team, "members": self.members[name[1]]})
            if name[2:] == ["routing-rules"]:
                return 200, self._answer(self.routing[name[1]])
        if name == ["schedules"]:
            return 200, self._answer(list(self.schedules.values()))
        if len(name) == 3 and name[0] == "schedules" and name[2] == "timeline":
            if name[1] not in self.schedules or query.get("intervalUnit") != "days":
                return missing
            since = datetime.fromisoformat(query["date"].replace("Z", "+00:00")).astimezone(UTC)
            until = since + timedelta(days=int(query["interval"]))
            rotation = self.schedules[name[1]]["rotations"][0]
            return 200, self._answer({
                "_parent": {"id": name[1], "name": self.schedules[name[1]]["name"]},
                "startDate": stamp(since), "endDate": stamp(until),
                "finalTimeline": {"rotations": [{
                    "id": rotation["id"], "name": rotation["name"], "order": 0,
                    "periods": self.periods(name[1], since, until),
                }]},
            })  # fmt: skip
        if name == ["escalations"]:
            return 200, self._answer(self.escalations)
        if name == ["integrations"]:
            return 200, self._answer(self.integrations)
        return missing
