"""The Incidents page with `streamlit.testing.v1.AppTest` against a real daemon on a free port,
with incidents made through the API for each test: rows stay where they are when acted on
(newest first by when they were opened), what was done shows on the row itself, Resolve offers
Undo for a while and Undo reopens the incident, every row's assignee box has its own label, the
test incident dialog, and the timeline's times sort as times."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from live_server import serve
from pandas.api.types import is_datetime64_any_dtype
from streamlit.testing.v1 import AppTest

from oncall_opt.api import create_app
from oncall_opt.client import Client
from oncall_opt.engine.settings import Settings
from oncall_opt.engine.store import Store

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app_streamlit.py")
PAGE = "oncall_opt/console/pages/incidents.py"
DONE = "_inc_done"  # the page's marks of what this viewer just did (incidents.DONE)


@pytest.fixture(autouse=True)
def _console_env(monkeypatch):
    monkeypatch.setenv("ONCALL_UI_TIME_ZONE", "Europe/Berlin")
    monkeypatch.delenv("ONCALL_API_TOKEN", raising=False)


@pytest.fixture
def api(tmp_path) -> Iterator[Client]:
    """A daemon of its own with two people and five incidents, oldest first: #1 triggered, #2
    acknowledged by Ana, #3 triggered, #4 acknowledged by Ben, #5 triggered (key `cpu`)."""
    store = Store(tmp_path / "t.duckdb")
    try:
        with serve(create_app(store, Settings(), run_jobs=False)) as url, Client(url) as client:
            ana = client.create_user("Ana", "Silva", "ana")
            ben = client.create_user("Ben", "Okafor", "ben")
            for n, body in enumerate(["Disk full", "Checkout slow", "TLS expiring",
                                      "Queue backlog", "CPU hot"], start=1):  # fmt: skip
                client.trigger_incident(body, "cpu" if n == 5 else None)
            client.acknowledge(2, user_id=ana["Id"])
            client.acknowledge(4, user_id=ben["Id"])
            yield client
    finally:
        store.close()


def console(api: Client, monkeypatch, me: int | None = None) -> AppTest:
    monkeypatch.setenv("ONCALL_API_URL", api.base_url)
    at = AppTest.from_file(APP, default_timeout=60)
    if me is not None:
        at.session_state["me"] = me
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def walk(node) -> Iterator:
    for child in getattr(node, "children", {}).values():
        yield child
        yield from walk(child)


def rows(at: AppTest) -> list[int]:
    """The incident ids of the rows, top to bottom."""
    keys = [getattr(n, "key", None) or "" for n in walk(at.main)]
    return [int(k.removeprefix("incident-")) for k in keys if k.startswith("incident-")]


def row(at: AppTest, incident_id: int):
    return next(n for n in walk(at.main) if getattr(n, "key", None) == f"incident-{incident_id}")


def row_text(at: AppTest, incident_id: int) -> str:
    found = [n.value for n in walk(row(at, incident_id)) if n.type in ("markdown", "caption")]
    return "\n".join(found)


def row_buttons(at: AppTest, incident_id: int) -> list[str]:
    """The keys of the row's buttons, left to right."""
    return [n.key for n in walk(row(at, incident_id)) if n.type == "button"]


def age_marks(at: AppTest, seconds: float) -> None:
    """As if what was done had been done `seconds` earlier (no waiting)."""
    for mark in at.session_state[DONE].values():
        mark["at"] -= seconds


def expire_marks(at: AppTest) -> None:
    """As if the confirmations had been shown for long enough."""
    age_marks(at, 3600)


def later(at: AppTest) -> AppTest:
    """As if two seconds at least had gone by since the last click, so the next one is not
    taken for the second half of a double click (AppTest runs the app in this process: one
    clock)."""
    for mark in at.session_state[DONE].values():
        mark["at"] = min(mark["at"], time.monotonic() - 2)
    return at


def just_now(at: AppTest, incident_id: int) -> None:
    """As if the last action on the row had been this very moment (however slow this run)."""
    at.session_state[DONE][incident_id]["at"] = time.monotonic() + 60


def errors(at: AppTest) -> list[str]:
    assert not at.exception, [e.value for e in at.exception]
    return [e.value for e in at.error]


