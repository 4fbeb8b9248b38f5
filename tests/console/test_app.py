"""The Streamlit console with `streamlit.testing.v1.AppTest`, against a real daemon API served on
a free port (`live_server.serve`): every page renders, buttons do what they say (checked through
the API), data editor edits are saved, and the daemon-down banner shows when nothing answers."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from live_server import serve
from published import BERLIN_TWO_LAYERS, solve_and_publish
from streamlit.testing.v1 import AppTest

from oncall_opt.api import create_app
from oncall_opt.client import Client
from oncall_opt.demo import seed
from oncall_opt.engine.settings import Settings
from oncall_opt.engine.store import Store

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app_streamlit.py")
ZONE = "Europe/Berlin"  # what the console shows when no browser tells it (AppTest)
PAGES = {
    "oncall": ("oncall_opt/console/pages/oncall.py", "On call now"),
    "incidents": ("oncall_opt/console/pages/incidents.py", "Incidents"),
    "availability": ("oncall_opt/console/pages/availability.py", "Availability & preferences"),
    "planner": ("oncall_opt/console/pages/planner.py", "Roster planner"),
    "people": ("oncall_opt/console/pages/people.py", "People"),
    "services": ("oncall_opt/console/pages/services.py", "Services"),
    "rota": ("oncall_opt/console/pages/rota.py", "Rota"),
}


@pytest.fixture(autouse=True)
def _console_env(monkeypatch):
    monkeypatch.setenv("ONCALL_UI_TIME_ZONE", ZONE)
    monkeypatch.delenv("ONCALL_API_TOKEN", raising=False)


def _daemon(path: Path, publish: bool = True) -> Iterator[Client]:
    """A daemon over a store seeded with the demo (the quick start's team, see demo.py)."""
    store = Store(path)
    try:
        seed(store, say=lambda line: None, publish=publish)
        with serve(create_app(store, Settings(), run_jobs=False)) as url, Client(url) as api:
            yield api
    finally:
        store.close()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> Iterator[Client]:
    """A daemon with the demo team, its published roster and incidents (read-only tests)."""
    yield from _daemon(tmp_path_factory.mktemp("seeded") / "demo.duckdb")


@pytest.fixture
def api(tmp_path) -> Iterator[Client]:
    """A daemon of its own with the demo team and incidents, no roster (tests that write)."""
    yield from _daemon(tmp_path / "t.duckdb", publish=False)


def console(api: Client | str, monkeypatch, page: str | None = None, me: int | None = None):
    """The app pointed at `api`, run once, switched to `page` and run again."""
    url = api if isinstance(api, str) else api.base_url
    monkeypatch.setenv("ONCALL_API_URL", url)
    at = AppTest.from_file(APP, default_timeout=60)
    if me is not None:
        at.session_state["me"] = me
    at.run()
    if page is not None:
        at.switch_page(PAGES[page][0]).run()
    return at


def no_errors(at: AppTest, expected: str = "nobody is on call") -> None:
    """No exception and no error box but `expected` ones (the on-call page's gap notices)."""
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error if expected not in e.value]
    assert not errors, errors


def plain(markdown: str) -> str:
    """Markdown as read: the console escapes every data character with a meaning (a name's
    `-`, a time's `:`), and the reader sees the character."""
    return re.sub(r"\\(.)", r"\1", markdown).replace("\u2060", "")  # and word joiners


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [str(m.value) for m in at.metric] + [m.label for m in at.metric]
    parts += [e.value for e in (*at.info, *at.warning, *at.success, *at.error)]
    return plain("\n".join(parts))


def tomorrow() -> date:
    return datetime.now(ZoneInfo(ZONE)).date() + timedelta(days=1)


def user_id(api: Client, first_name: str) -> int:
    return next(u["Id"] for u in api.list_users() if u["FirstName"] == first_name)


def incident(api: Client, words: str) -> dict:
    """The open incident whose text has `words` (else the newest that does: the demo's
    history has many alike)."""
    found = [i for i in api.list_incidents("open") if words in i["Body"]]
    return found[0] if found else next(i for i in api.list_incidents("all") if words in i["Body"])


# ----- every page --------------------------------------------------------------------------------
@pytest.mark.parametrize("page", list(PAGES))
def test_every_page_renders_against_the_daemon(seeded, monkeypatch, page):
    at = console(seeded, monkeypatch, page)
    no_errors(at)
    assert at.title[0].value == PAGES[page][1]
    assert "connected" in at.sidebar.markdown[0].value
    # This daemon has no token (up --no-auth): every page says anyone acts as anyone.
    assert any("No sign-in" in w.value for w in at.sidebar.warning)


