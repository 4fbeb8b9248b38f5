"""Changes made from the shift you click, in headless Chromium: on On call now (desktop) an
admin clicks a teammate's bar on the timeline and overrides exactly that shift; on Rota (a
phone, 390x844) a member clicks one of her own bars and asks the team for a swap of exactly
that shift. The mouse finds the bar as a person does, by its tooltip."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from test_browser import (  # noqa: F401
    BROWSER_ZONE,
    browser,
    open_page,
    running_up,
    screenshot,
    wait_for,
    wait_until_settled,
)
from test_browser_act import PHONE, screenshot_at_phone

from oncall_opt.client import Client


@pytest.fixture(scope="module")
def team(tmp_path_factory) -> Iterator[dict[str, Any]]:
    with running_up(tmp_path_factory.mktemp("shifts")) as up, Client(up["api_url"]) as api:
        people = {u["FirstName"]: u for u in api.list_users()}
        yield {**up, "api": api, "people": people}


def click_bar(driver, layer: int, person: str) -> str:
    """Click the latest bar of `person` on the layer's timeline, where it is drawn (Vega's
    SVG names each bar's fields in its aria-label), and wait for its panel; returns the
    label, which says the shift's times as the tooltip shows them."""

    def bars() -> list:
        chart = driver.find_element(
            By.CSS_SELECTOR, f"[class*='st-key-timeline_{layer}_'] [data-testid='stVegaLiteChart']"
        )
        found = chart.find_elements(By.CSS_SELECTOR, "svg .mark-rect path[aria-label]")
        return [b for b in found if f"person: {person};" in b.get_attribute("aria-label")]

    bar = wait_for(lambda: bars()[-1], 60, f"a bar of {person} on the layer {layer} timeline")
    label = bar.get_attribute("aria-label")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", bar)
    ActionChains(driver).move_to_element(bar).click().perform()
    panel = wait_for(
        lambda: driver.find_element(By.CSS_SELECTOR, ".st-key-shift-actions"),
        60,
        "the clicked shift's panel",
    )
    wait_until_settled(driver)
    assert person in panel.text, panel.text
    return label


def open_tab(driver) -> str:
    return driver.find_element(By.CSS_SELECTOR, "[role='tab'][aria-selected='true']").text


def when(moment: str) -> str:
    """As the console and the tooltip write it, in the browser's zone: Tue 15 Dec 09:00 (with
    the year when it is not this year's)."""
    local = datetime.fromisoformat(moment).astimezone(ZoneInfo(BROWSER_ZONE))
    year = "" if local.year == datetime.now(ZoneInfo(BROWSER_ZONE)).year else f" {local.year}"
    return f"{local:%a} {local.day} {local:%b}{year} {local:%H:%M}"


def press(driver, key: str) -> None:
    # Streamlit draws a button with a tooltip twice, one of them hidden: the one shown.
    button = wait_for(
        lambda: next(
            b
            for b in driver.find_elements(By.CSS_SELECTOR, f".st-key-{key} button")
            if b.is_displayed()
        ),
        60,
        key,
    )
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
    button.click()


def press_until(driver, key: str, heading: str) -> None:
    """Press a button that opens another page, until that page's heading shows. The page
    it is on reruns every 30 s; a click that lands while it redraws is lost (seen once in
    CI under load): if the button is still there 20 s later, it is pressed again."""
    press(driver, key)
    pressed = [time.monotonic()]

    def arrived() -> bool:
        headings = driver.find_elements(By.CSS_SELECTOR, "h1")
        if headings and headings[0].text == heading:
            return True
        if time.monotonic() - pressed[-1] > 20:
            shown = [b for b in driver.find_elements(By.CSS_SELECTOR, f".st-key-{key} button")
                     if b.is_displayed()]  # fmt: skip
            if shown:
                shown[0].click()
                pressed.append(time.monotonic())
        return False

    wait_for(arrived, 90, heading)


def submit(driver, label: str) -> None:
    button = wait_for(
        lambda: driver.find_element(
            By.XPATH,
            f"//button[@data-testid='stBaseButton-secondaryFormSubmit'][contains(., '{label}')]",
        ),
        60,
        label,
    )
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
    button.click()


def test_an_admin_overrides_the_shift_she_clicked_on_the_on_call_page(team, browser, tmp_path):  # noqa: F811
    api: Client = team["api"]
    ana, ben = team["people"]["Ana"], team["people"]["Ben"]
    now = datetime.now(UTC)
    bens = {(datetime.fromisoformat(s["Start"]), datetime.fromisoformat(s["End"]))
            for s in api.final_schedule(1, now, now + timedelta(weeks=4), 1)
            if s["User"]["Id"] == ben["Id"]}  # fmt: skip
    open_page(browser, f"{team['app']}/?me={ana['Id']}", "On call now")
    wait_until_settled(browser)
    seen = click_bar(browser, 1, "Ben Okafor")
    screenshot(browser, tmp_path, "shift-clicked-on-call-now")
    press_until(browser, "shift_override", "Rota")
    wait_until_settled(browser)
    assert open_tab(browser) == "Overrides"
    main = browser.find_element(By.CSS_SELECTOR, "[data-testid='stMain']").text
    assert "Filled in below: the override of" in main, main[:1500]
    submit(browser, "Add override")  # "Who" is Ana, the admin, first in the list
    made = wait_for(
        lambda: [o for o in api.list_overrides(1, now, now + timedelta(weeks=4))
                 if o["User"]["Id"] == ana["Id"]],
        60, "the override",
    )  # fmt: skip
    [override] = made
    covered = (datetime.fromisoformat(override["Start"]), datetime.fromisoformat(override["End"]))
    assert override["Layer"] == 1 and covered in bens, (override, bens)
    assert f"from: {when(override['Start'])};" in seen, (override, seen)
    wait_until_settled(browser)
    screenshot(browser, tmp_path, "shift-overridden-on-rota")


def test_a_member_asks_for_a_swap_of_the_shift_she_clicked_on_a_phone(team, browser, tmp_path):  # noqa: F811
    api: Client = team["api"]
    chloe = team["people"]["Chloé"]
    browser.set_window_size(*PHONE)
    try:
        open_page(browser, f"{team['app']}/rota?me={chloe['Id']}", "Rota")
        wait_until_settled(browser)
        seen = click_bar(browser, 1, "Chloé Martin")
        screenshot_at_phone(browser, tmp_path, "shift-clicked-on-a-phone")
        press(browser, "shift_swap")
        wait_for(lambda: "tab=Swaps" in browser.current_url, 60, "the Swaps tab")
        wait_until_settled(browser)
        assert open_tab(browser) == "Swaps"
        submit(browser, "Ask the team")
        [swap] = wait_for(lambda: api.list_swaps(1), 60, "the swap request")
        assert swap["From"]["Id"] == chloe["Id"]
        mine = {
            (datetime.fromisoformat(s["Start"]), datetime.fromisoformat(s["End"]))
            for s in api.my_shifts(
                chloe["Id"], datetime.now(UTC), datetime.now(UTC) + timedelta(weeks=3)
            )
        }
        asked = (datetime.fromisoformat(swap["Start"]), datetime.fromisoformat(swap["End"]))
        assert asked in mine, (asked, mine)
        assert f"from: {when(swap['Start'])};" in seen, (swap, seen)
        wait_until_settled(browser)
        screenshot_at_phone(browser, tmp_path, "shift-swap-asked-on-a-phone")
    finally:
        browser.set_window_size(1440, 1000)