# ----- the order -----------------------------------------------------------------------------
def test_rows_are_newest_first_and_an_acknowledged_row_keeps_its_place(api, monkeypatch):
    ben = api.list_users()[1]["Id"]
    at = console(api, monkeypatch, me=ben)
    assert rows(at) == [5, 4, 3, 2, 1]  # not triggered first: by when they were opened
    at.button(key="ack-3").click().run()
    assert not errors(at)
    assert api.get_incident(3)["Status"] == "acknowledged"
    assert rows(at) == [5, 4, 3, 2, 1]  # nothing moved
    text = row_text(at, 3)
    assert ":orange-badge[Acknowledged]" in text and "acked" in text and "Ben Okafor" in text
    assert ":material/check: Acknowledged" in text  # where the button was
    assert row_buttons(at, 3) == ["resolve-3", "detail-3"]
    assert any("#3 acknowledged" in t.value for t in at.toast)

    # The next run still shows it; once the confirmation has had its time, it goes.
    at.run()
    assert ":material/check: Acknowledged" in row_text(at, 3)
    expire_marks(at)
    at.run()
    assert ":material/check: Acknowledged" not in row_text(at, 3) and rows(at) == [5, 4, 3, 2, 1]


def test_under_needs_ack_an_acknowledged_row_stays_until_its_confirmation_ends(api, monkeypatch):
    at = console(api, monkeypatch)
    at.segmented_control(key="inc_status").set_value("triggered").run()
    assert rows(at) == [5, 3, 1]
    at.button(key="ack-5").click().run()
    assert not errors(at)
    assert rows(at) == [5, 3, 1]  # the Acknowledge of #3 has not moved up under the pointer
    assert ":orange-badge[Acknowledged]" in row_text(at, 5)
    assert "2 incident(s) · needs ack" in "\n".join(c.value for c in at.caption)
    expire_marks(at)
    at.run()
    assert rows(at) == [3, 1]
    # Another filter is another list: a mark made under one does not keep rows in the other.
    at.button(key="ack-3").click().run()
    at.segmented_control(key="inc_status").set_value("resolved").run()
    assert rows(at) == []


def test_a_new_incident_comes_in_on_top_and_the_others_keep_their_order(api, monkeypatch):
    at = console(api, monkeypatch)
    api.trigger_incident("Search returns 500s")
    at.run()
    assert rows(at) == [6, 5, 4, 3, 2, 1]


# ----- resolve and undo ----------------------------------------------------------------------
def test_resolve_shows_resolved_and_undo_in_place_and_undo_reopens_it(api, monkeypatch):
    ana = api.list_users()[0]["Id"]
    at = console(api, monkeypatch, me=ana)
    at.button(key="resolve-4").click().run()  # acknowledged by Ben
    assert not errors(at)
    assert api.get_incident(4)["Status"] == "resolved"
    assert rows(at) == [5, 4, 3, 2, 1]  # still there, in its place, under "Open"
    assert ":green-badge[Resolved]" in row_text(at, 4)
    assert ":material/task_alt: Resolved] ·" in row_text(at, 4)
    assert row_buttons(at, 4) == ["undo-4", "detail-4"]
    assert "4 incident(s) · open" in "\n".join(c.value for c in at.caption)

    later(at).button(key="undo-4").click().run()
    assert not errors(at)
    reopened = api.get_incident(4)
    assert reopened["Status"] == "acknowledged" and reopened["AcknowledgedBy"]["FirstName"] == "Ben"
    assert reopened["ResolvedAt"] is None
    assert rows(at) == [5, 4, 3, 2, 1]
    assert "reopened" in row_text(at, 4) and ":orange-badge[Acknowledged]" in row_text(at, 4)
    assert row_buttons(at, 4) == ["resolve-4", "detail-4"]
    assert any("#4 reopened (acknowledged)" in t.value for t in at.toast)
    log = api.incident_log(4)
    assert log[-1]["Kind"] == "unresolved" and log[-1]["User"]["Id"] == ana

    at.button(key="resolve-1").click().run()  # a triggered one goes back to triggered
    later(at).button(key="undo-1").click().run()
    assert api.get_incident(1)["Status"] == "triggered"
    assert row_buttons(at, 1) == ["ack-1", "resolve-1", "detail-1"]


def test_undo_lasts_a_while_then_the_resolved_row_leaves_the_open_list(api, monkeypatch):
    at = console(api, monkeypatch)
    at.button(key="resolve-2").click().run()
    assert "undo-2" in row_buttons(at, 2)
    at.run()  # a refresh: still offered
    assert "undo-2" in row_buttons(at, 2)
    expire_marks(at)
    at.run()
    assert rows(at) == [5, 4, 3, 1]
    assert "undo-2" not in [b.key for b in at.button]


def test_an_undo_the_daemon_refuses_says_why_on_the_row(api, monkeypatch):
    at = console(api, monkeypatch)
    at.button(key="resolve-5").click().run()
    again = api.trigger_incident("CPU hot", "cpu")  # the key opens a new incident meanwhile
    assert again["Created"] is True
    later(at).button(key="undo-5").click().run()
    assert not at.exception and not at.error  # no banner on top: the row says it
    assert "Could not undo the resolve" in row_text(at, 5) and "dedup key" in row_text(at, 5)
    assert api.get_incident(5)["Status"] == "resolved"
    assert row_buttons(at, 5) == ["detail-5"]  # no Undo to click again
    assert rows(at)[:2] == [again["Id"], 5]


