"""Every console page in headless Chromium at a desktop and a phone size, as a person would use
them: screenshots of each (ONCALL_SCREENSHOT_DIR, default /tmp/screens; `.ci/run` keeps them
as CI artifacts), a contrast check on every piece of text (WCAG AA, from computed styles), and
one flow per page done by clicking: mark yourself away, solve and publish, acknowledge and
resolve (and undo), add a person. Last, the daemon is killed under the console: the sidebar
says so without a reload, and says "connected" again once `up` has restarted it.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from test_browser import (
    BROWSER_ZONE,
    browser,  # noqa: F401  (the fixture)
    open_page,
    page_text,
    running_up,
    wait_for,
    wait_until_settled,
)
from test_up import _child

from oncall_opt.client import Client
from oncall_opt.console.pages.incidents import DOUBLE_CLICK_SECONDS

pytestmark = pytest.mark.xdist_group("pages-system")

DESKTOP, PHONE = (1440, 900), (390, 844)
PAGES = [
    ("", "On call now", "Hands off"),
    ("incidents", "Incidents", "incident(s)"),
    ("rota", "Rota", "Rota"),
    ("availability", "Availability & preferences", "Coverage before solving"),
    ("planner", "Roster planner", "Solve"),
    ("people", "People", "Add a person"),
    ("services", "Services", "Services"),
    ("analytics", "Analytics", "Pages by hour of the week"),
]
RESTART_DELAY = 15.0  # seconds `up` waits before starting a killed daemon again

# WCAG 2.1 AA contrast of every visible text node's element against the colour behind it
# (the first ancestor with an opaque background), from computed styles. Disabled controls are
# exempt (WCAG 1.4.3), and so is text inside charts (Vega draws it; the charts are told in
# words beside them).
CONTRAST_JS = """
const parse = (c) => {
  const m = c && c.match(/rgba?\\(([^)]+)\\)/);
  if (!m) return null;
  const p = m[1].split(',').map((x) => parseFloat(x));
  return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
};
const lum = (c) => {
  const f = (v) => {
    v /= 255;
    return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
  };
  return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
};
const behind = (el) => {
  for (let e = el; e; e = e.parentElement) {
    const c = parse(getComputedStyle(e).backgroundColor);
    if (c && c.a >= 0.9) return c;
  }
  return {r: 255, g: 255, b: 255, a: 1};
};
const opacity = (el) => {
  let o = 1;
  for (let e = el; e; e = e.parentElement) o *= parseFloat(getComputedStyle(e).opacity || 1);
  return o;
};
const found = [];
const roots = document.querySelectorAll('[data-testid="stMain"], [data-testid="stSidebar"]');
for (const root of roots) {
  for (const el of root.querySelectorAll('*')) {
    const own = [...el.childNodes].filter((n) => n.nodeType === 3)
      .map((n) => n.textContent.trim()).join(' ').trim();
    if (!own || el.closest('svg, canvas, [data-testid="stVegaLiteChart"]')) continue;
    // Icons (Material Symbols ligatures) are not text: WCAG 1.4.11 asks 3:1 of them.
    if (el.closest('[data-testid="stIconMaterial"]')) continue;
    if (el.closest('[disabled], [aria-disabled="true"]')) continue;
    const st = getComputedStyle(el);
    const box = el.getBoundingClientRect();
    if (st.visibility === 'hidden' || st.display === 'none' || !box.width || !box.height) continue;
    const fg = parse(st.color);
    if (!fg) continue;
    // A slider's value floats above its thumb (an ancestor), on the slider's background.
    const floating = el.closest('[data-testid="stSliderThumbValue"]');
    const bg = behind(floating ? el.closest('[data-testid="stSlider"]') : el);
    const a = fg.a * opacity(el);
    if (opacity(el) < 0.1) continue;  // not shown (a slider's end labels until hovered)
    const blend = (f, b) => f * a + b * (1 - a);
    const mix = {r: blend(fg.r, bg.r), g: blend(fg.g, bg.g), b: blend(fg.b, bg.b)};
    const [hi, lo] = [lum(mix), lum(bg)].sort((x, y) => y - x);
    const ratio = (hi + 0.05) / (lo + 0.05);
    const size = parseFloat(st.fontSize);
    const large = size >= 24 || (parseInt(st.fontWeight) >= 700 && size >= 18.66);
    const needed = large ? 3 : 4.5;
    if (ratio < needed - 0.005) {
      const back = `rgb(${bg.r}, ${bg.g}, ${bg.b})`;
      found.push(`${ratio.toFixed(2)} < ${needed}: "${own.slice(0, 50)}" (${st.color} on ${back})`);
    }
  }
}
return found;
"""


@pytest.fixture(scope="module")
def system(tmp_path_factory) -> Iterator[dict[str, Any]]:
    """`python -m oncall_opt.up` with the demo seeded, on free ports, restarting a killed
    daemon after RESTART_DELAY seconds."""
    flags = ("--restart-delay", str(RESTART_DELAY))
    with running_up(tmp_path_factory.mktemp("pages"), *flags) as up, Client(up["api_url"]) as api:
        yield {**up, "api": api}


def screenshots() -> Path:
    folder = Path(os.environ.get("ONCALL_SCREENSHOT_DIR", "/tmp/screens"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def at_size(driver, size: tuple[int, int]) -> None:
    driver.set_window_size(*size)
    wait_for(
        lambda: size[0] - 20 <= driver.execute_script("return window.innerWidth") <= size[0],
        20,
        f"the window at {size}",
    )
    if driver.find_elements(By.CSS_SELECTOR, "[data-testid='stApp']"):
        wait_until_settled(driver)  # drawn again at this width


def shoot(driver, name: str, size: tuple[int, int]) -> Path:
    """The whole page at this width: the window grows to the page's height for the shot."""
    height = driver.execute_script(
        "const m = document.querySelector('[data-testid=\"stMain\"]');"
        "return Math.max(m ? m.scrollHeight : 0, document.body.scrollHeight);"
    )
    driver.set_window_size(size[0], min(max(int(height) + 40, size[1]), 6000))
    wait_until_settled(driver)
    path = screenshots() / f"{name}-{size[0]}x{size[1]}.png"
    driver.save_screenshot(str(path))
    driver.set_window_size(*size)
    return path


