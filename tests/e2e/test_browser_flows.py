"""Issue 23's flows in headless Chromium, as a person does them: an incident opened by its
address (shared in chat, say) and acknowledged from its detail; a planner opened on a
published two-layer Berlin roster, solved and published without changing a slot or the
handoff; and the clicked shift's panel at phone size, checked for contrast and width."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from published import BERLIN_TWO_LAYERS, solve_and_publish
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from test_browser import (  # noqa: F401
    BROWSER_ZONE,
    browser,
    open_page,
    page_text,
    running_up,
    wait_for,
    wait_until_settled,
)
from test_browser_pages import DESKTOP, PHONE, at_size, click, contrast_problems, shoot
from test_browser_shifts import click_bar

from oncall_opt.client import Client


@pytest.fixture(scope="module")
def team(tmp_path_factory) -> Iterator[dict[str, Any]]:
    with running_up(tmp_path_factory.mktemp("flows")) as up, Client(up["api_url"]) as api:
        yield {**up, "api": api}


def test_an_incident_opens_by_its_address_and_is_acknowledged_there(team, browser):  # noqa: F811
    api: Client = team["api"]
    target = min(api.list_incidents("triggered"), key=lambda i: i["Id"])
    iid = target["Id"]
    at_size(browser, DESKTOP)
    open_page(browser, f"{team['app']}/incidents?incident={iid}", "Incidents")
    detail = wait_for(
        lambda: browser.find_element(By.CSS_SELECTOR, ".st-key-incident-detail"), 60, "detail"
    )
    wait_until_settled(browser)
    assert f"#{iid}" in detail.text and "incident" in browser.current_url
    click(browser, f".st-key-detail-ack-{iid} button", "the detail's Acknowledge")
    wait_for(lambda: api.get_incident(iid)["Status"] == "acknowledged", 30, "acknowledged")
    wait_until_settled(browser)
    assert f"incident={iid}" in browser.current_url  # still its address
    shoot(browser, "flow-incident-by-address", DESKTOP)


def _slots(api: Client, first: date, days: int) -> list[tuple[int, str, int]]:
    start = datetime.combine(first, datetime.min.time(), ZoneInfo(BROWSER_ZONE))
    return sorted(
        (s["Layer"], s["Start"], s["User"]["Id"])
        for s in api.final_schedule(1, start, start + timedelta(days=days))
    )


def test_a_planner_opened_on_a_published_berlin_roster_changes_nothing(team, browser):  # noqa: F811
    api: Client = team["api"]
    today = datetime.now(ZoneInfo(BROWSER_ZONE)).date()
    solve_and_publish(api, today - timedelta(days=1), 40, **BERLIN_TWO_LAYERS)  # 4 weeks+
    first = today + timedelta(days=1)  # the planner's default window: 28 days from tomorrow
    before = _slots(api, first, 28)
    at_size(browser, DESKTOP)
    open_page(browser, f"{team['app']}/planner", "Roster planner")
    wait_until_settled(browser)
    text = page_text(browser)
    assert "Europe/Berlin" in text and "09:00" in text
    click(browser, ".st-key-pl_solve button", "Solve")
    try:
        wait_for(lambda: "Proven the best possible" in page_text(browser), 120, "the roster")
    except AssertionError:
        shoot(browser, "flow-publish-berlin-unsolved", DESKTOP)
        raise AssertionError(page_text(browser)[:3000]) from None
    wait_until_settled(browser)
    tab = "//*[@role='tab'][contains(., 'Changes against the published roster')]"
    wait_for(lambda: browser.find_element(By.XPATH, tab), 30, "the changes tab").click()
    wait_for(lambda: "Slots that change" in page_text(browser), 30, "the changes")
    assert "0 of 56" in page_text(browser), page_text(browser)[:3000]
    click(browser, ".st-key-pl_publish button", "Publish")
    wait_for(lambda: "Publish?" in page_text(browser), 30, "the question")
    said = page_text(browser)
    assert "The handoff 09:00 Europe/Berlin, two layers stay as published." in said.replace(
        "\u2060", ""
    )  # fmt: skip
    shoot(browser, "flow-publish-berlin-unchanged", DESKTOP)
    click(browser, ".st-key-pl_publish_yes button", "Yes, publish")
    wait_for(lambda: "Published:" in page_text(browser), 30, "the published confirmation")
    assert _slots(api, first, 28) == before  # not one slot moved
    # published with the input.json it was planned from: the plan's shift length too
    assert api.get_team(1)["RosterRules"] == {**BERLIN_TWO_LAYERS, "ShiftLength": "P1D"}


def test_the_clicked_shifts_panel_reads_and_fits_on_a_phone(team, browser):  # noqa: F811
    api: Client = team["api"]
    someone = api.scheduled(datetime.now(UTC) + timedelta(days=3))["User"]
    name = f"{someone['FirstName']} {someone['LastName']}"
    at_size(browser, PHONE)
    try:
        open_page(browser, f"{team['app']}/rota?me={someone['Id']}", "Rota")
        wait_until_settled(browser)
        click_bar(browser, 1, name)
        panel = browser.find_element(By.CSS_SELECTOR, ".st-key-shift-actions")
        width = browser.execute_script("return document.documentElement.clientWidth")
        assert panel.rect["x"] + panel.rect["width"] <= width + 1, (panel.rect, width)
        buttons = panel.find_elements(By.CSS_SELECTOR, "button")
        assert all(b.rect["x"] + b.rect["width"] <= width + 1 for b in buttons if b.is_displayed())
        assert not contrast_problems(browser)
        shoot(browser, "flow-shift-panel", PHONE)
    finally:
        at_size(browser, DESKTOP)


def test_a_policy_is_edited_by_names_with_the_keyboard(team, browser):  # noqa: F811
    """Step 2 of the Default policy becomes "A person: Ben Okafor", typed as a person types
    in the grid (names, never ids), and saved."""
    api: Client = team["api"]
    ben = next(u for u in api.list_users() if u["FirstName"] == "Ben")
    at_size(browser, DESKTOP)
    open_page(browser, f"{team['app']}/services", "Services")
    wait_until_settled(browser)
    policy = wait_for(
        lambda: next(e for e in browser.find_elements(
            By.CSS_SELECTOR, "[data-testid='stExpander'] summary") if "Default: 1." in e.text),
        30, "the Default policy",
    )  # fmt: skip
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", policy)
    policy.click()
    grid = wait_for(
        lambda: browser.find_element(
            By.CSS_SELECTOR, ".st-key-policy-1 [data-testid='stDataFrame']"
        ),
        30,
        "the policy's grid",
    )
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", grid)
    wait_until_settled(browser)
    assert "None" not in grid.text

    def keys(*pressed: str) -> None:
        ActionChains(browser).send_keys(*pressed).perform()

    width, height = grid.size["width"], grid.size["height"]

    def focused() -> bool:  # clicked again until the grid has the keyboard (it may be drawing)
        ActionChains(browser).move_to_element_with_offset(
            grid,
            70 - width // 2,
            35 + 17 - height // 2,  # row 1's Step, past the selector
        ).click().perform()
        return browser.execute_script("return arguments[0].contains(document.activeElement)", grid)

    def editor_open() -> bool:  # the cell's editor is drawn in the page's portal
        return bool(browser.find_elements(By.CSS_SELECTOR, "#portal > *"))

    def choose(row: int, column: int, typed: str) -> None:
        """Pick `typed` in a cell, from the keyboard; each choice reruns the page, which
        draws the grid again (and takes its keyboard): wait for that before the next one."""

        def opened() -> bool:
            """Focus, walk to the cell and press Enter; under load a rerun still drawing
            can take the keyboard back, so the editor may not open: then try again."""
            wait_for(focused, 20, "the grid to have the keyboard")
            keys(Keys.ARROW_UP, *[Keys.ARROW_DOWN] * (row - 1), *[Keys.ARROW_RIGHT] * (column - 1))
            keys(Keys.ENTER)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                if editor_open():
                    return True
                time.sleep(0.25)
            return False

        wait_for(opened, 45, f"the choices of column {column}", interval=0)
        keys(typed, Keys.TAB)  # Tab picks the choice and moves right
        wait_for(lambda: not editor_open(), 10, f"{typed!r} chosen")
        wait_until_settled(browser)

    choose(2, 3, "A person")  # Page
    choose(2, 6, "Ben")  # Person

    def step_two_pages_a_person() -> list | None:
        steps = next(p for p in api.list_policies() if p["Id"] == 1)["Steps"]
        if steps[1]["Targets"][0]["Type"] == "user":
            return steps
        # Not saved yet: the first click on Save may only take the focus from the grid.
        for button in browser.find_elements(By.CSS_SELECTOR, ".st-key-save-policy-1 button"):
            button.click()
        return None

    try:
        saved = wait_for(step_two_pages_a_person, 30, "the saved policy", interval=2)
    except AssertionError:
        shoot(browser, "flow-policy-by-names-failed", DESKTOP)
        raise
    assert saved[1]["Targets"] == [
        {"Type": "user", "TeamId": None, "Layer": None, "UserId": ben["Id"]}
    ]
    assert saved[0]["Targets"][0]["Type"] == "layer"  # step 1 as it was
    shoot(browser, "flow-policy-by-names", DESKTOP)