def test_a_double_click_on_resolve_does_not_undo_it(api, monkeypatch):
    """Undo takes Resolve's place: the second click of a double click that lands on it once the
    row has come back is not an Undo (nor is a second Resolve an error)."""
    at = console(api, monkeypatch)
    at.session_state["_incident_actions"] = [("resolve", 3), ("resolve", 3)]  # in one run
    at.run()
    assert not errors(at) and "Could not" not in row_text(at, 3)
    assert api.get_incident(3)["Status"] == "resolved" and "undo-3" in row_buttons(at, 3)

    just_now(at, 3)
    at.button(key="undo-3").click().run()
    assert api.get_incident(3)["Status"] == "resolved" and "undo-3" in row_buttons(at, 3)

    later(at)
    at.session_state["_incident_actions"] = [("resolve", 3)]  # a slow second click: a 409
    at.run()
    assert "Could not" not in row_text(at, 3) and "undo-3" in row_buttons(at, 3)
    assert [e["Kind"] for e in api.incident_log(3)].count("resolved") == 1

    later(at).button(key="undo-3").click().run()  # a deliberate Undo
    assert api.get_incident(3)["Status"] == "triggered"
    just_now(at, 3)
    at.button(key="resolve-3").click().run()  # Resolve is back where Undo was: not again
    assert api.get_incident(3)["Status"] == "triggered"

    # Other buttons right after an action are meant: Resolve just after Acknowledge, or after
    # a reassignment.
    at.button(key="ack-1").click().run()
    just_now(at, 1)
    at.button(key="resolve-1").click().run()
    assert api.get_incident(1)["Status"] == "resolved"
    at.selectbox(key="assign-2").set_value(api.list_users()[1]["Id"]).run()
    just_now(at, 2)
    at.button(key="resolve-2").click().run()
    assert api.get_incident(2)["Status"] == "resolved"


# ----- accessibility ---------------------------------------------------------------------------
def test_every_rows_assignee_box_has_its_own_label(api, monkeypatch):
    at = console(api, monkeypatch)
    boxes = [s for s in at.selectbox if s.key and s.key.startswith("assign-")]
    assert len(boxes) == 5
    assert [b.label for b in boxes] == [f"Assignee of #{i}" for i in (5, 4, 3, 2, 1)]
    assert len({b.label for b in at.selectbox}) == len(at.selectbox)


def test_few_controls_come_before_the_first_row(api, monkeypatch):
    """Status and search, then "Filters" (team, service, urgency and assignee inside it); "Who
    are you?" first only while the viewer has not said (nobody signed in)."""
    at = console(api, monkeypatch)
    assert [n.key for n in at.main.selectbox][:1] == ["me_inline"]
    ana = next(u["Id"] for u in api.list_users() if u["FirstName"] == "Ana")
    at = console(api, monkeypatch, me=ana)
    first_row = next(n for n in walk(at.main) if (getattr(n, "key", "") or "") == "incident-5")
    before = []
    for node in walk(at.main):
        if node is first_row:
            break
        if node.type in ("button_group", "text_input", "selectbox", "popover", "button"):
            before.append(node.key)
    assert before == ["inc_status", "inc_search", "inc_more_filters",
                      "inc_team", "inc_service", "inc_urgency", "inc_assignee"]  # fmt: skip
    popover = next(n for n in walk(at.main) if getattr(n, "key", None) == "inc_more_filters")
    inside = {getattr(n, "key", None) for n in walk(popover)}
    assert {"inc_team", "inc_service", "inc_urgency", "inc_assignee"} <= inside


# ----- the test incident dialog -----------------------------------------------------------------
def test_a_test_incident_is_sent_from_a_dialog_and_marked_on_its_row(api, monkeypatch):
    at = console(api, monkeypatch)
    assert not [t for t in at.text_area if t.key == "trigger_body"]  # no live form on the page
    at.button(key="trigger_open").click().run()
    [submit] = at.get("form_submit_button")
    submit.click().run()
    assert any("needs a text" in e for e in errors(at))
    assert len(api.list_incidents("all")) == 5

    at.text_area(key="trigger_body").input("Search is returning 500s")
    at.text_input(key="trigger_dedup").input("search-500")
    at.get("form_submit_button")[0].click().run()
    assert not errors(at)
    created = api.list_incidents("all")[0]
    assert created["Body"] == "Search is returning 500s" and created["DedupKey"] == "search-500"
    assert not [t for t in at.text_area if t.key == "trigger_body"]  # the dialog closed
    assert rows(at)[0] == created["Id"] and "just triggered" in row_text(at, created["Id"])
    assert any(f"Incident #{created['Id']} triggered" in t.value for t in at.toast)

    # A second one with the key counts against the first; the form starts empty again.
    at.button(key="trigger_open").click().run()
    assert at.text_area(key="trigger_body").value == ""
    at.text_area(key="trigger_body").input("Search is returning 500s")
    at.text_input(key="trigger_dedup").input("search-500")
    at.get("form_submit_button")[0].click().run()
    assert api.get_incident(created["Id"])["Count"] == 2
    assert "triggered again" in row_text(at, created["Id"])

    # No message about the trigger stays on the page after later actions.
    at.button(key="ack-1").click().run()
    assert not [s.value for s in at.success if "triggered" in s.value]
    assert not [i.value for i in at.info if "Counted against" in i.value]


