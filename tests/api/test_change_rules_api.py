"""Overrides, swaps and "I'll take it from now" keep the team's rules, through the API: each rule
on each of the three refused (409) with the reason naming the person and the times in the
team's zone (Europe/Berlin), nothing written on a refusal; an admin's `IKnow` makes the change
and records it (the answer, the final schedule, the team's announcement, escaped); a member's
`IKnow` is refused (403). The team's rules are set with `PUT /teams/{id}` and, from a solve, by
publishing the roster.

The roster (daily slots from 09:00 Berlin, 08:00 UTC in January; day k starts on 5 + k Jan):
primary Ana days 0-1, Ben 2-3, Dee 4-5, Ana 6-7; secondary Cy days 0-7; Eve on nothing.
MaxConsecutiveShifts 2, MinRestShifts 2. The fake clock starts on day 0, Mon 10:00 Berlin."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from oncall_opt.api import create_app
from oncall_opt.engine.settings import Settings

LOCAL = "http://127.0.0.1"
TOKEN = "rules-token"
D0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)  # Mon 5 Jan 09:00 Berlin
RULES = {
    "TimeZone": "Europe/Berlin",
    "Handoff": "09:00",
    "ShiftLength": "P1D",
    "MaxConsecutiveShifts": 2,
    "MinRestShifts": 2,
}
PEOPLE = ("ana", "ben", "cy", "dee", "eve")
HINT = 'An admin may make it anyway with "I know" (IKnow: true).'


def day(k: float) -> datetime:
    return D0 + timedelta(days=k)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def ok(response, status=(200, 201)):
    assert response.status_code in ((status,) if isinstance(status, int) else status), response.text
    return response.json()


@pytest.fixture
def api(store, clock):
    app = create_app(store, Settings(api_token=SecretStr(TOKEN)), clock, run_jobs=False)
    with TestClient(
        base_url=LOCAL, app=app, headers={"Authorization": f"Bearer {TOKEN}"}
    ) as client:
        yield client


@pytest.fixture
def rota(api):
    """The people's ids, API keys for Ada (an admin) and each member, and the roster above."""
    last = {"ana": "Silva", "ben": "Okafor", "cy": "Lee", "dee": "Moss", "eve": "Hart"}
    ids = {}
    for handle in PEOPLE:
        body = {"FirstName": handle.title(), "LastName": last[handle], "SlackHandle": handle}
        ids[handle] = ok(api.post("/users", json=body))["Id"]
    admin = {"FirstName": "Ada", "LastName": "Admin", "SlackHandle": "ada", "Role": "admin"}
    ids["ada"] = ok(api.post("/users", json=admin))["Id"]
    keys = {
        handle: {
            "Authorization": "Bearer "
            + ok(api.post(f"/users/{ids[handle]}/api-keys", json={"Name": handle}))["Key"]
        }
        for handle in (*PEOPLE, "ada")
    }
    for handle, first, end, layer in (
        ("ana", 0, 2, 1),
        ("ben", 2, 4, 1),
        ("dee", 4, 6, 1),
        ("ana", 6, 8, 1),
        ("cy", 0, 8, 2),
    ):
        span = {"Start": iso(day(first)), "End": iso(day(end)), "Layer": layer}
        ok(api.post(f"/users/{ids[handle]}/schedules", json=span))
    assert ok(api.put("/teams/1", json={"RosterRules": RULES}))["RosterRules"] == RULES
    return {"ids": ids, "keys": keys}


def away(api, user_id: int, *days: str) -> None:
    body = {"Start": "2026-01-01", "End": "2026-01-31", "Days": dict.fromkeys(days, "unavailable")}
    ok(api.put(f"/users/{user_id}/availability", json=body))


def written(store) -> tuple[int, int, list]:
    """Overrides, announcements, and the swaps' states: all unchanged by a refusal."""
    return (
        store.row("SELECT count(*) AS n FROM overrides")["n"],
        store.row("SELECT count(*) AS n FROM outbox")["n"],
        store.rows("SELECT id, status, override_id FROM swaps ORDER BY id"),
    )