def test_the_app_shows_navigation_and_the_on_call_page_by_default(seeded, monkeypatch):
    at = console(seeded, monkeypatch)
    no_errors(at)
    assert at.title[0].value == "On call now"
    body = texts(at)
    now = datetime.now(UTC)
    assert seeded.scheduled(now, layer=2) is None  # the quick start's roster: one layer
    for layer in (1,):
        on_call = seeded.scheduled(now, layer=layer)
        assert on_call is not None
        name = f"{on_call['User']['FirstName']} {on_call['User']['LastName']}"
        assert name in body
    assert "Hands off" in body and "Next:" in body
    # The demo roster covers the longest look-ahead (8 weeks): no hour without someone on call.
    assert not [e.value for e in at.error if "nobody is on call" in e.value]
    at.segmented_control(key="oncall_weeks").set_value(8).run()
    assert not [e.value for e in at.error if "nobody is on call" in e.value]


def test_sidebar_picks_who_you_are_and_the_time_zone(seeded, monkeypatch):
    at = console(seeded, monkeypatch)
    ana = user_id(seeded, "Ana")
    at.sidebar.selectbox(key="me").set_value(ana).run()
    at.sidebar.selectbox(key="tz").set_value("Asia/Tokyo").run()
    no_errors(at)
    assert "Times in Asia/Tokyo" in texts(at)
    assert at.session_state["me"] == ana


# ----- the daemon is down ------------------------------------------------------------------------
def _closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens once the socket is closed


@pytest.mark.parametrize("page", list(PAGES))
def test_daemon_down_banner_on_every_page(monkeypatch, page):
    at = console(_closed_port(), monkeypatch, page)
    assert not at.exception
    banner = " ".join(e.value for e in at.error)
    assert "The on-call daemon is not running" in banner
    assert "python -m oncall_opt.up" in banner and "python runner.py" in banner
    assert "Traceback" not in texts(at)
    assert "daemon down" in at.sidebar.markdown[0].value


# ----- incidents ---------------------------------------------------------------------------------
def test_acknowledge_button_acknowledges_in_the_api(api, monkeypatch):
    ben = user_id(api, "Ben")
    disk = incident(api, "Disk 91%")
    at = console(api, monkeypatch, "incidents", me=ben)
    no_errors(at)
    assert disk["Status"] == "triggered"
    at.button(key=f"ack-{disk['Id']}").click().run()
    no_errors(at)
    after = api.get_incident(disk["Id"])
    assert after["Status"] == "acknowledged"
    assert after["AcknowledgedBy"]["Id"] == ben
    assert any(f"#{disk['Id']} acknowledged" in t.value for t in at.toast)
    assert f"ack-{disk['Id']}" not in [b.key for b in at.button]  # Resolve only, now


def test_resolve_and_assign_from_the_row(api, monkeypatch):
    emma = user_id(api, "Eun-ji")
    latency = incident(api, "Checkout p99 latency")
    at = console(api, monkeypatch, "incidents")
    at.selectbox(key=f"assign-{latency['Id']}").set_value(emma).run()
    no_errors(at)
    assert api.get_incident(latency["Id"])["Assignee"]["Id"] == emma
    at.button(key=f"resolve-{latency['Id']}").click().run()
    no_errors(at)
    assert api.get_incident(latency["Id"])["Status"] == "resolved"


def test_filters_and_the_newest_first_order(api, monkeypatch):
    at = console(api, monkeypatch, "incidents")
    shown = [b.key for b in at.button if b.key and b.key.startswith("resolve-")]
    found = sorted(api.list_incidents("open"), key=lambda i: i["CreatedAt"], reverse=True)
    assert [int(k.split("-")[1]) for k in shown] == [i["Id"] for i in found]  # newest first
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Needs acknowledgement"] == "3"

    at.segmented_control(key="inc_status").set_value("resolved").run()
    no_errors(at)
    assert not [b for b in at.button if b.key and b.key.startswith(("ack-", "resolve-"))]
    resolved = len(api.list_incidents("resolved"))
    assert resolved > 40 and f"{resolved} incident(s) · resolved" in texts(at)

    chloe = user_id(api, "Chloé")
    at.segmented_control(key="inc_status").set_value("open").run()
    at.selectbox(key="inc_assignee").set_value(chloe).run()
    rows = [b.key for b in at.button if b.key and b.key.startswith("resolve-")]
    assert rows == [f"resolve-{incident(api, 'TLS certificate')['Id']}"]
    at.text_input(key="inc_search").input("nothing like this").run()
    assert "No incidents match these filters." in texts(at)
    assert at.segmented_control(key="inc_status").value == "open"  # filters kept


def test_trigger_a_test_incident(api, monkeypatch):
    at = console(api, monkeypatch, "incidents")
    at.button(key="trigger_open").click().run()  # "Send a test incident…": a dialog
    at.text_area(key="trigger_body").input("Search is returning 500s")
    at.text_input(key="trigger_dedup").input("search-500")
    [submit] = at.get("form_submit_button")
    submit.click().run()
    no_errors(at)
    created = incident(api, "Search is returning 500s")
    assert created["DedupKey"] == "search-500" and created["Status"] == "triggered"
    assert any(f"Incident #{created['Id']} triggered" in t.value for t in at.toast)