# ----- tables -----------------------------------------------------------------------------------
def test_the_timeline_sorts_its_times_as_times_in_the_pages_format(api, monkeypatch):
    at = console(api, monkeypatch)
    at.button(key="detail-2").click().run()
    [timeline] = [d for d in at.dataframe if "Details" in d.value.columns]
    when = timeline.value["When"]
    assert is_datetime64_any_dtype(when) and when.is_monotonic_increasing
    assert list(timeline.value["What"]) == ["triggered", "paged", "acknowledged"]
    config = json.loads(timeline.proto.columns)["When"]["type_config"]
    assert config == {"type": "datetime", "format": "ddd D MMM HH:mm"}  # as common.when


def test_the_list_refreshes_without_waiting_for_a_click(api, monkeypatch):
    """A change made elsewhere shows on the next run of the list (the fragment's refresh)."""
    at = console(api, monkeypatch)
    api.acknowledge(5)
    deadline = time.monotonic() + 30
    while ":orange-badge[Acknowledged]" not in row_text(at, 5):
        assert time.monotonic() < deadline, "the row never showed the acknowledgement"
        at.run()


# ----- an incident's address and its detail ----------------------------------------------------
def detail_text(at: AppTest) -> str:
    found = next(n for n in walk(at.main) if getattr(n, "key", None) == "incident-detail")
    return "\n".join(n.value for n in walk(found) if n.type in ("markdown", "caption", "text"))


def test_an_incidents_address_opens_it_with_its_actions_and_stays_while_open(api, monkeypatch):
    monkeypatch.setenv("ONCALL_API_URL", api.base_url)
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["incident"] = "3"
    at.run()
    at.switch_page(PAGE).run()
    assert not errors(at)
    assert "Incident #3" in detail_text(at) and "TLS expiring" in detail_text(at)
    at.button(key="detail-ack-3").click().run()
    assert api.get_incident(3)["Status"] == "acknowledged"
    assert at.query_params["incident"] == "3"  # still its address after acting
    ben = next(u["Id"] for u in api.list_users() if u["FirstName"] == "Ben")
    at.selectbox(key="detail-assign-3").set_value(ben)
    at.button(key="detail-reassign-3").click().run()
    assert api.get_incident(3)["Assignee"]["Id"] == ben
    at.button(key="detail-resolve-3").click().run()
    assert api.get_incident(3)["Status"] == "resolved"
    at.button(key="detail-close").click().run()
    assert "incident" not in at.query_params
    assert not [n for n in walk(at.main) if getattr(n, "key", None) == "incident-detail"]


def test_a_rows_detail_opens_under_it_and_gets_the_address(api, monkeypatch):
    at = console(api, monkeypatch)
    at.button(key="detail-1").click().run()  # the oldest: the last row
    keys = [getattr(n, "key", None) or "" for n in walk(at.main)]
    assert keys.index("incident-detail") == keys.index("incident-1") + 1 + sum(
        1 for _ in walk(row(at, 1))
    )  # right after row 1 and everything in it
    assert at.query_params["incident"] == "1"
    at.query_params["incident"] = "99"
    at.run()
    assert any("no incident #99" in w.value for w in at.warning)


def test_the_tab_title_counts_what_waits_for_an_acknowledgement(api, monkeypatch):
    at = console(api, monkeypatch)
    assert at.session_state["_incidents_title"] == "(3) Incidents · On-call console"
    at.button(key="ack-5").click().run()
    assert at.session_state["_incidents_title"] == "(2) Incidents · On-call console"
    api.request("POST", "/incidents/acknowledge_all")
    at.run()
    assert at.session_state["_incidents_title"] == "Incidents · On-call console"


def test_a_service_in_maintenance_says_so_on_its_incidents(api, monkeypatch):
    payments = api.create_service("payments")
    incident = api.trigger_incident("Payment gateway slow", service_id=payments["Id"])
    api.start_maintenance(payments["Id"], minutes=30, reason="deploy")
    at = console(api, monkeypatch)
    caption = re.sub(r"\\(.)", r"\1", row_text(at, incident["Id"]))  # as read
    assert "service payments (in maintenance until" in caption, caption
    assert "in maintenance" not in row_text(at, 1)  # the others' service is not
