"""The console when the daemon asks for credentials: nothing but a sign-in form until the viewer
signs in, through the console's own sign-in route, whose answer sets a cookie that page script
cannot read and that is worth nothing against the API; a one-time link asks before it signs
anyone in or replaces a sign-in. The route is driven over HTTP (Starlette's test client), the
pages with AppTest (which cannot carry cookies, so it is handed the cookie's value as the
browser session's), against a real daemon with ONCALL_API_TOKEN."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from live_server import serve
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.testclient import TestClient
from streamlit.testing.v1 import AppTest

from oncall_opt.api import create_app
from oncall_opt.client import FIRST_ADMIN, ApiError, Client
from oncall_opt.console import common, server, sessions
from oncall_opt.engine.settings import Settings
from oncall_opt.engine.store import Store

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app_streamlit.py")
PEOPLE = "oncall_opt/console/pages/people.py"
TOKEN = "console-test-daemon-token"
CONSOLE = "http://127.0.0.1:8501"


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


@pytest.fixture
def route(daemon) -> Iterator[TestClient]:
    """The console's own routes and headers (what `st.App` serves beside the pages)."""
    app = Starlette(routes=server.routes(), middleware=server.middleware())
    with TestClient(app, base_url=CONSOLE, follow_redirects=False,
                    client=("198.51.100.7", 40000)) as client:  # fmt: skip
        yield client


def sign_in(route: TestClient, handle: str, password: str, **headers: str):
    return route.post(
        "/oncall/sign-in",
        data={"SlackHandle": handle, "Password": password, "next": "/incidents"},
        headers=headers,
    )


def cookie_of(response) -> tuple[str, str]:
    """The console session cookie an answer sets: (its value, the whole Set-Cookie line)."""
    line = response.headers["set-cookie"]
    name, value = line.split(";", 1)[0].split("=", 1)
    assert name == sessions.PLAIN_COOKIE, line  # plain http: the __Host- name needs https
    return value, line


def app_as(session_id: str | None = None, **query: str) -> AppTest:
    """The console, as a browser whose cookie holds `session_id`."""
    at = AppTest.from_file(APP, default_timeout=60)
    if session_id:
        at.session_state[common.SID] = session_id
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    return at


def forms(at: AppTest) -> str:
    return "\n".join(h.proto.body for h in at.get("html") if "<form" in h.proto.body)


def sidebar(at: AppTest) -> str:
    text = "\n".join(m.value for m in at.sidebar.markdown)
    return re.sub(r"\\(.)", r"\1", text).replace("\u2060", "")


# ----- the sign-in route --------------------------------------------------------------------------
def test_nothing_but_the_sign_in_form_until_signed_in(daemon):
    at = app_as()
    assert not at.exception
    assert [t.value for t in at.title] == ["Sign in"]
    assert not at.sidebar.markdown  # no navigation, no daemon data
    form = forms(at)
    assert 'action="/oncall/sign-in"' in form and 'method="post"' in form
    assert 'name="SlackHandle"' in form and 'type="password"' in form
    assert "<script" not in form and not at.text_input  # no password through Streamlit


def test_a_password_sign_in_sets_a_cookie_script_cannot_read_and_the_api_refuses(daemon, route):
    response = sign_in(route, "@ana", "ana-password-1")
    assert response.status_code == 303 and response.headers["location"] == "/incidents"
    value, line = cookie_of(response)
    assert "HttpOnly" in line and "SameSite=strict" in line and "Path=/" in line
    assert "oo_ses_" not in line and TOKEN not in line
    # The cookie is worth nothing against the API: a stolen copy replayed there is refused.
    with Client(daemon.base_url, token=value) as replay, pytest.raises(ApiError) as refused:
        replay.me()
    assert refused.value.status == 401
    held = sessions.REGISTRY.get(value)
    assert held is not None and held.user["SlackHandle"] == "ana" and held.role == "admin"
    with Client(daemon.base_url, token=held.token) as as_ana:  # what the console uses
        assert as_ana.me()["User"]["SlackHandle"] == "ana"
    assert "content-security-policy" in response.headers


def test_a_wrong_password_shows_the_form_again_with_the_reason_escaped(daemon, route):
    response = sign_in(route, "<b>ana</b>", "wrong password")
    assert response.status_code == 401
    assert "wrong Slack handle or password" in response.text
    assert "<b>ana" not in response.text and "set-cookie" not in response.headers
    assert 'name="SlackHandle"' in response.text  # the form again


