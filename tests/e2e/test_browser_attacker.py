"""Data is never code in the console, tried in a real browser as an attacker would: a member's
name, an incident's body, a note, a swap note, a key's name and the names of a team, a service
and a policy carry script, `<img onerror>`, Markdown images and links, and Streamlit's own
directives (`:green-badge[Resolved]`). On every page nothing runs, nothing is fetched from
another origin (a server on another port counts every request), and the text shows as typed.
The console's answers carry a Content-Security-Policy that would stop script anyway."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from selenium.webdriver.common.by import By
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

pytestmark = pytest.mark.xdist_group("attacker-system")


class Beacon:
    """A server on another port of this machine: any request it gets is a leak."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        beacon = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                beacon.hits.append(self.path)
                self.send_response(204)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def beacon() -> Iterator[Beacon]:
    server = Beacon()
    yield server
    server.close()


def payload(beacon: Beacon, where: str) -> str:
    """Everything at once, in the 200 characters a name may have: script, an image that runs
    script when it fails, a Markdown image that reports its viewer, a disguised link,
    Streamlit's badge directive."""
    text = (
        f"</script><script>window.__pwned=1</script><img src=x onerror=window.__pwned=2>"
        f" ![seen]({beacon.url}/{where}) [ack here](http://evil.example) :green-badge[Resolved]"
    )
    assert len(text) <= 190, len(text)
    return text


LITERALS = ("<script>", "![seen](", "[ack here](", ":green-badge[Resolved]")


@pytest.fixture(scope="module")
def attacked(tmp_path_factory, beacon) -> Iterator[dict[str, Any]]:
    """The whole system (no token: everyone is an admin on loopback), poisoned through the API
    wherever a person or an alert can write."""
    folder = tmp_path_factory.mktemp("attacked")
    with running_up(folder, "--no-seed") as up, Client(up["api_url"]) as api:
        now = datetime.now(UTC)
        mallory = api.create_user(payload(beacon, "first"), payload(beacon, "last"), "mallory")
        api.create_schedule(mallory["Id"], now - timedelta(hours=1), now + timedelta(hours=6))
        team = api.create_team(payload(beacon, "team"), [mallory["Id"]])
        api.create_override(team["Id"], now, now + timedelta(hours=6), mallory["Id"])
        policy = api.create_policy(
            payload(beacon, "policy"),
            [{"DelayMinutes": 0, "Targets": [{"Type": "user", "UserId": mallory["Id"]}]}],
        )
        service = api.create_service(
            payload(beacon, "service"), team["Id"], EscalationPolicyId=policy["Id"]
        )
        incident = api.trigger_incident(payload(beacon, "body"), service_id=service["Id"])
        api.add_note(incident["Id"], payload(beacon, "note"), user_id=mallory["Id"])
        api.request_swap(
            team["Id"], now + timedelta(hours=2), now + timedelta(hours=4), mallory["Id"],
            note=payload(beacon, "swap"),
        )  # fmt: skip
        api.create_api_key(mallory["Id"], payload(beacon, "key"))
        yield {**up, "api": api, "mallory": mallory, "team": team, "incident": incident}


PAGES = (
    ("", "On call now"),
    ("incidents", "Incidents"),
    ("rota", "Rota"),
    ("availability", "Availability & preferences"),
    ("planner", "Roster planner"),
    ("people", "People"),
    ("services", "Services"),
    ("analytics", "Analytics"),
)


def assert_inert(driver, beacon: Beacon, where: str) -> None:
    assert driver.execute_script("return window.__pwned === undefined"), (
        where, driver.execute_script("return window.__pwned"),
    )  # fmt: skip
    leaks = driver.find_elements(
        By.CSS_SELECTOR, f"[src^='{beacon.url}'], [href^='{beacon.url}'], a[href*='evil.example']"
    )
    assert not leaks, (where, [e.get_attribute("outerHTML")[:200] for e in leaks])
    assert not driver.find_elements(By.CSS_SELECTOR, "[data-testid='stException']"), where
    assert beacon.hits == [], (where, beacon.hits)


def test_poisoned_data_shows_as_text_on_every_page(attacked, beacon, browser, tmp_path):  # noqa: F811
    app = attacked["app"]
    mallory = attacked["mallory"]["Id"]
    team = attacked["team"]["Id"]
    for path, title in PAGES:
        # As Mallory's team, Mallory herself: her row, her keys, her team's rota.
        open_page(browser, f"{app}/{path}?me={mallory}&team={team}", title)
        wait_until_settled(browser)
        assert_inert(browser, beacon, path or "oncall")
        text = page_text(browser).replace("\u2060", "")  # invisible word joiners
        if path in ("", "incidents", "people", "services", "rota"):
            for literal in LITERALS:
                assert literal in text, (path, literal, text[:2000])
        screenshot(browser, tmp_path, f"attacked-{path or 'oncall'}")
    open_page(browser, f"{app}/?me={mallory}&team={team}", "On call now")
    wait_until_settled(browser)
    # As text, after the count of incidents waiting for an acknowledgement: "(1) On call: ...".
    assert re.match(r"(\(\d+\) )?On call: </script><script>", browser.title), browser.title