def refused(response, *reasons: str) -> str:
    assert response.status_code == 409, response.text
    message = response.json()["message"]
    for reason in reasons:
        assert reason in message, message
    assert message.endswith(HINT)
    # The same reasons one by one, for programs (the console lists them).
    listed = response.json()["details"]["RulesBroken"]
    assert {r["Rule"] for r in listed} <= {"two-layers", "rest", "in-a-row", "away"}
    assert (
        message
        == f"this breaks the team's rules: {'; '.join(r['Message'] for r in listed)}. {HINT}"
    )
    return message


# The reasons, as the team reads them (Berlin, CET in January).
TWO_LAYERS = (
    "Cy Lee would be on primary and secondary at once from Fri 9 Jan 2026 10:00 CET to "
    "Fri 9 Jan 2026 12:00 CET"
)
IN_A_ROW = (
    "Ana Silva would be on call 3 shifts in a row, Mon 5 Jan 2026 09:00 CET to Thu 8 Jan 2026 "
    "09:00 CET (the team's MaxConsecutiveShifts is 2)"
)
REST = (
    "Ana Silva would have only 1 free shift(s) between Sat 10 Jan 2026 09:00 CET and "
    "Sun 11 Jan 2026 09:00 CET (the team's MinRestShifts is 2)"
)
AWAY = (
    "Eve Hart marked Fri 9 Jan 2026 away (the whole day: Fri 9 Jan 2026 00:00 CET to "
    "Sat 10 Jan 2026 00:00 CET)"
)


@pytest.mark.parametrize(
    "who, start, end, reason",
    [
        ("cy", day(4) + timedelta(hours=1), day(4) + timedelta(hours=3), TWO_LAYERS),
        ("ana", day(2), day(3), IN_A_ROW),  # over Ben's day 2: days 0-2
        ("ana", day(4), day(5), REST),  # over Dee's day 4: only day 5 before day 6
        ("eve", day(4), day(5), AWAY),
    ],
)
def test_an_override_that_breaks_a_rule_is_refused_with_the_reason(
    api, store, rota, who, start, end, reason
):
    if who == "eve":
        away(api, rota["ids"]["eve"], "2026-01-09")
    before = written(store)
    body = {"Start": iso(start), "End": iso(end), "UserId": rota["ids"][who]}
    message = refused(api.post("/teams/1/overrides", json=body), reason)
    assert message == f"this breaks the team's rules: {reason}. {HINT}"
    assert written(store) == before
    # The person themself (a member) is refused the same, with the same reason.
    mine = {"Start": iso(start), "End": iso(end)}
    refused(api.post("/teams/1/overrides", json=mine, headers=rota["keys"][who]), reason)
    assert written(store) == before


def test_every_reason_at_once(api, store, rota):
    # Ana over Ben's days 2-3 and Dee's day 4: days 0-4 in a row, then day 5 alone before 6.
    body = {"Start": iso(day(2)), "End": iso(day(5)), "UserId": rota["ids"]["ana"]}
    refused(
        api.post("/teams/1/overrides", json=body),
        "Ana Silva would be on call 5 shifts in a row, Mon 5 Jan 2026 09:00 CET to "
        "Sat 10 Jan 2026 09:00 CET (the team's MaxConsecutiveShifts is 2); Ana Silva would "
        "have only 1 free shift(s) between Sat 10 Jan 2026 09:00 CET and Sun 11 Jan 2026 09:00 CET",
    )


