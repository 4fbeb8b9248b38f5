"""End to end in a real browser: the one command (`python -m oncall_opt.up`) starts the daemon
and `streamlit run` on free ports, headless Chromium (Debian's /usr/bin/chromium with
chromium-driver, through Selenium) opens the Incidents page and clicks Acknowledge, and the API
says the incident was acknowledged. Ctrl-C (SIGINT) then stops both processes, exit code 0.

Screenshots go to pytest's temporary folder and are copied to ONCALL_SCREENSHOT_DIR (default
/tmp/screens) for people to look at.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

from oncall_opt.client import Client

# One worker runs this module: its tests share one running system, and the last one stops it.
pytestmark = pytest.mark.xdist_group("one-system")

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ROOT = Path(__file__).resolve().parents[2]
BROWSER_ZONE = "Europe/Berlin"


def free_ports(count: int) -> list[int]:
    """Distinct free ports (all held open while choosing, so none is handed out twice)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def wait_for(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except AssertionError:
            raise
        except Exception as exc:  # not there yet: stale element, connection refused, ...
            last = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what} (last error: {last})")


@contextlib.contextmanager
def running_up(folder: Path, *flags: str, **env: str) -> Iterator[dict[str, Any]]:
    """`python -m oncall_opt.up` on free ports with a fresh database in `folder` (the demo team
    seeded), its output in `folder/up.log`; SIGINT when done. Yields the console's and the
    daemon's URLs, the process and the log's path."""
    api_port, app_port = free_ports(2)
    log_path = folder / "up.log"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ONCALL_")}
    environ.update(env)
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "oncall_opt.up",
                "--db", str(folder / "oncall.duckdb"),
                "--api", f"127.0.0.1:{api_port}",
                "--port", str(app_port),
                # Open (no sign-in) unless the test gives a token: the tests act as anyone.
                *([] if "ONCALL_API_TOKEN" in env else ["--no-auth"]),
                *flags,
            ],
            cwd=ROOT, env=environ, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip

        def started() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"python -m oncall_opt.up exited with {proc.returncode}")
            return "Ctrl-C stops both" in log_path.read_text()

        try:
            try:
                wait_for(started, 120, "the system to start")
            except AssertionError as exc:
                raise AssertionError(f"{exc}; its output:\n{log_path.read_text()}") from None
            yield {
                "app": f"http://127.0.0.1:{app_port}",
                "api_url": f"http://127.0.0.1:{api_port}",
                "proc": proc,
                "log": log_path,
            }
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


@pytest.fixture(scope="module")
def system(tmp_path_factory) -> Iterator[dict[str, Any]]:
    """`python -m oncall_opt.up` on free ports with a fresh database (the demo team seeded)."""
    with running_up(tmp_path_factory.mktemp("system")) as up, Client(up["api_url"]) as api:
        yield {**up, "api": api}


@pytest.fixture(scope="module")
def browser(tmp_path_factory) -> Iterator[Any]:
    """Headless Chromium. Without it the browser tests are skipped on a laptop, and fail under
    CI=true (.ci/run installs it): a CI run never passes without having run them."""
    for tool in (CHROMIUM, CHROMEDRIVER):
        if not tool.exists():
            message = f"{tool.name} not found: apt-get install chromium chromium-driver"
            if os.environ.get("CI") == "true":
                pytest.fail(message)
            pytest.skip(message)
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1440,1000",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
    ):
        options.add_argument(flag)
    service = Service(str(CHROMEDRIVER), env={**os.environ, "TZ": BROWSER_ZONE})
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def settled(driver) -> bool:
    """Streamlit's script run is over (what it raised is on the page by now), every element
    has drawn, and so has every chart shown on the page."""
    app = driver.find_element("css selector", "[data-testid='stApp']")
    if app.get_attribute("data-test-script-state") != "notRunning":
        return False
    # An element whose code is still loading (the browser fetches each kind's script on first
    # use) stands as a placeholder of another height until it arrives: slow on a loaded machine.
    if driver.find_elements("css selector", "[data-testid='stSkeleton']"):
        return False
    charts = driver.find_elements("css selector", "[data-testid='stVegaLiteChart']")
    # A chart in a tab or expander that is not open is not drawn until it is shown.
    return all(
        chart.find_elements("css selector", "canvas, svg")
        for chart in charts
        if chart.is_displayed()
    )


def wait_until_settled(driver, timeout: float = 60) -> None:
    WebDriverWait(driver, timeout, ignored_exceptions=[StaleElementReferenceException]).until(
        settled, f"the page to finish its script run and draw its charts within {timeout} s"
    )


