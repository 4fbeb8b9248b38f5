"""Browser notifications (console/alerts.py) in AppTest: off until turned on; then a frame
whose only data is the JSON of the incidents waiting for the person using the console, escaped
into an attribute, and whose only script is the console's own file. The browser side runs in
tests/e2e/test_browser_notify.py."""

from __future__ import annotations

import html
import json
import re

from test_app import api, console, no_errors, user_id  # noqa: F401


def frames(at) -> list[str]:
    return [e.proto.srcdoc for e in at.get("iframe")]


def pages_in(srcdoc: str) -> list[dict]:
    [attribute] = re.findall(r'data-pages="([^"]*)"', srcdoc)
    return json.loads(html.unescape(attribute))


def test_notifications_list_only_what_waits_for_me_and_carry_no_script(api, monkeypatch):  # noqa: F811
    # Two of the demo's waiting incidents for Chloé, one for someone else, and a hostile alert.
    waiting = api.list_incidents("triggered")
    mine = user_id(api, "Chloé")
    for incident in waiting[:-1]:
        api.assign(incident["Id"], mine)
    hostile = api.trigger_incident('"><script>alert(1)</script> & <img src=x onerror=alert(2)>')
    api.assign(hostile["Id"], mine)
    someone_else = next(u["Id"] for u in api.list_users() if u["Id"] != mine)
    api.assign(waiting[-1]["Id"], someone_else)

    at = console(api, monkeypatch, "incidents", me=mine)
    assert not frames(at)  # off until asked for
    at.toggle(key="notify_me").set_value(True).run()
    no_errors(at)
    [srcdoc] = frames(at)
    assert srcdoc.count("<script") == 1 and '<script src="/oncall/notify.js"></script>' in srcdoc
    assert "<img" not in srcdoc and "alert(1)</script>" not in srcdoc
    shown = {p["tag"] for p in pages_in(srcdoc)}
    expected = {f"oncall-incident-{i['Id']}" for i in api.list_incidents("triggered")
                if (i.get("Assignee") or {}).get("Id") == mine}  # fmt: skip
    assert shown == expected and f"oncall-incident-{hostile['Id']}" in shown
    assert f"oncall-incident-{waiting[-1]['Id']}" not in shown  # someone else's now
    page = next(p for p in pages_in(srcdoc) if p["tag"] == f"oncall-incident-{hostile['Id']}")
    assert page["title"].startswith(f'#{hostile["Id"]} "><script>')  # text, for the browser
    assert page["url"].endswith(f"/incidents?incident={hostile['Id']}")

    api.acknowledge(hostile["Id"], user_id=mine)  # acknowledged: no longer waiting
    at.run()
    assert f"oncall-incident-{hostile['Id']}" not in {p["tag"] for p in pages_in(frames(at)[0])}


def test_without_someone_to_notify_it_says_so(api, monkeypatch):  # noqa: F811
    at = console(api, monkeypatch, "incidents")
    at.toggle(key="notify_me").set_value(True).run()
    no_errors(at)
    assert not frames(at)
    assert any("Pick yourself" in c.value for c in at.sidebar.caption)


def test_a_storm_notifies_the_newest_twenty_not_thousands(api, monkeypatch):  # noqa: F811
    mine = user_id(api, "Ben")
    made = []
    for n in range(25):
        incident = api.trigger_incident(f"disk {n} full", dedup_key=f"disk-{n}")
        api.assign(incident["Id"], mine)
        made.append(incident["Id"])
    at = console(api, monkeypatch, "incidents", me=mine)
    at.toggle(key="notify_me").set_value(True).run()
    shown = [p["tag"] for p in pages_in(frames(at)[0])]
    assert shown == [f"oncall-incident-{i}" for i in sorted(made, reverse=True)[:20]]