def test_an_admins_i_know_makes_it_and_records_it_everywhere(api, store, rota):
    ids, keys = rota["ids"], rota["keys"]
    # A name with Slack markup in it reaches the announcement escaped.
    ok(api.put(f"/users/{ids['cy']}", json={"LastName": "<!here>"}))
    start, end = day(4) + timedelta(hours=1), day(4) + timedelta(hours=3)
    body = {"Start": iso(start), "End": iso(end), "UserId": ids["cy"], "IKnow": True}
    # A member may not say it (even for themself): nothing written.
    before = written(store)
    mine = {"Start": iso(start), "End": iso(end), "IKnow": True}
    denied = api.post("/teams/1/overrides", json=mine, headers=keys["cy"])
    assert denied.status_code == 403 and "IKnow" in denied.json()["message"]
    assert written(store) == before
    made = ok(api.post("/teams/1/overrides", json=body, headers=keys["ada"]), 201)
    reason = TWO_LAYERS.replace("Cy Lee", "Cy <!here>")
    assert (made["RulesBroken"], made["KnownBy"], made["CreatedBy"]) == (
        reason,
        ids["ada"],
        ids["ada"],
    )
    listed = ok(api.get("/teams/1/overrides", params={"Start": iso(day(4)), "End": iso(day(5))}))
    assert [(o["Id"], o["RulesBroken"]) for o in listed["Items"]] == [(made["Id"], reason)]
    final = ok(
        api.get("/teams/1/final", params={"Start": iso(day(4)), "End": iso(day(5)), "Layer": 1})
    )
    assert [(s["User"]["SlackHandle"], s["RulesBroken"], s["KnownBy"]) for s in final["Items"]] == [
        ("dee", None, None),
        ("cy", reason, ids["ada"]),
        ("dee", None, None),
    ]
    text = store.row("SELECT text FROM outbox WHERE kind = 'override' ORDER BY id DESC LIMIT 1")
    assert text["text"].endswith(
        "(override). It breaks the team's rules, made anyway by Ada Admin <@ada>: Cy &lt;!here&gt; "
        "would be on primary and secondary at once from Fri 9 Jan 2026 10:00 CET to "
        "Fri 9 Jan 2026 12:00 CET"
    )
    assert "<!here>" not in text["text"]
    # An override that breaks nothing records nothing, IKnow or not.
    quiet = {"Start": iso(day(2)), "End": iso(day(3)), "UserId": ids["eve"], "IKnow": True}
    plain = ok(api.post("/teams/1/overrides", json=quiet, headers=keys["ada"]), 201)
    assert (plain["RulesBroken"], plain["KnownBy"]) == (None, None)


# ----- "I'll take it from now" (now: Mon 10:00 Berlin, Ana's days 0-1 run to Wed 09:00) ------
@pytest.mark.parametrize(
    "who, reason, rest",
    [
        (
            "cy",
            "Cy Lee would be on primary and secondary at once from Mon 5 Jan 2026 10:00 CET to "
            "Wed 7 Jan 2026 09:00 CET",
            None,
        ),
        (
            "ben",
            "Ben Okafor would be on call 4 shifts in a row, Mon 5 Jan 2026 09:00 CET to "
            "Fri 9 Jan 2026 09:00 CET (the team's MaxConsecutiveShifts is 2)",
            None,
        ),
        (
            # With three slots' rest, Dee's days 0-1 then 4-5 leave only days 2-3 between.
            "dee",
            "Dee Moss would have only 2 free shift(s) between Wed 7 Jan 2026 09:00 CET and "
            "Fri 9 Jan 2026 09:00 CET (the team's MinRestShifts is 3)",
            3,
        ),
        (
            "eve",
            "Eve Hart marked Tue 6 Jan 2026 away (the whole day: Tue 6 Jan 2026 00:00 CET to "
            "Wed 7 Jan 2026 00:00 CET)",
            None,
        ),
    ],
)
def test_taking_over_now_keeps_the_rules(api, store, rota, who, reason, rest):
    ids, keys = rota["ids"], rota["keys"]
    if rest is not None:
        ok(api.put("/teams/1", json={"RosterRules": {"MinRestShifts": rest}}))
    away(api, ids["eve"], "2026-01-06")
    before = written(store)
    message = refused(api.post("/teams/1/overrides/take", json={}, headers=keys[who]), reason)
    assert message == f"this breaks the team's rules: {reason}. {HINT}"
    denied = api.post("/teams/1/overrides/take", json={"IKnow": True}, headers=keys[who])
    assert denied.status_code == 403
    assert written(store) == before
    taken = ok(
        api.post(
            "/teams/1/overrides/take",
            json={"UserId": ids[who], "IKnow": True},
            headers=keys["ada"],
        ),
        201,
    )
    assert (taken["User"]["Id"], taken["RulesBroken"], taken["KnownBy"]) == (
        ids[who],
        reason,
        ids["ada"],
    )
    assert (taken["Start"], taken["End"]) == ("2026-01-05T09:00:00Z", iso(day(2)))
    text = store.row("SELECT text FROM outbox WHERE kind = 'override' ORDER BY id DESC LIMIT 1")
    assert text["text"].endswith(f"made anyway by Ada Admin <@ada>: {reason}")


