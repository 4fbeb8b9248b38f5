"""Paging people through their notification rules, under the fake clock, delivered to real
servers on 127.0.0.1 (an SMTP server and HTTP receivers standing in for ntfy and a webhook):
push at once, webhook after 2 minutes, email after 5, all cancelled by an acknowledgement at
minute 3; the timeline and `GET /incidents/{id}/notifications` say what went out."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fake_mail import plain_text
from fake_receiver import Receiver
from fastapi.testclient import TestClient

from oncall_opt.api import create_app
from oncall_opt.engine.jobs.loop import JobLoop
from oncall_opt.engine.settings import Settings

LOCAL = "http://127.0.0.1"


def ok(response, status: int = 200):
    assert response.status_code == status, response.text
    return response.json()


@pytest.fixture
def push() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def hook() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def api(store, clock, mail):
    settings = Settings(**mail.settings(), allow_private_webhooks=True,
                        public_url="https://oncall.example.com")  # fmt: skip
    app = create_app(store, settings, clock, run_jobs=False)
    with TestClient(base_url=LOCAL, app=app) as client:
        client.jobs = JobLoop(store, settings, clock, sleep=lambda s: None)
        yield client


def person(api, handle: str) -> dict:
    return ok(api.post("/users", json={"FirstName": handle.title(), "LastName": "X",
                                       "SlackHandle": handle}))  # fmt: skip


def method(api, user: dict, kind: str, address: str) -> dict:
    made = ok(api.post(f"/users/{user['Id']}/contact-methods",
                       json={"Type": kind, "Address": address}), 201)  # fmt: skip
    if not made["Verified"]:
        made = ok(api.post(f"/contact-methods/{made['Id']}/verify", json={"Verified": True}))
    return made


def on_call_now(api, clock, user: dict) -> None:
    from datetime import timedelta

    now = clock.now()
    ok(api.post(f"/users/{user['Id']}/schedules", json={
        "Start": (now - timedelta(hours=1)).isoformat(),
        "End": (now + timedelta(days=1)).isoformat(),
    }))  # fmt: skip


def messages(api, incident_id: int) -> list[str]:
    return [e["Message"] for e in ok(api.get(f"/incidents/{incident_id}/log"))["Items"]]


def test_rules_page_in_turn_and_an_acknowledgement_cancels_the_rest(api, clock, mail, push, hook):
    ana = person(api, "ana")
    on_call_now(api, clock, ana)
    by_push = method(api, ana, "push", f"{push.url}/ana-pager")
    by_hook = method(api, ana, "webhook", f"{hook.url}/ana")
    by_mail = method(api, ana, "email", "ana@example.com")
    rules = ok(api.get(f"/users/{ana['Id']}/notification-rules"))["Items"]
    assert {(r["ContactMethodId"], r["DelayMinutes"]) for r in rules} == {(by_push["Id"], 0)}
    for m, delay in ((by_hook, 2), (by_mail, 5)):
        ok(api.post(f"/users/{ana['Id']}/notification-rules",
                    json={"ContactMethodId": m["Id"], "DelayMinutes": delay}), 201)  # fmt: skip
    api.jobs.run_once()
    push.posts.clear()  # the codes and tests so far
    hook.posts.clear()
    mail.take(mail.new())

    incident = ok(api.post("/incidents", json={"Body": "Disk full on db-1\nsecond line"}))
    iid = incident["Id"]
    assert any("paging Ana X" in m and "by push at once, webhook after 2 min, email after 5 min"
               in m for m in messages(api, iid)), messages(api, iid)  # fmt: skip
    api.jobs.run_once()  # minute 0: the push
    [(headers, body, path)] = push.posts
    assert path == "/ana-pager" and f"#{iid}" in headers["Title"] and b"Disk full" in body
    assert headers["Click"] == f"https://oncall.example.com/incidents?incident={iid}"
    assert hook.posts == []
    clock.advance(minutes=2)
    api.jobs.run_once()  # minute 2: the webhook
    assert len(hook.posts) == 1
    clock.advance(minutes=1)
    ok(api.put(f"/incidents/{iid}/acknowledge", json={"UserId": ana["Id"]}))  # minute 3
    clock.advance(minutes=3)
    api.jobs.run_once()  # minute 6: the email is not sent
    assert mail.new() == 0
    sent = ok(api.get(f"/incidents/{iid}/notifications"))["Items"]
    assert [(n["Type"], n["Status"]) for n in sent] == [
        ("push", "sent"), ("webhook", "sent"), ("email", "cancelled"),
    ]  # fmt: skip
    log = messages(api, iid)
    assert "paged Ana X by push: sent" in log and "paged Ana X by webhook: sent" in log
    assert not [m for m in log if "by email:" in m]


def test_a_person_without_a_verified_method_is_told_through_the_channel_only(api, clock):
    ana = person(api, "ana")
    on_call_now(api, clock, ana)
    ok(
        api.post(
            f"/users/{ana['Id']}/contact-methods",
            json={"Type": "email", "Address": "ana@example.com"},
        ),
        201,
    )  # not verified
    incident = ok(api.post("/incidents", json={"Body": "Disk full"}))
    assert any("Ana X" in m and "no verified contact method" in m
               for m in messages(api, incident["Id"]))  # fmt: skip
    assert ok(api.get(f"/incidents/{incident['Id']}/notifications"))["Items"] == []


def test_the_page_email_names_the_incident_and_links_to_it(api, clock, mail):
    ana = person(api, "ana")
    on_call_now(api, clock, ana)
    method(api, ana, "email", "ana@example.com")
    api.jobs.run_once()
    mail.take(mail.new())
    incident = ok(api.post("/incidents", json={"Body": "Checkout <b>down</b>\nall regions"}))
    api.jobs.run_once()
    [page] = mail.take(1)
    assert f"#{incident['Id']}" in page["Subject"] and "Checkout <b>down</b>" in page["Subject"]
    body = plain_text(page)
    assert f"https://oncall.example.com/incidents?incident={incident['Id']}" in body
    html = page.get_body(preferencelist=("html",)).get_content()
    assert "<b>down</b>" not in html and "&lt;b&gt;down&lt;/b&gt;" in html  # data as text


def test_a_reassignment_pages_the_new_assignee(api, clock, push):
    ana, ben = person(api, "ana"), person(api, "ben")
    on_call_now(api, clock, ana)
    method(api, ben, "push", f"{push.url}/ben")
    api.jobs.run_once()
    push.posts.clear()
    incident = ok(api.post("/incidents", json={"Body": "Queue backlog"}))
    ok(api.put(f"/incidents/{incident['Id']}/assign", json={"UserId": ben["Id"]}))
    assert any(re.match(r"paging Ben X by push at once", m) for m in messages(api, incident["Id"]))
    api.jobs.run_once()
    assert [p[2] for p in push.posts] == ["/ben"]


# ----- one-time action links --------------------------------------------------------------------
def links_in(page) -> dict[str, str]:
    """The action links of a page's mail: {"Acknowledge": url, "Resolve": url}."""
    found = dict(re.findall(r"^(Acknowledge|Resolve): (\S+)", plain_text(page), re.M))
    assert set(found) == {"Acknowledge", "Resolve"}, plain_text(page)
    return found


