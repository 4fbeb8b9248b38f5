"""A team linked to a PagerDuty schedule (`PagerDutySchedule`) and `POST /teams/{id}/pagerduty/push`
against the fake PagerDuty account on 127.0.0.1 (tests/pagerduty/fake_pagerduty.py), on each
backend: a dry run writes nothing; a push makes PagerDuty's final schedule show the team's final
schedule (roster and overrides), slot by slot, as the daemon itself reports it; a second push
writes nothing; members, unlinked teams, bad ids and bad input are refused with the field named;
PagerDuty's refusals are a 400 or a 502 of ours, never with the token."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trustme
from fastapi.testclient import TestClient
from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pagerduty"))
from pagerduty_account import PEOPLE, SCHEDULE, TOKEN, fake_account

from oncall_opt.api import create_app
from oncall_opt.engine.settings import Settings

LOCAL = "http://127.0.0.1"
DAEMON_TOKEN = "daemon-admin-token"
FIRST_DAY = datetime(2030, 2, 4, tzinfo=UTC)  # the fake clock is in 2026: all of it is to come
DAYS = 8
WINDOW = {"Start": "2030-02-04T00:00:00Z", "End": "2030-02-12T00:00:00Z"}
PUSH = "/teams/1/pagerduty/push"


def ok(response, status: int = 200):
    assert response.status_code == status, response.text
    return response.json()


def refused(response, status: int, *words: str) -> str:
    """The error's message, checked for `words`, never holding PagerDuty's token."""
    assert response.status_code == status, response.text
    message = response.json()["message"]
    for word in words:
        assert word in message, (word, message)
    assert TOKEN not in response.text and TOKEN[-4:] not in response.text
    return message


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def pd(ca, tmp_path, monkeypatch):
    with fake_account(ca, tmp_path, monkeypatch) as fake:
        yield fake


@pytest.fixture
def api(store, clock, mail, pd):
    """The daemon with a token (requests act as its admin unless they say otherwise) that can
    store email addresses (a fake SMTP server)."""
    settings = Settings(api_token=SecretStr(DAEMON_TOKEN), smtp_host="127.0.0.1",
                        smtp_port=mail.port, smtp_from="oncall@example.com",
                        smtp_starttls=False)  # fmt: skip
    app = create_app(store, settings, clock, run_jobs=False)
    with TestClient(
        base_url=LOCAL, app=app, headers={"Authorization": f"Bearer {DAEMON_TOKEN}"}
    ) as client:
        yield client


def person(api, first: str, last: str, email: str | None, role: str = "member") -> dict:
    body = {"FirstName": first, "LastName": last, "SlackHandle": first.lower(), "Role": role}
    made = ok(api.post("/users", json=body))
    if email is not None:
        ok(api.post(f"/users/{made['Id']}/contact-methods",
                    json={"Type": "email", "Address": email}), 201)  # fmt: skip
    return made


def day(n: int, hours: float = 0) -> datetime:
    return FIRST_DAY + timedelta(days=n, hours=hours)


def stamp(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def override(api, who: dict, start: datetime, end: datetime) -> dict:
    body = {"Start": stamp(start), "End": stamp(end), "UserId": who["Id"], "Layer": 1}
    return ok(api.post("/teams/1/overrides", json=body), 201)


@pytest.fixture
def team(api):
    """The Default team: Ana, Ben (his address in other case) and Chloé on daily shifts over the
    window, and an override of six hours on the third day; PagerDuty user ids by our ids."""
    ana = person(api, "Ana", "Silva", "ana@example.com")
    ben = person(api, "Ben", "Okafor", "Ben@Example.com")
    chloe = person(api, "Chloé", "Martin", "chloe@example.com")
    order = [ana, ben, ben, chloe, ana, chloe, ben, ana]
    for n, who in enumerate(order):
        ok(api.post(f"/users/{who['Id']}/schedules",
                    json={"Start": stamp(day(n)), "End": stamp(day(n + 1))}))  # fmt: skip
    override(api, chloe, day(2, 6), day(2, 12))
    pd_ids = {ana["Id"]: PEOPLE[0][0], ben["Id"]: PEOPLE[1][0], chloe["Id"]: PEOPLE[2][0]}
    return {"ana": ana, "ben": ben, "chloe": chloe, "pd_ids": pd_ids}


def daemons_final_schedule(api) -> list[dict]:
    """What the daemon says is on call over the window, stretch by stretch."""
    return ok(api.get("/teams/1/final", params={**WINDOW, "Layer": 1}))["Items"]


def assert_pagerduty_shows(pd, segments: list[dict], pd_ids: dict[int, str]) -> None:
    """Slot by slot, PagerDuty's final schedule has the daemon's person on call, alone."""
    for segment in segments:
        start, end = segment["Start"], segment["End"]
        entries = pd.final_schedule(
            SCHEDULE, datetime.fromisoformat(start), datetime.fromisoformat(end)
        )
        who = [(e["user"]["id"], e["start"], e["end"]) for e in entries]
        assert who == [(pd_ids[segment["User"]["Id"]], start, end)], segment


def test_a_linked_team_is_previewed_pushed_and_pushed_again_without_writes(api, pd, team):
    linked = ok(api.put("/teams/1", json={"PagerDutySchedule": SCHEDULE}))
    assert linked["PagerDutySchedule"] == SCHEDULE
    assert ok(api.get("/teams/1"))["PagerDutySchedule"] == SCHEDULE
    segments = daemons_final_schedule(api)
    assert len(segments) > DAYS  # the override splits the third day in three

    preview = ok(api.post(PUSH, json={**WINDOW, "DryRun": True}))
    assert preview["DryRun"] is True and preview["Schedule"] == SCHEDULE
    assert pd.writes == [] and pd.schedules[SCHEDULE].overrides == []
    assert preview["Created"] == len(segments) == preview["Slots"]
    assert [row["Action"] for row in preview["Rows"]] == ["create"] * len(segments)
    pd_names = {pd_id: name for pd_id, name, _ in PEOPLE}
    after = [pd_names[team["pd_ids"][s["User"]["Id"]]] for s in segments]
    assert [row["After"] for row in preview["Rows"]] == after

    pushed = ok(api.post(PUSH, json=WINDOW))
    assert pushed["DryRun"] is False and pushed["Created"] == len(segments)
    assert f"created {len(segments)} override(s)" in pushed["Summary"]
    assert len(pd.schedules[SCHEDULE].overrides) == len(segments)
    assert_pagerduty_shows(pd, segments, team["pd_ids"])

    writes = list(pd.writes)
    again = ok(api.post(PUSH, json={**WINDOW, "DryRun": False}))
    assert pd.writes == writes  # nothing written
    assert again["Created"] == again["Deleted"] == 0 and again["Kept"] == len(segments)
    assert again["Rows"] == []
    assert_pagerduty_shows(pd, segments, team["pd_ids"])


def test_a_changed_final_schedule_changes_exactly_that_at_pagerduty(api, pd, team):
    ok(api.put("/teams/1", json={"PagerDutySchedule": SCHEDULE}))
    ok(api.post(PUSH, json=WINDOW))
    writes = len(pd.writes)
    # Ben's seventh day goes to Ana by an override: his pushed override goes, hers comes.
    override(api, team["ana"], day(6), day(7))
    segments = daemons_final_schedule(api)
    again = ok(api.post(PUSH, json=WINDOW))
    assert (again["Created"], again["Deleted"]) == (1, 1) and len(pd.writes) == writes + 2
    assert_pagerduty_shows(pd, segments, team["pd_ids"])


def test_only_an_admin_pushes(api, pd, team):
    ok(api.put("/teams/1", json={"PagerDutySchedule": SCHEDULE}))
    member = person(api, "Mo", "Member", None)
    key = ok(api.post(f"/users/{member['Id']}/api-keys", json={"Name": "laptop"}), 201)["Key"]
    as_member = {"Authorization": f"Bearer {key}"}
    for dry_run in (True, False):
        answer = api.post(PUSH, json={**WINDOW, "DryRun": dry_run}, headers=as_member)
        refused(answer, 403, "needs an admin")
    changed = api.put("/teams/1", json={"PagerDutySchedule": ""}, headers=as_member)
    refused(changed, 403)
    assert pd.requests == [] and ok(api.get("/teams/1"))["PagerDutySchedule"] == SCHEDULE


def test_a_team_without_a_schedule_and_bad_input_are_refused_naming_the_field(api, pd, team):
    refused(api.post(PUSH, json=WINDOW), 400, "PagerDutySchedule", "not linked")
    ok(api.put("/teams/1", json={"PagerDutySchedule": SCHEDULE}))
    backwards = {"Start": WINDOW["End"], "End": WINDOW["Start"]}
    refused(api.post(PUSH, json=backwards), 400, "End")
    refused(api.post(PUSH, json={**WINDOW, "Layer": 3}), 400, "Layer")
    refused(api.post(PUSH, json={**WINDOW, "Layer": "1"}), 400, "Layer")
    refused(api.post(PUSH, json={**WINDOW, "Start": "tomorrow"}), 400, "Start")
    refused(api.post(PUSH, json={**WINDOW, "Dry": True}), 400, "Dry")
    refused(api.post(PUSH, json={**WINDOW, "Layer": 2}), 400, "nobody is on call")
    refused(api.post("/teams/999/pagerduty/push", json=WINDOW), 404, "999")
    assert pd.requests == []  # nothing reached PagerDuty


def test_a_bad_schedule_id_is_refused_and_nothing_is_saved(api, pd):
    ok(api.put("/teams/1", json={"PagerDutySchedule": SCHEDULE}))
    for bad in ("#checkout", "pabc123", "https://acme.pagerduty.com/schedules/PABC123",
                "P", "PABC 123", "P" + "A" * 40):  # fmt: skip
        answer = api.put("/teams/1", json={"Name": "Renamed", "PagerDutySchedule": bad})
        refused(answer, 400, "PagerDutySchedule", "PABC123")
        kept = ok(api.get("/teams/1"))
        assert (kept["Name"], kept["PagerDutySchedule"]) == ("Default", SCHEDULE)
    made = api.post("/teams", json={"Name": "Payments", "PagerDutySchedule": "nope"})
    refused(made, 400, "PagerDutySchedule")
    assert [t["Name"] for t in ok(api.get("/teams"))["Items"]] == ["Default"]
    # A new team may be linked as it is made; "" removes a link.
    payments = ok(api.post("/teams", json={"Name": "Payments", "PagerDutySchedule": " PPAY001 "}),
                  201)  # fmt: skip
    assert payments["PagerDutySchedule"] == "PPAY001"
    assert ok(api.put("/teams/1", json={"PagerDutySchedule": ""}))["PagerDutySchedule"] is None


def test_pagerdutys_refusals_are_clear_and_never_hold_the_token(api, pd, team, monkeypatch):
    ok(api.put("/teams/1", json={"PagerDutySchedule": SCHEDULE}))
    wrong = "BadT0kenQWERTY"
    monkeypatch.setenv("PAGERDUTY_API_TOKEN", wrong)
    message = refused(api.post(PUSH, json={**WINDOW, "DryRun": True}), 502, "401",
                      "PAGERDUTY_API_TOKEN")  # fmt: skip
    assert wrong[-4:] not in message and pd.refused_auth >= 1
    monkeypatch.setenv("PAGERDUTY_API_TOKEN", TOKEN)

    ok(api.put("/teams/1", json={"PagerDutySchedule": "PNOPE99"}))
    refused(api.post(PUSH, json=WINDOW), 400, "PagerDutySchedule", "PNOPE99")
    ok(api.put("/teams/1", json={"PagerDutySchedule": SCHEDULE}))

    # Someone PagerDuty does not know (no email it has): named, and nothing written.
    nia = person(api, "Nia", "Noemail", "nia@elsewhere.example")
    ok(api.post(f"/users/{nia['Id']}/schedules",
                json={"Start": stamp(day(DAYS)), "End": stamp(day(DAYS + 1))}))  # fmt: skip
    wider = {"Start": WINDOW["Start"], "End": stamp(day(DAYS + 1))}
    refused(api.post(PUSH, json=wider), 400, f"Nia Noemail ({nia['Id']})")
    assert pd.writes == []

    # PagerDuty failing half-way: a 502 saying what was and was not written; again finishes it.
    pd.fail_post = {1}
    message = refused(api.post(PUSH, json=WINDOW), 502, "not written")
    assert "run the push again" in message
    ok(api.post(PUSH, json=WINDOW))
    assert_pagerduty_shows(pd, daemons_final_schedule(api), team["pd_ids"])

    monkeypatch.delenv("PAGERDUTY_API_TOKEN")
    refused(api.post(PUSH, json=WINDOW), 400, "PAGERDUTY_API_TOKEN is not set")