def test_a_cover_request_shows_its_poisoned_names_and_note_as_text(
    attacked,
    beacon,
    browser,  # noqa: F811
    tmp_path,
):
    app, team, mallory = attacked["app"], attacked["team"]["Id"], attacked["mallory"]["Id"]
    now = datetime.now(UTC)
    made = attacked["api"].find_cover(
        team, now + timedelta(hours=2), now + timedelta(hours=4), note=payload(beacon, "cover")
    )
    open_page(browser, f"{app}/rota?tab=Cover&cover={made['Id']}&me={mallory}&team={team}",
              "Rota")  # fmt: skip
    wait_until_settled(browser)
    wait_for(lambda: "needs cover" in page_text(browser), 60, "the request's card")
    assert_inert(browser, beacon, "cover")
    text = page_text(browser).replace("\u2060", "")
    for literal in LITERALS:
        assert text.count(literal) >= 3, (literal, text[:3000])  # label, card, note
    screenshot(browser, tmp_path, "attacked-cover")


def test_the_incident_detail_and_its_timeline_show_the_body_and_note_as_text(
    attacked,
    beacon,
    browser,  # noqa: F811
    tmp_path,
):
    iid = attacked["incident"]["Id"]
    open_page(browser, f"{attacked['app']}/incidents?me={attacked['mallory']['Id']}", "Incidents")
    wait_until_settled(browser)
    browser.find_element(By.CSS_SELECTOR, f".st-key-detail-{iid} button").click()
    # The click's script run may not have started when the page first looks settled.
    panel = ".st-key-incident-detail"
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, panel), 60, "the incident's detail")
    wait_until_settled(browser)
    detail = browser.find_element(By.CSS_SELECTOR, panel).text
    detail = detail.replace("\u2060", "")
    assert "![seen](" in detail and ":green-badge[Resolved]" in detail, detail[:1000]
    assert_inert(browser, beacon, "detail")
    screenshot(browser, tmp_path, "attacked-incident-detail")


def test_every_answer_of_the_console_carries_a_policy_that_forbids_foreign_script(attacked):
    for path in ("/", "/incidents", "/oncall/sign-in"):
        headers = httpx.get(f"{attacked['app']}{path}").headers
        policy = headers["content-security-policy"]
        assert (
            "script-src 'self'" in policy
            and "'unsafe-inline'" not in policy.split("script-src", 1)[1].split(";", 1)[0]
        ), policy
        assert "frame-ancestors 'none'" in policy and headers["x-frame-options"] == "DENY"
        assert "img-src 'self' data: blob:" in policy and "connect-src 'self'" in policy


EVIL_PAGE = """<!doctype html><html><body>
<form id="f" method="post" action="{api}/users" enctype="text/plain">
<input name='{{"LastName":"Evil","Role":"admin","SlackHandle":"eve","FirstName":"Eve'
 value='x"}}'>
</form>
<script>
fetch("{api}/incidents/acknowledge_all", {{method: "POST", mode: "no-cors",
  headers: {{"Content-Type": "text/plain"}}, body: "{{}}"}})
  .finally(() => {{ document.title = "fetched"; document.getElementById("f").submit(); }});
</script></body></html>"""


def test_another_sites_page_cannot_change_anything_in_the_no_token_daemon(attacked, browser):  # noqa: F811
    """A page on another origin (another port of this machine) posts a form whose text/plain
    body is valid JSON making an admin ("Eve=x Evil"), and fetches acknowledge_all: Chromium
    sends both, the daemon refuses both."""
    api: Client = attacked["api"]
    page = EVIL_PAGE.format(api=attacked["api_url"])

    class Evil(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            body = page.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Evil)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    users_before = {u["Id"] for u in api.list_users()}
    triggered = [i["Id"] for i in api.list_incidents("triggered")]
    assert triggered
    try:
        browser.get(f"http://127.0.0.1:{server.server_address[1]}/")
        wait_for(lambda: "/users" in browser.current_url, 30, "the forged form to be posted")
        answer = browser.find_element(By.TAG_NAME, "body").text
        assert "another site" in answer, answer  # the daemon's refusal, shown to the victim
    finally:
        server.shutdown()
        server.server_close()
    assert {u["Id"] for u in api.list_users()} == users_before
    assert [i["Id"] for i in api.list_incidents("triggered")] == triggered
