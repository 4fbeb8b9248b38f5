"""Finding cover in headless Chromium, on the seeded demo team: Chloé marks a day of one of her
shifts away; the Availability page shows that shift at once with Find cover (desktop); she
presses it, and Rota's Cover tab shows the request's ranking with the why, who is asked and
until when (desktop, and a phone: 390x844, nothing wider than the screen)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from test_browser import (  # noqa: F401
    browser,
    open_page,
    page_text,
    running_up,
    screenshot,
    wait_for,
    wait_until_settled,
)
from test_browser_act import PHONE, screenshot_at_phone
from test_browser_shifts import press

from oncall_opt.client import Client


@pytest.fixture(scope="module")
def team(tmp_path_factory) -> Iterator[dict[str, Any]]:
    with running_up(tmp_path_factory.mktemp("cover")) as up, Client(up["api_url"]) as api:
        people = {u["FirstName"]: u for u in api.list_users()}
        yield {**up, "api": api, "people": people}


def test_away_over_a_shift_then_find_cover_then_its_progress(team, browser, tmp_path):  # noqa: F811
    api: Client = team["api"]
    chloe = team["people"]["Chloé"]
    now = datetime.now(UTC)
    ahead = api.my_shifts(chloe["Id"], now + timedelta(days=2), now + timedelta(weeks=5))
    shifts = [s for s in ahead if s["TeamId"] == 1 and s["Layer"] == 1]
    assert shifts, "the demo has shifts of Chloé's ahead"
    shift = shifts[0]
    day = datetime.fromisoformat(shift["End"]).date() - timedelta(days=1)
    saved = api.set_availability(chloe["Id"], day, day, {day: "unavailable"})
    assert saved["AwayShifts"], saved

    open_page(browser, f"{team['app']}/availability?me={chloe['Id']}", "Availability & preferences")
    wait_until_settled(browser)
    wait_for(lambda: "on call on days marked away" in page_text(browser), 60, "the away shifts")
    screenshot(browser, tmp_path, "cover-away-shifts-desktop")
    browser.set_window_size(*PHONE)
    try:
        wait_until_settled(browser)
        heading = next(h for h in browser.find_elements(By.CSS_SELECTOR, "h2, h3")
                       if "On call on days away" in h.text)  # fmt: skip
        browser.execute_script("arguments[0].scrollIntoView({block: 'start'})", heading)
        wait_until_settled(browser)
        width = browser.execute_script("return document.documentElement.scrollWidth")
        assert width <= PHONE[0], f"the page is {width}px wide on a {PHONE[0]}px phone"
        screenshot_at_phone(browser, tmp_path, "cover-away-shifts-phone")
    finally:
        browser.set_window_size(1440, 1000)
    press(browser, f"away_cover_{chloe['Id']}_0")
    [request] = wait_for(lambda: api.list_cover(1), 60, "the cover request")
    assert request["For"]["Id"] == chloe["Id"] and request["Reason"] == "away"
    first = request["Candidates"][0]

    open_page(browser, f"{team['app']}/rota?tab=Cover&cover={request['Id']}&me={chloe['Id']}",
              "Rota")  # fmt: skip
    wait_until_settled(browser)
    wait_for(lambda: "needs cover" in page_text(browser), 60, "the request's card")
    text = page_text(browser)
    asked = f"{request['Asked']['FirstName']} {request['Asked']['LastName']}"
    assert f"Asking {asked} until" in text, text[:2000]
    screenshot(browser, tmp_path, "cover-progress-desktop")
    browser.set_window_size(*PHONE)
    try:
        wait_until_settled(browser)
        width = browser.execute_script("return document.documentElement.scrollWidth")
        assert width <= PHONE[0], f"the page is {width}px wide on a {PHONE[0]}px phone"
        card = browser.find_element(By.CSS_SELECTOR, "[data-testid='stExpander']")
        browser.execute_script("arguments[0].scrollIntoView({block: 'start'})", card)
        wait_until_settled(browser)
        screenshot_at_phone(browser, tmp_path, "cover-progress-phone")
    finally:
        browser.set_window_size(1440, 1000)
    assert first["Why"].split(":")[0] in text
