"""A team's Slack webhook, set through the API, cannot make the daemon reach its own network
(SSRF): every loopback and private spelling is refused when given, the name is checked again at
each send (DNS rebinding), the send goes to the address that was checked, and what such a host
answers is not shown to members. The operator's setting allows private destinations."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

from oncall_opt.api import create_app
from oncall_opt.engine import destinations
from oncall_opt.engine.jobs import JobState, delivery
from oncall_opt.engine.settings import Settings, load_settings

LOCAL = "http://127.0.0.1"  # the daemon answers loopback names without a token

PRIVATE_SPELLINGS = [
    "https://127.0.0.1/services/x",
    "https://2130706433/services/x",  # 127.0.0.1 as one decimal number
    "https://0x7f000001/services/x",  # ... in hex
    "https://0177.0.0.1/services/x",  # ... with an octal first part
    "https://127.1/services/x",  # ... shortened
    "https://[::1]/services/x",
    "https://[::ffff:127.0.0.1]/services/x",  # IPv4 inside IPv6
    "https://[0:0:0:0:0:0:0:1]/services/x",
    "https://localhost/services/x",  # a name that resolves to 127.0.0.1
    "https://LOCALHOST/services/x",
    "https://10.1.2.3/services/x",
    "https://172.16.0.1/services/x",
    "https://192.168.1.10/services/x",
    "https://169.254.169.254/latest/meta-data/",  # cloud metadata
    "https://[fe80::1]/services/x",  # link-local
    "https://[fd00::1]/services/x",  # unique local
    "https://100.64.0.1/services/x",  # shared (carrier-grade NAT)
    "https://0.0.0.0/services/x",
    "https://224.0.0.1/services/x",  # multicast
]


def app_with(store, clock, **settings):
    return TestClient(base_url=LOCAL, app=create_app(store, Settings(**settings), clock,
                                                     run_jobs=False))  # fmt: skip


@pytest.fixture
def api(store, clock):
    with app_with(store, clock) as client:
        yield client


def stored_webhook(store, team_id: int) -> str | None:
    return store.row("SELECT slack_webhook_url FROM teams WHERE id = ?", [team_id])[
        "slack_webhook_url"
    ]


@pytest.mark.parametrize("url", PRIVATE_SPELLINGS)
def test_every_private_spelling_is_refused_by_default(api, store, url):
    response = api.put("/teams/1", json={"SlackWebhookUrl": url})
    assert response.status_code == 400, response.text
    message = response.json()["message"]
    assert "SlackWebhookUrl" in message and "non-public" in message, message
    assert "services/x" not in message and "meta-data" not in message  # never quoted
    created = api.post("/teams", json={"Name": "Ops", "SlackWebhookUrl": url})
    assert created.status_code == 400
    assert stored_webhook(store, 1) is None


def test_plain_http_and_credentials_in_the_url_are_refused(api, store):
    for url, words in (
        ("http://93.184.216.34/services/x", "https URL"),
        ("ftp://93.184.216.34/x", "https URL"),
        ("https://user:pass@93.184.216.34/x", "user name or password"),
        ("https://[::1/x", "not a valid URL"),
    ):
        response = api.put("/teams/1", json={"SlackWebhookUrl": url})
        assert response.status_code == 400 and words in response.json()["message"], url
    assert stored_webhook(store, 1) is None


def test_a_public_address_is_accepted(api, store):
    url = "https://93.184.216.34/services/T0/B0/secret"  # an address literal: no DNS needed
    assert api.put("/teams/1", json={"SlackWebhookUrl": url}).json()["HasSlackWebhook"]
    assert stored_webhook(store, 1) == url


def test_the_operator_may_allow_private_destinations(store, clock):
    assert load_settings({"ONCALL_ALLOW_PRIVATE_WEBHOOKS": "true"}).allow_private_webhooks
    with app_with(store, clock, allow_private_webhooks=True) as api:
        for url in ("http://127.0.0.1:9/services/x", "https://10.1.2.3/services/x",
                    "https://localhost/services/x"):  # fmt: skip
            response = api.put("/teams/1", json={"SlackWebhookUrl": url})
            assert response.status_code == 200, (url, response.text)
            assert stored_webhook(store, 1) == url


# ----- at send time -----------------------------------------------------------------------------
def queue_for_team(store, clock, team_id: int, text: str) -> None:
    from oncall_opt.engine import outbox

    store.write(lambda tx: outbox.enqueue(tx, "test", text, clock.now(), (), team_id))


def test_a_name_that_now_resolves_to_loopback_is_not_sent_to(store, clock, slack):
    """The URL passed the check when it was given (here written straight into the store, as
    if its name resolved to a public address then); at send time `localhost` resolves to
    127.0.0.1, where a fake Slack listens: it gets nothing, and the message fails for good."""
    port = slack.url.get_secret_value().split(":")[2].split("/")[0]
    rebound = f"https://localhost:{port}{slack.path}"
    store.write(lambda tx: tx.execute(
        "UPDATE teams SET slack_webhook_url = ? WHERE id = 1", [rebound]))  # fmt: skip
    queue_for_team(store, clock, 1, "to the rebound name")
    result = delivery.run(store, clock.now(), None, Settings(slack_min_interval=0),
                          state=JobState())  # fmt: skip
    assert result["failed"] == 1 and result["sent"] == 0, result
    [row] = store.rows("SELECT status, last_error FROM outbox")
    assert row["status"] == "failed" and "not a public address" in row["last_error"], row
    assert slack.accepted() == []


def test_a_team_webhooks_answers_are_not_shown_beyond_the_status(store, clock, slack):
    """A host the admin chose answers 404 with a page of its own: the message list keeps
    `HTTP 404` and nothing of the page."""
    store.write(lambda tx: tx.execute(
        "UPDATE teams SET slack_webhook_url = ? WHERE id = 1",
        [slack.url.get_secret_value()]))  # fmt: skip
    slack.reply(404, "internal_admin_console_token_xyz")
    queue_for_team(store, clock, 1, "hello")
    settings = Settings(slack_min_interval=0, allow_private_webhooks=True)
    delivery.run(store, clock.now(), None, settings, state=JobState())
    [row] = store.rows("SELECT status, last_error FROM outbox")
    assert row["status"] == "failed" and row["last_error"] == "HTTP 404", row
    assert [r.status for r in slack.received] == [404]


def test_a_send_connects_to_the_address_that_was_checked():
    """The pinned request goes to the checked address, with the name kept for Host and TLS."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, text="ok")

    answers = iter([["93.184.216.34"], ["127.0.0.1"]])  # public, then rebound to loopback
    transport = destinations.PinnedTransport(
        resolver=lambda host, port: next(answers), inner=httpx.MockTransport(answer)
    )
    with httpx.Client(transport=transport) as client:
        assert client.post("https://hooks.example.com/services/x", json={}).status_code == 200
        with pytest.raises(destinations.RefusedConnect):
            client.post("https://hooks.example.com/services/x", json={})
    [request] = seen
    assert request.url.host == "93.184.216.34" and request.url.path == "/services/x"
    assert request.headers["host"] == "hooks.example.com"
    assert request.extensions["sni_hostname"] == "hooks.example.com"


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:4700::1111", True),
        ("64:ff9b::5db8:d822", True),  # NAT64 of a public address
        ("64:ff9b::a00:5", False),  # NAT64 of 10.0.0.5
        ("64:ff9b:1::a00:5", False),
        ("2002:a00:5::1", False),  # 6to4 of 10.0.0.5
        ("2002:5db8:d822::1", True),
        ("fec0::1", False),  # the old site-local
        ("::ffff:10.0.0.1", False),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),  # Teredo
    ],
)
def test_an_ipv6_address_is_public_only_with_every_ipv4_it_carries(address, public):
    assert destinations.is_public(address) is public
