"""A page's Acknowledge link, opened on a phone (headless Chromium at 390x844) the way the
person paged would: `python -m oncall_opt.up` pages the demo team's on-call person through a
webhook contact method (a receiver on 127.0.0.1 keeps the page), the link from the page opens
the console's confirmation (nothing changes), its button acknowledges as that person, and the
page fits the phone's width. A second tap says the link was used."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fake_receiver import Receiver
from test_browser import browser, running_up, wait_for  # noqa: F401

from oncall_opt.client import Client

PHONE = (390, 844)


@pytest.fixture(scope="module")
def paged(tmp_path_factory) -> Iterator[dict]:
    catcher = Receiver()
    folder = tmp_path_factory.mktemp("act")
    try:
        with (
            running_up(folder, ONCALL_ALLOW_PRIVATE_WEBHOOKS="true") as up,
            Client(up["api_url"]) as api,
        ):
            ana = api.scheduled(datetime.now(UTC), layer=1)["User"]  # the demo's on call
            api.add_contact_method(ana["Id"], "webhook", f"{catcher.url}/hook")
            incident = api.trigger_incident("checkout <b>down</b> on the phone")
            page = wait_for(
                lambda: next((p for p in catcher.bodies()
                              if f"#{incident['Id']}:" in p["subject"]), None),
                60, "the page to reach the webhook",
            )  # fmt: skip
            yield {**up, "api": api, "ana": ana, "incident": incident, "page": page}
    finally:
        catcher.close()


def on_the_console(app: str, url: str) -> str:
    """The link as the person would open it (ONCALL_PUBLIC_URL here is the default address,
    not the console's free port in this test)."""
    return app + urlsplit(url).path


def test_the_acknowledge_link_asks_then_acknowledges_on_a_phone(paged, browser, tmp_path):  # noqa: F811
    api, incident = paged["api"], paged["incident"]
    link = next(a["url"] for a in paged["page"]["actions"] if a["label"] == "Acknowledge")
    browser.set_window_size(*PHONE)
    try:
        browser.get(on_the_console(paged["app"], link))
        heading = browser.find_element("css selector", "h1").text
        assert heading == f"Acknowledge incident #{incident['Id']}?"
        body = browser.find_element("css selector", "body").text
        assert "checkout <b>down</b> on the phone" in body  # as text
        assert f"{paged['ana']['FirstName']} {paged['ana']['LastName']}" in body
        assert api.get_incident(incident["Id"])["Status"] == "triggered"  # opening changed nothing
        width = browser.execute_script("return document.documentElement.scrollWidth")
        assert width <= PHONE[0], f"the page is {width}px wide on a {PHONE[0]}px phone"
        button = browser.find_element("css selector", "button[type=submit]")
        assert button.size["height"] >= 44, "a thumb can hit it (44 px and up)"
        screenshot_at_phone(browser, tmp_path, "act-ask-phone")
        button.click()
        wait_for(
            lambda: "acknowledged" in browser.find_element("css selector", "h1").text,
            30, "the acknowledgement page",
        )  # fmt: skip
        after = api.get_incident(incident["Id"])
        assert after["Status"] == "acknowledged"
        assert after["AcknowledgedBy"]["Id"] == paged["ana"]["Id"]
        log = [e["Message"] for e in api.incident_log(incident["Id"])]
        assert "acknowledged via webhook link" in log, log
        screenshot_at_phone(browser, tmp_path, "act-done-phone")
        browser.get(on_the_console(paged["app"], link))
        assert browser.find_element("css selector", "h1").text == "This link cannot act"
    finally:
        browser.set_window_size(1440, 1000)


def screenshot_at_phone(driver, folder: Path, name: str) -> None:
    """The phone-sized page as it is (the shared `screenshot` widens the window)."""
    import os
    import shutil

    path = folder / f"{name}.png"
    driver.save_screenshot(str(path))
    copies = Path(os.environ.get("ONCALL_SCREENSHOT_DIR", "/tmp/screens"))
    try:
        copies.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, copies / path.name)
    except OSError:
        pass
