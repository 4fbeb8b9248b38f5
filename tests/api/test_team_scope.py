"""A member of one team cannot act on another team: every write route in `/openapi.json`,
called by a member of team Search on team Payments' objects (its id, its people, its overrides,
swaps, incidents, services, keys), is refused with 403 and changes nothing in the database,
except the incident actions every member may take anywhere. What a member may do in their own
team still works."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from oncall_opt.api import create_app
from oncall_opt.engine.settings import Settings

LOCAL = "http://127.0.0.1"  # the daemon answers loopback names without a token

TOKEN = "daemon-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
READS = {"get", "head", "options"}
# Incidents are everyone's to handle (as in PagerDuty, a responder helps on any service);
# acknowledge_all is scoped to the member's own teams (tested below).
ANY_MEMBER = {
    ("post", "/incidents"),
    ("post", "/incidents/acknowledge_all"),
    ("put", "/incidents/{id}/acknowledge"),
    ("put", "/incidents/{id}/assign"),
    ("put", "/incidents/{id}/resolve"),
    ("post", "/incidents/{id}/unresolve"),
    ("put", "/incidents/{id}/snooze"),
    ("put", "/incidents/{id}/escalate"),
    ("post", "/incidents/{id}/notes"),
    ("post", "/roster/solve"),
    ("post", "/auth/logout"),
}
OPEN = {("post", "/auth/login"), ("post", "/v2/enqueue"), ("post", "/v2/change/enqueue")}


def ok(response, status: int = 200):
    assert response.status_code == status, response.text
    return response.json()


@pytest.fixture
def api(store, clock):
    app = create_app(store, Settings(api_token=SecretStr(TOKEN)), clock, run_jobs=False)
    with TestClient(base_url=LOCAL, app=app) as client:
        yield client


def person(api, handle: str, team_ids: list[int]) -> dict:
    body = {"FirstName": handle.title(), "LastName": "X", "SlackHandle": handle}
    user = ok(api.post("/users", json={**body, "TeamIds": team_ids}, headers=ADMIN))
    key = ok(api.post(f"/users/{user['Id']}/api-keys", json={"Name": "k"}, headers=ADMIN), 201)
    return {**user, "headers": {"Authorization": f"Bearer {key['Key']}"}, "KeyId": key["Id"]}


@pytest.fixture
def world(api, clock):
    """Payments (ana, ben) with a service, a policy, a shift, an override, a swap and incidents;
    Search (mallory), with a service of its own and an incident on it."""
    payments = ok(api.post("/teams", json={"Name": "Payments"}, headers=ADMIN), 201)
    search = ok(api.post("/teams", json={"Name": "Search"}, headers=ADMIN), 201)
    ana = person(api, "ana", [payments["Id"]])
    ben = person(api, "ben", [payments["Id"]])
    mallory = person(api, "mallory", [search["Id"]])
    now = clock.now()

    def at(hours: float) -> str:
        return (now + timedelta(hours=hours)).isoformat()

    day = {"Start": at(-1), "End": at(23), "TeamId": payments["Id"]}
    shift = ok(api.post(f"/users/{ana['Id']}/schedules", headers=ADMIN, json=day))
    override = ok(api.post(f"/teams/{payments['Id']}/overrides", headers=ana["headers"],
                           json={"Start": at(30), "End": at(40)}), 201)  # fmt: skip
    swap = ok(api.post(f"/teams/{payments['Id']}/swaps", headers=ana["headers"],
                       json={"Start": at(2), "End": at(6)}), 201)  # fmt: skip
    cover = ok(api.post(f"/teams/{payments['Id']}/cover", headers=ana["headers"],
                        json={"Start": at(10), "End": at(20)}), 201)  # fmt: skip
    policies = {}
    services = {}
    for team in (payments, search):
        policies[team["Id"]] = ok(api.post("/escalation-policies", headers=ADMIN, json={
            "Name": team["Name"],
            "Steps": [{"DelayMinutes": 0,
                       "Targets": [{"Type": "layer", "TeamId": team["Id"], "Layer": 1}]}],
        }), 201)  # fmt: skip
        services[team["Id"]] = ok(api.post("/services", headers=ADMIN, json={
            "Name": team["Name"].lower(), "TeamId": team["Id"],
            "EscalationPolicyId": policies[team["Id"]]["Id"],
        }), 201)  # fmt: skip
    method = ok(api.post(f"/users/{ana['Id']}/contact-methods", headers=ana["headers"],
                         json={"Type": "webhook", "Address": "https://93.184.216.34/hook"}),
                201)  # fmt: skip
    incidents = {
        team_id: [
            ok(api.post("/incidents", headers=ADMIN,
                        json={"Body": f"{n} on {service['Name']}", "ServiceId": service["Id"]}))
            for n in ("disk", "cpu")
        ]
        for team_id, service in services.items()
    }  # fmt: skip
    return {
        "payments": payments, "search": search, "ana": ana, "ben": ben, "mallory": mallory,
        "shift": shift, "override": override, "swap": swap, "cover": cover,
        "policy": policies[payments["Id"]],
        "service": services[payments["Id"]], "incidents": incidents, "method": method,
        "rule": ok(api.get(f"/users/{ana['Id']}/notification-rules", headers=ADMIN))["Items"][0],
        "maintenance": ok(api.post(f"/services/{services[payments['Id']]['Id']}/maintenance",
                                   json={"Minutes": 30}, headers=ADMIN), 201),
        "heartbeat": ok(api.post(f"/services/{services[payments['Id']]['Id']}/heartbeats",
                                 json={"Name": "backup", "IntervalMinutes": 60}, headers=ADMIN),
                        201),
    }  # fmt: skip


def snapshot(store) -> str:
    """Every row of every table (when a credential was last used aside: using one is no
    change), as one text to compare."""
    tables = store.rows(
        "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
        "AND table_schema NOT IN ('information_schema', 'pg_catalog') ORDER BY table_name"
    )
    everything = {}
    for row in tables:
        name = row["table_name"]
        found = store.rows(f"SELECT * FROM {name}")
        for r in found:
            r.pop("last_used_at", None)
        everything[name] = sorted(json.dumps(r, sort_keys=True, default=str) for r in found)
    return json.dumps(everything)


def id_for(path: str, world: dict) -> int:
    """Payments' object that `{id}` stands for in `path`."""
    first = path.split("/")[1]
    return {
        "users": world["ana"]["Id"],
        "teams": world["payments"]["Id"],
        "overrides": world["override"]["Id"],
        "swaps": world["swap"]["Id"],
        "services": world["service"]["Id"],
        "escalation-policies": world["policy"]["Id"],
        "api-keys": world["ana"]["KeyId"],
        "schedules": world["shift"]["Id"],
        "incidents": world["incidents"][world["payments"]["Id"]][0]["Id"],
        "contact-methods": world["method"]["Id"],
        "notification-rules": world["rule"]["Id"],
        "maintenance": world["maintenance"]["Id"],
        "heartbeats": world["heartbeat"]["Id"],
        "cover": world["cover"]["Id"],
    }[first]


