"""Browser notifications in headless Chromium, as a person turns them on: the console's frame
asks first (a button in it: browsers ask only when the person asks), and with permission
granted every incident waiting for that person shows once, a new one within seconds of being
triggered, under the console's policy that allows script only from the console itself."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from test_browser import (  # noqa: F401
    browser,
    open_page,
    running_up,
    screenshot,
    wait_for,
    wait_until_settled,
)

from oncall_opt.client import Client


@pytest.fixture(scope="module")
def team(tmp_path_factory) -> Iterator[dict[str, Any]]:
    with (
        running_up(tmp_path_factory.mktemp("notify"), ONCALL_UI_REFRESH="1") as up,
        Client(up["api_url"]) as api,
    ):
        yield {**up, "api": api}


def turn_on(driver) -> None:
    toggle = wait_for(
        lambda: next(
            e
            for e in driver.find_elements(By.CSS_SELECTOR, "[data-testid='stSidebar'] label")
            if "Notify me in this browser" in e.text
        ),
        60,
        "the notifications toggle",
    )
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", toggle)
    toggle.click()


def frame_text(driver) -> str:
    frame = wait_for(
        lambda: driver.find_element(By.CSS_SELECTOR, "[data-testid='stSidebar'] iframe"),
        60,
        "the notifications frame",
    )
    driver.switch_to.frame(frame)
    try:
        return wait_for(
            lambda: (t := driver.find_element(By.ID, "alerts").text) != "Loading…" and t,
            30,
            "the frame's script",
        )
    finally:
        driver.switch_to.default_content()


def notified(driver) -> list[str]:
    return json.loads(driver.execute_script(
        "return window.localStorage.getItem('oncall-notified') || '[]'"))  # fmt: skip


def test_notifications_ask_first_then_show_what_waits_for_me(team, browser, tmp_path):  # noqa: F811
    api: Client = team["api"]
    on_call = api.scheduled()["User"]
    mine = {f"oncall-incident-{i['Id']}" for i in api.list_incidents("triggered")
            if (i.get("Assignee") or {}).get("Id") == on_call["Id"]}  # fmt: skip
    assert mine, "the demo's waiting incidents go to whoever is on call"

    open_page(browser, f"{team['app']}/incidents?me={on_call['Id']}", "Incidents")
    turn_on(browser)
    assert frame_text(browser) == "Allow notifications"  # nothing shown before permission
    assert notified(browser) == []

    browser.execute_cdp_cmd(
        "Browser.grantPermissions",
        {"origin": team["app"], "permissions": ["notifications"]},
    )
    browser.refresh()
    wait_until_settled(browser)
    turn_on(browser)  # kept for this tab only: a reload starts off
    assert frame_text(browser) == "On in this browser."
    wait_for(lambda: set(notified(browser)) == mine, 30, "a notification per waiting incident")
    screenshot(browser, tmp_path, "notifications-on")

    new = api.trigger_incident("checkout is down for everyone")  # paged: whoever is on call
    assert api.get_incident(new["Id"])["Assignee"]["Id"] == on_call["Id"]
    wait_for(lambda: f"oncall-incident-{new['Id']}" in notified(browser), 60,
             "the new incident's notification")  # fmt: skip
    assert sorted(notified(browser)) == sorted({*mine, f"oncall-incident-{new['Id']}"})
    # Remembered while it waits, forgotten once acknowledged (the list stays short).
    api.acknowledge(new["Id"], user_id=on_call["Id"])
    wait_for(lambda: f"oncall-incident-{new['Id']}" not in notified(browser), 60,
             "the acknowledged incident forgotten")  # fmt: skip
    assert set(notified(browser)) == mine
