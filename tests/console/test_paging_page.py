"""How you are paged, in the console (AppTest against a real daemon on a free port and a real
SMTP server on 127.0.0.1): a person adds an e-mail method, types the code mailed to it, gets
a rule at once, adds a later rule, sees a webhook's secret once and the daemon's missing
providers named; an incident's detail lists its pages and how they went; names typed by people
are shown as text."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fake_mail import plain_text
from live_server import serve
from test_app import console, no_errors, plain, texts

from oncall_opt.api import create_app
from oncall_opt.client import Client
from oncall_opt.engine.jobs import notify
from oncall_opt.engine.settings import Settings
from oncall_opt.engine.store import Store


@pytest.fixture
def daemon(tmp_path, mail) -> Iterator[tuple[Client, Store, Settings]]:
    store = Store(tmp_path / "t.duckdb")
    settings = Settings(**mail.settings(), allow_private_webhooks=True)
    try:
        with serve(create_app(store, settings, run_jobs=False)) as url, Client(url) as api:
            yield api, store, settings
    finally:
        store.close()


def submit(at, label: str) -> None:
    next(b for b in at.get("form_submit_button") if b.label == label).click().run()


def test_a_person_adds_an_email_verifies_it_by_code_and_adds_a_rule(daemon, mail, monkeypatch):
    from datetime import UTC, datetime

    api, store, settings = daemon
    ana = api.create_user("Ana", "**Silva**", "ana")
    at = console(api, monkeypatch, "people", me=ana["Id"])
    no_errors(at)
    assert "No contact method yet" in texts(at)
    assert "SMS" in texts(at) and "ONCALL_TWILIO_ACCOUNT_SID" in texts(at)  # not set up here

    at.selectbox(key="method_type").set_value("email").run()
    at.text_input(key="method_address").input("ana@example.com")
    at.text_input(key="method_name").input("work <b>mail</b>")
    submit(at, "Add method")
    no_errors(at)
    assert "A code is on its way" in texts(at)
    assert "waiting for its code" in texts(at)
    assert any("work \\<b\\>mail\\<\\/b\\>" in m.value for m in at.markdown), "as text"

    notify.run(store, datetime.now(UTC), settings)
    code = re.search(r"\b(\d{6})\b", plain_text(mail.take(1)[0])).group(1)
    [method] = api.contact_methods(ana["Id"])["Items"]
    at.text_input(key=f"verify-code-{method['Id']}").input(code)
    submit(at, "Verify")
    no_errors(at)
    assert "Verified: pages can go there now." in texts(at)
    assert api.contact_methods(ana["Id"])["Items"][0]["Verified"] is True
    body = texts(at)
    assert body.count("E-mail (work <b>mail</b>), at once") == 2  # high and low urgency

    at.number_input(key="rule_delay").set_value(15)
    at.selectbox(key="rule_urgency").set_value("low")
    submit(at, "Add rule")
    no_errors(at)
    rules = {(r["DelayMinutes"], r["Urgency"]) for r in api.notification_rules(ana["Id"])}
    assert rules == {(0, "high"), (0, "low"), (15, "low")}
    assert "E-mail (work <b>mail</b>), after 15 min" in texts(at)


def test_a_webhook_secret_is_shown_once_and_a_method_can_be_removed(daemon, monkeypatch):
    api, _, _ = daemon
    ana = api.create_user("Ana", "Silva", "ana")
    at = console(api, monkeypatch, "people", me=ana["Id"])
    at.selectbox(key="method_type").set_value("webhook").run()
    at.text_input(key="method_address").input("http://127.0.0.1:9/hook/SECRET-PATH")
    submit(at, "Add method")
    no_errors(at)
    [secret] = [c.value for c in at.code]
    assert "signing secret" in texts(at) and len(secret) >= 32
    shown = texts(at)
    assert "SECRET-PATH" not in shown and "http://127.0.0.1:9/…" in shown
    at.run()
    assert not at.code, "the secret is shown once"
    [method] = api.contact_methods(ana["Id"])["Items"]
    at.button(key=f"method-remove-{method['Id']}").click().run()
    no_errors(at)
    assert api.contact_methods(ana["Id"])["Items"] == []


def test_an_incident_lists_its_pages_and_how_they_went(daemon, mail, monkeypatch):
    from datetime import UTC, datetime, timedelta

    api, store, settings = daemon
    ana = api.create_user("Ana", "Silva", "ana")
    now = datetime.now(UTC)
    api.create_schedule(ana["Id"], now - timedelta(hours=1), now + timedelta(hours=2))
    method = api.add_contact_method(ana["Id"], "email", "ana@example.com")
    api.verify_contact_method(method["Id"], verified=True)
    incident = api.trigger_incident("checkout down")
    notify.run(store, datetime.now(UTC), settings)
    mail.take(1)
    at = console(api, monkeypatch, "incidents", me=ana["Id"])
    at.session_state["inc_detail"] = incident["Id"]
    at.run()
    no_errors(at)
    frames = [f.value for f in at.dataframe]
    pages = next(f for f in frames if "By" in getattr(f, "columns", []))
    assert list(pages["Person"]) == ["Ana Silva"] and list(pages["By"]) == ["E-mail"]
    assert list(pages["State"]) == ["sent"]
    assert "Pages" in plain(" ".join(m.value for m in at.markdown))


def test_a_pages_link_opens_that_incident(daemon, monkeypatch):
    api, _, _ = daemon
    incident = api.trigger_incident("checkout down")
    at = console(api, monkeypatch, "incidents")
    at.query_params["incident"] = str(incident["Id"])
    at.run()
    no_errors(at)
    assert any(f"Incident #{incident['Id']}" in m.value for m in at.markdown)
    assert at.query_params["incident"] == str(incident["Id"])  # its address while open
    for bad in ("not-a-number", "²", "9" * 40):  # "²" is a digit to str.isdigit
        at.query_params["incident"] = bad
        at.run()
        no_errors(at)