def token_of(url: str) -> str:
    assert url.startswith("https://oncall.example.com/oncall/act/oo_act_"), url
    return url.rsplit("/", 1)[1]


@pytest.fixture
def paged(api, clock, mail):
    """Ana on call with a verified email; an incident paged to her: its mail's links."""
    ana = person(api, "ana")
    on_call_now(api, clock, ana)
    method(api, ana, "email", "ana@example.com")
    api.jobs.run_once()
    mail.take(mail.new())
    incident = ok(api.post("/incidents", json={"Body": "Disk full on db-1"}))
    api.jobs.run_once()
    [page] = mail.take(1)
    return {"ana": ana, "incident": incident, "links": links_in(page)}


def test_opening_a_link_changes_nothing_and_its_button_acts_once_as_that_person(api, paged):
    iid = paged["incident"]["Id"]
    ack = token_of(paged["links"]["Acknowledge"])
    seen = ok(api.get(f"/actions/{ack}"))  # a mail scanner following the link
    assert seen == {"Action": "acknowledge", "IncidentId": iid, "Summary": "Disk full on db-1",
                    "Status": "triggered", "Person": "Ana X", "Via": "email link",
                    "Done": False}  # fmt: skip
    assert ok(api.get(f"/incidents/{iid}"))["Status"] == "triggered"
    done = ok(api.post(f"/actions/{ack}"))
    assert done["Done"] is True
    incident = ok(api.get(f"/incidents/{iid}"))
    assert incident["Status"] == "acknowledged"
    assert incident["AcknowledgedBy"]["Id"] == paged["ana"]["Id"]
    assert "acknowledged via email link" in messages(api, iid)
    again = api.post(f"/actions/{ack}")
    assert again.status_code == 401 and "used already" in again.json()["message"]
    resolve = token_of(paged["links"]["Resolve"])
    assert ok(api.post(f"/actions/{resolve}"))["Done"]
    assert ok(api.get(f"/incidents/{iid}"))["Status"] == "resolved"


def test_a_link_expires_and_a_made_up_one_is_refused(api, clock, paged):
    ack = token_of(paged["links"]["Acknowledge"])
    for made_up in ("oo_act_" + "x" * 43, "anything", "oo_act_"):
        assert api.get(f"/actions/{made_up}").status_code == 401
    clock.advance(hours=25)
    expired = api.post(f"/actions/{ack}")
    assert expired.status_code == 401 and "expired" in expired.json()["message"]
    assert ok(api.get(f"/incidents/{paged['incident']['Id']}"))["Status"] == "triggered"


def test_the_consoles_link_page_asks_then_acts(api, paged, monkeypatch):
    from live_server import serve
    from starlette.applications import Starlette

    from oncall_opt.console import server

    ack = token_of(paged["links"]["Acknowledge"])
    with serve(api.app) as url:
        monkeypatch.setenv("ONCALL_API_URL", url)
        console = Starlette(routes=server.routes(), middleware=server.middleware())
        with TestClient(console, base_url="http://127.0.0.1:8501") as browser:
            page = browser.get(f"/oncall/act/{ack}")
            assert page.status_code == 200 and "Acknowledge incident #" in page.text
            assert "Disk full on db-1" in page.text and "Ana X" in page.text
            assert f'action="/oncall/act/{ack}"' in page.text
            forged = browser.post(f"/oncall/act/{ack}", headers={"Origin": "http://evil.example"})
            assert forged.status_code == 403
            acted = browser.post(f"/oncall/act/{ack}")
            assert acted.status_code == 200 and "acknowledged by Ana X" in acted.text
            used = browser.get(f"/oncall/act/{ack}")
            assert used.status_code == 401 and "used already" in used.text
    assert ok(api.get(f"/incidents/{paged['incident']['Id']}"))["Status"] == "acknowledged"