def contrast_problems(driver) -> list[str]:
    return driver.execute_script(CONTRAST_JS)


def no_exception(driver) -> None:
    assert not driver.find_elements(By.CSS_SELECTOR, "[data-testid='stException']")


def click(driver, css: str, what: str) -> None:
    def go() -> bool:
        driver.find_element(By.CSS_SELECTOR, css).click()  # found again: pages redraw
        return True

    wait_for(go, 20, what)


def choose(driver, key: str, option: str) -> None:
    """Pick `option` in the selectbox with Streamlit key `key` by typing it, as a person
    would with the keyboard."""
    box = wait_for(
        lambda: driver.find_element(By.CSS_SELECTOR, f".st-key-{key} input"), 20, f"box {key}"
    )
    box.click()
    box.send_keys(option)
    box.send_keys(Keys.ENTER)


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_every_page_renders_readably_at_both_sizes(system, browser, size):  # noqa: F811
    at_size(browser, size)
    problems = {}
    for path, title, text in PAGES:
        open_page(browser, f"{system['app']}/{path}", title)
        wait_for(lambda text=text: text in page_text(browser), 30, f"{text!r} on {title}")
        wait_until_settled(browser)
        no_exception(browser)
        found = contrast_problems(browser)
        if found:
            problems[title] = found
        shot = shoot(browser, f"page-{path or 'oncall'}", size)
        assert shot.stat().st_size > 5_000
    assert not problems, "\n".join(f"{t}: {p}" for t, ps in problems.items() for p in ps)


def test_the_phone_layout_puts_the_on_call_jobs_first(system, browser):  # noqa: F811
    """On a phone: the first open incident and its action are on the first screen (the
    metric cards give way to one line), the status filter fits the width, and who is on call
    next is on the On call now page."""
    at_size(browser, PHONE)
    open_page(browser, f"{system['app']}/incidents", "Incidents")
    first = wait_for(
        lambda: browser.find_element(By.CSS_SELECTOR, "[class*='st-key-incident-']"),
        30,
        "the first incident row",
    )
    wait_until_settled(browser)
    viewport = browser.execute_script("return window.innerHeight")
    assert first.rect["y"] < viewport, (first.rect, viewport)
    action = first.find_element(
        By.CSS_SELECTOR, "[class*='st-key-ack-'] button, [class*='st-key-resolve-'] button"
    )  # the row's first action: Acknowledge, or Resolve once acknowledged
    assert action.rect["y"] + action.rect["height"] <= viewport, (action.rect, viewport)
    assert "need acknowledgement" in page_text(browser)  # the phone's one-line summary
    status = browser.find_element(By.CSS_SELECTOR, ".st-key-inc_status")
    width = browser.execute_script("return document.documentElement.clientWidth")
    assert status.rect["x"] + status.rect["width"] <= width + 1, (status.rect, width)
    open_page(browser, system["app"], "On call now")
    wait_for(lambda: "Next:" in page_text(browser), 30, "who is on call next")


