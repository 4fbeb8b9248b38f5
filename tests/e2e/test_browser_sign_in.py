"""The console behind sign-in, in a real browser: `python -m oncall_opt.up` with an API token
prints a one-time link for the first admin; Chromium opens it and is signed in. A second
browser session (a fresh tab's websocket) sees only the sign-in form, signs in with a password,
and acts as that person."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from test_browser import (
    browser,  # noqa: F401 (the fixture)
    open_page,
    page_text,
    running_up,
    screenshot,
    wait_for,
    wait_until_settled,
)

from oncall_opt.client import Client

pytestmark = pytest.mark.xdist_group("one-system")
TOKEN = "browser-test-daemon-token"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory) -> Iterator[dict[str, Any]]:
    """The whole system with ONCALL_API_TOKEN set: the console asks everyone to sign in."""
    folder = tmp_path_factory.mktemp("guarded")
    with (
        running_up(folder, ONCALL_API_TOKEN=TOKEN) as up,
        Client(up["api_url"], token=TOKEN) as admin,
    ):
        yield {"app": up["app"], "admin": admin, "log": up["log"]}


def test_the_printed_link_signs_the_first_admin_in(guarded, browser, tmp_path):  # noqa: F811
    output = guarded["log"].read_text()
    assert TOKEN not in output
    link = re.search(r"Sign in +(http://\S+/\?login=oo_link_\S+)", output)
    assert link, output
    browser.get(link.group(1))
    wait_for(lambda: "Signed in as" in browser.find_element(
        "css selector", "[data-testid='stSidebar']").text, 60, "the signed-in sidebar")  # fmt: skip
    wait_until_settled(browser)
    sidebar = browser.find_element("css selector", "[data-testid='stSidebar']").text
    assert "Ana Silva (@ana)" in sidebar and "admin" in sidebar
    assert "login=" not in browser.current_url
    screenshot(browser, tmp_path, "signed-in-by-link")


def test_a_new_session_signs_in_with_a_password(guarded, browser, tmp_path):  # noqa: F811
    admin: Client = guarded["admin"]
    ben = next(u for u in admin.list_users() if u["SlackHandle"] == "ben")
    admin.set_password(ben["Id"], "bens-long-password")
    browser.get(guarded["app"])
    browser.delete_all_cookies()  # another browser: not signed in
    open_page(browser, guarded["app"], "Sign in")
    assert "Hands off" not in page_text(browser)
    screenshot(browser, tmp_path, "sign-in-form")
    field = wait_for(
        lambda: browser.find_element("css selector", "input[aria-label='Slack handle']"),
        30,
        "the sign-in form's fields",
    )
    field.send_keys("ben")
    password = browser.find_element("css selector", "input[aria-label='Password']")
    password.send_keys("bens-long-password")
    browser.find_element("xpath", "//button[contains(., 'Sign in')]").click()
    wait_for(lambda: "Hands off" in page_text(browser), 60, "the on-call page")
    wait_until_settled(browser)
    sidebar = browser.find_element("css selector", "[data-testid='stSidebar']").text
    assert "Ben Okafor (@ben)" in sidebar and "member" in sidebar
    screenshot(browser, tmp_path, "signed-in-by-password")

    def cookie_is_bens() -> bool:
        """The page's script writes the session cookie after the page shows: wait for it."""
        cookie = browser.get_cookie("oncall_session")
        if not cookie:
            return False
        with Client(admin.base_url, token=cookie["value"]) as session:
            return session.me()["User"]["SlackHandle"] == "ben"

    wait_for(cookie_is_bens, 30, "Ben's session cookie")


def test_a_reload_stays_signed_in_until_sign_out(guarded, browser, tmp_path):  # noqa: F811
    """Runs after the password sign-in above (same browser): the session cookie carries it
    across page loads; signing out ends it for every tab."""
    before = session_of(guarded, browser)  # what the reload carries, named if it fails
    try:
        open_page(browser, f"{guarded['app']}/people", "People")
    except AssertionError as exc:
        raise AssertionError(
            f"{exc}; session before the reload: {before}; after: {session_of(guarded, browser)}"
        ) from None
    sidebar = browser.find_element("css selector", "[data-testid='stSidebar']").text
    assert "Ben Okafor (@ben)" in sidebar, f"{sidebar}; session before the reload: {before}"
    cookie = browser.get_cookie("oncall_session")
    assert cookie and cookie["value"].startswith("oo_ses_") and cookie["sameSite"] == "Strict"
    browser.find_element("xpath", "//button[contains(., 'Sign out')]").click()
    wait_for(lambda: "Sign in" in page_text(browser), 60, "the sign-in form")
    wait_for(lambda: browser.get_cookie("oncall_session") is None, 30, "the cookie to go")
    open_page(browser, guarded["app"], "Sign in")  # a new page load is not signed in
    with Client(guarded["admin"].base_url, token=cookie["value"]) as old:
        assert_unauthenticated(old)


def session_of(guarded: dict, driver) -> str:
    """Whose session the browser's cookie holds, as the daemon says (or why none)."""
    from oncall_opt.client import ApiError

    cookie = driver.get_cookie("oncall_session")
    if not cookie:
        return "no cookie"
    try:
        with Client(guarded["admin"].base_url, token=cookie["value"]) as session:
            return f"@{session.me()['User']['SlackHandle']}"
    except ApiError as exc:
        return f"a cookie the daemon refuses ({exc.status})"


def assert_unauthenticated(client: Client) -> None:
    from oncall_opt.client import ApiError

    try:
        client.me()
    except ApiError as exc:
        assert exc.status == 401
    else:
        raise AssertionError("the signed-out session still works")