def test_incident_detail_timeline_note_snooze_and_escalate(api, monkeypatch):
    ana = user_id(api, "Ana")
    disk = incident(api, "Disk 91%")
    at = console(api, monkeypatch, "incidents", me=ana)
    at.button(key=f"detail-{disk['Id']}").click().run()
    no_errors(at)
    [timeline] = [d for d in at.dataframe if "Details" in d.value.columns]
    assert timeline.value["What"].iloc[0] == "triggered"
    at.text_input(key=f"note-text-{disk['Id']}").input("restarting the replica")
    next(b for b in at.button if b.label == "Add note").click().run()
    no_errors(at)
    notes = [e for e in api.incident_log(disk["Id"]) if e["Kind"] == "note"]
    assert notes[0]["Message"] == "restarting the replica" and notes[0]["User"]["Id"] == ana
    at.button(key=f"escalate-{disk['Id']}").click().run()
    no_errors(at)
    assert any(e["Kind"] == "escalated" for e in api.incident_log(disk["Id"]))
    at.selectbox(key=f"snooze-{disk['Id']}").set_value(60)
    at.button(key=f"snooze-go-{disk['Id']}").click().run()
    no_errors(at)
    snoozed = api.get_incident(disk["Id"])
    assert snoozed["Status"] == "acknowledged" and snoozed["SnoozedUntil"] is not None
    at.button(key="detail-close").click().run()
    assert not [d for d in at.dataframe if "Details" in d.value.columns]


def test_incidents_filtered_by_team_service_and_urgency(api, monkeypatch):
    team = api.create_team("Payments", [user_id(api, "Ben")])
    service = api.create_service("payments-api", team["Id"])
    low = api.trigger_incident("Card retries climbing", service_id=service["Id"], urgency="low")
    at = console(api, monkeypatch, "incidents")
    at.selectbox(key="inc_team").set_value(team["Id"]).run()
    no_errors(at)
    rows = [b.key for b in at.button if b.key and b.key.startswith("resolve-")]
    assert rows == [f"resolve-{low['Id']}"]
    assert "low urgency" in texts(at) and "service payments-api" in texts(at)
    at.selectbox(key="inc_team").set_value(0).run()
    at.segmented_control(key="inc_urgency").set_value("high").run()
    rows = [b.key for b in at.button if b.key and b.key.startswith("resolve-")]
    assert rows and f"resolve-{low['Id']}" not in rows


# ----- services, policies, teams -----------------------------------------------------------------
def test_a_new_service_shows_its_key_once_with_the_receiver_urls(api, monkeypatch):
    at = console(api, monkeypatch, "services")
    no_errors(at)
    at.text_input(key="new_service_name").input("checkout-api")
    next(b for b in at.get("form_submit_button") if b.label == "Add").click().run()
    no_errors(at)
    [made] = [s for s in api.list_services() if s["Name"] == "checkout-api"]
    codes = [c.value for c in at.code]
    key = next(c for c in codes if len(c) == 32)
    assert key.startswith(made["IntegrationKeyPrefix"])
    assert any(f"/integrations/alertmanager/{key}" in c for c in codes)
    assert any(f'"routing_key": "{key}"' in c for c in codes)
    at.run()  # shown once: gone on the next run
    assert not any(key in c.value for c in at.code)


def test_the_policy_editor_works_in_names_and_saves_steps(api, monkeypatch):
    at = console(api, monkeypatch, "services")
    grid = next(g for g in at.data_editor if g.key == "policy-1")
    shown = grid.value
    assert set(shown["Page"]) == {"Who is on call in a team"}
    assert set(shown["Team"]) == {"Default"} and set(shown["Layer"]) <= {"primary", "secondary"}
    assert set(shown["Person"]) == {"—"} and not shown.isna().any().any()  # never None
    assert "Team numbers" not in " ".join(c.value for c in at.caption)
    row = {"Step": 3, "Delay (min)": 30, "Page": "A person", "Person": "Ana Silva (@ana)"}
    at.session_state["policy-1"] = {"edited_rows": {}, "added_rows": [row], "deleted_rows": []}
    at.run()
    at.button(key="save-policy-1").click().run()
    no_errors(at)
    [policy] = [p for p in api.list_policies() if p["Id"] == 1]
    assert [s["DelayMinutes"] for s in policy["Steps"]] == [0, 15, 30]
    assert policy["Steps"][2]["Targets"] == [
        {"Type": "user", "TeamId": None, "Layer": None, "UserId": user_id(api, "Ana")}
    ]


def test_teams_on_the_people_page_and_the_sidebar_picks_one(api, monkeypatch):
    at = console(api, monkeypatch, "people")
    # Two people never away on the same day (in a team of two, such a day is an error).
    ben, dev = user_id(api, "Ben"), user_id(api, "Eun-ji")
    at.text_input(key="new_team_name").input("Payments")
    at.multiselect(key="new_team_members").set_value([ben, dev])
    next(b for b in at.get("form_submit_button") if b.label == "Add team").click().run()
    no_errors(at)
    [team] = [t for t in api.list_teams() if t["Name"] == "Payments"]
    assert team["UserIds"] == sorted([ben, dev])
    at.sidebar.selectbox(key="team").set_value(team["Id"]).run()
    at.switch_page(PAGES["availability"][0]).run()
    no_errors(at)
    [grid] = at.data_editor
    assert sorted(grid.value["Person"]) == sorted(
        f"{u['FirstName']} {u['LastName']}" for u in api.list_users() if u["Id"] in (ben, dev)
    )