def screenshot(driver, folder: Path, name: str) -> Path:
    """The whole page (Streamlit scrolls inside its main section), into `folder`, and a copy in
    ONCALL_SCREENSHOT_DIR (default /tmp/screens)."""
    height = driver.execute_script(
        "const m = document.querySelector('[data-testid=\"stMain\"]');"
        "return Math.max(m ? m.scrollHeight : 0, document.body.scrollHeight);"
    )
    size = (1440, min(max(int(height) + 40, 900), 5000))
    driver.set_window_size(*size)
    WebDriverWait(driver, 30).until(
        lambda d: (d.get_window_size()["width"], d.get_window_size()["height"]) == size,
        f"the window to be {size}",
    )
    wait_until_settled(driver)  # charts redrawn at the new size
    path = folder / f"{name}.png"
    driver.save_screenshot(str(path))
    driver.set_window_size(1440, 1000)
    copies = Path(os.environ.get("ONCALL_SCREENSHOT_DIR", "/tmp/screens"))
    try:
        copies.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, copies / path.name)
    except OSError:
        pass
    return path


def page_text(driver) -> str:
    return driver.find_element("css selector", "[data-testid='stMain']").text


def open_page(driver, url: str, title: str) -> None:
    driver.get(url)
    try:
        wait_for(
            lambda: any(
                h.text.strip() == title for h in driver.find_elements("css selector", "h1")
            ),
            60,
            f"the page titled {title!r}",
        )
    except AssertionError as exc:  # say what was there instead
        seen = [h.text.strip() for h in driver.find_elements("css selector", "h1")]
        text = driver.find_element("css selector", "body").text[:500]
        raise AssertionError(f"{exc}; titles on the page: {seen}; its text: {text!r}") from None


def test_acknowledge_an_incident_in_a_real_browser(system, browser, tmp_path):
    api: Client = system["api"]
    triggered = [i for i in api.list_incidents("triggered")]
    assert triggered, "the demo data has no triggered incident"
    target = min(triggered, key=lambda i: i["Id"])

    open_page(browser, f"{system['app']}/incidents", "Incidents")
    selector = f".st-key-ack-{target['Id']} button"
    button = wait_for(
        lambda: browser.find_element("css selector", selector), 30, "the Acknowledge button"
    )
    assert button.text.strip() == "Acknowledge"
    screenshot(browser, tmp_path, "incidents-before-ack")

    def click() -> bool:
        browser.find_element("css selector", selector).click()  # re-found: the list refreshes
        return True

    wait_for(click, 15, "a click on Acknowledge")
    after = wait_for(
        lambda: (i := api.get_incident(target["Id"]))["Status"] == "acknowledged" and i,
        20,
        "the API to report the incident acknowledged",
    )
    assert after["AcknowledgedAt"] is not None
    wait_for(
        lambda: not browser.find_elements("css selector", selector),
        20,
        "the row to drop its Acknowledge button",
    )
    shot = screenshot(browser, tmp_path, "incidents-acknowledged")
    assert shot.stat().st_size > 10_000
    # Times are shown in the browser's zone.
    assert f"{BROWSER_ZONE} (this browser)" in browser.page_source

    # The list refreshes itself every few seconds and keeps its filters.
    def status_line() -> str:
        captions = browser.find_elements("css selector", "[data-testid='stCaptionContainer']")
        return next(c.text for c in captions if "refreshed" in c.text)

    browser.find_element(
        "xpath", "//*[contains(@class, 'st-key-inc_status')]//button[contains(., 'Acknowledged')]"
    ).click()
    first = wait_for(lambda: "· acknowledged ·" in (line := status_line()) and line, 20, "filter")
    later = wait_for(lambda: (line := status_line()) != first and line, 20, "a refresh")
    assert "· acknowledged ·" in later


def test_every_page_in_the_browser(system, browser, tmp_path):
    """Each page renders without an error box or exception; screenshots for people to check."""
    pages = [
        ("", "On call now", "Hands off"),
        ("availability", "Availability & preferences", "Coverage before solving"),
        ("people", "People", "Add a person"),
        ("planner", "Roster planner", "Solve"),
    ]
    for path, title, text in pages:
        open_page(browser, f"{system['app']}/{path}", title)
        wait_for(lambda text=text: text in page_text(browser), 30, f"{text!r} on {title}")
        wait_until_settled(browser)
        assert not browser.find_elements("css selector", "[data-testid='stException']")
        screenshot(browser, tmp_path, f"page-{path or 'oncall'}")

    browser.find_element("css selector", ".st-key-pl_solve button").click()
    wait_for(lambda: "Proven the best possible" in page_text(browser), 60, "the solved roster")
    wait_until_settled(browser)
    assert not browser.find_elements("css selector", "[data-testid='stException']")
    screenshot(browser, tmp_path, "page-planner-solved")


def test_ctrl_c_stops_both_cleanly(system):
    """Last in this module: SIGINT to the one command stops the console and the daemon. No
    browser needed: this runs without Chromium too."""
    proc = system["proc"]
    api_url, app_url = system["api"].base_url, system["app"]
    assert httpx.get(f"{app_url}/_stcore/health", timeout=5).is_success
    proc.send_signal(signal.SIGINT)
    assert proc.wait(30) == 0
    for url in (f"{api_url}/users", f"{app_url}/_stcore/health"):
        with pytest.raises(httpx.ConnectError):
            httpx.get(url, timeout=2)
