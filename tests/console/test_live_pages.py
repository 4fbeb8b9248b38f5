"""On call now as a wallboard (redrawn on its own, the tab title naming who is on call, the
charts told in words), one colour per person on every page, the Slack log without "None", and
the sidebar's choices kept in the address so a reload or a bookmark remembers them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from test_app import (  # noqa: F401
    _plan_window,
    api,
    console,
    no_errors,
    plain,
    seeded,
    texts,
    user_id,
)

from oncall_opt.console import shifts
from oncall_opt.roster import charts


def _title(at) -> str:
    return at.session_state["_oncall_title"]


def test_on_call_now_redraws_itself_and_names_who_is_on_call_in_the_title(
    api,  # noqa: F811
    monkeypatch,
):
    now = datetime.now(UTC)
    ana, ben = user_id(api, "Ana"), user_id(api, "Ben")
    api.create_schedule(ana, now - timedelta(hours=1), now + timedelta(hours=3))
    api.request("POST", "/incidents/acknowledge_all")  # the demo's: none waits
    at = console(api, monkeypatch)
    no_errors(at)
    assert _title(at) == "On call: Ana"
    # Set by Streamlit as text (st.set_page_config), never written into a script: no HTML
    # element on the page carries script (the browser tests read the tab's title itself).
    bodies = [h.proto.body for h in at.get("html")]
    assert not any("<script" in body.lower() for body in bodies), bodies
    assert "refreshes every" in texts(at)

    # A secondary is published meanwhile: the next redraw names both.
    api.create_schedule(ben, now - timedelta(hours=1), now + timedelta(hours=3), layer=2)
    api.trigger_incident("Disk full")  # and one waits for an acknowledgement: counted
    at.run()
    assert _title(at) == "(1) On call: Ana (Primary), Ben (Secondary)"
    assert any(plain(c.value).startswith("Next: Ben") for c in at.caption), "the chart in words"


def _colours(at) -> dict[str, str]:
    """Person -> colour in every chart of the page (one mapping, or the test fails)."""
    found: dict[str, str] = {}

    def scales(node):
        if isinstance(node, dict):
            scale = node.get("scale")
            if isinstance(scale, dict) and "range" in scale and "domain" in scale:
                yield scale
            for value in node.values():
                yield from scales(value)
        elif isinstance(node, list):
            for value in node:
                yield from scales(value)

    for chart in at.get("vega_lite_chart"):
        for scale in scales(json.loads(chart.proto.spec)):
            for name, colour in zip(scale["domain"], scale["range"], strict=True):
                assert found.setdefault(name, colour) == colour, (name, colour, found[name])
    return found


def test_each_person_has_one_colour_everywhere(seeded, monkeypatch):  # noqa: F811
    on_call = _colours(console(seeded, monkeypatch))
    planner = console(seeded, monkeypatch, "planner")
    _plan_window(planner, days=7)
    planner.button(key="pl_solve").click().run()
    no_errors(planner)
    planned = _colours(planner)
    shared = set(on_call) & set(planned) - {shifts.GAP}
    assert len(shared) >= 3, (on_call, planned)
    assert {n: on_call[n] for n in shared} == {n: planned[n] for n in shared}
    people = [n for n in planned if n != shifts.GAP]
    assert len({planned[n] for n in people}) == len(people), "no two people share a colour"
    assert set(planned.values()) <= set(charts.PALETTE) | {shifts.GAP_COLOR}


def test_the_slack_log_shows_no_none(api, monkeypatch):  # noqa: F811
    api.send_test_message("hello from the test")
    at = console(api, monkeypatch, "people")
    no_errors(at)
    [log] = [d for d in at.dataframe if "Sent" in d.value.columns]
    assert log.value["Sent"].isna().any()  # pending: empty cells, not the text "None"
    assert "None" not in set(log.value["Sent"].astype(str)) - {"NaT"}
    assert "as of" in texts(at)


def test_who_you_are_and_the_zone_are_kept_in_the_address(seeded, monkeypatch):  # noqa: F811
    ana = user_id(seeded, "Ana")
    at = console(seeded, monkeypatch)
    at.sidebar.selectbox(key="me").set_value(ana).run()
    at.sidebar.selectbox(key="tz").set_value("Asia/Tokyo").run()
    assert at.query_params["me"] == [str(ana)] or at.query_params["me"] == str(ana)

    # A new browser session with that address: the same choices, nobody picks again.
    monkeypatch.setenv("ONCALL_API_URL", seeded.base_url)
    from streamlit.testing.v1 import AppTest
    from test_app import APP

    again = AppTest.from_file(APP, default_timeout=60)
    again.query_params["me"] = str(ana)
    again.query_params["tz"] = "Asia/Tokyo"
    again.run()
    no_errors(again)
    assert again.session_state["me"] == ana
    assert "Times in Asia/Tokyo" in texts(again)


def test_the_incidents_page_asks_who_you_are_when_the_sidebar_is_out_of_sight(
    api,  # noqa: F811
    monkeypatch,
):
    ben = user_id(api, "Ben")
    at = console(api, monkeypatch, "incidents")
    no_errors(at)
    at.selectbox(key="me_inline").set_value(ben).run()
    no_errors(at)
    assert at.session_state["me"] == ben
    assert at.query_params["me"] in (str(ben), [str(ben)])
    assert not [s for s in at.selectbox if s.key == "me_inline"], "asked once, then not again"
    triggered = next(i for i in api.list_incidents("triggered"))
    at.button(key=f"ack-{triggered['Id']}").click().run()
    assert api.get_incident(triggered["Id"])["AcknowledgedBy"]["Id"] == ben