def test_a_team_gets_its_slack_app_channel_on_the_people_page(api, monkeypatch):
    at = console(api, monkeypatch, "people")
    at.text_input(key="team-channel-1").input("#ops")
    next(b for b in at.button if b.key == "team-save-1").click().run()
    assert any("SlackChannel" in e.value for e in at.error)  # named, and nothing saved
    assert api.get_team(1)["SlackChannel"] is None
    at.text_input(key="team-channel-1").input("C0OPS1234")
    next(b for b in at.button if b.key == "team-save-1").click().run()
    no_errors(at)
    assert api.get_team(1)["SlackChannel"] == "C0OPS1234"
    assert any("Slack app channel C0OPS1234" in e.label for e in at.expander)


# ----- rota ---------------------------------------------------------------------------------------
def test_rota_take_now_override_swap_feed_and_report(api, monkeypatch):
    chloe, dev, ana = user_id(api, "Chloé"), user_id(api, "Dev"), user_id(api, "Ana")
    now = datetime.now(UTC)
    # The demo shifts its input's away days to today: one of Chloé's may fall in the hours she
    # takes (take-now then refuses it, rightly). Away days are not what this test is about.
    api.set_availability(chloe, now.date() - timedelta(days=1), now.date() + timedelta(days=2), {})
    api.create_schedule(ana, now - timedelta(hours=1), now + timedelta(hours=5))
    at = console(api, monkeypatch, "rota", me=chloe)
    no_errors(at)
    at.button(key="take_now").click().run()
    no_errors(at)
    taken = api.scheduled(datetime.now(UTC) + timedelta(seconds=1))
    assert (taken["User"]["Id"], taken["Source"]) == (chloe, "override")
    assert api.my_shifts(chloe, now, now + timedelta(days=1))[0]["Covers"]["Id"] == ana
    # A swap: Chloé asks, Dev (available) takes it.
    at.date_input(key="sw_from").set_value(tomorrow() + timedelta(days=30))
    at.date_input(key="sw_to").set_value(tomorrow() + timedelta(days=31))
    at.text_input(key="sw_note").input("wedding")
    next(b for b in at.get("form_submit_button") if b.label == "Ask the team").click().run()
    no_errors(at)
    assert any("no Slack channel is set up, so nobody was told" in w.value for w in at.warning)
    [swap] = api.list_swaps(1)
    assert swap["From"]["Id"] == chloe and swap["Note"] == "wedding"
    at.session_state["me"] = dev
    at.run()
    at.button(key=f"swap_accept_{swap['Id']}").click().run()
    no_errors(at)
    assert api.list_swaps(1, "accepted")[0]["AcceptedBy"]["Id"] == dev
    # My shifts and the calendar link (a working feed).
    at.button(key="feed").click().run()
    no_errors(at)
    url = next(c.value for c in at.code if "/calendar/" in c.value)
    import httpx

    assert httpx.get(url).text.startswith("BEGIN:VCALENDAR")
    # The report shows everyone with hours.
    assert any("Covered for others h" in d.value.columns for d in at.dataframe)


# ----- availability ------------------------------------------------------------------------------
def test_availability_editor_edit_is_saved(api, monkeypatch):
    at = console(api, monkeypatch, "availability")
    no_errors(at)
    people = sorted(api.list_users(), key=lambda u: f"{u['FirstName']} {u['LastName']}".lower())
    row, person = 1, people[1]
    day = (tomorrow() + timedelta(days=3)).isoformat()
    at.session_state["av_editor"] = {
        "edited_rows": {row: {day: "unavailable"}},
        "added_rows": [],
        "deleted_rows": [],
    }
    at.run()
    no_errors(at)
    assert "1 row(s) with unsaved changes" in texts(at)
    assert not at.button(key="av_save").disabled
    at.button(key="av_save").click().run()
    no_errors(at)
    saved = api.get_availability(person["Id"], day, day)["Days"]
    assert saved == {day: "unavailable"}
    assert any("Saved the days of" in s.value for s in at.success)
    assert at.button(key="av_save").disabled  # nothing pending any more


def test_coverage_flags_days_when_nobody_is_available(api, monkeypatch):
    day = tomorrow() + timedelta(days=5)
    for person in api.list_users():
        api.set_availability(person["Id"], day, day, {day: "unavailable"})
    at = console(api, monkeypatch, "availability")
    assert not at.exception
    [red] = [e.value for e in at.error]
    assert "Nobody is available on" in red and f"{day:%a} {day.day} {day:%b}" in red
    assert {m.label: m.value for m in at.metric}["Days with nobody available"] == "1"