def test_a_sign_in_from_another_sites_page_is_refused(daemon, route):
    forged = sign_in(route, "ana", "ana-password-1", Origin="http://evil.example")
    assert forged.status_code == 403 and "set-cookie" not in forged.headers
    fetched = sign_in(route, "ana", "ana-password-1", **{"Sec-Fetch-Site": "cross-site"})
    assert fetched.status_code == 403
    huge = route.post("/oncall/sign-in", content=b"SlackHandle=" + b"a" * 20000,
                      headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert huge.status_code == 413


def test_failed_sign_ins_count_against_the_browsers_address_not_the_consoles(daemon, route):
    """The console tells the daemon whose attempt it is (X-Forwarded-For from loopback), so
    one guesser's failures do not lock everyone else out of the console."""
    for _ in range(5):
        assert sign_in(route, "ana", "a wrong guess").status_code == 401
    assert sign_in(route, "ana", "ana-password-1").status_code == 429  # this browser
    app = Starlette(routes=server.routes(), middleware=server.middleware())
    with TestClient(app, base_url=CONSOLE, follow_redirects=False,
                    client=("203.0.113.9", 40000)) as elsewhere:  # fmt: skip
        assert sign_in(elsewhere, "ana", "ana-password-1").status_code == 303


# ----- the pages, signed in --------------------------------------------------------------------
def test_the_cookies_session_shows_the_console_as_that_person_until_sign_out(daemon, route):
    value, _ = cookie_of(sign_in(route, "ana", "ana-password-1"))
    at = app_as(value)
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "On call now"
    assert "Signed in as **Ana X (@ana)** · admin" in sidebar(at)
    incident = daemon.trigger_incident("disk full")
    at.switch_page("oncall_opt/console/pages/incidents.py").run()
    at.button(key=f"ack-{incident['Id']}").click().run()
    acked = daemon.get_incident(incident["Id"])
    assert acked["Acknowledged"] and acked["AcknowledgedBy"]["SlackHandle"] == "ana"
    token = sessions.REGISTRY.get(value).token
    at.sidebar.button(key="sign_out").click().run()
    assert [t.value for t in at.title] == ["Sign in"]
    assert sessions.REGISTRY.get(value) is None  # every tab's cookie now names nothing
    with Client(daemon.base_url, token=token) as old, pytest.raises(ApiError):
        old.me()  # ended at the daemon too
    assert [t.value for t in app_as(value).title] == ["Sign in"]


def test_a_member_sees_people_read_only_and_cannot_publish(daemon, route):
    value, _ = cookie_of(sign_in(route, "ben", "ben-password-1"))
    at = app_as(value)
    at.switch_page(PEOPLE).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.data_editor and at.dataframe  # a table, not an editor
    assert not [b for b in at.button if b.label in ("Add", "Send a test message")]
    assert "Your account" in [h.value for h in at.subheader]
    at.text_input(key="new_key_name").input("grafana")
    next(b for b in at.button if b.label == "Make a key").click().run()
    ben = next(u["Id"] for u in daemon.list_users() if u["SlackHandle"] == "ben")
    assert [k["Name"] for k in daemon.list_api_keys(ben)] == ["grafana"]
    shown = [c.value for c in at.code]
    assert shown and shown[0].startswith("oo_key_")
    with Client(daemon.base_url, token=shown[0]) as as_ben:
        assert as_ben.me()["User"]["SlackHandle"] == "ben"


# ----- one-time links ---------------------------------------------------------------------------
def test_a_link_asks_first_and_then_signs_in_once(daemon, route):
    ben = next(u for u in daemon.list_users() if u["SlackHandle"] == "ben")
    code = daemon.login_link(ben["Id"])["Code"]
    at = app_as(login=code)  # what the printed link opens
    assert [t.value for t in at.title] == ["Sign in with a link"]
    assert "login" not in at.query_params  # the code leaves the address bar
    assert f'name="Code" value="{code}"' in forms(at)
    page = route.get("/oncall/sign-in", params={"code": code})  # a link preview, say
    assert page.status_code == 200 and "Sign in" in page.text
    confirmed = route.post("/oncall/sign-in", data={"Code": code, "next": "/"})
    assert confirmed.status_code == 303  # the code was not spent by looking at it
    value, _ = cookie_of(confirmed)
    assert sessions.REGISTRY.get(value).user["Id"] == ben["Id"]
    again = route.post("/oncall/sign-in", data={"Code": code})
    assert again.status_code == 401 and "used already" in again.text


def test_a_link_never_replaces_a_sign_in_without_asking(daemon, route):
    ana_cookie, _ = cookie_of(sign_in(route, "ana", "ana-password-1"))
    ben = next(u for u in daemon.list_users() if u["SlackHandle"] == "ben")
    code = daemon.login_link(ben["Id"])["Code"]
    at = app_as(ana_cookie, login=code)
    assert "You are signed in as <strong>Ana X (@ana)</strong>" in forms(at)
    at.button(key="keep_session").click().run()  # stay as Ana: nothing changes
    assert at.title[0].value == "On call now" and "Ana X (@ana)" in sidebar(at)
    assert not any("No sign-in" in w.value for w in at.sidebar.warning)  # signed in: no warning
    # Confirming switches: Ana's session ends here and at the daemon.
    ana_token = sessions.REGISTRY.get(ana_cookie).token
    route.cookies.set(sessions.PLAIN_COOKIE, ana_cookie)
    switched = route.post("/oncall/sign-in", data={"Code": code})
    ben_cookie, _ = cookie_of(switched)
    assert sessions.REGISTRY.get(ana_cookie) is None
    assert sessions.REGISTRY.get(ben_cookie).user["SlackHandle"] == "ben"
    with Client(daemon.base_url, token=ana_token) as old, pytest.raises(ApiError):
        old.me()


def test_an_admin_makes_a_sign_in_link_for_someone(daemon, route):
    value, _ = cookie_of(sign_in(route, "ana", "ana-password-1"))
    at = app_as(value)
    at.switch_page(PEOPLE).run()
    assert at.data_editor  # admins edit the team
    ben = next(u for u in daemon.list_users() if u["SlackHandle"] == "ben")
    at.selectbox(key="link_for").set_value(ben["Id"])
    next(b for b in at.button if b.label == "Make a link").click().run()
    link = next(c.value for c in at.code if "?login=" in c.value)
    with Client(daemon.base_url) as anonymous:
        session = anonymous.login(code=link.split("?login=")[1])
    assert session["User"]["Id"] == ben["Id"]


def test_over_https_only_the_host_prefixed_cookie_counts():
    planted = {sessions.PLAIN_COOKIE: "planted", sessions.SECURE_COOKIE: "real"}
    assert sessions.cookie_value(planted, secure=True) == "real"
    assert sessions.cookie_value({sessions.PLAIN_COOKIE: "planted"}, secure=True) is None
    assert sessions.cookie_value(planted, secure=False) == "planted"


def test_the_pages_websocket_refuses_another_origin_even_another_port(daemon):
    """What a viewer does goes through the WebSocket, and the browser sends the SameSite cookie
    to another port of the same host: a page there must not get one."""
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocketDisconnect

    async def stream(websocket) -> None:
        await websocket.accept()
        await websocket.send_text("hello")
        await websocket.close()

    app = Starlette(routes=[WebSocketRoute("/_stcore/stream", stream)],
                    middleware=server.middleware())  # fmt: skip
    host = {"Host": CONSOLE.removeprefix("http://")}  # the test client's own is "testserver"
    with TestClient(app, base_url=CONSOLE) as client:
        with client.websocket_connect("/_stcore/stream", headers={**host, "Origin": CONSOLE}) as ws:
            assert ws.receive_text() == "hello"
        for origin in ("http://127.0.0.1:9999", "http://localhost:8501", "https://evil.example"):
            with (
                pytest.raises(WebSocketDisconnect),
                client.websocket_connect("/_stcore/stream", headers={**host, "Origin": origin}),
            ):
                pass


def test_a_person_in_by_link_sets_a_first_password_and_then_needs_it_to_change_it(daemon, route):
    dev = daemon.create_user("Dev", "X", "dev")  # no password: signs in by link
    code = daemon.login_link(dev["Id"])["Code"]
    value, _ = cookie_of(route.post("/oncall/sign-in", data={"Code": code}))
    route.cookies.clear()  # the checks below sign in as another browser would
    at = app_as(value)
    at.switch_page(PEOPLE).run()

    def set_password(current: str, new: str) -> None:
        at.text_input(key="current_password").input(current)
        at.text_input(key="new_password").input(new)
        at.text_input(key="new_password_again").input(new)
        next(b for b in at.button if b.label == "Set password").click().run()

    set_password("", "devs-first-password")
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert sign_in(route, "dev", "devs-first-password").status_code == 303
    route.cookies.clear()
    set_password("a wrong guess", "devs-second-password")
    assert any("not your current password" in e.value.replace("\\", "") for e in at.error)
    set_password("devs-first-password", "devs-second-password")
    assert sign_in(route, "dev", "devs-second-password").status_code == 303


def test_the_setup_links_first_admin_says_who_they_are(daemon, route):
    """`up --no-seed` on an empty database makes a placeholder admin and prints a one-time
    link for it (tests/e2e/test_browser_sign_in.py): the console asks them who they are."""
    first = daemon.create_user(*FIRST_ADMIN.values(), role="admin")
    code = daemon.login_link(first["Id"])["Code"]
    value, _ = cookie_of(route.post("/oncall/sign-in", data={"Code": code}))
    at = app_as(value)
    assert not at.exception
    assert any("first admin" in m.value for m in at.markdown)
    at.text_input(key="fa_first").input("Zoë")
    at.text_input(key="fa_last").input("Ngata")
    at.text_input(key="fa_handle").input("zoe")
    at.selectbox(key="fa_zone").set_value("Asia/Tokyo")
    next(b for b in at.get("form_submit_button") if b.label == "Save").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    me = daemon.get_user(first["Id"])
    assert (me["FirstName"], me["LastName"], me["SlackHandle"], me["TimeZone"]) == (
        "Zoë", "Ngata", "zoe", "Asia/Tokyo")  # fmt: skip
    assert not any("first admin" in m.value for m in at.markdown)  # asked once
    # Anyone else (an admin with another name) is never asked.
    ana_value, _ = cookie_of(sign_in(route, "ana", "ana-password-1"))
    assert not any("first admin" in m.value for m in app_as(ana_value).markdown)
