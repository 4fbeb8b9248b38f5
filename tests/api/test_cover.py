"""Finding cover, end to end under the fake clock, asked through real contact methods (an SMTP
server on 127.0.0.1): the fairest candidate is asked first, a decline and a timeout move on,
acceptance creates exactly one override, two accepting at once give one, nobody accepting
tells the lead, and a candidate who would break a rule is never asked.

The team's history is made the real way: each past page is an incident paged to the person on
call then, by email, through the notify job. Ana is on call Tuesday 6 January 2026, 09:00 to
Wednesday 09:00 UTC, and needs cover. Over the quarter before: Ben was paged once at 23:00
(a night page), Chloé twice and Dan once, in the afternoon; each page was in a two-hour shift.
Eve has no pages at all but is marked away on Tuesday. So, by night pages, then pages: Dan
(0, 1), Chloé (0, 2), Ben (1, 1); Eve never."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta

import pytest
from fake_clock import FakeClock
from fake_mail import plain_text
from fastapi.testclient import TestClient

from oncall_opt.api import create_app
from oncall_opt.engine.jobs import cover as cover_job
from oncall_opt.engine.jobs.loop import JobLoop
from oncall_opt.engine.settings import Settings

LOCAL = "http://127.0.0.1"
PUBLIC = "https://oncall.example.com"
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # Monday
TUESDAY, WEDNESDAY = datetime(2026, 1, 6, 9, tzinfo=UTC), datetime(2026, 1, 7, 9, tzinfo=UTC)
STRETCH = {"Start": TUESDAY.isoformat(), "End": WEDNESDAY.isoformat()}
# (who, when): the team's pages over the last quarter
HISTORY = [
    ("chloe", datetime(2025, 12, 1, 14, tzinfo=UTC)),
    ("ben", datetime(2025, 12, 3, 23, tzinfo=UTC)),
    ("dan", datetime(2025, 12, 10, 15, tzinfo=UTC)),
    ("chloe", datetime(2025, 12, 15, 13, tzinfo=UTC)),
]


def ok(response, status: int = 200):
    assert response.status_code == status, response.text
    return response.json()


def refused(response, status: int, *words: str) -> str:
    assert response.status_code == status, response.text
    message = response.json()["message"]
    for word in words:
        assert word in message, message
    return message


@pytest.fixture
def clock():
    return FakeClock(datetime(2025, 11, 20, 9, tzinfo=UTC))


@pytest.fixture
def team(store, clock, mail):
    settings = Settings(**mail.settings(), public_url=PUBLIC)
    app = create_app(store, settings, clock, run_jobs=False)
    with TestClient(base_url=LOCAL, app=app) as api:
        api.jobs = JobLoop(store, settings, clock, sleep=lambda s: None)
        people = {}
        for first in ("ana", "ben", "chloe", "dan", "eve"):
            name = "Chloé" if first == "chloe" else first.title()
            user = ok(api.post("/users", json={"FirstName": name, "LastName": "X",
                                               "SlackHandle": first}))  # fmt: skip
            made = ok(api.post(f"/users/{user['Id']}/contact-methods",
                               json={"Type": "email", "Address": f"{first}@example.com"}),
                      201)  # fmt: skip
            ok(api.post(f"/contact-methods/{made['Id']}/verify", json={"Verified": True}))
            people[first] = user
        api.jobs.run_once()
        mail.take(mail.new())  # the verification codes
        for who, when in HISTORY:
            clock.advance(seconds=(when - clock.now()).total_seconds())
            ok(api.post(f"/users/{people[who]['Id']}/schedules", json={
                "Start": (when - timedelta(hours=1)).isoformat(),
                "End": (when + timedelta(hours=1)).isoformat()}))  # fmt: skip
            incident = ok(api.post("/incidents", json={"Body": f"page for {who}"}))
            api.jobs.run_once()
            [page] = mail.take(1)
            assert page["To"] == f"{who}@example.com"
            ok(api.put(f"/incidents/{incident['Id']}/resolve", json={}))
        clock.advance(seconds=(NOW - clock.now()).total_seconds())
        ok(api.post(f"/users/{people['ana']['Id']}/schedules", json=STRETCH))
        ok(api.put(f"/users/{people['eve']['Id']}/availability", json={
            "Start": "2026-01-06", "End": "2026-01-06",
            "Days": {"2026-01-06": "unavailable"}}))  # fmt: skip
        api.jobs.run_once()
        assert mail.new() == 0
        api.people = people
        yield api


def ask(api, **extra) -> dict:
    return ok(api.post("/teams/1/cover", json={**STRETCH, "Reason": "sick", **extra}), 201)


def asked_by_mail(mail) -> tuple[str, dict[str, str]]:
    """The one ask that went out: to whom, and its links {"Accept": url, "Decline": url}."""
    [message] = mail.take(1)
    links = dict(re.findall(r"^(Accept|Decline): (\S+)", plain_text(message), re.M))
    assert set(links) == {"Accept", "Decline"}, plain_text(message)
    return message["To"], links


def token(url: str) -> str:
    assert url.startswith(f"{PUBLIC}/oncall/cover/oo_cover_"), url
    return url.rsplit("/", 1)[1]


def names(request: dict) -> list[str]:
    return [c["User"]["FirstName"] for c in request["Candidates"]]


def test_the_fairest_is_asked_first_with_why_and_a_rule_breaker_never(team, mail):
    made = ask(team)
    assert names(made) == ["Dan", "Chloé", "Ben"]  # Eve is away on Tuesday
    assert [c["Why"] for c in made["Candidates"]] == [
        "Dan: fewest night pages this quarter (0), 1 page, 2 h on call, free both days",
        "Chloé: fewest night pages this quarter (0), 2 pages, 4 h on call, free both days",
        "Ben: 1 night page this quarter, 1 page, 2 h on call, free both days",
    ]
    assert made["For"]["FirstName"] == "Ana" and made["Status"] == "asking"
    assert made["Asked"]["FirstName"] == "Dan"
    assert made["AskedUntil"] == "2026-01-05T09:30:00Z"  # the default 30 minutes
    assert made["Deadline"] == "2026-01-06T09:00:00Z"  # the stretch's start
    team.jobs.run_once()
    [message] = mail.take(1)
    assert message["To"] == "dan@example.com"
    assert message["Subject"] == (
        "Could you cover Ana X? Default primary, Tue 6 Jan 09:00 UTC to Wed 7 Jan 09:00 UTC"
    )
    body = " ".join(plain_text(message).split())
    assert "Ana X needs cover (sick)" in body
    assert "(Dan: fewest night pages this quarter (0), 1 page, 2 h on call, free both days)" in body
    assert f"Open it: {PUBLIC}/rota?tab=Cover&cover={made['Id']}" in body
    links = dict(re.findall(r"^(Accept|Decline): (\S+)", plain_text(message), re.M))
    seen = ok(team.get(f"/cover-links/{token(links['Accept'])}"))  # a mail scanner: no change
    assert (seen["Action"], seen["Person"], seen["For"], seen["Done"]) == (
        "accept", "Dan X", "Ana X", False,
    )  # fmt: skip
    assert ok(team.get(f"/cover/{made['Id']}"))["Status"] == "asking"


def test_a_decline_moves_on_and_a_timeout_moves_on_and_acceptance_is_one_override(
    team, mail, clock, store
):
    made = ask(team)
    team.jobs.run_once()
    _, dan_links = asked_by_mail(mail)
    declined = ok(team.post(f"/cover-links/{token(dan_links['Decline'])}"))
    assert declined["Done"] is True
    now = ok(team.get(f"/cover/{made['Id']}"))
    assert now["Asked"]["FirstName"] == "Chloé"
    assert [c["Answer"] for c in now["Candidates"]] == ["declined", None, None]
    refused(team.post(f"/cover-links/{token(dan_links['Accept'])}"), 401, "used already")
    team.jobs.run_once()
    to, _ = asked_by_mail(mail)
    assert to == "chloe@example.com"

    clock.advance(minutes=29)
    team.jobs.run_once()
    assert ok(team.get(f"/cover/{made['Id']}"))["Asked"]["FirstName"] == "Chloé"
    assert mail.new() == 0
    clock.advance(minutes=1)  # 30 minutes without an answer: Ben is asked
    team.jobs.run_once()
    assert cover_job.run(store, clock.now()) == {"asked": 0, "unanswered": 0}  # done already
    now = ok(team.get(f"/cover/{made['Id']}"))
    assert now["Asked"]["FirstName"] == "Ben"
    assert [c["Answer"] for c in now["Candidates"]] == ["declined", "timed out", None]
    to, ben_links = asked_by_mail(mail)
    assert to == "ben@example.com"

    done = ok(team.post(f"/cover-links/{token(ben_links['Accept'])}"))
    assert done["Done"] is True and done["Action"] == "accept"
    covered = ok(team.get(f"/cover/{made['Id']}"))
    assert covered["Status"] == "covered" and covered["CoveredBy"]["FirstName"] == "Ben"
    overrides = ok(team.get("/teams/1/overrides", params=STRETCH))["Items"]
    assert [(o["User"]["FirstName"], o["Start"], o["End"], o["Id"]) for o in overrides] == [
        ("Ben", "2026-01-06T09:00:00Z", "2026-01-07T09:00:00Z", covered["OverrideId"])
    ]
    final = ok(team.get("/teams/1/final", params={**STRETCH, "Layer": 1}))["Items"]
    assert [(s["User"]["FirstName"], s["Source"]) for s in final] == [("Ben", "override")]
    # Chloé answers late: covered already, by Ben; still one override.
    chloe = team.people["chloe"]["Id"]
    refused(team.put(f"/cover/{made['Id']}/accept", json={"UserId": chloe}), 409,
            "already covered by Ben X")  # fmt: skip
    assert len(ok(team.get("/teams/1/overrides", params=STRETCH))["Items"]) == 1


def test_two_accepting_at_once_give_one_override(team, mail):
    made = ask(team)
    ids = [team.people[p]["Id"] for p in ("dan", "chloe", "ben")]
    answers: list = []
    barrier = threading.Barrier(len(ids))

    def take(user_id: int) -> None:
        barrier.wait()
        answers.append(team.put(f"/cover/{made['Id']}/accept", json={"UserId": user_id}))

    threads = [threading.Thread(target=take, args=(i,)) for i in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    codes = sorted(a.status_code for a in answers)
    assert codes == [200, 409, 409], [a.text for a in answers]
    winner = next(a.json() for a in answers if a.status_code == 200)["CoveredBy"]
    for loser in (a for a in answers if a.status_code == 409):
        assert f"already covered by {winner['FirstName']} X" in loser.json()["message"]
    overrides = ok(team.get("/teams/1/overrides", params=STRETCH))["Items"]
    assert [o["User"]["Id"] for o in overrides] == [winner["Id"]]


def test_nobody_accepting_before_the_deadline_tells_the_lead(team, mail, clock):
    # An admin of no team: the team has no admin of its own, so every admin is told.
    admin = ok(team.post("/users", json={"FirstName": "Lea", "LastName": "Lead", "TeamIds": [],
                                         "SlackHandle": "lea", "Role": "admin"}))  # fmt: skip
    method = ok(team.post(f"/users/{admin['Id']}/contact-methods",
                          json={"Type": "email", "Address": "lea@example.com"}), 201)  # fmt: skip
    ok(team.post(f"/contact-methods/{method['Id']}/verify", json={"Verified": True}))
    team.jobs.run_once()
    mail.take(mail.new())
    deadline = NOW + timedelta(minutes=45)
    made = ask(team, TimeoutMinutes=20, Deadline=deadline.isoformat())
    team.jobs.run_once()
    assert asked_by_mail(mail)[0] == "dan@example.com"
    clock.advance(minutes=20)
    team.jobs.run_once()
    assert asked_by_mail(mail)[0] == "chloe@example.com"
    clock.advance(minutes=20)
    team.jobs.run_once()
    assert asked_by_mail(mail)[0] == "ben@example.com"
    clock.advance(minutes=5)  # the deadline, before Ben's 20 minutes are up
    team.jobs.run_once()
    ended = ok(team.get(f"/cover/{made['Id']}"))
    assert ended["Status"] == "unanswered" and ended["Asked"] is None
    assert ended["Outcome"] == "nobody accepted before the deadline"
    assert [c["Answer"] for c in ended["Candidates"]] == ["timed out"] * 3
    told = mail.take(2)  # Ana, whose shift it is, and the admin (the request came from the API)
    assert sorted(m["To"] for m in told) == ["ana@example.com", "lea@example.com"]
    assert all("Nobody covers Ana X" in m["Subject"] for m in told)
    assert ok(team.get("/teams/1/overrides", params=STRETCH))["Items"] == []
    refused(team.put(f"/cover/{made['Id']}/accept", json={"UserId": team.people["ben"]["Id"]}),
            409, "unanswered")  # fmt: skip


def test_with_nobody_to_ask_the_lead_is_told_at_once(team, mail):
    for who in ("ben", "chloe", "dan"):
        ok(team.put(f"/users/{team.people[who]['Id']}/availability", json={
            "Start": "2026-01-06", "End": "2026-01-06",
            "Days": {"2026-01-06": "unavailable"}}))  # fmt: skip
    made = ask(team)
    assert made["Candidates"] == [] and made["Status"] == "unanswered"
    assert made["Outcome"] == "nobody left to ask"
    team.jobs.run_once()
    [told] = mail.take(1)
    assert told["To"] == "ana@example.com" and "Nobody covers Ana X" in told["Subject"]


def test_someone_on_the_other_layer_then_is_not_a_candidate(team, mail):
    """Dan is secondary on Tuesday afternoon: primary too would page him twice."""
    ok(team.post(f"/users/{team.people['dan']['Id']}/schedules", json={
        "Start": "2026-01-06T12:00:00Z", "End": "2026-01-06T18:00:00Z", "Layer": 2}))  # fmt: skip
    made = ask(team)
    assert names(made) == ["Chloé", "Ben"]
    team.jobs.run_once()
    assert asked_by_mail(mail)[0] == "chloe@example.com"


def test_a_candidate_away_since_the_ranking_is_skipped_not_asked(team, mail):
    made = ask(team)
    tuesday = {"Start": "2026-01-06", "End": "2026-01-06", "Days": {"2026-01-06": "unavailable"}}
    ok(team.put(f"/users/{team.people['chloe']['Id']}/availability", json=tuesday))
    ok(team.put(f"/cover/{made['Id']}/decline", json={"UserId": team.people["dan"]["Id"]}))
    now = ok(team.get(f"/cover/{made['Id']}"))
    assert [c["Answer"] for c in now["Candidates"]] == ["declined", "skipped", None]
    assert "(skipped: Chloé X marked Tue 6 Jan 2026 away" in now["Candidates"][1]["Why"]
    assert now["Asked"]["FirstName"] == "Ben"
    team.jobs.run_once()  # Dan's ask, not sent yet when he declined, is not sent
    assert asked_by_mail(mail)[0] == "ben@example.com" and mail.new() == 0


def test_a_stretch_starting_within_the_timeout_is_asked_until_its_end(team):
    soon = {"Start": (NOW + timedelta(minutes=10)).isoformat(),
            "End": (NOW + timedelta(hours=3)).isoformat()}  # fmt: skip
    ok(team.post(f"/users/{team.people['ben']['Id']}/schedules", json=soon))
    made = ask(team, **soon)
    assert made["Deadline"] == "2026-01-05T12:00:00Z"  # its end: it has begun before an answer
    assert made["For"]["FirstName"] == "Ben"


def test_bad_fields_are_named_and_nothing_is_written(team, store):
    before = store.row("SELECT count(*) AS n FROM cover_requests")["n"]
    cases = [
        ({"Start": "tomorrow"}, "Start"),
        ({"End": "2026-01-06T08:00:00Z"}, "End"),
        ({"Layer": 3}, "Layer"),
        ({"TimeoutMinutes": 0}, "TimeoutMinutes"),
        ({"TimeoutMinutes": 100000}, "TimeoutMinutes"),
        ({"Reason": "bored"}, "Reason"),
        ({"Deadline": "2026-01-08T00:00:00Z"}, "Deadline"),
        ({"Start": "2026-01-01T09:00:00Z", "End": "2026-01-02T09:00:00Z"}, "End"),
    ]
    for change, field in cases:
        response = team.post("/teams/1/cover", json={**STRETCH, **change})
        assert response.status_code == 400, (change, response.text)
        assert field in response.json()["message"], (change, response.text)
    refused(team.post("/teams/1/cover", json={"Start": "2026-01-08T09:00:00Z",
                                              "End": "2026-01-09T09:00:00Z"}),
            409, "nobody is on call")  # fmt: skip
    assert store.row("SELECT count(*) AS n FROM cover_requests")["n"] == before
    made = ask(team)
    refused(team.post("/teams/1/cover", json=STRETCH), 409, f"#{made['Id']} already asks")
    refused(team.get("/teams/1/cover", params={"Status": "bogus"}), 400, "Status")
    ok(team.put(f"/cover/{made['Id']}/cancel"))
    assert (
        ok(team.get("/teams/1/cover", params={"Status": "cancelled"}))["Items"][0]["Id"]
        == (made["Id"])
    )


# ----- away means covered -------------------------------------------------------------------------
def test_marking_days_away_lists_the_shifts_then_and_cover_for_one_clears_it(team, mail):
    """Ana is on call Tuesday 09:00 to Wednesday 09:00 UTC; she marks Wednesday and Thursday
    away: the part of her shift on Wednesday (00:00 to 09:00) is listed at once."""
    ana = team.people["ana"]["Id"]
    days = {"2026-01-07": "unavailable", "2026-01-08": "unavailable"}
    week = {"Start": "2026-01-05", "End": "2026-01-11"}
    answer = ok(team.put(f"/users/{ana}/availability", json={**week, "Days": days}))
    assert answer["AwayShifts"] == [{
        "TeamId": 1, "Team": "Default", "Layer": 1, "Start": "2026-01-07T00:00:00Z",
        "End": "2026-01-07T09:00:00Z", "CoverRequestId": None, "CoverStatus": None,
    }]  # fmt: skip
    # Someone else's day away, or a day of no shift of hers: nothing to cover.
    ben = team.people["ben"]["Id"]
    other = ok(team.put(f"/users/{ben}/availability",
                        json={"Start": "2026-01-07", "End": "2026-01-07",
                              "Days": {"2026-01-07": "unavailable"}}))  # fmt: skip
    assert other["AwayShifts"] == []
    shift = answer["AwayShifts"][0]
    made = ask(team, Start=shift["Start"], End=shift["End"], Reason="away")
    # Ben is away that day; Eve (no pages) was away only on Tuesday: first this time.
    assert names(made) == ["Eve", "Dan", "Chloé"]
    again = ok(team.get(f"/users/{ana}/availability",
                        params={"Start": "2026-01-05", "End": "2026-01-11"}))  # fmt: skip
    assert [(s["CoverRequestId"], s["CoverStatus"]) for s in again["AwayShifts"]] == [
        (made["Id"], "asking")
    ]
    ok(team.put(f"/cover/{made['Id']}/accept", json={"UserId": team.people["eve"]["Id"]}))
    # Covered: the final schedule has Eve then, so it is no longer Ana's shift to cover.
    after = ok(team.get(f"/users/{ana}/availability",
                        params={"Start": "2026-01-05", "End": "2026-01-11"}))  # fmt: skip
    assert after["AwayShifts"] == []


def test_away_shifts_read_a_day_away_as_the_team_does(team, mail):
    """The shifts listed are those the team's rule checks would refuse her: with AwayMeans
    "shift-start" and a 09:00 handoff, Wednesday away blocks Wednesday 09:00 to Thursday
    09:00, after Ana's shift (Tuesday 09:00 to Wednesday 09:00); Tuesday away blocks all of
    it. On New York's clock a whole Wednesday starts at 05:00 UTC."""
    ana = team.people["ana"]["Id"]
    week = {"Start": "2026-01-05", "End": "2026-01-11"}
    wednesday = {"2026-01-07": "unavailable", "2026-01-08": "unavailable"}
    ok(team.put("/teams/1", json={"AwayMeans": "shift-start", "RosterRules": {"Handoff": "09:00"}}))
    answer = ok(team.put(f"/users/{ana}/availability", json={**week, "Days": wednesday}))
    assert answer["AwayShifts"] == []
    tuesday = {"2026-01-06": "unavailable"}
    answer = ok(team.put(f"/users/{ana}/availability", json={**week, "Days": tuesday}))
    assert [(s["Start"], s["End"]) for s in answer["AwayShifts"]] == [
        ("2026-01-06T09:00:00Z", "2026-01-07T09:00:00Z")
    ]
    ok(team.put("/teams/1", json={"AwayMeans": "day",
                                  "RosterRules": {"TimeZone": "America/New_York"}}))  # fmt: skip
    answer = ok(team.put(f"/users/{ana}/availability", json={**week, "Days": wednesday}))
    assert [(s["Start"], s["End"]) for s in answer["AwayShifts"]] == [
        ("2026-01-07T05:00:00Z", "2026-01-07T09:00:00Z")
    ]


