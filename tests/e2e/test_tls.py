"""HTTPS (issue 22): runner.py serving with a certificate from a throwaway CA (`trustme`), and
PagerDuty's own clients, unmodified but for their base URL and trusting that CA, sending
trigger, acknowledge and resolve: the official `pagerduty` client (which refuses plain http)
and the older `pdpyras`. Bad TLS settings stop the daemon with a clear message."""

from __future__ import annotations

import ssl
import subprocess
import sys
import warnings

import httpx
import pytest
import trustme
from test_daemon import RUNNER, Daemon


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_daemon(tmp_path, ca):
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_path))
    for extra in cert.cert_chain_pems[1:]:
        extra.write_to_path(str(cert_path), append=True)
    cert.private_key_pem.write_to_path(str(key_path))
    daemon = Daemon(tmp_path, None, "--tls-cert", str(cert_path), "--tls-key", str(key_path))
    daemon.url = daemon.url.replace("http://", "https://")
    ca_path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    context = ssl.create_default_context()
    ca.configure_trust(context)
    try:
        wait_https(daemon, context)
        yield daemon, context, ca_path
    finally:
        daemon.kill()


def wait_https(daemon: Daemon, context: ssl.SSLContext) -> None:
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if daemon.process.poll() is not None:
            raise AssertionError(f"the daemon exited:\n{daemon.log()}")
        try:
            if httpx.get(f"{daemon.url}/users", verify=context, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"no HTTPS answer within 30 s:\n{daemon.log()}")


def test_pagerdutys_clients_trigger_acknowledge_and_resolve_over_https(tls_daemon, monkeypatch):
    daemon, context, ca_path = tls_daemon
    api = httpx.Client(base_url=daemon.url, verify=context, timeout=30)
    service = api.post("/services", json={"Name": "checkout"}).json()
    key = service["IntegrationKey"]
    with pytest.raises(httpx.TransportError):  # plain http to the HTTPS port: no answer
        httpx.get(daemon.url.replace("https://", "http://") + "/users", timeout=5)

    import pagerduty

    client = pagerduty.EventsApiV2Client(key, base_url=daemon.url, verify=context)
    dedup = client.trigger("Checkout p99 above 2 s", "web-1", dedup_key="checkout-latency",
                           custom_details={"p99_ms": 2310})  # fmt: skip
    assert dedup == "checkout-latency"
    client.acknowledge(dedup)
    [incident] = api.get("/incidents", params={"Status": "all"}).json()["Items"]
    assert incident["Status"] == "acknowledged" and incident["DedupKey"] == dedup
    assert incident["Details"]["custom_details"] == {"p99_ms": 2310}
    client.resolve(dedup)
    assert api.get(f"/incidents/{incident['Id']}").json()["Status"] == "resolved"

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pdpyras says it is deprecated in favour of the above
        import pdpyras

    # requests lets REQUESTS_CA_BUNDLE (set on this machine) win over a session's own
    # `verify` (psf/requests#3829): without it, the session trusts the test's CA.
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    session = pdpyras.EventsAPISession(key)
    session.url = daemon.url
    session.verify = str(ca_path)
    old = session.trigger("Disk 91% on db-1", "db-1", dedup_key="disk-db-1")
    assert old == "disk-db-1"
    session.acknowledge(old)
    session.resolve(old)
    found = {i["DedupKey"]: i["Status"] for i in
             api.get("/incidents", params={"Status": "all"}).json()["Items"]}  # fmt: skip
    assert found == {"checkout-latency": "resolved", "disk-db-1": "resolved"}
    api.close()


def test_bad_tls_settings_stop_the_daemon_with_a_clear_message(tmp_path, ca):
    cert = ca.issue_cert("127.0.0.1")
    cert_path = tmp_path / "cert.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_path))
    other = ca.issue_cert("127.0.0.1")
    wrong_key = tmp_path / "other-key.pem"
    other.private_key_pem.write_to_path(str(wrong_key))
    for flags, says in (
        (["--tls-cert", str(cert_path)], "go together"),
        (["--tls-cert", str(cert_path), "--tls-key", str(tmp_path / "none.pem")], "no readable"),
        (["--tls-cert", str(cert_path), "--tls-key", str(wrong_key)], "not a certificate and its"),
    ):
        done = subprocess.run(
            [sys.executable, str(RUNNER), "--db", str(tmp_path / "t.duckdb"), "--bind",
             "127.0.0.1:0", *flags], capture_output=True, text=True, timeout=60, cwd=tmp_path,
        )  # fmt: skip
        assert done.returncode == 1, (flags, done.stderr)
        assert says in done.stderr and "Traceback" not in done.stderr, done.stderr
