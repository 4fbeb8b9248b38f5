"""A change that breaks the team's rules, in headless Chromium against the one command's system
(the demo team): Ana, an admin, marked the coming days away; her override of the next shift is
refused with the reason, the "I know, do it anyway" checkbox unlocks making it, and the Rota
then lists it with what it breaks and outlines it on the timeline. Screenshots at desktop
(1366x900) and phone (390x844) sizes go to ONCALL_SCREENSHOT_DIR (default /tmp/screens)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from selenium.webdriver.common.by import By
from test_browser import (  # noqa: F401
    BROWSER_ZONE,
    browser,
    open_page,
    running_up,
    wait_for,
    wait_until_settled,
)
from test_browser_shifts import press, submit

from oncall_opt.client import Client

DESKTOP, PHONE = (1366, 900), (390, 844)


@pytest.fixture(scope="module")
def team(tmp_path_factory) -> Iterator[dict[str, Any]]:
    with running_up(tmp_path_factory.mktemp("rules")) as up, Client(up["api_url"]) as api:
        people = {u["FirstName"]: u for u in api.list_users()}
        yield {**up, "api": api, "people": people}


def shot(driver, folder: Path, name: str, size: tuple[int, int]) -> None:
    """The page at `size` wide, as tall as its content (at least `size`'s height)."""
    driver.set_window_size(*size)
    wait_until_settled(driver)
    height = driver.execute_script(
        "const m = document.querySelector('[data-testid=\"stMain\"]');"
        "return Math.max(m ? m.scrollHeight : 0, document.body.scrollHeight);"
    )
    driver.set_window_size(size[0], min(max(int(height) + 40, size[1]), 5000))
    wait_until_settled(driver)
    path = folder / f"{name}.png"
    driver.save_screenshot(str(path))
    copies = Path(os.environ.get("ONCALL_SCREENSHOT_DIR", "/tmp/screens"))
    copies.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, copies / path.name)
    driver.set_window_size(*size)


def main_text(driver) -> str:
    return driver.find_element(By.CSS_SELECTOR, "[data-testid='stMain']").text


def test_an_admin_is_refused_then_says_i_know(team, browser, tmp_path):  # noqa: F811
    api: Client = team["api"]
    ana = team["people"]["Ana"]
    today = datetime.now(ZoneInfo(BROWSER_ZONE)).date()
    days = [today + timedelta(days=k) for k in range(4)]
    api.set_availability(ana["Id"], days[0], days[-1], dict.fromkeys(days, "unavailable"))
    browser.set_window_size(*DESKTOP)
    open_page(browser, f"{team['app']}/rota?me={ana['Id']}", "Rota")
    wait_until_settled(browser)
    submit(browser, "Add override")  # Ana (first in "Who"), from the next handoff, a day
    wait_for(lambda: "Not done: this breaks" in main_text(browser), 60, "the refusal")
    wait_until_settled(browser)
    text = main_text(browser)
    assert "Ana Silva marked" in text and "away (the whole day:" in text, text[:2000]
    assert "I know, do it anyway" in text
    go = browser.find_element(By.CSS_SELECTOR, ".st-key-iknow-go-override button")
    assert not go.is_enabled()  # until "I know" is ticked
    now = datetime.now(UTC)
    assert api.list_overrides(1, now - timedelta(days=1), now + timedelta(days=8)) == []
    shot(browser, tmp_path, "rules-refused-desktop", DESKTOP)
    browser.set_window_size(*PHONE)
    wait_until_settled(browser)
    shot(browser, tmp_path, "rules-refused-phone", PHONE)
    browser.set_window_size(*DESKTOP)
    wait_until_settled(browser)
    browser.find_element(By.CSS_SELECTOR, ".st-key-iknow-override label").click()
    wait_for(
        lambda: browser.find_element(
            By.CSS_SELECTOR, ".st-key-iknow-go-override button"
        ).is_enabled(),
        30,
        "the button unlocked",
    )
    press(browser, "iknow-go-override")
    [made] = wait_for(
        lambda: api.list_overrides(1, now - timedelta(days=1), now + timedelta(days=8)),
        60,
        "the override",
    )
    assert made["User"]["Id"] == ana["Id"] and made["RulesBroken"].startswith("Ana Silva marked")
    wait_for(lambda: "made anyway by" in main_text(browser), 60, "the override listed")
    shot(browser, tmp_path, "rules-i-know-rota-desktop", DESKTOP)
    browser.set_window_size(*PHONE)
    wait_until_settled(browser)
    shot(browser, tmp_path, "rules-i-know-rota-phone", PHONE)
    browser.set_window_size(*DESKTOP)
    open_page(browser, f"{team['app']}/?me={ana['Id']}", "On call now")
    wait_until_settled(browser)
    bars = browser.find_elements(By.CSS_SELECTOR, "svg .mark-rect path[aria-label]")
    assert any("breaks the team's rules" in (b.get_attribute("aria-label") or "") for b in bars)
    shot(browser, tmp_path, "rules-on-call-now-desktop", DESKTOP)