# ----- swaps: Ben asks for someone to take his day 2 (Wed 7 Jan 09:00 to Thu 09:00 Berlin) -----
@pytest.mark.parametrize(
    "who, reason",
    [
        (
            "cy",
            "Cy Lee would be on primary and secondary at once from Wed 7 Jan 2026 09:00 CET to "
            "Thu 8 Jan 2026 09:00 CET",
        ),
        (
            "ana",
            "Ana Silva would be on call 3 shifts in a row, Mon 5 Jan 2026 09:00 CET to "
            "Thu 8 Jan 2026 09:00 CET (the team's MaxConsecutiveShifts is 2)",
        ),
        (
            "dee",
            "Dee Moss would have only 1 free shift(s) between Thu 8 Jan 2026 09:00 CET and "
            "Fri 9 Jan 2026 09:00 CET (the team's MinRestShifts is 2)",
        ),
        (
            "eve",
            "Eve Hart marked Wed 7 Jan 2026 away (the whole day: Wed 7 Jan 2026 00:00 CET to "
            "Thu 8 Jan 2026 00:00 CET)",
        ),
    ],
)
def test_accepting_a_swap_keeps_the_rules(api, store, rota, who, reason):
    ids, keys = rota["ids"], rota["keys"]
    away(api, ids["eve"], "2026-01-07")
    swap = ok(
        api.post(
            "/teams/1/swaps",
            json={"Start": iso(day(2)), "End": iso(day(3)), "Note": "dentist"},
            headers=keys["ben"],
        ),
        201,
    )
    before = written(store)
    message = refused(api.put(f"/swaps/{swap['Id']}/accept", json={}, headers=keys[who]), reason)
    assert message == f"this breaks the team's rules: {reason}. {HINT}"
    denied = api.put(f"/swaps/{swap['Id']}/accept", json={"IKnow": True}, headers=keys[who])
    assert denied.status_code == 403
    assert written(store) == before  # still open, no override, nothing announced
    done = ok(
        api.put(
            f"/swaps/{swap['Id']}/accept",
            json={"UserId": ids[who], "IKnow": True},
            headers=keys["ada"],
        )
    )
    assert (done["Status"], done["AcceptedBy"]["Id"]) == ("accepted", ids[who])
    made = [
        o
        for o in ok(
            api.get("/teams/1/overrides", params={"Start": iso(day(2)), "End": iso(day(3))})
        )["Items"]
        if o["Id"] == done["OverrideId"]
    ]
    assert [(o["SwapId"], o["RulesBroken"], o["KnownBy"]) for o in made] == [
        (swap["Id"], reason, ids["ada"])
    ]
    text = store.row("SELECT text FROM outbox WHERE kind = 'swap' ORDER BY id DESC LIMIT 1")
    assert f"(swap #{swap['Id']} accepted). It breaks the team's rules" in text["text"]
    assert text["text"].endswith(f"made anyway by Ada Admin <@ada>: {reason}")


