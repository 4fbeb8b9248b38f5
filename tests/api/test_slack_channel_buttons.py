"""A team's Slack channel through the Slack app (the team's `SlackChannel`, the app's bot token),
with the real `slack_sdk` client against a stand-in for Slack's Web API on 127.0.0.1: a new
incident's message carries Acknowledge and Resolve buttons (data escaped), a press by a linked
Slack user acts as that person and the message is updated in place; a press by a Slack user
nobody linked, a forged signature or a stale timestamp changes nothing; a team without the app
keeps its incoming webhook, with a link instead of buttons."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from fake_receiver import Receiver
from fake_slack_api import FakeSlackApi
from fastapi.testclient import TestClient
from pydantic import SecretStr
from test_slack_pages import SIGNING, ok, press, texts_of

from oncall_opt.api import create_app
from oncall_opt.engine.jobs.loop import JobLoop
from oncall_opt.engine.settings import Settings

LOCAL = "http://127.0.0.1"
OPS = "C0OPS1234"


@pytest.fixture
def slack_api() -> Iterator[FakeSlackApi]:
    server = FakeSlackApi()
    yield server
    server.close()


def make_api(store, clock, settings: Settings):
    app = create_app(store, settings, clock, run_jobs=False)
    client = TestClient(base_url=LOCAL, app=app)
    client.jobs = JobLoop(store, settings, clock, sleep=lambda s: None)
    return client


@pytest.fixture
def api(store, clock, slack_api):
    settings = Settings(slack_bot_token=SecretStr(slack_api.token), slack_api_url=slack_api.api_url,
                        slack_signing_secret=SecretStr(SIGNING), slack_min_interval=0,
                        public_url="https://oncall.example.com", channel_links=True)  # fmt: skip
    with make_api(store, clock, settings) as client:
        yield client


def linked(api, slack_api, first: str, slack_user: str) -> dict:
    """A person whose Slack account is linked: their Slack contact method, verified by the
    code the app sent them."""
    person = ok(api.post("/users", json={"FirstName": first, "LastName": "X",
                                         "SlackHandle": first.lower()}), 200)  # fmt: skip
    made = ok(api.post(f"/users/{person['Id']}/contact-methods",
                       json={"Type": "slack", "Address": slack_user}), 201)  # fmt: skip
    api.jobs.run_once()
    dm = next(p for p in reversed(slack_api.posted) if p["channel"] == slack_user)
    code = re.search(r"\b(\d{6})\b", texts_of(dm)).group(1)
    ok(api.post(f"/contact-methods/{made['Id']}/verify", json={"Code": code}))
    return person


def buttons_of(post: dict) -> dict[str, dict]:
    return {e["action_id"]: e for b in post["blocks"] if b["type"] == "actions"
            for e in b["elements"]}  # fmt: skip


@pytest.fixture
def posted(api, slack_api):
    """The Default team's channel set to OPS; Ben linked; a new incident posted there."""
    ok(api.put("/teams/1", json={"SlackChannel": OPS}))
    ben = linked(api, slack_api, "Ben", "U0BEN")
    incident = ok(api.post("/incidents", json={"Body": "<!channel> checkout down <@U1>"}))
    api.jobs.run_once()
    [post] = [p for p in slack_api.posted if p["channel"] == OPS]
    return {"ben": ben, "incident": incident, "post": post}


def test_a_new_incident_is_posted_to_the_team_channel_with_buttons(posted):
    post, iid = posted["post"], posted["incident"]["Id"]
    shown = texts_of(post)
    assert f"Incident #{iid}" in shown
    assert "<!channel>" not in shown and "<@U1>" not in shown and "&lt;!channel&gt;" in shown
    buttons = buttons_of(post)
    assert set(buttons) == {"incident_acknowledge", "incident_resolve", "open"}
    assert buttons["incident_acknowledge"]["value"] == str(iid)
    assert buttons["open"]["url"] == f"https://oncall.example.com/incidents?incident={iid}"


def test_a_linked_person_acknowledges_then_resolves_from_the_channel(api, slack_api, posted):
    post, iid, ben = posted["post"], posted["incident"]["Id"], posted["ben"]
    pressed = press(api, slack_api, buttons_of(post)["incident_acknowledge"], "U0BEN",
                    message=post)  # fmt: skip
    assert pressed.status_code == 200
    incident = ok(api.get(f"/incidents/{iid}"))
    assert incident["Status"] == "acknowledged"
    assert incident["AcknowledgedBy"]["Id"] == ben["Id"]
    log = [e["Message"] for e in ok(api.get(f"/incidents/{iid}/log"))["Items"]]
    assert "acknowledged via Slack" in log
    answer = slack_api.responses[-1]
    assert answer["replace_original"] is True
    assert "Acknowledged by Ben X" in json.dumps(answer["blocks"])
    assert f"Incident #{iid}" in json.dumps(answer["blocks"])  # the text stays
    assert set(buttons_of(answer)) == {"incident_resolve", "open"}

    press(api, slack_api, buttons_of(answer)["incident_resolve"], "U0BEN", message=answer)
    assert ok(api.get(f"/incidents/{iid}"))["Status"] == "resolved"
    assert set(buttons_of(slack_api.responses[-1])) == {"open"}
    # A second press of the old message's button is answered, privately, and changes nothing.
    press(api, slack_api, buttons_of(post)["incident_acknowledge"], "U0BEN", message=post)
    assert slack_api.responses[-1]["response_type"] == "ephemeral"
    assert ok(api.get(f"/incidents/{iid}"))["Status"] == "resolved"


