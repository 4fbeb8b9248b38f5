"""Who may do what with cover requests, with a token: a member asks for cover of their own
shifts only (an admin for anyone's), answers only as themself, reads and acts only in their
own teams; the person who asked, the person covered or an admin cancels."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from oncall_opt.api import create_app
from oncall_opt.engine.settings import Settings

LOCAL = "http://127.0.0.1"
TOKEN = "daemon-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


def ok(response, status: int = 200):
    assert response.status_code == status, response.text
    return response.json()


def denied(response, *words: str) -> None:
    assert response.status_code == 403, response.text
    for word in words:
        assert word in response.json()["message"], response.text


@pytest.fixture
def world(store, clock):
    app = create_app(store, Settings(api_token=SecretStr(TOKEN)), clock, run_jobs=False)
    with TestClient(base_url=LOCAL, app=app) as api:
        payments = ok(api.post("/teams", json={"Name": "Payments"}, headers=ADMIN), 201)
        search = ok(api.post("/teams", json={"Name": "Search"}, headers=ADMIN), 201)
        people = {}
        for handle, team in (("ana", payments), ("ben", payments), ("cy", payments),
                             ("mallory", search)):  # fmt: skip
            user = ok(api.post("/users", headers=ADMIN, json={
                "FirstName": handle.title(), "LastName": "X", "SlackHandle": handle,
                "TeamIds": [team["Id"]]}))  # fmt: skip
            key = ok(api.post(f"/users/{user['Id']}/api-keys", json={"Name": "k"},
                              headers=ADMIN), 201)  # fmt: skip
            people[handle] = {**user, "headers": {"Authorization": f"Bearer {key['Key']}"}}
        now = clock.now()
        stretch = {"Start": (now + timedelta(days=1)).isoformat(),
                   "End": (now + timedelta(days=2)).isoformat()}  # fmt: skip
        ok(api.post(f"/users/{people['ana']['Id']}/schedules", headers=ADMIN,
                    json={**stretch, "TeamId": payments["Id"]}))  # fmt: skip
        yield api, payments, people, stretch


def test_a_member_finds_cover_for_their_own_shift_only(world):
    api, payments, people, stretch = world
    url = f"/teams/{payments['Id']}/cover"
    denied(api.post(url, json=stretch, headers=people["ben"]["headers"]), "Ana X's")
    denied(api.post(url, json=stretch, headers=people["mallory"]["headers"]), "not a member")
    made = ok(api.post(url, json=stretch, headers=people["ana"]["headers"]), 201)
    assert made["CreatedBy"] == people["ana"]["Id"]
    assert [c["User"]["FirstName"] for c in made["Candidates"]] == ["Ben", "Cy"]
    # Reading is for the team (and admins).
    denied(api.get(url, headers=people["mallory"]["headers"]), "members")
    denied(api.get(f"/cover/{made['Id']}", headers=people["mallory"]["headers"]), "members")
    assert ok(api.get(url, headers=people["cy"]["headers"]))["Items"][0]["Id"] == made["Id"]
    # Answering: as oneself only; someone of another team cannot.
    cover = f"/cover/{made['Id']}"
    denied(api.put(f"{cover}/accept", json={"UserId": people["ben"]["Id"]},
                   headers=people["cy"]["headers"]), "acts only as themself")  # fmt: skip
    denied(api.put(f"{cover}/accept", headers=people["mallory"]["headers"]), "members")
    refused = api.put(f"{cover}/accept", headers=people["ana"]["headers"])
    assert refused.status_code == 409 and "not among the candidates" in refused.json()["message"]
    denied(api.put(f"{cover}/cancel", headers=people["ben"]["headers"]), "only the person")
    ok(api.put(f"{cover}/decline", headers=people["ben"]["headers"]))
    taken = ok(api.put(f"{cover}/accept", headers=people["cy"]["headers"]))
    assert taken["CoveredBy"]["FirstName"] == "Cy"


def test_an_admin_finds_cover_for_anyone_and_the_requester_cancels(world):
    api, payments, people, stretch = world
    made = ok(api.post(f"/teams/{payments['Id']}/cover", json=stretch, headers=ADMIN), 201)
    assert made["For"]["FirstName"] == "Ana" and made["CreatedBy"] is None
    cancelled = ok(api.put(f"/cover/{made['Id']}/cancel", headers=people["ana"]["headers"]))
    assert cancelled["Status"] == "cancelled"
    again = api.put(f"/cover/{made['Id']}/accept", headers=people["ben"]["headers"])
    assert again.status_code == 409 and "cancelled" in again.json()["message"]


def test_the_why_names_what_decides_the_order(world, clock):
    """No pages at all: the hours on call decide. Cy was on call 5 hours last week, Ben not
    at all; with no hours either, nothing decides and the why says so."""
    api, payments, people, stretch = world
    url = f"/teams/{payments['Id']}/cover"
    first = ok(api.post(url, json=stretch, headers=ADMIN), 201)
    assert [c["Why"] for c in first["Candidates"]] == [
        "Ben: no more burden than anyone this quarter, 0 night pages, 0 pages, 0 h on call, "
        "free both days",
        "Cy: no more burden than anyone this quarter, 0 night pages, 0 pages, 0 h on call, "
        "free both days",
    ]
    ok(api.put(f"/cover/{first['Id']}/cancel", headers=ADMIN))
    week_ago = clock.now() - timedelta(days=7)
    ok(api.post(f"/users/{people['cy']['Id']}/schedules", headers=ADMIN, json={
        "Start": week_ago.isoformat(), "End": (week_ago + timedelta(hours=5)).isoformat(),
        "TeamId": payments["Id"]}))  # fmt: skip
    again = ok(api.post(url, json=stretch, headers=ADMIN), 201)
    assert [c["Why"] for c in again["Candidates"]] == [
        "Ben: fewest hours on call this quarter (0 h), 0 night pages, 0 pages, free both days",
        "Cy: 5 h on call this quarter, 0 night pages, 0 pages, free both days",
    ]