def test_mark_yourself_away_by_clicking(system, browser):  # noqa: F811
    at_size(browser, DESKTOP)
    api: Client = system["api"]
    first = datetime.now(ZoneInfo(BROWSER_ZONE)).date() + timedelta(days=1)  # the window's
    free = [u for u in api.list_users() if not api.get_availability(u["Id"], first, first)["Days"]]
    me = free[0]  # someone with nothing marked on the window's first day
    url = f"{system['app']}/availability?me={me['Id']}"
    open_page(browser, url, "Availability & preferences")
    assert _first_day(browser, "av_window") == first
    wait_until_settled(browser)
    choose(browser, "stretch_kind", "away")
    click(browser, "[data-testid='stFormSubmitButton'] button", "Apply")
    wait_for(lambda: "marked unavailable" in page_text(browser), 30, "the confirmation")
    days = api.get_availability(me["Id"], first, first)["Days"]
    assert days == {first.isoformat(): "unavailable"}, days
    shoot(browser, "flow-marked-away", DESKTOP)


def _first_day(driver, key: str) -> date:
    """The first day of the window the page's date input `key` shows."""
    field = wait_for(
        lambda: driver.find_element(By.CSS_SELECTOR, f".st-key-{key} input"), 30, f"{key}"
    )
    return date.fromisoformat(field.get_attribute("value").strip()[:10])


def test_solve_and_publish_by_clicking(system, browser):  # noqa: F811
    at_size(browser, DESKTOP)
    api: Client = system["api"]
    open_page(browser, f"{system['app']}/planner", "Roster planner")
    wait_until_settled(browser)
    click(browser, ".st-key-pl_solve button", "Solve")
    wait_for(lambda: "Proven the best possible" in page_text(browser), 90, "the solved roster")
    wait_until_settled(browser)
    at_size(browser, PHONE)  # the calendar fits a phone's width
    wait_until_settled(browser)
    widths = browser.execute_script(
        "return [...document.querySelectorAll('[data-testid=\"stVegaLiteChart\"]')]"
        ".filter((c) => c.offsetParent).map((c) => c.scrollWidth);"
    )
    assert widths and max(widths) <= PHONE[0], widths
    shoot(browser, "flow-solved", PHONE)
    at_size(browser, DESKTOP)
    wait_until_settled(browser)
    before = {s["Id"] for s in api.list_schedules(*_planned(browser))}
    click(browser, ".st-key-pl_publish button", "Publish")
    click(browser, ".st-key-pl_publish_yes button", "Yes, publish")
    wait_for(lambda: "Published:" in page_text(browser), 30, "the published confirmation")
    after = {s["Id"] for s in api.list_schedules(*_planned(browser))}
    assert after and after != before
    shoot(browser, "flow-published", DESKTOP)


def _planned(driver) -> tuple[str, str]:
    first = _first_day(driver, "pl_window")
    return f"{first}T12:00:00Z", f"{first + timedelta(days=27)}T12:00:00Z"


def test_acknowledge_resolve_and_undo_by_clicking(system, browser):  # noqa: F811
    at_size(browser, DESKTOP)
    api: Client = system["api"]
    target = max(api.list_incidents("triggered"), key=lambda i: i["Id"])
    iid = target["Id"]
    open_page(browser, f"{system['app']}/incidents", "Incidents")
    wait_for(lambda: browser.find_element(By.CSS_SELECTOR, f".st-key-incident-{iid}"), 30, "row")
    wait_until_settled(browser)  # the whole page drawn: what is above the row has its height
    row_top = _top(browser, f".st-key-incident-{iid}")
    click(browser, f".st-key-ack-{iid} button", "Acknowledge")
    wait_for(lambda: api.get_incident(iid)["Status"] == "acknowledged", 20, "acknowledged")
    wait_until_settled(browser)
    assert abs(_top(browser, f".st-key-incident-{iid}") - row_top) < 5, "the row stays put"
    click(browser, f".st-key-resolve-{iid} button", "Resolve")
    wait_for(lambda: api.get_incident(iid)["Status"] == "resolved", 20, "resolved")
    resolved_at = time.monotonic()
    shoot(browser, "flow-resolved", DESKTOP)
    # Undo within DOUBLE_CLICK_SECONDS of Resolve counts as the second half of a double click
    # and is dropped on purpose; a person reads the row first, and so does this test.
    wait_for(
        lambda: time.monotonic() - resolved_at > 2 * DOUBLE_CLICK_SECONDS, 5, "a reader's pause"
    )
    click(browser, f".st-key-undo-{iid} button", "Undo")
    wait_for(lambda: api.get_incident(iid)["Status"] == "acknowledged", 20, "reopened")


