"""The console behind sign-in, in a real browser: `python -m oncall_opt.up` with an API token
prints a one-time link for the first admin; Chromium opens it, confirms, and is signed in. A
second browser session sees only the sign-in form, signs in with a password and acts as that
person; its session cookie is out of page script's reach and worth nothing against the API."""

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


def test_the_printed_link_asks_then_signs_the_first_admin_in(guarded, browser, tmp_path):  # noqa: F811
    output = guarded["log"].read_text()
    assert TOKEN not in output
    link = re.search(r"Sign in +(http://\S+/\?login=oo_link_\S+)", output)
    assert link, output
    browser.get(link.group(1))
    confirm = wait_for(lambda: browser.find_element("xpath", "//form//button[.='Sign in']"),
                       60, "the link's confirmation")  # fmt: skip
    assert "login=" not in browser.current_url  # the code left the address bar at once
    screenshot(browser, tmp_path, "sign-in-link-confirmation")
    confirm.click()
    wait_for(lambda: "Signed in as" in browser.find_element(
        "css selector", "[data-testid='stSidebar']").text, 60, "the signed-in sidebar")  # fmt: skip
    wait_until_settled(browser)
    sidebar = browser.find_element("css selector", "[data-testid='stSidebar']").text
    assert "Ana Silva (@ana)" in sidebar and "admin" in sidebar
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
    browser.find_element("xpath", "//form//button[contains(., 'Sign in')]").click()
    wait_for(lambda: "Hands off" in page_text(browser), 60, "the on-call page")
    wait_until_settled(browser)
    sidebar = browser.find_element("css selector", "[data-testid='stSidebar']").text
    assert "Ben Okafor (@ben)" in sidebar and "member" in sidebar
    screenshot(browser, tmp_path, "signed-in-by-password")


def test_the_session_cookie_is_out_of_scripts_reach_and_worthless_to_the_api(
    guarded,
    browser,  # noqa: F811
):
    """Runs after the password sign-in above (same browser)."""
    cookie = session_cookie(browser)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict", cookie
    assert cookie["name"] not in browser.execute_script("return document.cookie")
    with Client(guarded["admin"].base_url, token=cookie["value"]) as replay:
        assert_unauthenticated(replay)  # a stolen copy replayed against the API


def test_a_reload_stays_signed_in_until_sign_out(guarded, browser, tmp_path):  # noqa: F811
    """Runs after the password sign-in above (same browser): the session cookie carries it
    across page loads; signing out ends it for every tab."""
    open_page(browser, f"{guarded['app']}/people", "People")
    sidebar = browser.find_element("css selector", "[data-testid='stSidebar']").text
    assert "Ben Okafor (@ben)" in sidebar, sidebar
    # The sidebar renders in pieces: the name can be there before the button below it.
    sign_out = wait_for(
        lambda: browser.find_elements("xpath", "//button[contains(., 'Sign out')]"),
        30, "the Sign out button",
    )  # fmt: skip
    sign_out[0].click()
    wait_for(lambda: "Sign in" in page_text(browser), 60, "the sign-in form")
    open_page(browser, guarded["app"], "Sign in")  # a new page load is not signed in


def session_cookie(driver) -> dict:
    cookies = [c for c in driver.get_cookies() if c["name"].endswith("oncall_console")]
    assert len(cookies) == 1, driver.get_cookies()
    return cookies[0]


def assert_unauthenticated(client: Client) -> None:
    from oncall_opt.client import ApiError

    try:
        client.me()
    except ApiError as exc:
        assert exc.status == 401
    else:
        raise AssertionError("the API took the console's cookie as a credential")


def test_on_an_empty_database_the_printed_link_makes_the_first_admin(tmp_path, browser):  # noqa: F811
    """`up --no-seed` with a token and nobody in the database: the printed link signs in a
    new admin, whom the console asks for their own name and Slack handle."""
    with running_up(tmp_path, "--no-seed", ONCALL_API_TOKEN=TOKEN) as up:
        link = re.search(r"Sign in +(http://\S+/\?login=oo_link_\S+)", up["log"].read_text())
        assert link, up["log"].read_text()
        browser.get(link.group(1))
        wait_for(lambda: browser.find_element("xpath", "//form//button[.='Sign in']"),
                 60, "the link's confirmation").click()  # fmt: skip
        wait_for(lambda: "first admin" in page_text(browser), 60, "the first admin's form")
        wait_until_settled(browser)
        screenshot(browser, tmp_path, "first-admin-setup")
        for label, value in (("First name", "Zoë"), ("Last name", "Ngata"),
                             ("Slack handle", "zoe")):  # fmt: skip
            browser.find_element("css selector", f"input[aria-label='{label}']").send_keys(value)
        browser.find_element("xpath", "//button[contains(., 'Save')]").click()
        side = "[data-testid='stSidebar']"
        wait_for(lambda: "Zoë Ngata (@zoe)" in browser.find_element("css selector", side).text,
                 60, "the admin's own name")  # fmt: skip
        with Client(up["api_url"], token=TOKEN) as admin:
            [zoe] = admin.list_users()
        assert (zoe["SlackHandle"], zoe["Role"]) == ("zoe", "admin")
        assert "first admin" not in page_text(browser)