def test_a_swap_that_breaks_nothing_is_taken_as_before(api, store, rota):
    swap = ok(
        api.post(
            "/teams/1/swaps",
            json={"Start": iso(day(2)), "End": iso(day(3))},
            headers=rota["keys"]["ben"],
        ),
        201,
    )
    done = ok(api.put(f"/swaps/{swap['Id']}/accept", json={}, headers=rota["keys"]["eve"]))
    assert done["Status"] == "accepted"
    text = store.row("SELECT text FROM outbox WHERE kind = 'swap' ORDER BY id DESC LIMIT 1")
    assert text["text"].endswith(f"(swap #{swap['Id']} accepted)")


# ----- the team's rules --------------------------------------------------------------------------
def test_an_admin_sets_the_rules_merged_and_checked(api, rota):
    keys = rota["keys"]
    changed = ok(api.put("/teams/1", json={"RosterRules": {"MinRestShifts": 3}}))
    assert changed["RosterRules"] == {**RULES, "MinRestShifts": 3}
    dropped = ok(api.put("/teams/1", json={"RosterRules": {"MaxConsecutiveShifts": None}}))
    assert "MaxConsecutiveShifts" not in dropped["RosterRules"]
    for rules, field in (
        ({"MinRestShifts": -1}, "RosterRules.MinRestShifts"),
        ({"MaxConsecutiveShifts": 0}, "RosterRules.MaxConsecutiveShifts"),
        ({"ShiftLength": "a day"}, "RosterRules.ShiftLength"),
        ({"ShiftLength": "P99999999999D"}, "RosterRules.ShiftLength"),  # beyond a timedelta
        ({"Handoff": "9h"}, "RosterRules.Handoff"),
        ({"Handoff": "1" * 100_000}, "RosterRules.Handoff"),  # not echoed whole
        ({"ShiftLength": "P" + "X" * 100_000}, "RosterRules.ShiftLength"),
        ({"TimeZone": "Mars/Base"}, "RosterRules.TimeZone"),
        ({"Sleep": 8}, "RosterRules.Sleep"),
        ("strict", "RosterRules"),
    ):
        response = api.put("/teams/1", json={"RosterRules": rules, "Name": "Renamed"})
        assert response.status_code == 400, response.text[:300]
        assert response.json()["message"].startswith(f"{field}: "), response.text[:300]
        assert len(response.text) < 400, response.text[:300]
    team = ok(api.get("/teams/1"))
    assert team["Name"] == "Default" and team["RosterRules"] == dropped["RosterRules"]
    assert api.put("/teams/1", json={"RosterRules": None}, headers=keys["ana"]).status_code == 403
    assert ok(api.put("/teams/1", json={"RosterRules": None}))["RosterRules"] is None
    # Without rules: no run or rest check (Ana's third day in a row is fine), two layers still.
    body = {"Start": iso(day(2)), "End": iso(day(3)), "UserId": rota["ids"]["ana"]}
    assert ok(api.post("/teams/1/overrides", json=body), 201)["RulesBroken"] is None
    cy = {**body, "UserId": rota["ids"]["cy"]}
    refused(api.post("/teams/1/overrides", json=cy), "Cy Lee would be on primary and secondary")