def test_strangers_forgeries_and_stale_presses_change_nothing(api, slack_api, clock, posted):
    post, iid = posted["post"], posted["incident"]["Id"]
    button = buttons_of(post)["incident_acknowledge"]
    press(api, slack_api, button, "U0NOBODY", message=post)
    told = slack_api.responses[-1]
    assert told["response_type"] == "ephemeral" and "not linked" in told["text"]
    assert press(api, slack_api, button, "U0BEN", secret="not-the-secret").status_code == 401
    assert press(api, slack_api, button, "U0BEN", age=6 * 60).status_code == 401
    forged_value = dict(button, value="1; DROP TABLE incidents")
    assert press(api, slack_api, forged_value, "U0BEN").status_code == 400
    assert ok(api.get(f"/incidents/{iid}"))["Status"] == "triggered"
    # Someone's Slack method that is not verified links nobody.
    cy = ok(api.post("/users", json={"FirstName": "Cy", "LastName": "X", "SlackHandle": "cy"}))
    ok(api.post(f"/users/{cy['Id']}/contact-methods", json={"Type": "slack", "Address": "U0CY"}),
       201)  # fmt: skip
    press(api, slack_api, button, "U0CY", message=post)
    assert "not linked" in slack_api.responses[-1]["text"]
    assert ok(api.get(f"/incidents/{iid}"))["Status"] == "triggered"


def test_a_message_about_several_incidents_has_no_buttons(api, slack_api, posted):
    for n in range(6):  # more than a few at once: one summary
        ok(api.post("/incidents", json={"Body": f"disk {n}"}))
    ok(api.post("/incidents/acknowledge_all"))
    api.jobs.run_once()
    summary = [p for p in slack_api.posted if p["channel"] == OPS][-1]
    assert "acknowledged" in summary["text"]
    assert not summary.get("blocks")


def test_the_channel_id_is_checked_and_shown(api):
    refused = api.put("/teams/1", json={"SlackChannel": "#ops"})
    assert refused.status_code == 400 and "SlackChannel" in refused.text
    assert ok(api.get("/teams/1"))["SlackChannel"] is None
    assert ok(api.put("/teams/1", json={"SlackChannel": OPS}))["SlackChannel"] == OPS
    assert ok(api.put("/teams/1", json={"SlackChannel": ""}))["SlackChannel"] is None


def test_without_the_app_a_team_keeps_its_webhook_with_a_link(store, clock, slack_api):
    hook = Receiver()
    try:
        settings = Settings(
            allow_private_webhooks=True, slack_min_interval=0,
            public_url="https://oncall.example.com", channel_links=True,
        )  # fmt: skip
        with make_api(store, clock, settings) as api:
            ok(api.put("/teams/1", json={"SlackChannel": OPS, "SlackWebhookUrl": hook.url}))
            iid = ok(api.post("/incidents", json={"Body": "db slow"}))["Id"]
            api.jobs.run_once()
            [got] = hook.bodies()
            assert got["text"].endswith(
                f"<https://oncall.example.com/incidents?incident={iid}|Open incident #{iid}>"
            )
            assert "blocks" not in got
            assert slack_api.posted == []
    finally:
        hook.close()


def test_a_press_answers_only_to_slack_and_a_slack_id_links_one_person(api, slack_api, posted):
    """A response_url elsewhere (even in a signed request) gets nothing; a second person cannot
    verify the same Slack member id (a press acts as the one who owns it)."""
    elsewhere = Receiver()
    try:
        button = buttons_of(posted["post"])["incident_acknowledge"]
        payload_url = f"{elsewhere.url}/steal"
        body = {"type": "block_actions", "user": {"id": "U0BEN"},
                "actions": [{"action_id": button["action_id"], "value": button["value"]}],
                "response_url": payload_url}  # fmt: skip
        from urllib.parse import urlencode

        from slack_sdk.signature import SignatureVerifier

        form = urlencode({"payload": json.dumps(body)})
        stamp = str(int(api.app.state.clock.now().timestamp()))
        signature = SignatureVerifier(SIGNING).generate_signature(timestamp=stamp, body=form)
        done = api.post("/integrations/slack/interactivity", content=form, headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature})  # fmt: skip
        assert done.status_code == 200
        assert ok(api.get(f"/incidents/{posted['incident']['Id']}"))["Status"] == "acknowledged"
        assert elsewhere.bodies() == []  # nothing went to a URL that is not Slack's
    finally:
        elsewhere.close()
    mallory = ok(api.post("/users", json={"FirstName": "Mal", "LastName": "X",
                                          "SlackHandle": "mal"}))  # fmt: skip
    made = ok(api.post(f"/users/{mallory['Id']}/contact-methods",
                       json={"Type": "slack", "Address": "U0BEN"}), 201)  # fmt: skip
    api.jobs.run_once()
    dm = next(p for p in reversed(slack_api.posted) if p["channel"] == "U0BEN")
    assert "Never give it to anyone" in texts_of(dm)
    code = re.search(r"\b(\d{6})\b", texts_of(dm)).group(1)  # Ben was talked into telling it
    refused = api.post(f"/contact-methods/{made['Id']}/verify", json={"Code": code})
    assert refused.status_code == 400 and "already linked to someone else" in refused.text
