"""Apprise contact methods (Telegram, Teams, Discord, Matrix, Mattermost...), with the real
`apprise` library posting to a Mattermost stand-in on 127.0.0.1: the URL is a credential (never
shown back, only Apprise's privacy form), a code verifies it, a page carries the incident's
link and its action links with the alert's text escaped for Markdown; URLs that would post
anywhere (json://, a private host) are refused."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread

import pytest
from fastapi.testclient import TestClient

from oncall_opt.api import create_app
from oncall_opt.engine.jobs.loop import JobLoop
from oncall_opt.engine.settings import Settings

LOCAL = "http://127.0.0.1"
HOOK_TOKEN = "mattermost-hook-SECRET-token"


def ok(response, status: int = 200):
    assert response.status_code == status, response.text
    return response.json()


class Mattermost:
    """Mattermost's incoming webhook: POST /hooks/{token} with JSON; answers `status` (200)."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict]] = []
        self.status = 200
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                server.posts.append((self.path, json.loads(body)))
                self.send_response(server.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def mattermost() -> Iterator[Mattermost]:
    server = Mattermost()
    yield server
    server.close()


def client_for(store, clock, **settings):
    settings = Settings(public_url="https://oncall.example.com", **settings)
    app = create_app(store, settings, clock, run_jobs=False)
    client = TestClient(base_url=LOCAL, app=app)
    client.jobs = JobLoop(store, settings, clock, sleep=lambda s: None)
    return client


@pytest.fixture
def api(store, clock):
    with client_for(store, clock, allow_private_webhooks=True) as client:
        yield client


@pytest.fixture
def ana(api, clock):
    ana = ok(api.post("/users", json={"FirstName": "Ana", "LastName": "X", "SlackHandle": "ana"}))
    shift = {"Start": clock.now().isoformat(), "End": "2027-12-31T00:00:00Z"}
    ok(api.post(f"/users/{ana['Id']}/schedules", json=shift))
    return ana


def text_of(post: dict) -> str:
    return post["text"] if "text" in post else json.dumps(post)


def test_an_apprise_url_is_verified_by_code_and_never_shown_back(api, ana, mattermost):
    url = f"mmost://127.0.0.1:{mattermost.port}/{HOOK_TOKEN}"
    body = {"Type": "apprise", "Address": url, "Name": "team chat"}
    made = ok(api.post(f"/users/{ana['Id']}/contact-methods", json=body), 201)
    assert made["Verified"] is False
    listed = api.get(f"/users/{ana['Id']}/contact-methods")
    assert HOOK_TOKEN not in json.dumps(made) and HOOK_TOKEN not in listed.text
    assert made["Address"].startswith(f"mmost://127.0.0.1:{mattermost.port}/")
    api.jobs.run_once()
    [(path, post)] = mattermost.posts
    assert path == f"/hooks/{HOOK_TOKEN}"
    code = re.search(r"\b(\d{6})\b", text_of(post)).group(1)
    assert ok(api.post(f"/contact-methods/{made['Id']}/verify", json={"Code": code}))["Verified"]


def test_a_page_links_the_incident_and_its_actions_with_the_alert_text_escaped(
    api, ana, mattermost
):
    url = f"mmost://127.0.0.1:{mattermost.port}/{HOOK_TOKEN}"
    made = ok(api.post(f"/users/{ana['Id']}/contact-methods",
                       json={"Type": "apprise", "Address": url}), 201)  # fmt: skip
    ok(api.post(f"/contact-methods/{made['Id']}/verify", json={"Verified": True}))
    body = "db **down** [click](https://evil.example) `x`"
    incident = ok(api.post("/incidents", json={"Body": body}))
    api.jobs.run_once()
    shown = text_of(mattermost.posts[-1][1])
    assert "**down**" not in shown and r"\*\*down\*\*" in shown
    assert "[click](https://evil.example)" not in shown and r"\[click\]" in shown
    opened = f"[Open](<https://oncall.example.com/incidents?incident={incident['Id']}>)"
    assert opened in shown
    assert "[Acknowledge](<https://oncall.example.com/oncall/act/oo_act_" in shown
    assert "[Resolve](<https://oncall.example.com/oncall/act/oo_act_" in shown
    sent = ok(api.get(f"/incidents/{incident['Id']}/notifications"))["Items"]
    assert [n["Status"] for n in sent] == ["sent"]


def test_a_service_that_does_not_take_it_is_retried_and_says_which(api, ana, mattermost):
    mattermost.status = 500
    url = f"mmost://127.0.0.1:{mattermost.port}/{HOOK_TOKEN}"
    ok(api.post(f"/users/{ana['Id']}/contact-methods", json={"Type": "apprise", "Address": url}),
       201)  # fmt: skip
    api.jobs.run_once()
    [row] = api.app.state.store.rows("SELECT status, last_error FROM notifications")
    assert row == {"status": "queued", "last_error": "Mattermost did not take it"}, row


@pytest.mark.parametrize(
    ("address", "words"),
    [
        ("json://93.184.216.34/hook", "not an Apprise URL of a service"),
        ("https://hooks.example.com/x", "not an Apprise URL of a service"),
        ("tgram://", "not a valid Telegram Apprise URL"),
        ("mmosts://127.0.0.1/token", "ONCALL_APPRISE_HOSTS"),
        ("gotifys://10.1.2.3/token", "ONCALL_APPRISE_HOSTS"),
        ("mmosts://chat.example.com/token", "ONCALL_APPRISE_HOSTS"),  # public, not listed
        ("workflows://127.0.0.1:8443/wf/sig", "ONCALL_APPRISE_HOSTS"),  # a host in the URL
        ("matrixs://user:pw@evil.example.org/#room", "ONCALL_APPRISE_HOSTS"),
    ],
)
def test_urls_that_could_post_anywhere_are_refused_and_not_quoted(store, clock, address, words):
    with client_for(store, clock) as api:  # private destinations not allowed: the default
        ana = ok(api.post("/users", json={"FirstName": "A", "LastName": "X", "SlackHandle": "a"}))
        refused = api.post(f"/users/{ana['Id']}/contact-methods",
                           json={"Type": "apprise", "Address": address})  # fmt: skip
        assert refused.status_code == 400, refused.text
        assert "Address" in refused.text and words in refused.text
        assert address not in refused.text
        assert ok(api.get(f"/users/{ana['Id']}/contact-methods"))["Items"] == []


def test_a_self_hosted_service_on_a_host_the_operator_lists_is_taken(store, clock):
    with client_for(store, clock, apprise_hosts="chat.example.com, Matrix.Example.org") as api:
        ana = ok(api.post("/users", json={"FirstName": "A", "LastName": "X", "SlackHandle": "a"}))
        for address in ("mmosts://chat.example.com/token",
                        "matrixs://bot:pw@matrix.example.org/#oncall"):  # fmt: skip
            made = ok(api.post(f"/users/{ana['Id']}/contact-methods",
                               json={"Type": "apprise", "Address": address}), 201)  # fmt: skip
            assert "pw" not in made["Address"] and "token" not in made["Address"]


def test_an_at_in_the_alert_mentions_nobody_on_discord_or_mattermost():
    from oncall_opt.engine.paging.channels import Message
    from oncall_opt.engine.paging.channels.apprise_url import _with_options, markdown_of

    title, body = markdown_of(Message(subject="@everyone disk", text="<@&123456> @channel hi"))
    for said in (title, body):
        assert "@everyone" not in said and "@channel" not in said and "<@&" not in said
    assert "everyone" in title and "channel" in body
    url = _with_options("discord://1/abc?rto=600&cto=600&format=text&avatar=no", markdown=True)
    assert "rto" not in url and "cto" not in url and "format=markdown" in url
    assert "avatar=no" in url and "format=text" not in url