def test_my_row_and_mark_a_stretch(api, monkeypatch):
    dev = user_id(api, "Dev")
    at = console(api, monkeypatch, "availability", me=dev)
    at.segmented_control(key="av_mode").set_value("me").run()
    no_errors(at)
    [editor] = at.data_editor
    assert list(editor.value["Person"]) == ["Dev Patel"]
    first, last = tomorrow() + timedelta(days=10), tomorrow() + timedelta(days=12)
    at.date_input(key=f"stretch_days_{tomorrow()}").set_value((first, last))
    at.selectbox(key="stretch_kind").set_value("preferred")
    [submit] = [b for b in at.get("form_submit_button") if b.label == "Apply"]
    submit.click().run()
    no_errors(at)
    days = api.get_availability(dev, first, last)["Days"]
    assert days == {(first + timedelta(days=i)).isoformat(): "preferred" for i in range(3)}


# ----- planner -----------------------------------------------------------------------------------
def _plan_window(at: AppTest, days: int = 14) -> tuple[date, date]:
    window = (tomorrow(), tomorrow() + timedelta(days=days - 1))
    at.date_input(key="pl_window").set_value(window)
    return window


def test_planner_solves_shows_the_result_and_publishes(api, monkeypatch):
    at = console(api, monkeypatch, "planner")
    no_errors(at)
    start, end = _plan_window(at)
    at.selectbox(key="pl_zone").set_value(BERLIN_TWO_LAYERS["TimeZone"])
    at.button(key="pl_solve").click().run()
    no_errors(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Result"] == "Best possible" and metrics["Shifts planned"] == "14"
    assert "Gap 0.00%" in texts(at).replace("gap", "Gap")
    assert "Nothing is published in this window yet" in texts(at)
    assert {d.key for d in at.get("download_button")} >= {"dl_output", "dl_csv", "dl_ics"}
    assert len(at.tabs) == 3

    at.button(key="pl_publish").click().run()
    assert any("Publish?" in w.value for w in at.warning)
    assert any("It sets the handoff 09:00 Europe/Berlin, one layer." in plain(w.value)
               for w in at.warning)  # fmt: skip
    assert not api.list_schedules(f"{start}T12:00:00Z", f"{end}T12:00:00Z")  # not yet
    at.button(key="pl_publish_yes").click().run()
    no_errors(at)
    shifts = api.list_schedules(f"{start}T12:00:00Z", f"{end}T12:00:00Z")
    assert shifts, "publish wrote no schedules"
    covered = sum(
        (datetime.fromisoformat(s["Time"]["End"]) - datetime.fromisoformat(s["Time"]["Start"]))
        / timedelta(days=1)
        for s in shifts
    )
    assert covered == 14
    assert any("Published:" in s.value for s in at.success)

    # Solving again now compares against what was just published.
    at.button(key="pl_solve").click().run()
    no_errors(at)
    assert {m.label: m.value for m in at.metric}["Slots that change"] == "0 of 14"

    # An override on the last day: the comparison is with the final schedule, so that slot
    # shows who is on call now (the override's person), not the roster's.
    final = api.final_schedule(1, f"{end}T00:00:00Z", f"{end}T23:00:00Z", layer=1)
    [slot] = [s for s in final if s["Start"] <= f"{end}T12:00:00Z" < s["End"]]
    rostered = slot["User"]["Id"]
    other = next(u for u in api.list_users() if u["Id"] != rostered)
    last = datetime.fromisoformat(slot["Start"])  # 09:00 Berlin, the slot's own start
    api.create_override(1, last, last + timedelta(days=1), other["Id"], 1)
    at.button(key="pl_solve").click().run()
    no_errors(at)
    changes = next(d.value for d in at.dataframe if "Published" in d.value.columns)
    assert list(changes["Published"]) == [f"{other['FirstName']} {other['LastName']}"], changes


def test_planner_explains_an_infeasible_window(api, monkeypatch):
    day = tomorrow() + timedelta(days=2)
    for person in api.list_users():
        api.set_availability(person["Id"], day, day, {day: "unavailable"})
    at = console(api, monkeypatch, "planner")
    _plan_window(at, days=7)
    at.button(key="pl_solve").click().run()
    assert not at.exception
    [explanation] = [plain(e.value) for e in at.error]
    assert "No roster satisfies every rule" in explanation
    # Shifts run 09:00 to 09:00, so the away day blocks the one ending on it too: the reason
    # names both by their start and end, not only the day before.
    before, after = day - timedelta(days=1), day + timedelta(days=1)
    assert (
        f"nobody can take the shifts from {before:%a %Y-%m-%d} 09:00 to {after:%a %Y-%m-%d} 09:00"
    ) in explanation
    assert not [b for b in at.button if b.key == "pl_publish"]


def test_planner_imports_an_input_json(api, monkeypatch):
    window = (tomorrow(), tomorrow() + timedelta(days=6))
    document = api.roster_input(*window, Layers=2)
    at = console(api, monkeypatch, "planner")
    at.file_uploader(key="pl_upload").set_value(
        ("input.json", json.dumps(document).encode(), "application/json")
    ).run()
    no_errors(at)
    at.button(key="pl_solve_import").click().run()
    no_errors(at)
    assert {m.label: m.value for m in at.metric}["Shifts planned"] == "14"
    assert "Planned from input.json" in texts(at)

    broken = {**document, "schedule_end": "not a time"}
    at.file_uploader(key="pl_upload").set_value(
        ("broken.json", json.dumps(broken).encode(), "application/json")
    ).run()
    assert any("is not a valid input.json" in e.value for e in at.error)
    assert not at.exception


# ----- people ------------------------------------------------------------------------------------
def test_people_editor_edit_is_saved(api, monkeypatch):
    at = console(api, monkeypatch, "people")
    no_errors(at)
    [editor] = at.data_editor
    assert list(editor.value.columns) == ["FirstName", "LastName", "SlackHandle", "TimeZone",
                                          "Role"]  # fmt: skip  # names, no internal id
    row = list(editor.value["FirstName"]).index("Farid")
    felipe = user_id(api, "Farid")
    at.session_state["people_editor"] = {
        "edited_rows": {row: {"SlackHandle": "farid.haddad", "TimeZone": "America/Bogota"}},
        "added_rows": [],
        "deleted_rows": [],
    }
    at.run()
    at.button(key="people_save").click().run()
    no_errors(at)
    user = api.get_user(felipe)
    assert user["SlackHandle"] == "farid.haddad" and user["TimeZone"] == "America/Bogota"


def test_add_a_person_and_send_a_test_slack_message(api, monkeypatch):
    at = console(api, monkeypatch, "people")
    at.text_input(key="add_first").input("Grace")
    at.text_input(key="add_last").input("Hopper")
    at.text_input(key="add_slack").input("@grace")
    at.selectbox(key="add_zone").set_value("America/New_York")
    [add] = [b for b in at.get("form_submit_button") if b.label == "Add"]
    add.click().run()
    no_errors(at)
    grace = next(u for u in api.list_users() if u["FirstName"] == "Grace")
    assert grace["SlackHandle"] == "grace" and grace["TimeZone"] == "America/New_York"

    at.text_input(key="slack_text").input("hello from the console test")
    [send] = [b for b in at.get("form_submit_button") if b.label == "Send a test message"]
    send.click().run()
    no_errors(at)
    [message] = [m for m in api.list_messages() if m["Kind"] == "test"]
    assert message["Text"] == "hello from the console test"
    assert any("Test message" in s.value for s in at.success)


def test_a_refused_write_shows_the_daemons_message(api, monkeypatch):
    at = console(api, monkeypatch, "people")
    at.session_state["people_editor"] = {
        "edited_rows": {0: {"TimeZone": "Mars/Olympus_Mons"}},  # the daemon refuses it
        "added_rows": [],
        "deleted_rows": [],
    }
    at.run()
    at.button(key="people_save").click().run()
    assert not at.exception
    assert any("TimeZone" in plain(e.value) and "Mars/Olympus_Mons" in plain(e.value)
               for e in at.error)  # fmt: skip


# ----- the on-call page's arithmetic -------------------------------------------------------------
def _shift(user: str, start: str, end: str, layer: int = 1) -> dict:
    return {
        "Id": 1,
        "User": {"Id": 1, "FirstName": user, "LastName": "", "SlackHandle": user.lower()},
        "Time": {"Start": start, "End": end},
        "Layer": layer,
    }


def test_current_next_and_gaps():
    from oncall_opt.console.pages.oncall import current_and_next, gaps

    shifts = [
        _shift("Ana", "2026-12-01T09:00:00Z", "2026-12-02T09:00:00Z"),
        _shift("Ben", "2026-12-02T09:00:00Z", "2026-12-03T09:00:00Z"),
        _shift("Chloe", "2026-12-04T09:00:00Z", "2026-12-05T09:00:00Z"),
        _shift("Dev", "2026-12-01T00:00:00Z", "2026-12-09T00:00:00Z", layer=2),
    ]
    at = datetime(2026, 12, 1, 12, tzinfo=UTC)
    current, upcoming = current_and_next(shifts, 1, at)
    assert current["User"]["FirstName"] == "Ana" and upcoming["User"]["FirstName"] == "Ben"
    current, upcoming = current_and_next(shifts, 1, datetime(2026, 12, 3, 12, tzinfo=UTC))
    assert current is None and upcoming["User"]["FirstName"] == "Chloe"
    assert current_and_next(shifts, 2, at)[1] is None
    holes = gaps(shifts, 1, at, datetime(2026, 12, 6, tzinfo=UTC))
    assert holes == [
        (datetime(2026, 12, 3, 9, tzinfo=UTC), datetime(2026, 12, 4, 9, tzinfo=UTC)),
        (datetime(2026, 12, 5, 9, tzinfo=UTC), datetime(2026, 12, 6, tzinfo=UTC)),
    ]
    assert gaps(shifts, 2, at, datetime(2026, 12, 6, tzinfo=UTC)) == []


def test_the_rota_keeps_its_tab_through_an_action_and_in_the_address(api, monkeypatch):
    chloe = user_id(api, "Chloé")
    at = console(api, monkeypatch, "rota", me=chloe)
    at.query_params["tab"] = "Swaps"
    at.run()
    assert at.session_state["tab"] == "Swaps"
    at.date_input(key="sw_from").set_value(tomorrow() + timedelta(days=30))
    at.date_input(key="sw_to").set_value(tomorrow() + timedelta(days=31))
    next(b for b in at.get("form_submit_button") if b.label == "Ask the team").click().run()
    no_errors(at)
    assert at.session_state["tab"] == "Swaps" and at.query_params["tab"] == "Swaps"


def test_a_swap_and_an_override_are_filled_in_from_a_picked_shift(api, monkeypatch):
    chloe = user_id(api, "Chloé")
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=3)
    start = start.replace(hour=7)  # an odd handoff: 07:00 UTC, not the forms' usual 09:00
    api.create_schedule(chloe, start, start + timedelta(hours=13), layer=2)
    at = console(api, monkeypatch, "rota", me=chloe)
    at.query_params["tab"] = "Swaps"
    at.run()
    [mine] = [o for o in at.selectbox(key="sw_pick").options if "Secondary" in o]
    at.selectbox(key="sw_pick").select(mine).run()
    next(b for b in at.get("form_submit_button") if b.label == "Ask the team").click().run()
    no_errors(at)
    [swap] = api.list_swaps(1)
    asked = (datetime.fromisoformat(swap["Start"]), datetime.fromisoformat(swap["End"]))
    assert asked == (start, start + timedelta(hours=13))

    at.query_params["tab"] = "Overrides"
    at.session_state["me"] = user_id(api, "Ana")  # an admin puts Dev on Chloé's shift
    at.run()
    picked = next(o for o in at.selectbox(key="ov_pick").options
                  if "Secondary" in o and "Chloé" in o)  # fmt: skip
    at.selectbox(key="ov_pick").select(picked).run()
    at.selectbox(key="ov_who").set_value(user_id(api, "Dev"))
    next(b for b in at.get("form_submit_button") if b.label == "Add override").click().run()
    no_errors(at)
    [made] = [o for o in api.list_overrides(1, start - timedelta(days=1), start + timedelta(days=2))
              if o["User"]["Id"] == user_id(api, "Dev")]  # fmt: skip
    assert (datetime.fromisoformat(made["Start"]), made["Layer"]) == (start, 2)
    assert datetime.fromisoformat(made["End"]) == start + timedelta(hours=13)