def test_every_write_route_refuses_a_member_of_another_team(api, world, store):
    mallory = world["mallory"]["headers"]
    walked = []
    for path, operations in api.get("/openapi.json").json()["paths"].items():
        for method in operations:
            if method in READS or (method, path) in ANY_MEMBER | OPEN:
                continue
            if path.startswith(("/integrations/", "/actions/", "/heartbeat/", "/cover-links/")):
                # the URL's key
                continue
            url = path.replace("{id}", str(id_for(path, world))) if "{id}" in path else path
            before = snapshot(store)
            response = api.request(method.upper(), url, json={}, headers=mallory)
            assert response.status_code == 403, (method, url, response.text)
            assert response.json()["code"] == "permission_denied"
            assert snapshot(store) == before, (method, url)
            walked.append((method, path))
    team_routes = {p for _, p in walked if p.startswith("/teams/{id}/")}
    assert {"/teams/{id}/overrides", "/teams/{id}/overrides/take", "/teams/{id}/swaps",
            "/teams/{id}/calendar"} <= team_routes, team_routes  # fmt: skip
    assert len(walked) >= 30, walked


def test_team_refusals_name_the_team_and_keep_members_working_in_their_own(api, world, clock):
    payments, ana, ben = world["payments"], world["ana"], world["ben"]
    mallory = world["mallory"]
    now = clock.now()
    window = {"Start": (now + timedelta(hours=50)).isoformat(),
              "End": (now + timedelta(hours=60)).isoformat()}  # fmt: skip
    refused = api.post(f"/teams/{payments['Id']}/overrides", json=window,
                       headers=mallory["headers"])  # fmt: skip
    assert refused.status_code == 403
    assert f"not a member of team {payments['Id']}" in refused.json()["message"]
    taken = api.post(f"/teams/{payments['Id']}/overrides/take", headers=mallory["headers"])
    assert taken.status_code == 403
    # Ana's own team: her override, Ben taking her swap, the team's calendar feed.
    ok(api.post(f"/teams/{payments['Id']}/overrides", json=window, headers=ana["headers"]), 201)
    ok(api.put(f"/swaps/{world['swap']['Id']}/accept", headers=ben["headers"]))
    ok(api.post(f"/teams/{payments['Id']}/calendar", headers=ben["headers"]), 201)
    other = ok(api.post(f"/teams/{world['search']['Id']}/calendar", headers=mallory["headers"]),
               201)  # fmt: skip
    assert other["Url"].endswith(".ics")


def test_acknowledge_all_by_a_member_acknowledges_only_their_teams_incidents(api, world):
    done = ok(api.post("/incidents/acknowledge_all", headers=world["mallory"]["headers"]))
    search_ids = {i["Id"] for i in world["incidents"][world["search"]["Id"]]}
    assert {i["Id"] for i in done["Items"]} == search_ids
    for incident in world["incidents"][world["payments"]["Id"]]:
        assert ok(api.get(f"/incidents/{incident['Id']}", headers=ADMIN))["Status"] == "triggered"
    everything = ok(api.post("/incidents/acknowledge_all", headers=ADMIN))
    payments_ids = {i["Id"] for i in world["incidents"][world["payments"]["Id"]]}
    assert {i["Id"] for i in everything["Items"]} == payments_ids


def test_a_team_route_with_an_id_that_is_no_number_is_a_400_not_a_500(api, world):
    for path in ("/teams/abc/overrides", "/teams/%C2%B2/swaps", "/teams/1e3/calendar"):
        response = api.post(path, json={}, headers=world["mallory"]["headers"])
        assert response.status_code == 400, (path, response.text)
