"""Texts and calls through Twilio, with the real `twilio` client against a stand-in for
Twilio's REST API on 127.0.0.1: a phone number is checked and verified by a code texted (or
read out in a call, digit by digit), a page is a text with the incident's link and "reply 1 to
acknowledge, 2 to resolve", or a call that says so and gathers a key press. Replies and key
presses are taken only with Twilio's signature (the `twilio` library's `RequestValidator`
under the auth token), and act as the person whose verified number it is."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from fake_twilio import TOKEN, FakeTwilio
from fastapi.testclient import TestClient
from twilio.request_validator import RequestValidator

from oncall_opt.api import create_app
from oncall_opt.engine.jobs.loop import JobLoop
from oncall_opt.engine.settings import Settings

LOCAL = "http://127.0.0.1"
PUBLIC_API = "https://oncall-api.example.com"
ANA_PHONE = "+4915112345678"


def ok(response, status: int = 200):
    assert response.status_code == status, response.text
    return response.json()


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    server = FakeTwilio()
    yield server
    server.close()


@pytest.fixture
def api(store, clock, twilio):
    settings = Settings(**twilio.settings(), public_url="https://oncall.example.com",
                        public_api_url=PUBLIC_API)  # fmt: skip
    app = create_app(store, settings, clock, run_jobs=False)
    with TestClient(base_url=LOCAL, app=app) as client:
        client.jobs = JobLoop(store, settings, clock, sleep=lambda s: None)
        yield client


_SIDS = itertools.count(1)


def from_twilio(api, path: str, form: dict, *, token: str = TOKEN, query: str = ""):
    """A request as Twilio makes it: form-encoded, signed for the public URL it called; an
    incoming text has a new MessageSid unless the test gives one."""
    if path.endswith("/sms") and "MessageSid" not in form:
        form = {**form, "MessageSid": f"SM{next(_SIDS):032d}"}
    url = f"{PUBLIC_API}{path}" + (f"?{query}" if query else "")
    signature = RequestValidator(token).compute_signature(url, form)
    return api.post(path + (f"?{query}" if query else ""), content=urlencode(form),
                    headers={"Content-Type": "application/x-www-form-urlencoded",
                             "X-Twilio-Signature": signature})  # fmt: skip


def verified_number(api, twilio, user: dict, kind: str, number: str = ANA_PHONE) -> dict:
    made = ok(api.post(f"/users/{user['Id']}/contact-methods",
                       json={"Type": kind, "Address": number}), 201)  # fmt: skip
    assert made["Verified"] is False
    api.jobs.run_once()
    if kind == "sms":
        code = re.search(r"\b(\d{6})\b", twilio.messages[-1]["Body"]).group(1)
    else:  # a call reads the code out digit by digit: "1, 2, 3, 4, 5, 6"
        said = re.search(r"<Say[^>]*>([^<]*)</Say>", twilio.calls[-1]["Twiml"]).group(1)
        code = re.search(r"\d(?:, \d){5}", said).group().replace(", ", "")
    assert ok(api.post(f"/contact-methods/{made['Id']}/verify", json={"Code": code}))["Verified"]
    return made


@pytest.fixture
def ana(api, clock):
    ana = ok(api.post("/users", json={"FirstName": "Ana", "LastName": "X", "SlackHandle": "ana"}))
    shift = {"Start": clock.now().isoformat(), "End": "2027-12-31T00:00:00Z"}
    ok(api.post(f"/users/{ana['Id']}/schedules", json=shift))
    return ana


def timeline(api, incident_id: int) -> list[str]:
    return [e["Message"] for e in ok(api.get(f"/incidents/{incident_id}/log"))["Items"]]


def test_a_phone_number_must_be_in_international_form(api, ana):
    for wrong in ("0151 1234567", "+0151234567", "4915112345678", "+49 151 abc"):
        answer = api.post(f"/users/{ana['Id']}/contact-methods",
                          json={"Type": "sms", "Address": wrong})  # fmt: skip
        assert answer.status_code == 400, wrong
        assert "Address" in answer.text and "international form" in answer.text
    spaced = ok(api.post(f"/users/{ana['Id']}/contact-methods",
                         json={"Type": "voice", "Address": "+49 151 1234-5678"}), 201)  # fmt: skip
    assert spaced["Address"] == ANA_PHONE


def test_a_text_page_links_the_incident_and_a_reply_acknowledges_as_that_person(api, twilio, ana):
    verified_number(api, twilio, ana, "sms")
    incident = ok(api.post("/incidents", json={"Body": "checkout down"}))
    api.jobs.run_once()
    page = twilio.messages[-1]
    assert page["To"] == ANA_PHONE and page["From"] == "+15005550006"
    assert f"#{incident['Id']}: checkout down" in page["Body"]
    assert f"https://oncall.example.com/incidents?incident={incident['Id']}" in page["Body"]
    assert "Reply 1 to acknowledge, 2 to resolve." in page["Body"]
    replied = from_twilio(api, "/integrations/twilio/sms", {"From": ANA_PHONE, "Body": " 1 "})
    assert replied.status_code == 200 and replied.headers["content-type"].startswith(
        "application/xml"
    )
    assert f"Incident #{incident['Id']} acknowledged." in replied.text
    now = ok(api.get(f"/incidents/{incident['Id']}"))
    assert now["Status"] == "acknowledged" and now["AcknowledgedBy"]["Id"] == ana["Id"]
    assert "acknowledged via SMS" in timeline(api, incident["Id"])
    again = from_twilio(api, "/integrations/twilio/sms", {"From": ANA_PHONE, "Body": "1"})
    assert "already acknowledged" in again.text
    resolved = from_twilio(api, "/integrations/twilio/sms", {"From": ANA_PHONE, "Body": "2"})
    assert f"Incident #{incident['Id']} resolved." in resolved.text
    assert ok(api.get(f"/incidents/{incident['Id']}"))["Status"] == "resolved"


def test_a_reply_goes_to_the_open_incident_and_a_word_it_does_not_know_changes_nothing(
    api, twilio, ana
):
    verified_number(api, twilio, ana, "sms")
    first = ok(api.post("/incidents", json={"Body": "disk full"}))
    api.jobs.run_once()
    second = ok(api.post("/incidents", json={"Body": "queue stuck"}))
    api.jobs.run_once()
    ok(api.put(f"/incidents/{second['Id']}/resolve"))
    unknown = from_twilio(api, "/integrations/twilio/sms", {"From": ANA_PHONE, "Body": "what?"})
    assert f"Incident #{first['Id']}: reply 1 to acknowledge, 2 to resolve." in unknown.text
    assert ok(api.get(f"/incidents/{first['Id']}"))["Status"] == "triggered"
    from_twilio(api, "/integrations/twilio/sms", {"From": ANA_PHONE, "Body": "ack"})
    assert ok(api.get(f"/incidents/{first['Id']}"))["Status"] == "acknowledged"


def test_a_forged_reply_or_one_from_a_number_never_paged_changes_nothing(api, twilio, ana):
    verified_number(api, twilio, ana, "sms")
    incident = ok(api.post("/incidents", json={"Body": "checkout down"}))
    api.jobs.run_once()
    form = {"From": ANA_PHONE, "Body": "1"}
    forged = from_twilio(api, "/integrations/twilio/sms", form, token="not-the-auth-token")
    assert forged.status_code == 403 and "signature" in forged.text
    unsigned = api.post("/integrations/twilio/sms", content=urlencode(form),
                        headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert unsigned.status_code == 403
    stranger = from_twilio(api, "/integrations/twilio/sms", {"From": "+12025550123", "Body": "1"})
    assert stranger.status_code == 200 and "no page from us" in stranger.text
    assert ok(api.get(f"/incidents/{incident['Id']}"))["Status"] == "triggered"


def test_a_call_reads_the_page_and_a_key_press_acknowledges_once(api, twilio, ana):
    verified_number(api, twilio, ana, "voice")
    incident = ok(api.post("/incidents", json={"Body": 'db <Say>down</Say> & "slow"'}))
    api.jobs.run_once()
    call = twilio.calls[-1]
    assert call["To"] == ANA_PHONE
    twiml = call["Twiml"]
    assert "<Say>down</Say>" not in twiml and "&lt;Say&gt;down&lt;/Say&gt;" in twiml  # escaped
    assert "Press 1 to acknowledge." in twiml
    action = re.search(r'<Gather[^>]* action="([^"]+)"', twiml).group(1).replace("&amp;", "&")
    assert action.startswith(f"{PUBLIC_API}/integrations/twilio/voice?token=oo_act_")
    query = urlsplit(action).query
    other_key = from_twilio(api, "/integrations/twilio/voice", {"Digits": "9"}, query=query)
    assert "Nothing was done" in other_key.text
    assert ok(api.get(f"/incidents/{incident['Id']}"))["Status"] == "triggered"
    pressed = from_twilio(api, "/integrations/twilio/voice", {"Digits": "1"}, query=query)
    assert pressed.status_code == 200 and f"Incident {incident['Id']} acknowledged." in pressed.text
    now = ok(api.get(f"/incidents/{incident['Id']}"))
    assert now["Status"] == "acknowledged" and now["AcknowledgedBy"]["Id"] == ana["Id"]
    assert "acknowledged via phone call" in timeline(api, incident["Id"])
    again = from_twilio(api, "/integrations/twilio/voice", {"Digits": "1"}, query=query)
    assert "answered already" in again.text


def test_a_key_press_with_a_forged_signature_or_a_made_up_token_changes_nothing(api, twilio, ana):
    verified_number(api, twilio, ana, "voice")
    incident = ok(api.post("/incidents", json={"Body": "checkout down"}))
    api.jobs.run_once()
    action = re.search(r'action="([^"]+)"', twilio.calls[-1]["Twiml"]).group(1)
    query = urlsplit(action.replace("&amp;", "&")).query
    forged = from_twilio(api, "/integrations/twilio/voice", {"Digits": "1"}, query=query,
                         token="not-the-auth-token")  # fmt: skip
    assert forged.status_code == 403
    token = parse_qs(query)["token"][0]
    made_up = from_twilio(api, "/integrations/twilio/voice", {"Digits": "1"},
                          query=urlencode({"token": token[:-4] + "AAAA"}))  # fmt: skip
    assert "answered already" in made_up.text
    assert ok(api.get(f"/incidents/{incident['Id']}"))["Status"] == "triggered"


def test_a_number_twilio_refuses_fails_for_good_and_says_why(api, twilio, ana):
    twilio.invalid_numbers.add("+4915199999999")
    ok(api.post(f"/users/{ana['Id']}/contact-methods",
                json={"Type": "sms", "Address": "+4915199999999"}), 201)  # fmt: skip
    api.jobs.run_once()
    rows = api.app.state.store.rows("SELECT status, last_error FROM notifications")
    assert rows == [{"status": "failed", "last_error": "Twilio 21211"}], rows


def test_texts_and_calls_are_offered_only_when_twilio_is_set_up(store, clock):
    app = create_app(store, Settings(), clock, run_jobs=False)
    with TestClient(base_url=LOCAL, app=app) as api:
        ana = ok(api.post("/users", json={"FirstName": "A", "LastName": "X", "SlackHandle": "a"}))
        refused = api.post(f"/users/{ana['Id']}/contact-methods",
                           json={"Type": "sms", "Address": ANA_PHONE})  # fmt: skip
        assert refused.status_code in (400, 409), refused.text
        assert "ONCALL_TWILIO_ACCOUNT_SID" in refused.text
        off = api.post("/integrations/twilio/sms", content="From=%2B1&Body=1",
                       headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
        assert off.status_code == 403 and "Twilio replies are off" in off.text


def vouched(api, user: dict, kind: str, address: str) -> dict:
    made = ok(api.post(f"/users/{user['Id']}/contact-methods",
                       json={"Type": kind, "Address": address}), 201)  # fmt: skip
    return ok(api.post(f"/contact-methods/{made['Id']}/verify", json={"Verified": True}))


def rule(api, user: dict, method: dict, minutes: int) -> None:
    body = {"ContactMethodId": method["Id"], "DelayMinutes": minutes, "Urgency": "high"}
    ok(api.post(f"/users/{user['Id']}/notification-rules", json=body), 201)


def test_push_at_once_text_at_2_call_at_5_and_an_acknowledgement_at_3_cancels_the_call(
    store, clock, twilio
):
    from fake_receiver import Receiver

    push = Receiver()
    settings = Settings(**twilio.settings(), public_api_url=PUBLIC_API, allow_private_webhooks=True)
    app = create_app(store, settings, clock, run_jobs=False)
    try:
        with TestClient(base_url=LOCAL, app=app) as api:
            jobs = JobLoop(store, settings, clock, sleep=lambda s: None)
            ana = ok(api.post("/users", json={"FirstName": "Ana", "LastName": "X",
                                              "SlackHandle": "ana"}))  # fmt: skip
            shift = {"Start": clock.now().isoformat(), "End": "2027-12-31T00:00:00Z"}
            ok(api.post(f"/users/{ana['Id']}/schedules", json=shift))
            vouched(api, ana, "push", f"{push.url}/ana-topic")  # its first: a rule at once
            rule(api, ana, vouched(api, ana, "sms", ANA_PHONE), 2)
            rule(api, ana, vouched(api, ana, "voice", ANA_PHONE), 5)
            incident = ok(api.post("/incidents", json={"Body": "checkout down"}))
            jobs.run_once()
            assert len(push.posts) == 1 and not twilio.messages and not twilio.calls
            clock.advance(minutes=2)
            jobs.run_once()
            assert len(twilio.messages) == 1 and not twilio.calls
            clock.advance(minutes=1)
            ok(api.put(f"/incidents/{incident['Id']}/acknowledge"))
            clock.advance(minutes=2)
            jobs.run_once()
            assert not twilio.calls  # the call at minute 5 was cancelled
            items = ok(api.get(f"/incidents/{incident['Id']}/notifications"))["Items"]
            states = {n["Type"]: n["Status"] for n in items}
            assert states == {"push": "sent", "sms": "sent", "voice": "cancelled"}, states
    finally:
        push.close()


def test_when_every_method_fails_the_timeline_and_the_team_channel_say_so(api, twilio, ana):
    dead = "+4915199999999"
    twilio.invalid_numbers.add(dead)
    vouched(api, ana, "sms", dead)
    rule(api, ana, vouched(api, ana, "voice", dead), 0)
    incident = ok(api.post("/incidents", json={"Body": "checkout down"}))
    api.jobs.run_once()
    states = [n["Status"] for n in
              ok(api.get(f"/incidents/{incident['Id']}/notifications"))["Items"]]  # fmt: skip
    assert states == ["failed", "failed"], states
    said = timeline(api, incident["Id"])
    assert said.count("paged Ana X: every method failed") == 1, said
    told = api.app.state.store.rows("SELECT text FROM outbox WHERE kind = 'unreachable'")
    assert len(told) == 1 and "Could not reach Ana X <@ana>" in told[0]["text"]
    assert f"incident #{incident['Id']}: every contact method failed" in told[0]["text"]


def test_one_method_failing_while_another_works_is_not_every_method(api, twilio, ana):
    twilio.invalid_numbers.add("+4915199999999")
    vouched(api, ana, "sms", "+4915199999999")
    rule(api, ana, vouched(api, ana, "voice", ANA_PHONE), 0)
    incident = ok(api.post("/incidents", json={"Body": "checkout down"}))
    api.jobs.run_once()
    assert "every method failed" not in " ".join(timeline(api, incident["Id"]))
    assert not api.app.state.store.rows("SELECT id FROM outbox WHERE kind = 'unreachable'")


def test_twilio_reports_a_text_delivered_and_a_call_not_answered(api, twilio, ana):
    vouched(api, ana, "sms", ANA_PHONE)
    rule(api, ana, vouched(api, ana, "voice", ANA_PHONE), 0)
    incident = ok(api.post("/incidents", json={"Body": "checkout down"}))
    api.jobs.run_once()
    callback = f"{PUBLIC_API}/integrations/twilio/status"
    assert twilio.messages[-1]["StatusCallback"] == callback
    assert twilio.calls[-1]["StatusCallback"] == callback
    text_sid, call_sid = "SM" + "0" * 31 + "1", "CA" + "0" * 31 + "1"
    status = "/integrations/twilio/status"
    forged = from_twilio(api, status, {"MessageSid": text_sid, "MessageStatus": "delivered"},
                         token="not-the-auth-token")  # fmt: skip
    assert forged.status_code == 403
    from_twilio(api, status, {"MessageSid": text_sid, "MessageStatus": "sent"})  # not final
    assert from_twilio(api, status, {"MessageSid": text_sid, "MessageStatus": "delivered"}
                       ).status_code == 204  # fmt: skip
    from_twilio(api, status, {"CallSid": call_sid, "CallStatus": "no-answer"})
    from_twilio(api, status, {"CallSid": call_sid, "CallStatus": "completed"})  # late: ignored
    items = ok(api.get(f"/incidents/{incident['Id']}/notifications"))["Items"]
    by_type = {n["Type"]: n for n in items}
    assert by_type["sms"]["Status"] == "delivered" and by_type["sms"]["DeliveredAt"]
    assert by_type["voice"]["Status"] == "failed"
    assert by_type["voice"]["Error"] == "Twilio: call no-answer"
    said = timeline(api, incident["Id"])
    assert "paged Ana X by sms: delivered 09:00:00 UTC" in said, said
    assert "paged Ana X by voice: failed (Twilio: call no-answer)" in said
    assert not any("every method failed" in line for line in said)  # the text reached her


def test_a_signed_reply_sent_again_later_acts_only_once(api, twilio, ana):
    verified_number(api, twilio, ana, "sms")
    first = ok(api.post("/incidents", json={"Body": "disk full"}))
    api.jobs.run_once()
    reply = {"From": ANA_PHONE, "Body": "2", "MessageSid": "SM" + "7" * 32}
    assert "resolved" in from_twilio(api, "/integrations/twilio/sms", reply).text
    second = ok(api.post("/incidents", json={"Body": "queue stuck"}))
    api.jobs.run_once()
    replayed = from_twilio(api, "/integrations/twilio/sms", reply)  # the same signed request
    assert "handled already" in replayed.text
    assert ok(api.get(f"/incidents/{second['Id']}"))["Status"] == "triggered"
    assert ok(api.get(f"/incidents/{first['Id']}"))["Status"] == "resolved"


def test_a_reply_to_a_page_older_than_a_day_gets_a_clear_answer(api, twilio, ana, clock):
    verified_number(api, twilio, ana, "sms")
    incident = ok(api.post("/incidents", json={"Body": "disk full"}))
    api.jobs.run_once()
    clock.advance(hours=25)
    late = from_twilio(api, "/integrations/twilio/sms", {"From": ANA_PHONE, "Body": "1"})
    assert "no page from us" in late.text
    assert ok(api.get(f"/incidents/{incident['Id']}"))["Status"] == "triggered"


def test_a_huge_or_field_stuffed_form_is_refused_before_any_work(api, twilio):
    stuffed = "&".join(f"f{n}=x" for n in range(5000))
    answer = api.post("/integrations/twilio/sms", content=stuffed,
                      headers={"Content-Type": "application/x-www-form-urlencoded",
                               "X-Twilio-Signature": "x"})  # fmt: skip
    assert answer.status_code == 403 and "too many form fields" in answer.text
    big = "Body=" + "x" * (65 * 1024)
    too_big = api.post("/integrations/twilio/sms", content=big,
                       headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert too_big.status_code == 413