def _top(driver, css: str) -> float:
    """Where an element is on the page (not in the window: a click scrolls it into view)."""
    return driver.execute_script(
        "const main = document.querySelector('[data-testid=\"stMain\"]');"
        "return document.querySelector(arguments[0]).getBoundingClientRect().top"
        " + (main ? main.scrollTop : 0) + window.scrollY;",
        css,
    )


def test_add_a_person_by_clicking(system, browser):  # noqa: F811
    at_size(browser, DESKTOP)
    api: Client = system["api"]
    open_page(browser, f"{system['app']}/people", "People")
    wait_until_settled(browser)
    for key, value in (("add_first", "Grace"), ("add_last", "Hopper"), ("add_slack", "grace")):
        field = wait_for(
            lambda key=key: browser.find_element(By.CSS_SELECTOR, f".st-key-{key} input"),
            30,
            f"the {key} field",
        )
        field.send_keys(value)
    form = browser.find_element(By.CSS_SELECTOR, ".st-key-add_first").find_element(
        By.XPATH, "ancestor::*[@data-testid='stForm']"
    )
    form.find_element(By.CSS_SELECTOR, "[data-testid='stFormSubmitButton'] button").click()
    added = wait_for(
        lambda: next((u for u in api.list_users() if u["SlackHandle"] == "grace"), None),
        20,
        "Grace in the API",
    )
    assert added["FirstName"] == "Grace" and added["LastName"] == "Hopper"
    wait_for(lambda: "Grace" in page_text(browser), 20, "Grace on the page")


def test_on_call_now_redraws_itself_and_names_who_is_on_call_in_the_tab(system, browser):  # noqa: F811
    """A wallboard: a change made elsewhere shows without a reload, and the tab's title names
    who is on call."""
    at_size(browser, DESKTOP)
    api: Client = system["api"]
    open_page(browser, system["app"], "On call now")
    wait_until_settled(browser)
    primary = api.final_schedule(1, *_now_and_soon())
    on_call = next(s for s in primary if s["Layer"] == 1)["User"]["FirstName"]
    waiting = len(api.list_incidents("triggered", team_id=1))
    assert waiting > 0
    title = f"({waiting}) On call: {on_call}"  # what waits is counted, as unread mail is
    wait_for(lambda: browser.title.startswith(title), 30, f"the tab's title {title!r}")
    api.request("POST", "/incidents/acknowledge_all")
    wait_for(
        lambda: "0 waiting for an acknowledgement" in page_text(browser),
        45,  # it redraws every 30 s
        "the card to count the acknowledgements without a reload",
    )
    wait_for(lambda: browser.title.startswith(f"On call: {on_call}"), 30, "the count gone")


def _now_and_soon() -> tuple[datetime, datetime]:
    now = datetime.now(ZoneInfo("UTC"))
    return now, now + timedelta(minutes=1)


def test_the_sidebar_says_when_the_daemon_is_gone_without_a_reload(system, browser):  # noqa: F811
    """Last: kill -9 the daemon under the console; the badge turns to "daemon down" on its own,
    and back to "connected" once `up` has started the daemon again."""
    at_size(browser, DESKTOP)
    open_page(browser, f"{system['app']}/rota", "Rota")
    wait_until_settled(browser)

    def badge() -> str:
        return browser.find_element(By.CSS_SELECTOR, "[data-testid='stSidebar']").text

    assert "connected" in badge()
    os.kill(_child(system["proc"].pid, "runner.py"), signal.SIGKILL)
    wait_for(lambda: "daemon down" in badge(), RESTART_DELAY, "the badge to say daemon down")
    shoot(browser, "daemon-down", DESKTOP)
    wait_for(lambda: "connected" in badge(), RESTART_DELAY + 60, "the badge to say connected")
    assert "restarting it" in system["log"].read_text()