def _click_bar(at: AppTest, layer: int, user: int) -> dict:
    """What a click on `user`'s bar in the `layer` timeline does (AppTest cannot click inside a
    Vega chart; the browser suite does): the bar's shift, as drawn, opens its panel."""
    drawn = at.session_state["_shifts_shown"][layer]
    bar = next(b for b in sorted(drawn) if b.endswith(f"|{user}"))
    at.session_state["_chosen_shift"] = {**drawn[bar], "TeamId": 1}  # the Default team's
    at.run()
    no_errors(at)
    return drawn[bar]


def _a_shift_of(api: Client, user: int) -> datetime:
    """A secondary shift of `user` in three days' time at an odd hour (07:00 UTC, 13 h)."""
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=3)
    start = start.replace(hour=7)
    api.create_schedule(user, start, start + timedelta(hours=13), layer=2)
    return start


def test_a_clicked_shift_is_taken_with_its_exact_times(api, monkeypatch):
    chloe, dev = user_id(api, "Chloé"), user_id(api, "Dev")
    start = _a_shift_of(api, chloe)
    at = console(api, monkeypatch, "oncall", me=dev)
    shift = _click_bar(at, 2, chloe)
    panel = at.get("markdown")
    assert any("Chloé" in plain(m.value) and "Secondary" in m.value for m in panel)
    assert at.button(key="shift_swap").disabled  # not Dev's shift to give away
    at.button(key="shift_take").click().run()
    no_errors(at)
    [made] = [o for o in api.list_overrides(1, start - timedelta(days=1), start + timedelta(days=2))
              if o["User"]["Id"] == dev]  # fmt: skip
    assert (datetime.fromisoformat(made["Start"]), made["Layer"]) == (start, 2)
    assert datetime.fromisoformat(made["End"]) == start + timedelta(hours=13) == shift["End"]
    assert "_chosen_shift" not in at.session_state  # the panel closed