# ----- the console's link page, and data in messages ---------------------------------------------
def test_the_consoles_cover_page_asks_then_answers_once(team, mail, monkeypatch):
    from live_server import serve
    from starlette.applications import Starlette

    from oncall_opt.console import server

    made = ask(team)
    team.jobs.run_once()
    _, links = asked_by_mail(mail)
    accept = token(links["Accept"])
    with serve(team.app) as url:
        monkeypatch.setenv("ONCALL_API_URL", url)
        console = Starlette(routes=server.routes(), middleware=server.middleware())
        with TestClient(console, base_url="http://127.0.0.1:8501") as browser:
            page = browser.get(f"/oncall/cover/{accept}")
            assert page.status_code == 200 and "Cover Ana X&#x27;s shift?" in page.text
            assert "Default primary, Tue 6 Jan 09:00 UTC to Wed 7 Jan 09:00 UTC" in page.text
            assert "puts <strong>Dan X</strong> on call then" in page.text
            assert f'action="/oncall/cover/{accept}"' in page.text
            assert ok(team.get(f"/cover/{made['Id']}"))["Status"] == "asking"  # only asked
            forged = browser.post(
                f"/oncall/cover/{accept}", headers={"Origin": "http://evil.example"}
            )
            assert forged.status_code == 403
            answered = browser.post(f"/oncall/cover/{accept}")
            assert answered.status_code == 200 and "You (Dan X) cover Ana X" in answered.text
            again = browser.get(f"/oncall/cover/{accept}")
            assert again.status_code == 401 and "used already" in again.text
            declined = browser.post(f"/oncall/cover/{token(links['Decline'])}")
            assert declined.status_code == 401  # one answer per ask: its sibling is spent
    covered = ok(team.get(f"/cover/{made['Id']}"))
    assert covered["Status"] == "covered" and covered["CoveredBy"]["FirstName"] == "Dan"


def test_a_note_and_names_reach_the_team_channel_as_text(team, store):
    ana = team.people["ana"]["Id"]
    ok(team.put(f"/users/{ana}", json={"FirstName": "<!channel>", "LastName": "*X*"}))
    ask(team, Note="<https://evil.example|click> @here")
    texts = [
        r["text"] for r in store.rows("SELECT text FROM outbox WHERE kind = 'cover' ORDER BY id")
    ]
    asked = texts[0]
    assert "&lt;!channel&gt;" in asked and "<!channel>" not in asked
    assert "&lt;https://evil.example|click&gt;" in asked and "<https://evil" not in asked
    assert "Dan X <@dan>, could you cover &lt;!channel&gt;" in texts[1]
    # One click from the channel: to the request on Rota's Cover tab, Accept there.
    assert f"<{PUBLIC}/rota?tab=Cover&cover=1|cover #1 in the console>" in texts[1]
