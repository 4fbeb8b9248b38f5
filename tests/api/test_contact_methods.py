"""Contact methods through the API, delivered to real servers on 127.0.0.1: an SMTP server
(aiosmtpd) gets the verification code and the test, a webhook receiver checks the signature, an
ntfy stand-in gets the push. Who may see and change whose methods; addresses checked and
masked; codes that expire, run out of tries and are never kept once sent."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterator

import pytest
from fake_mail import FakeMail, plain_text
from fake_receiver import Receiver
from fastapi.testclient import TestClient
from pydantic import SecretStr

from oncall_opt.api import create_app
from oncall_opt.engine.jobs import notify
from oncall_opt.engine.settings import Settings

LOCAL = "http://127.0.0.1"
TOKEN = "contact-methods-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


def ok(response, status: int = 200):
    assert response.status_code == status, response.text
    return response.json()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def settings_for(mail: FakeMail | None = None, **extra) -> Settings:
    return Settings(api_token=SecretStr(TOKEN), **(mail.settings() if mail else {}), **extra)


@pytest.fixture
def api(store, clock, mail):
    app = create_app(store, settings_for(mail), clock, run_jobs=False)
    with TestClient(base_url=LOCAL, app=app) as client:
        client.settings = app.state.settings
        yield client


def person(api, handle: str, role: str = "member") -> dict:
    body = {"FirstName": handle.title(), "LastName": "X", "SlackHandle": handle, "Role": role}
    user = ok(api.post("/users", json=body, headers=ADMIN))
    key = ok(api.post(f"/users/{user['Id']}/api-keys", json={"Name": "k"}, headers=ADMIN), 201)
    return {**user, "headers": {"Authorization": f"Bearer {key['Key']}"}}


def add(api, who: dict, body: dict) -> dict:
    return ok(api.post(f"/users/{who['Id']}/contact-methods", json=body, headers=who["headers"]),
              201)  # fmt: skip


def run_notify(api, store, clock) -> dict[str, int]:
    return notify.run(store, clock.now(), api.settings)


def code_in(message) -> str:
    found = re.search(r"\b(\d{6})\b", plain_text(message))
    assert found, plain_text(message)
    return found.group(1)


def test_an_email_method_is_verified_by_the_code_mailed_to_it(api, store, clock, mail):
    ana = person(api, "ana")
    body = {"Type": "email", "Address": "ana@example.com", "Name": "work"}
    made = add(api, ana, body)
    assert made["Verified"] is False and made["Address"] == "ana@example.com"
    assert made["Secret"] is None
    assert run_notify(api, store, clock)["sent"] == 1
    [sent] = mail.take(1)
    assert sent["To"] == "ana@example.com" and "verification code" in sent["Subject"]
    code = code_in(sent)
    stored = json.dumps(store.rows("SELECT * FROM notifications"), default=str)
    stored += json.dumps(store.rows("SELECT * FROM contact_methods"), default=str)
    assert code not in stored  # only a hash of it is kept
    wrong = api.post(f"/contact-methods/{made['Id']}/verify", json={"Code": "000000"},
                     headers=ana["headers"])  # fmt: skip
    assert wrong.status_code == 400 and "tries left" in wrong.json()["message"]
    done = ok(api.post(f"/contact-methods/{made['Id']}/verify", json={"Code": code},
                       headers=ana["headers"]))  # fmt: skip
    assert done["Verified"] is True and done["VerifiedAt"]


def test_a_code_expires_and_runs_out_of_tries_and_a_new_one_can_be_asked_for(
    api, store, clock, mail
):
    ana = person(api, "ana")
    made = ok(api.post(f"/users/{ana['Id']}/contact-methods", headers=ana["headers"],
                       json={"Type": "email", "Address": "ana@example.com"}), 201)  # fmt: skip
    run_notify(api, store, clock)
    first = code_in(mail.take(1)[0])
    for _ in range(5):
        api.post(f"/contact-methods/{made['Id']}/verify", json={"Code": "111111"},
                 headers=ana["headers"])  # fmt: skip
    late = api.post(f"/contact-methods/{made['Id']}/verify", json={"Code": first},
                    headers=ana["headers"])  # fmt: skip
    assert late.status_code == 400 and "tried too often" in late.json()["message"]
    too_soon = api.post(f"/contact-methods/{made['Id']}/verify", headers=ana["headers"])
    assert too_soon.status_code == 429 and "less than a minute ago" in too_soon.text
    clock.advance(minutes=1)
    ok(api.post(f"/contact-methods/{made['Id']}/verify", headers=ana["headers"]))  # a new code
    run_notify(api, store, clock)
    second = code_in(mail.take(1)[0])
    clock.advance(minutes=16)
    expired = api.post(f"/contact-methods/{made['Id']}/verify", json={"Code": second},
                       headers=ana["headers"])  # fmt: skip
    assert expired.status_code == 400 and "expired" in expired.json()["message"]
    vouched = ok(api.post(f"/contact-methods/{made['Id']}/verify", json={"Verified": True},
                          headers=ADMIN))  # fmt: skip
    assert vouched["Verified"] is True


def test_addresses_are_checked_and_a_kind_not_set_up_is_refused(store, clock, mail):
    app = create_app(store, settings_for(None), clock, run_jobs=False)  # no SMTP server
    with TestClient(base_url=LOCAL, app=app) as api:
        ana = person(api, "ana")
        url = f"/users/{ana['Id']}/contact-methods"
        refused = api.post(url, json={"Type": "email", "Address": "a@b.co"}, headers=ADMIN)
        assert refused.status_code == 400 and "ONCALL_SMTP_HOST" in refused.json()["message"]
        for body, words in (
            ({"Type": "push", "Address": "https://127.0.0.1/topic"}, "non-public"),
            ({"Type": "push", "Address": "https://93.184.216.34/"}, "topic"),
            ({"Type": "webhook", "Address": "http://93.184.216.34/hook"}, "https"),
            ({"Type": "fax", "Address": "123"}, "Type"),
        ):
            response = api.post(url, json=body, headers=ADMIN)
            assert response.status_code == 400 and words in response.json()["message"], body
        assert ok(api.get(url, headers=ADMIN))["Items"] == []
        assert ok(api.get(url, headers=ADMIN))["Available"]["email"].startswith("ONCALL_SMTP")


def test_an_email_address_that_is_not_one_names_the_field(api, mail):
    ana = person(api, "ana")
    for address in ("ana", "ana@", "ana@example", "a b@example.com", "<ana@example.com>"):
        response = api.post(f"/users/{ana['Id']}/contact-methods", headers=ana["headers"],
                            json={"Type": "email", "Address": address})  # fmt: skip
        assert response.status_code == 400 and "Address" in response.json()["message"], address


def test_only_the_person_and_admins_see_and_change_their_methods(api, mail):
    ana, ben = person(api, "ana"), person(api, "ben")
    made = ok(api.post(f"/users/{ana['Id']}/contact-methods", headers=ana["headers"],
                       json={"Type": "email", "Address": "ana@example.com"}), 201)  # fmt: skip
    mid = made["Id"]
    for method, path, body in (
        ("GET", f"/users/{ana['Id']}/contact-methods", None),
        ("POST", f"/users/{ana['Id']}/contact-methods",
         {"Type": "email", "Address": "ben@example.com"}),
        ("PUT", f"/contact-methods/{mid}", {"Address": "ben@example.com"}),
        ("DELETE", f"/contact-methods/{mid}", None),
        ("POST", f"/contact-methods/{mid}/verify", {"Code": "123456"}),
        ("POST", f"/contact-methods/{mid}/test", None),
    ):  # fmt: skip
        response = api.request(method, path, json=body, headers=ben["headers"])
        assert response.status_code == 403, (method, path, response.text)
    assert (
        ok(api.get(f"/users/{ana['Id']}/contact-methods", headers=ADMIN))["Items"][0]["Address"]
        == "ana@example.com"
    )
    own = api.post(f"/contact-methods/{mid}/verify", json={"Verified": True},
                   headers=ana["headers"])  # fmt: skip
    assert own.status_code == 403  # only an admin vouches


def test_a_test_is_sent_now_and_a_mail_server_that_is_down_means_try_again(api, store, clock, mail):
    ana = person(api, "ana")
    made = ok(api.post(f"/users/{ana['Id']}/contact-methods", headers=ana["headers"],
                       json={"Type": "email", "Address": "ana@example.com"}), 201)  # fmt: skip
    run_notify(api, store, clock)
    code = code_in(mail.take(1)[0])
    unverified = api.post(f"/contact-methods/{made['Id']}/test", headers=ana["headers"])
    assert unverified.status_code == 409 and "verify this method first" in unverified.text
    ok(api.post(f"/contact-methods/{made['Id']}/verify", json={"Code": code},
                headers=ana["headers"]))  # fmt: skip
    sent = ok(api.post(f"/contact-methods/{made['Id']}/test", headers=ana["headers"]))
    assert sent["Status"] == "sent" and sent["Kind"] == "test"
    assert "test" in plain_text(mail.take(1)[0])
    mail.stop()
    later = ok(api.post(f"/contact-methods/{made['Id']}/test", headers=ana["headers"]))
    assert later["Status"] == "queued" and "not reachable" in later["Error"], later


def test_a_webhook_is_signed_with_its_secret_shown_once(store, clock, receiver):
    app = create_app(store, settings_for(None, allow_private_webhooks=True), clock,
                     run_jobs=False)  # fmt: skip
    with TestClient(base_url=LOCAL, app=app) as api:
        ana = person(api, "ana")
        made = ok(api.post(f"/users/{ana['Id']}/contact-methods", headers=ana["headers"],
                           json={"Type": "webhook", "Address": f"{receiver.url}/hook/s3cr3t"}),
                  201)  # fmt: skip
        assert made["Verified"] is True and made["Secret"].startswith("whsec_")
        assert made["Address"] == f"{receiver.url}/…"  # the path is a secret
        listed = ok(api.get(f"/users/{ana['Id']}/contact-methods", headers=ana["headers"]))
        assert "s3cr3t" not in json.dumps(listed) and made["Secret"] not in json.dumps(listed)
        sent = ok(api.post(f"/contact-methods/{made['Id']}/test", headers=ana["headers"]))
        assert sent["Status"] == "sent"
        [(headers, body, path)] = receiver.posts
        assert path == "/hook/s3cr3t"
        stamp = headers["X-Oncall-Timestamp"]
        mac = hmac.new(made["Secret"].encode(), stamp.encode() + b"." + body, hashlib.sha256)
        assert headers["X-Oncall-Signature"] == "sha256=" + mac.hexdigest()
        assert json.loads(body)["subject"].startswith("Test")


def test_a_push_goes_to_the_ntfy_topic_with_a_title(store, clock, receiver):
    app = create_app(store, settings_for(None, allow_private_webhooks=True), clock,
                     run_jobs=False)  # fmt: skip
    with TestClient(base_url=LOCAL, app=app) as api:
        ana = person(api, "ana")
        made = add(api, ana, {"Type": "push", "Address": f"{receiver.url}/ana-pager"})
        assert made["Verified"] is False and made["Address"] == f"{receiver.url}/…"
        notify.run(store, clock.now(), app.state.settings)
        [(headers, body, path)] = receiver.posts
        assert path == "/ana-pager" and "verification code" in headers["Title"]
        code = re.search(rb"\b(\d{6})\b", body).group(1).decode()
        done = ok(api.post(f"/contact-methods/{made['Id']}/verify", json={"Code": code},
                           headers=ana["headers"]))  # fmt: skip
        assert done["Verified"] is True


def test_codes_are_rationed_per_method_and_per_person(api, store, clock, mail):
    ana = person(api, "ana")
    made = add(api, ana, {"Type": "email", "Address": "ana@example.com"})
    for _ in range(4):  # five codes in the hour, the first at its making
        clock.advance(minutes=1, seconds=1)
        ok(api.post(f"/contact-methods/{made['Id']}/verify", headers=ana["headers"]))
    clock.advance(minutes=2)
    sixth = api.post(f"/contact-methods/{made['Id']}/verify", headers=ana["headers"])
    assert sixth.status_code == 429 and "in the last hour" in sixth.text
    for n in range(5):  # other methods of hers: ten codes in all within the hour
        add(api, ana, {"Type": "email", "Address": f"ana{n}@example.com"})
    refused = api.post(f"/users/{ana['Id']}/contact-methods", headers=ana["headers"],
                       json={"Type": "email", "Address": "ana9@example.com"})  # fmt: skip
    assert refused.status_code == 429
    listed = api.get(f"/users/{ana['Id']}/contact-methods", headers=ana["headers"]).json()
    assert len(listed["Items"]) == 6  # the refused one was not made
    clock.advance(hours=1)
    ok(api.post(f"/contact-methods/{made['Id']}/verify", headers=ana["headers"]))  # an hour on
