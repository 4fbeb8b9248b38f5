"""The console when the daemon asks for credentials: nothing but a sign-in form until the viewer
signs in (password or one-time link), then every request carries their session and their role
shapes what they may do. AppTest against a real daemon with ONCALL_API_TOKEN."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from live_server import serve
from pydantic import SecretStr
from streamlit.testing.v1 import AppTest

from oncall_opt.api import create_app
from oncall_opt.client import Client
from oncall_opt.engine.settings import Settings
from oncall_opt.engine.store import Store

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app_streamlit.py")
PEOPLE = "oncall_opt/console/pages/people.py"
PLANNER = "oncall_opt/console/pages/planner.py"
TOKEN = "console-test-daemon-token"


@pytest.fixture
def daemon(tmp_path, monkeypatch) -> Iterator[Client]:
    """A daemon with a token, an admin (ana) and a member (ben), both with passwords; the
    console's environment holds the daemon's token, which it must not use."""
    store = Store(tmp_path / "t.duckdb")
    app = create_app(store, Settings(api_token=SecretStr(TOKEN)), run_jobs=False)
    try:
        with serve(app) as url, Client(url, token=TOKEN) as admin:
            for first, handle, role in (("Ana", "ana", "admin"), ("Ben", "ben", "member")):
                person = admin.create_user(first, "X", handle, role=role)
                admin.set_password(person["Id"], f"{handle}-password-1")
            monkeypatch.setenv("ONCALL_API_URL", url)
            monkeypatch.setenv("ONCALL_API_TOKEN", TOKEN)
            monkeypatch.setenv("ONCALL_UI_TIME_ZONE", "Europe/Berlin")
            yield admin
    finally:
        store.close()


def fresh() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    return at


def sign_in(at: AppTest, handle: str, password: str) -> AppTest:
    at.text_input(key="sign_in_handle").input(handle)
    at.text_input(key="sign_in_password").input(password)
    at.button[0].click().run()
    return at


def test_nothing_but_the_sign_in_form_until_signed_in(daemon):
    at = fresh()
    assert not at.exception
    assert [t.value for t in at.title] == ["Sign in"]
    assert not at.sidebar.markdown  # no navigation, no daemon data
    sign_in(at, "ana", "wrong password")
    assert any("wrong Slack handle or password" in e.value for e in at.error)
    assert [t.value for t in at.title] == ["Sign in"]


def test_a_password_sign_in_shows_the_console_as_that_person(daemon):
    at = sign_in(fresh(), "@ana", "ana-password-1")
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "On call now"
    sidebar = "\n".join(m.value for m in at.sidebar.markdown)
    assert "Signed in as **Ana X (@ana)** · admin" in sidebar
    incident = daemon.trigger_incident("disk full")
    at.switch_page("oncall_opt/console/pages/incidents.py").run()
    at.button(key=f"ack-{incident['Id']}").click().run()
    acked = daemon.get_incident(incident["Id"])
    assert acked["Acknowledged"] and acked["AcknowledgedBy"]["SlackHandle"] == "ana"
    at.sidebar.button(key="sign_out").click().run()
    assert [t.value for t in at.title] == ["Sign in"]


def test_a_one_time_link_signs_in_once(daemon):
    ben = next(u for u in daemon.list_users() if u["SlackHandle"] == "ben")
    code = daemon.login_link(ben["Id"])["Code"]
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["login"] = code
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "On call now"
    assert "login" not in at.query_params  # the code leaves the address bar
    assert any("Signed in as Ben X (@ben)" in s.value for s in at.success)
    again = AppTest.from_file(APP, default_timeout=60)
    again.query_params["login"] = code
    again.run()
    assert [t.value for t in again.title] == ["Sign in"]
    assert any("used already" in e.value for e in again.error)


def test_a_member_sees_people_read_only_and_cannot_publish(daemon):
    at = sign_in(fresh(), "ben", "ben-password-1")
    at.switch_page(PEOPLE).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.data_editor and at.dataframe  # a table, not an editor
    assert not [b for b in at.button if b.label in ("Add", "Send a test message")]
    assert "Your account" in [h.value for h in at.subheader]
    at.text_input(key="new_key_name").input("grafana")
    next(b for b in at.button if b.label == "Make a key").click().run()
    keys = daemon.list_api_keys(
        next(u["Id"] for u in daemon.list_users() if u["SlackHandle"] == "ben")
    )
    assert [k["Name"] for k in keys] == ["grafana"]
    shown = [c.value for c in at.code]
    assert shown and shown[0].startswith("oo_key_")
    with Client(daemon.base_url, token=shown[0]) as as_ben:
        assert as_ben.me()["User"]["SlackHandle"] == "ben"


def test_an_admin_makes_a_sign_in_link_for_someone(daemon):
    at = sign_in(fresh(), "ana", "ana-password-1")
    at.switch_page(PEOPLE).run()
    assert at.data_editor  # admins edit the team
    ben = next(u for u in daemon.list_users() if u["SlackHandle"] == "ben")
    at.selectbox(key="link_for").set_value(ben["Id"])
    next(b for b in at.button if b.label == "Make a link").click().run()
    link = next(c.value for c in at.code if "?login=" in c.value)
    with Client(daemon.base_url) as anonymous:
        session = anonymous.login(code=link.split("?login=")[1])
    assert session["User"]["Id"] == ben["Id"]
