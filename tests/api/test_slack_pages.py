"""Slack direct messages and their buttons, with the real `slack_sdk` client against a stand-in
for Slack's Web API on 127.0.0.1: the code and the page arrive as DMs (data escaped), a press
of Acknowledge signed with the app's signing secret acknowledges as the person paged and is
answered in place; a bad signature, a stale timestamp or another Slack user's press changes
nothing."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from fake_slack_api import FakeSlackApi
from fastapi.testclient import TestClient
from pydantic import SecretStr
from slack_sdk.signature import SignatureVerifier

from oncall_opt.api import create_app
from oncall_opt.engine.jobs.loop import JobLoop
from oncall_opt.engine.settings import Settings

LOCAL = "http://127.0.0.1"
SIGNING = "slack-signing-secret-for-tests"


def ok(response, status: int = 200):
    assert response.status_code == status, response.text
    return response.json()


@pytest.fixture
def slack_api() -> Iterator[FakeSlackApi]:
    server = FakeSlackApi()
    yield server
    server.close()


@pytest.fixture
def api(store, clock, slack_api):
    settings = Settings(slack_bot_token=SecretStr(slack_api.token), slack_api_url=slack_api.api_url,
                        slack_signing_secret=SecretStr(SIGNING),
                        public_url="https://oncall.example.com")  # fmt: skip
    app = create_app(store, settings, clock, run_jobs=False)
    with TestClient(base_url=LOCAL, app=app) as client:
        client.jobs = JobLoop(store, settings, clock, sleep=lambda s: None)
        yield client


def texts_of(post: dict) -> str:
    return json.dumps(post["blocks"], ensure_ascii=False) + post.get("text", "")


@pytest.fixture
def paged(api, clock, slack_api):
    """Ana on call, her Slack DM verified by its code; an incident paged to her."""
    ana = ok(api.post("/users", json={"FirstName": "Ana", "LastName": "X", "SlackHandle": "ana"}))
    now = clock.now().isoformat()
    ok(api.post(f"/users/{ana['Id']}/schedules",
                json={"Start": now, "End": "2027-12-31T00:00:00Z"}))  # fmt: skip
    made = ok(api.post(f"/users/{ana['Id']}/contact-methods",
                       json={"Type": "slack", "Address": "U0ANA"}), 201)  # fmt: skip
    assert made["Verified"] is False
    api.jobs.run_once()
    [dm] = slack_api.posted
    assert dm["channel"] == "U0ANA"
    code = re.search(r"\b(\d{6})\b", texts_of(dm)).group(1)
    ok(api.post(f"/contact-methods/{made['Id']}/verify", json={"Code": code}))
    incident = ok(api.post("/incidents", json={"Body": "<!channel> checkout down <@U1>"}))
    api.jobs.run_once()
    page = slack_api.posted[-1]
    buttons = {e["action_id"]: e for b in page["blocks"] if b["type"] == "actions"
               for e in b["elements"]}  # fmt: skip
    return {"ana": ana, "incident": incident, "page": page, "buttons": buttons}


def press(
    api, slack_api, button: dict, user: str, *, secret: str = SIGNING, age: float = 0,
    message: dict | None = None,
):  # fmt: skip
    """Press `button` as Slack would, `message` being the posted message it sits on."""
    payload = {
        "type": "block_actions",
        "user": {"id": user},
        "actions": [{"action_id": button["action_id"], "value": button["value"]}],
        "response_url": f"{slack_api.url}/response/1",
    }
    if message is not None:
        payload["message"] = {"text": message.get("text", ""), "blocks": message["blocks"]}
    body = urlencode({"payload": json.dumps(payload)})
    stamp = str(int(api.app.state.clock.now().timestamp() - age))
    signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
    return api.post(
        "/integrations/slack/interactivity",
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded",
                 "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature},
    )  # fmt: skip


def test_a_page_arrives_as_a_dm_with_buttons_and_its_data_escaped(paged):
    page, incident = paged["page"], paged["incident"]
    shown = texts_of(page)
    assert "<!channel>" not in shown and "<@U1>" not in shown and "&lt;!channel&gt;" in shown
    assert f"#{incident['Id']}" in shown
    assert set(paged["buttons"]) == {"acknowledge", "resolve", "open"}
    assert paged["buttons"]["acknowledge"]["value"].startswith("oo_act_")
    assert paged["buttons"]["open"]["url"].endswith(f"/incidents?incident={incident['Id']}")


def test_pressing_acknowledge_acknowledges_as_the_person_paged(api, slack_api, paged):
    iid = paged["incident"]["Id"]
    assert press(api, slack_api, paged["buttons"]["acknowledge"], "U0ANA").status_code == 200
    incident = ok(api.get(f"/incidents/{iid}"))
    assert incident["Status"] == "acknowledged"
    assert incident["AcknowledgedBy"]["Id"] == paged["ana"]["Id"]
    log = [e["Message"] for e in ok(api.get(f"/incidents/{iid}/log"))["Items"]]
    assert "acknowledged via Slack" in log
    assert slack_api.responses[-1]["text"] == "Acknowledged by Ana X"
    again = press(api, slack_api, paged["buttons"]["acknowledge"], "U0ANA")
    assert again.status_code == 200 and "used already" in slack_api.responses[-1]["text"]


def test_the_pressed_dm_says_who_acknowledged_in_place_and_keeps_resolve(api, slack_api, paged):
    iid = paged["incident"]["Id"]
    done = press(api, slack_api, paged["buttons"]["acknowledge"], "U0ANA", message=paged["page"])
    assert done.status_code == 200
    answer = slack_api.responses[-1]
    assert answer["replace_original"] is True and answer["text"] == "Acknowledged by Ana X"
    shown = json.dumps(answer["blocks"])
    assert "Acknowledged by Ana X" in shown and f"#{iid}" in shown  # the page's text stays
    left = {e["action_id"] for b in answer["blocks"] if b["type"] == "actions"
            for e in b["elements"]}  # fmt: skip
    assert left == {"resolve", "open"}
    resolve = paged["buttons"]["resolve"]
    press(api, slack_api, resolve, "U0ANA", message={"blocks": answer["blocks"]})
    assert ok(api.get(f"/incidents/{iid}"))["Status"] == "resolved"
    final = slack_api.responses[-1]
    assert final["text"] == "Resolved by Ana X"
    assert [e["action_id"] for b in final["blocks"] if b["type"] == "actions"
            for e in b["elements"]] == ["open"]  # fmt: skip


def test_a_forged_or_stale_press_or_someone_elses_changes_nothing(api, slack_api, paged):
    iid = paged["incident"]["Id"]
    button = paged["buttons"]["acknowledge"]
    forged = press(api, slack_api, button, "U0ANA", secret="not-the-secret")
    assert forged.status_code == 401
    stale = press(api, slack_api, button, "U0ANA", age=6 * 60)  # older than 5 minutes
    assert stale.status_code == 401
    assert press(api, slack_api, button, "U0BEN").status_code == 200  # another Slack user
    assert "for the person it was sent to" in slack_api.responses[-1]["text"]
    assert ok(api.get(f"/incidents/{iid}"))["Status"] == "triggered"
    assert press(api, slack_api, button, "U0ANA").status_code == 200  # Ana's still works
    assert ok(api.get(f"/incidents/{iid}"))["Status"] == "acknowledged"


def test_a_slack_user_that_does_not_exist_fails_the_notification_for_good(api, clock, slack_api):
    ben = ok(api.post("/users", json={"FirstName": "Ben", "LastName": "X", "SlackHandle": "ben"}))
    slack_api.unknown_users.add("U0GONE")
    ok(api.post(f"/users/{ben['Id']}/contact-methods",
                json={"Type": "slack", "Address": "U0GONE"}), 201)  # fmt: skip
    api.jobs.run_once()
    rows = api.app.state.store.rows("SELECT status, last_error FROM notifications")
    assert rows == [{"status": "failed", "last_error": "Slack: user_not_found"}], rows