def test_a_clicked_shift_opens_the_override_form_and_the_swap_request_filled_in(api, monkeypatch):
    chloe, ben = user_id(api, "Chloé"), user_id(api, "Ben")
    start = _a_shift_of(api, chloe)
    local = start.astimezone(ZoneInfo(ZONE))
    at = console(api, monkeypatch, "oncall", me=user_id(api, "Ana"))  # an admin, on call now
    _click_bar(at, 2, chloe)
    at.button(key="shift_override").click().run()
    no_errors(at)
    assert at.title[0].value == "Rota" and at.session_state["tab"] == "Overrides"
    assert any("Filled in below: the override of" in plain(i.value) for i in at.info)
    assert (at.date_input(key="ov_from_day").value, at.time_input(key="ov_from_time").value) == (
        local.date(), local.time().replace(tzinfo=None))  # fmt: skip
    assert at.selectbox(key="ov_layer").value == 2
    at.switch_page(PAGES["rota"][0])  # AppTest's next runs stay on the page it was given
    at.selectbox(key="ov_who").set_value(ben)
    next(b for b in at.get("form_submit_button") if b.label == "Add override").click().run()
    no_errors(at)
    [made] = [o for o in api.list_overrides(1, start - timedelta(days=1), start + timedelta(days=2))
              if o["User"]["Id"] == ben]  # fmt: skip
    assert (datetime.fromisoformat(made["Start"]), made["Layer"]) == (start, 2)
    assert datetime.fromisoformat(made["End"]) == start + timedelta(hours=13)

    api.delete_override(made["Id"])  # Chloé's shift again: she asks for a swap, from Rota
    at.session_state["me"] = chloe
    at.run()
    _click_bar(at, 2, chloe)
    assert at.button(key="shift_take").disabled  # her own shift already
    at.button(key="shift_swap").click().run()
    no_errors(at)
    assert at.session_state["tab"] == "Swaps"
    next(b for b in at.get("form_submit_button") if b.label == "Ask the team").click().run()
    no_errors(at)
    [swap] = api.list_swaps(1)
    asked = (datetime.fromisoformat(swap["Start"]), datetime.fromisoformat(swap["End"]))
    assert asked == (start, start + timedelta(hours=13))