def test_a_roster_published_from_the_planner_gives_the_team_its_rules(api, rota):
    import time

    solve = {
        "Start": "2026-02-02",
        "End": "2026-02-08",
        "TimeZone": "Europe/Berlin",
        "Handoff": "09:00",
        "ShiftLength": "PT12H",
        "MaxConsecutiveShifts": 3,
        "MinRestShifts": 1,
        "TimeLimit": 20,
    }
    job = ok(api.post("/roster/solve", json=solve), 202)
    deadline = time.monotonic() + 60
    while job["Status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.05)
        job = ok(api.get(f"/roster/solve/{job['JobId']}"))
    assert job["Status"] == "done", job
    ok(api.post("/roster/publish", json={"JobId": job["JobId"], "FreezeHours": 0}))
    assert ok(api.get("/teams/1"))["RosterRules"] == {
        "TimeZone": "Europe/Berlin",
        "Handoff": "09:00",
        "Layers": 1,
        "ShiftLength": "PT12H",
        "MaxConsecutiveShifts": 3,
        "MinRestShifts": 1,
    }
    # The same output.json sent by hand with the input.json it came from: a plan without a
    # rest rule leaves the team without one (and a daily slot, the default).
    document = {"schedule_start": "2026-02-02T09:00:00+01:00", "users": []}
    ok(
        api.post(
            "/roster/publish",
            json={"Output": job["Output"], "Input": document, "FreezeHours": 0},
        )
    )
    assert ok(api.get("/teams/1"))["RosterRules"] == {
        "TimeZone": "Europe/Berlin", "Handoff": "09:00", "Layers": 1, "ShiftLength": "P1D",
    }  # fmt: skip
    # Without its input.json, only what the output says changes: the admin's rules stay.
    ok(api.put("/teams/1", json={"RosterRules": {"MinRestShifts": 4}}))
    ok(api.post("/roster/publish", json={"Output": job["Output"], "FreezeHours": 0}))
    assert ok(api.get("/teams/1"))["RosterRules"]["MinRestShifts"] == 4
    bad = api.post("/roster/publish", json={"Output": job["Output"], "Input": [1]})
    assert bad.status_code == 400 and bad.json()["message"].startswith("Input: ")
    # Rules no planner would keep are refused, naming them, and the team's rules stay: a run
    # limit of a billion would have every later override lay out a billion slots around it.
    for document, field in (
        ({"max_consecutive_shifts": 10**9}, "Input.max_consecutive_shifts"),
        ({"min_rest_shifts": -1}, "Input.min_rest_shifts"),
        ({"shift": {"length": "PT1S"}}, "Input.shift.length"),
        ({"shift": {"length": "P99999999999D"}}, "Input.shift.length"),
    ):
        bad = api.post("/roster/publish", json={"Output": job["Output"], "Input": document})
        assert bad.status_code == 400, bad.text
        assert bad.json()["message"].startswith(f"{field}: "), bad.text
    assert ok(api.get("/teams/1"))["RosterRules"]["MinRestShifts"] == 4
    assert "MaxConsecutiveShifts" not in ok(api.get("/teams/1"))["RosterRules"]


@pytest.mark.parametrize(
    "rules",
    [RULES, None, {"TimeZone": "Asia/Tokyo"}],
    ids=["run-rules", "no-rules", "tokyo"],
)
def test_a_change_at_the_calendars_end_is_a_400_naming_end(api, store, rota, rules):
    """The checker reads the team's slots and days around a change: for one ending in the
    last days of the year 9999 they run past the calendar (the slot after it, the day after
    it, or the day itself on Tokyo's clock), which was a 500 even for a team without rules."""
    ok(api.put("/teams/1", json={"RosterRules": rules}))
    ana = rota["ids"]["ana"]
    refusals = 0
    for start, end in (
        ("9999-12-29T00:00:00Z", "9999-12-31T00:00:00Z"),
        ("9999-12-30T00:00:00Z", "9999-12-31T23:59:59Z"),
    ):
        body = {"Start": start, "End": end, "UserId": ana}
        before = written(store)
        answer = api.post("/teams/1/overrides", json=body)
        if answer.status_code == 201:  # the slots and days around it are all in the calendar
            continue
        assert answer.status_code == 400, answer.text
        assert answer.json()["message"].startswith("End: "), answer.text
        assert "calendar" in answer.json()["message"]
        assert written(store) == before
        refusals += 1
    assert refusals >= 1  # the last second of the calendar is always past the day after
