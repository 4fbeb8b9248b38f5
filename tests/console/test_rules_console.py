"""The console when a change breaks the team's rules, with AppTest against a real daemon that asks
for credentials: a member taking over sees every reason and no way round it; an admin's override
is refused with the reason, and the "I know, do it anyway" checkbox unlocks making it, which the
daemon records and Rota then shows. Names reach the page escaped.

Cy is on the primary layer and Ben (whose last name is markup) on the secondary for the next
six hours: Ben on primary too would be on both layers at once."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from live_server import serve
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.testclient import TestClient
from streamlit.testing.v1 import AppTest

from oncall_opt.api import create_app
from oncall_opt.client import Client
from oncall_opt.console import common, server, sessions
from oncall_opt.engine.settings import Settings
from oncall_opt.engine.store import Store

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app_streamlit.py")
ROTA = "oncall_opt/console/pages/rota.py"
TOKEN = "rules-console-daemon-token"
BERLIN = ZoneInfo("Europe/Berlin")
BEN_LAST = "<b>Okafor</b>"
BEN_ESCAPED = "Ben \\<b\\>Okafor\\<\\/b\\>"  # as Markdown that shows the characters


@pytest.fixture
def daemon(tmp_path, monkeypatch) -> Iterator[dict]:
    store = Store(tmp_path / "t.duckdb")
    app = create_app(store, Settings(api_token=SecretStr(TOKEN)), run_jobs=False)
    try:
        with serve(app) as url, Client(url, token=TOKEN) as admin:
            people = {}
            for first, last, handle, role in (
                ("Ana", "Silva", "ana", "admin"),
                ("Ben", BEN_LAST, "ben", "member"),
                ("Cy", "Lee", "cy", "member"),
            ):
                people[handle] = admin.create_user(first, last, handle, role=role)["Id"]
                admin.set_password(people[handle], f"{handle}-password-1")
            now = datetime.now(UTC)
            admin.create_schedule(people["cy"], now - timedelta(hours=1), now + timedelta(hours=6))
            admin.create_schedule(
                people["ben"], now - timedelta(hours=1), now + timedelta(hours=6), layer=2
            )
            monkeypatch.setenv("ONCALL_API_URL", url)
            monkeypatch.setenv("ONCALL_API_TOKEN", TOKEN)
            monkeypatch.setenv("ONCALL_UI_TIME_ZONE", "Europe/Berlin")
            yield {"api": admin, "ids": people}
    finally:
        store.close()


def rota_as(handle: str) -> AppTest:
    """The Rota page as `handle`, signed in through the console's own route."""
    app = Starlette(routes=server.routes(), middleware=server.middleware())
    with TestClient(app, base_url="http://127.0.0.1:8501", follow_redirects=False) as route:
        answer = route.post(
            "/oncall/sign-in",
            data={"SlackHandle": handle, "Password": f"{handle}-password-1", "next": "/"},
        )
    name, value = answer.headers["set-cookie"].split(";", 1)[0].split("=", 1)
    assert name == sessions.PLAIN_COOKIE
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state[common.SID] = value
    at.run()
    at.switch_page(ROTA).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def refusals(at: AppTest) -> list[str]:
    return [e.value for e in at.error if "Not done: this breaks the team's rules" in e.value]


def test_a_member_sees_why_and_no_way_round(daemon):
    at = rota_as("ben")
    at.button(key="take_now").click().run()
    assert not at.exception, [e.value for e in at.exception]
    [shown] = refusals(at)
    # The name is data: escaped Markdown, so the page shows the characters, not bold text.
    assert f"{BEN_ESCAPED} would be on primary and secondary at once from" in shown
    assert "<b>" not in shown
    assert not [c for c in at.checkbox if c.key == "iknow-take"]  # admins only
    assert not [b for b in at.button if b.key == "iknow-go-take"]
    assert any("Only an admin can make a change" in c.value for c in at.caption)
    api = daemon["api"]
    now = datetime.now(UTC)
    assert api.list_overrides(1, now - timedelta(hours=1), now + timedelta(days=1)) == []
    at.button(key="iknow-dismiss-take").click().run()
    assert not refusals(at)


