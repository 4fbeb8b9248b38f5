"""The schedule people live with, through the API: overrides and the final schedule, members
acting for themselves, calendar feeds read back with the `icalendar` library, safe re-planning
(freeze, stability, the announcement of exactly what changed) and history from the fairness
report changing the next plan as the objective says (checked exhaustively)."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from icalendar import Calendar
from pydantic import SecretStr

from oncall_opt.api import create_app
from oncall_opt.engine.settings import Settings

LOCAL = "http://127.0.0.1"  # the daemon answers loopback names without a token

TOKEN = "rota-token"
BERLIN = ZoneInfo("Europe/Berlin")


def ok(response, status=(200, 201, 202, 204)):
    assert response.status_code in ((status,) if isinstance(status, int) else status), response.text
    return response.json() if response.content else None


@pytest.fixture
def api(store, clock):
    app = create_app(store, Settings(api_token=SecretStr(TOKEN)), clock, run_jobs=False)
    with TestClient(
        base_url=LOCAL, app=app, headers={"Authorization": f"Bearer {TOKEN}"}
    ) as client:
        for handle in ("ana", "ben", "cy"):
            ok(
                api_post(
                    client,
                    "/users",
                    {"FirstName": handle.title(), "LastName": "X", "SlackHandle": handle},
                )
            )
        yield client


def api_post(client, path, body):
    return client.post(path, json=body)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def test_members_put_only_themselves_on_call_and_remove_only_their_own(api, clock):
    key = ok(api.post("/users/2/api-keys", json={"Name": "ben"}))["Key"]
    ben = {"Authorization": f"Bearer {key}"}
    span = {
        "Start": iso(clock.now() + timedelta(hours=1)),
        "End": iso(clock.now() + timedelta(hours=3)),
    }
    mine = ok(api.post("/teams/1/overrides", json=span, headers=ben))
    assert mine["User"]["SlackHandle"] == "ben" and mine["CreatedBy"] == 2
    refused = api.post("/teams/1/overrides", json={**span, "UserId": 3}, headers=ben)
    assert refused.status_code == 403
    theirs = ok(api.post("/teams/1/overrides", json={**span, "UserId": 3}))
    assert api.delete(f"/overrides/{theirs['Id']}", headers=ben).status_code == 403
    ok(api.delete(f"/overrides/{mine['Id']}", headers=ben))
    final = ok(api.get("/teams/1/final", params={"Start": span["Start"], "End": span["End"]}))
    assert [(s["User"]["SlackHandle"], s["Source"]) for s in final["Items"]] == [("cy", "override")]
    past = {
        "Start": iso(clock.now() - timedelta(hours=3)),
        "End": iso(clock.now() - timedelta(hours=1)),
    }
    assert api.post("/teams/1/overrides", json={**past, "UserId": 1}).status_code == 400


def test_scheduled_names_the_override_in_force(api, clock):
    now = clock.now()
    ok(
        api.post(
            "/users/1/schedules",
            json={"Start": iso(now - timedelta(hours=1)), "End": iso(now + timedelta(hours=5))},
        )
    )
    assert ok(api.get("/scheduled"))["User"]["SlackHandle"] == "ana"
    ok(
        api.post(
            "/teams/1/overrides",
            json={"Start": iso(now), "End": iso(now + timedelta(hours=1)), "UserId": 2},
        )
    )
    scheduled = ok(api.get("/scheduled"))
    assert (scheduled["User"]["SlackHandle"], scheduled["Source"]) == ("ben", "override")
    shifts = ok(
        api.get(
            "/users/2/shifts",
            params={"Start": iso(now - timedelta(days=1)), "End": iso(now + timedelta(days=1))},
        )
    )
    assert [(s["Source"], s["Covers"]["SlackHandle"]) for s in shifts["Items"]] == [
        ("override", "ana")
    ]


# ----- calendar feeds ---------------------------------------------------------------------------
def test_a_calendar_feed_is_the_final_schedule_and_keeps_local_0900_across_dst(api, clock):
    # A weekly rotation handing off Mondays 09:00 Berlin, from before the spring change (29 Mar
    # 2026) to after the autumn one (25 Oct 2026).
    first = datetime(2026, 1, 5, 9, 0, tzinfo=BERLIN)
    starts = [first + timedelta(weeks=k) for k in range(48)]  # wall-clock weeks
    for k, (a, b) in enumerate(itertools.pairwise(starts)):
        ok(
            api.post(
                f"/users/{k % 3 + 1}/schedules", json={"Start": a.isoformat(), "End": b.isoformat()}
            )
        )
    ok(
        api.post(
            "/teams/1/overrides",
            json={
                "Start": iso(datetime(2026, 4, 1, 12, tzinfo=UTC)),
                "End": iso(datetime(2026, 4, 2, 12, tzinfo=UTC)),
                "UserId": 3,
            },
        )
    )
    clock.advance(days=100)  # mid April: the feed covers 30 days back, 180 ahead
    url = ok(api.post("/teams/1/calendar"))["Url"]
    anonymous = TestClient(base_url=LOCAL, app=api.app)  # the URL is the secret: no API token
    response = anonymous.get(url.replace("http://127.0.0.1", ""))
    assert response.status_code == 200 and response.headers["content-type"].startswith(
        "text/calendar"
    )
    events = Calendar.from_ical(response.text).walk("VEVENT")
    now = clock.now()
    final = ok(
        api.get(
            "/teams/1/final",
            params={"Start": iso(now - timedelta(days=40)), "End": iso(now + timedelta(days=190))},
        )
    )["Items"]
    # The feed: whole stretches that overlap 30 days back to 180 ahead (not cut at the edges).
    final = [
        s
        for s in final
        if datetime.fromisoformat(s["End"]) > now - timedelta(days=30)
        and datetime.fromisoformat(s["Start"]) < now + timedelta(days=180)
    ]
    as_events = sorted((e.decoded("dtstart"), e.decoded("dtend")) for e in events)
    expected = []
    for segment in final:  # back-to-back segments of one person are one event
        span = (datetime.fromisoformat(segment["Start"]), datetime.fromisoformat(segment["End"]))
        if expected and expected[-1][1] == span[0] and expected[-1][2] == segment["User"]["Id"]:
            expected[-1] = (expected[-1][0], span[1], expected[-1][2])
        else:
            expected.append((*span, segment["User"]["Id"]))
    assert as_events == [(a, b) for a, b, _ in expected]
    roster_starts = [
        e.decoded("dtstart").astimezone(BERLIN)
        for e in events
        if "Covers" not in str(e.get("description"))
    ]
    mondays = [s for s in roster_starts if s.weekday() == 0]
    assert {(s.hour, s.minute) for s in mondays} == {(9, 0)}
    assert {s.utcoffset() for s in mondays} == {
        timedelta(hours=1),
        timedelta(hours=2),
    }  # both sides
    assert len({e.get("uid") for e in events}) == len(events)
    again = Calendar.from_ical(anonymous.get(url.replace("http://127.0.0.1", "")).text)
    assert [e.get("uid") for e in again.walk("VEVENT")] == [e.get("uid") for e in events]  # stable
    ok(api.delete("/teams/1/calendar"))
    assert anonymous.get(url.replace("http://127.0.0.1", "")).status_code == 404


def test_a_persons_feed_and_a_new_url_revokes_the_old(api, clock):
    now = clock.now()
    ok(
        api.post(
            "/users/2/schedules", json={"Start": iso(now), "End": iso(now + timedelta(days=1))}
        )
    )
    first = ok(api.post("/users/2/calendar"))["Url"]
    second = ok(api.post("/users/2/calendar"))["Url"]
    anonymous = TestClient(base_url=LOCAL, app=api.app)
    assert anonymous.get(first.replace("http://127.0.0.1", "")).status_code == 404
    [event] = Calendar.from_ical(anonymous.get(second.replace("http://127.0.0.1", "")).text).walk(
        "VEVENT"
    )
    assert str(event.get("summary")) == "on call for Default (primary)"
    assert event.decoded("dtstart") == now
    assert anonymous.get("/calendar/not-a-token.ics").status_code == 404
    api.app.state.settings = api.app.state.settings.model_copy(
        update={"public_api_url": "https://oncall-api.example.com/"}
    )
    public = ok(api.post("/users/2/calendar"))["Url"]
    assert public.startswith("https://oncall-api.example.com/calendar/"), public


# ----- safe re-planning -------------------------------------------------------------------------
def solve_and_publish(api, start: str, end: str, **extra) -> dict:
    job = ok(
        api.post("/roster/solve", json={"Start": start, "End": end, "TimeLimit": 20, **extra}), 202
    )
    deadline = time.monotonic() + 60
    while job["Status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.05)
        job = ok(api.get(f"/roster/solve/{job['JobId']}"))
    assert job["Status"] == "done", job
    return job


def slots(api, start: datetime, days: int) -> list[str]:
    return [
        ok(api.get(f"/scheduled/{iso(start + timedelta(days=d, hours=12))}"))["User"]["SlackHandle"]
        for d in range(days)
    ]


def test_replanning_keeps_the_past_and_the_freeze_and_announces_what_changed(api, store, clock):
    # Plan and publish two weeks from yesterday, then Cy is away for three days from day 5.
    today = clock.now().date()
    first, last = today - timedelta(days=1), today + timedelta(days=12)
    job = solve_and_publish(api, first.isoformat(), last.isoformat())
    published = ok(api.post("/roster/publish", json={"JobId": job["JobId"], "FreezeHours": 0}))
    assert published["Changes"]  # from nobody to someone
    start = datetime.combine(first, datetime.min.time(), tzinfo=UTC)
    before = slots(api, start, 14)
    away = {(today + timedelta(days=d)).isoformat(): "unavailable" for d in (5, 6, 7)}
    for user in (1, 2, 3):
        if before[7] == ("ana", "ben", "cy")[user - 1]:
            who = user
    ok(
        api.put(
            f"/users/{who}/availability",
            json={"Start": first.isoformat(), "End": last.isoformat(), "Days": away},
        )
    )
    document = ok(
        api.get("/roster/input", params={"Start": first.isoformat(), "End": last.isoformat()})
    )
    assert "previous" in document  # stability on by default over published shifts
    pinned = sorted(p["start"][:10] for p in document["fixed"])
    frozen = clock.now() + timedelta(hours=48)  # the past and the next 48 hours
    assert pinned == [
        (first + timedelta(days=d)).isoformat()
        for d in range(14)
        if start + timedelta(days=d) < frozen
    ]
    clock_before = store.row("SELECT count(*) AS n FROM outbox WHERE kind = 'published'")["n"]
    job = solve_and_publish(api, first.isoformat(), last.isoformat())
    result = ok(api.post("/roster/publish", json={"JobId": job["JobId"]}))
    after = slots(api, start, 14)
    assert after[: len(pinned)] == before[: len(pinned)]  # the past and the freeze never change
    changed = [d for d in range(14) if before[d] != after[d]]
    assert changed and set(changed) <= {6, 7, 8} | set(range(3, 14))
    assert all(after[d] != ("ana", "ben", "cy")[who - 1] for d in (6, 7, 8))
    # The answer and the Slack message name exactly those slots.
    days = sorted(
        d
        for c in result["Changes"]
        for d in range(14)
        if datetime.fromisoformat(c["Start"])
        <= start + timedelta(days=d, hours=12)
        < datetime.fromisoformat(c["End"])
    )
    assert days == changed
    assert (
        store.row("SELECT count(*) AS n FROM outbox WHERE kind = 'published'")["n"]
        == clock_before + 1
    )
    message = store.row(
        "SELECT text FROM outbox WHERE kind = 'published' ORDER BY id DESC LIMIT 1"
    )["text"]
    assert message.startswith("Roster published for Default")
    assert f"{len(result['Changes'])} change(s)" in message
    assert message.count("→") == len(result["Changes"])
    # Stability: as few changes as the rules allow (one person out for three days: at most the
    # three slots they leave, each needing a new person; no reshuffle elsewhere).
    assert len(changed) <= 3


# ----- history from the report ------------------------------------------------------------------
def test_history_from_the_report_changes_the_next_plan_as_the_objective_says(api, clock):
    # Previous week: Ana on call 4 days, Ben 3 days, and Cy covered 2 of Ana's days.
    monday = datetime(2026, 1, 12, 0, 0, tzinfo=UTC)
    week = [monday - timedelta(days=7 - d) for d in range(8)]
    for d, handle in enumerate(["ana", "ana", "ana", "ana", "ben", "ben", "ben"]):
        ok(
            api.post(
                f"/users/{['ana', 'ben', 'cy'].index(handle) + 1}/schedules",
                json={"Start": iso(week[d]), "End": iso(week[d + 1])},
            )
        )
    ok(
        api.post(
            "/teams/1/overrides", json={"Start": iso(week[0]), "End": iso(week[2]), "UserId": 3}
        )
    )
    # The next week: the window of the same length just before it is exactly last week.
    window = {
        "Start": monday.date().isoformat(),
        "End": (monday + timedelta(days=6)).date().isoformat(),
    }
    document = ok(api.get("/roster/input", params={**window, "FreezeHours": 0}))
    assert document["history"] == {"1": 2, "2": 3, "3": 2}  # from the final schedule
    plain = ok(api.get("/roster/input", params={**window, "HistoryFromReport": False}))
    assert "history" not in plain
    job = solve_and_publish(api, window["Start"], window["End"], FreezeHours=0)
    counts = {u["id"]: u["shifts"] for u in job["Statistics"]["users"]}
    # Exhaustively: every way to give 7 days to 3 people, Σ (shifts + history)² at its least.
    best = min(
        sum((assignment.count(p) + document["history"][p]) ** 2 for p in "123")
        for assignment in itertools.product("123", repeat=7)
    )
    assert sum((counts[p] + document["history"][p]) ** 2 for p in "123") == best
    assert counts["2"] == min(counts.values())  # Ben, who worked most, carries least
    assert job["Statistics"]["objective"] == best  # no preferences: the balance term alone
