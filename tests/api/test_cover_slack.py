"""A cover ask as a Slack DM (the real `slack_sdk` client against a stand-in for Slack's Web
API on 127.0.0.1): it carries Accept and Decline buttons; a press by someone else changes
nothing, the press of the person asked accepts, and the message then says so in place."""

from __future__ import annotations

import json
import re
from datetime import timedelta

from test_slack_pages import api, ok, press, slack_api, texts_of  # noqa: F401


def test_accept_pressed_in_slack_by_the_person_asked_covers_it(api, slack_api, clock):  # noqa: F811
    people = {}
    for first in ("ana", "ben"):
        people[first] = ok(api.post("/users", json={"FirstName": first.title(), "LastName": "X",
                                                    "SlackHandle": first}))  # fmt: skip
    start = clock.now() + timedelta(days=1)
    stretch = {"Start": start.isoformat(), "End": (start + timedelta(hours=12)).isoformat()}
    ok(api.post(f"/users/{people['ana']['Id']}/schedules", json=stretch))
    made = ok(api.post(f"/users/{people['ben']['Id']}/contact-methods",
                       json={"Type": "slack", "Address": "U0BEN"}), 201)  # fmt: skip
    api.jobs.run_once()
    code = re.search(r"\b(\d{6})\b", texts_of(slack_api.posted[-1])).group(1)
    ok(api.post(f"/contact-methods/{made['Id']}/verify", json={"Code": code}))

    request = ok(api.post("/teams/1/cover", json=stretch), 201)
    assert request["Asked"]["FirstName"] == "Ben"
    api.jobs.run_once()
    ask = slack_api.posted[-1]
    assert ask["channel"] == "U0BEN" and "Could you cover Ana X?" in texts_of(ask)
    buttons = {e["action_id"]: e for b in ask["blocks"] if b["type"] == "actions"
               for e in b["elements"]}  # fmt: skip
    assert set(buttons) == {"accept", "decline", "open"}
    assert buttons["open"]["url"].endswith(f"/rota?tab=Cover&cover={request['Id']}")

    assert press(api, slack_api, buttons["accept"], "U0MALLORY").status_code == 200
    assert "for the person it was sent to" in slack_api.responses[-1]["text"]
    assert ok(api.get(f"/cover/{request['Id']}"))["Status"] == "asking"

    press(api, slack_api, buttons["accept"], "U0BEN", message=ask)
    answer = slack_api.responses[-1]
    assert answer["text"] == "Accepted: Ben X covers Ana X" and answer["replace_original"]
    left = [e["action_id"] for b in answer["blocks"] if b["type"] == "actions"
            for e in b["elements"]]  # fmt: skip
    assert left == ["open"] and "Accepted: Ben X covers Ana X" in json.dumps(answer["blocks"])
    covered = ok(api.get(f"/cover/{request['Id']}"))
    assert covered["Status"] == "covered" and covered["CoveredBy"]["FirstName"] == "Ben"
    assert covered["Outcome"] == "accepted by Ben X (Slack)"