def test_an_admin_says_i_know_and_the_override_is_recorded(daemon):
    api, ids = daemon["api"], daemon["ids"]
    at = rota_as("ana")
    start = (datetime.now(UTC) + timedelta(hours=1)).astimezone(BERLIN)
    start = start.replace(minute=0, second=0, microsecond=0)
    end = start + timedelta(hours=2)
    at.selectbox(key="ov_who").set_value(ids["ben"])
    at.date_input(key="ov_from_day").set_value(start.date())
    at.time_input(key="ov_from_time").set_value(start.time().replace(tzinfo=None))
    at.date_input(key="ov_to_day").set_value(end.date())
    at.time_input(key="ov_to_time").set_value(end.time().replace(tzinfo=None))
    next(b for b in at.get("form_submit_button") if b.label == "Add override").click().run()
    assert not at.exception, [e.value for e in at.exception]
    [shown] = refusals(at)
    assert "would be on primary and secondary at once from" in shown
    read = re.sub(r"\\(.)", r"\1", shown)  # as the reader sees it
    # The team has no time zone of its own: its times are UTC.
    assert f"{start.astimezone(UTC):%a %-d %b %Y %H:%M} UTC to " in read
    assert f" to {end.astimezone(UTC):%a %-d %b %Y %H:%M} UTC" in read
    window = (start - timedelta(days=1), end + timedelta(days=1))
    assert api.list_overrides(1, *window) == []
    go = at.button(key="iknow-go-override")
    assert go.disabled  # not until "I know" is ticked
    at.checkbox(key="iknow-override").check().run()
    assert not at.button(key="iknow-go-override").disabled
    at.button(key="iknow-go-override").click().run()
    assert not at.exception, [e.value for e in at.exception]
    [made] = api.list_overrides(1, *window)
    assert made["User"]["Id"] == ids["ben"] and made["KnownBy"] == ids["ana"]
    assert made["RulesBroken"].startswith(f"Ben {BEN_LAST} would be on primary and secondary")
    assert not refusals(at)
    # Rota lists it with what it breaks and who knew (escaped).
    listed = [m.value for m in at.markdown if "made anyway by" in m.value]
    assert listed and "made anyway by Ana Silva" in listed[0]
    assert f"{BEN_ESCAPED} would be on primary" in listed[0]


def test_an_admin_sets_the_teams_rules_on_the_people_page(daemon):
    api = daemon["api"]
    at = rota_as("ana")
    at.switch_page("oncall_opt/console/pages/people.py").run()
    assert not at.exception, [e.value for e in at.exception]
    at.text_input(key="team-zone-1").input("Europe/Berlin")
    at.text_input(key="team-handoff-1").input("09:00")
    at.number_input(key="team-max-1").set_value(2)
    at.number_input(key="team-rest-1").set_value(3)
    at.button(key="team-save-1").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert api.get_team(1)["RosterRules"] == {
        "TimeZone": "Europe/Berlin", "Handoff": "09:00", "MaxConsecutiveShifts": 2,
        "MinRestShifts": 3,
    }  # fmt: skip
    shown = [c.value for c in at.caption if c.value.startswith("Rules:")]
    assert shown and "at most 2 in a row" in shown[0] and "at least 3 free" in shown[0]
    # A bad value is refused naming the rule; the team keeps its rules.
    at.text_input(key="team-length-1").input("one day")
    at.button(key="team-save-1").click().run()
    said = [re.sub(r"\\(.)", r"\1", e.value) for e in at.error]
    assert any("RosterRules.ShiftLength: 'one day' is not an ISO 8601" in e for e in said), said
    assert "ShiftLength" not in api.get_team(1)["RosterRules"]