def test_a_clicked_shifts_name_is_text_in_the_filled_in_notice(api, monkeypatch):
    """A member may name themself anything: a link in the name stays text on Rota."""
    chloe = user_id(api, "Chloé")
    api.update_user(chloe, first_name="[Session expired: sign in](https://evil.example/x)")
    _a_shift_of(api, chloe)
    at = console(api, monkeypatch, "rota", me=user_id(api, "Ana"))
    _click_bar(at, 2, chloe)
    at.button(key="shift_override").click().run()
    no_errors(at)
    [notice] = [i.value for i in at.info if "Filled in below" in i.value]
    assert "](https://evil.example/x)" not in notice and "\\]" in notice, notice
    assert "[Session expired: sign in](https://evil.example/x)" in plain(notice)


def test_a_clicked_shift_of_another_team_is_forgotten_when_the_team_changes(api, monkeypatch):
    chloe = user_id(api, "Chloé")
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=3)
    api.create_schedule(chloe, start, start + timedelta(hours=13), layer=1)  # the Default team
    api.create_team("Payments", [chloe, user_id(api, "Ben")])
    payments = next(t["Id"] for t in api.list_teams() if t["Name"] == "Payments")
    solve_and_publish(api, tomorrow(), 7, TeamId=payments)  # its own primary chart
    at = console(api, monkeypatch, "rota", me=user_id(api, "Ana"))
    _click_bar(at, 1, chloe)
    assert at.button(key="shift_take")  # the panel is open, under Default's primary
    at.sidebar.selectbox(key="team").set_value(payments).run()
    no_errors(at)
    assert at.session_state["_shifts_shown"][1]  # Payments' primary, drawn
    assert not [b for b in at.button if b.key == "shift_take"]  # without Default's panel


def test_the_planner_starts_from_the_published_rules_and_changes_nothing(api, monkeypatch):
    """With a two-layer Berlin roster with a 09:00 handoff published, the planner opens on
    those rules (not the viewer's zone and one layer), and re-planning a published week
    changes no slot."""
    solve_and_publish(api, tomorrow() - timedelta(days=1), 21, **BERLIN_TWO_LAYERS)
    seeded = api
    rules = seeded.get_team(1)["RosterRules"]
    # planned by the daemon: the team also keeps the plan's shift length (no run or rest rule)
    assert rules == {**BERLIN_TWO_LAYERS, "ShiftLength": "P1D"}
    at = console(seeded, monkeypatch, "planner")
    no_errors(at)
    assert at.selectbox(key="pl_zone").value == "Europe/Berlin"
    assert at.time_input(key="pl_handoff").value.strftime("%H:%M") == "09:00"
    assert at.session_state["pl_layers"] == 2
    assert any("(as here)" in c.value for c in at.caption)
    _plan_window(at, days=7)
    at.button(key="pl_solve").click().run()
    no_errors(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Slots that change"] == "0 of 14", metrics
    at.button(key="pl_publish").click().run()  # asks first: nothing is published here
    said = " ".join(plain(w.value) for w in at.warning)
    assert "The handoff 09:00 Europe/Berlin, two layers stay as published." in said, said
