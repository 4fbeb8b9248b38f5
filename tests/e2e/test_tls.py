"""HTTPS (issue 22): runner.py serving with a certificate from a throwaway CA (`trustme`), and
PagerDuty's own clients, unmodified but for their base URL and trusting that CA, sending
trigger, acknowledge and resolve: the official `pagerduty` client (which refuses plain http)
and the older `pdpyras`. Bad TLS settings stop the daemon with a clear message."""

from __future__ import annotations

import os
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


def test_up_serves_the_daemon_over_https_and_the_console_trusts_it(tmp_path, ca):
    """`python -m oncall_opt.up --tls-cert --tls-key --tls-ca`: the daemon answers HTTPS only,
    `up` seeds the demo team through it, and the console reaches it over HTTPS (a page link's
    check goes to the daemon: 'cannot act', not 'the daemon is not running')."""
    from test_up import ROOT, _free_ports, _wait

    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_path, key_path, ca_path = (tmp_path / n for n in ("cert.pem", "key.pem", "ca.pem"))
    cert.cert_chain_pems[0].write_to_path(str(cert_path))
    cert.private_key_pem.write_to_path(str(key_path))
    ca.cert_pem.write_to_path(str(ca_path))
    context = ssl.create_default_context()
    ca.configure_trust(context)
    api_port, app_port = _free_ports(2)
    log_path = tmp_path / "up.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONCALL_")}
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "oncall_opt.up", "--db", str(tmp_path / "oncall.duckdb"),
             "--api", f"127.0.0.1:{api_port}", "--port", str(app_port),
             "--tls-cert", str(cert_path), "--tls-key", str(key_path), "--tls-ca", str(ca_path)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        _wait(lambda: "Ctrl-C stops both" in log_path.read_text(), 180, "up to start", log_path)
        out = log_path.read_text()
        assert f"https://127.0.0.1:{api_port}" in out and "seeding the bundled team" in out
        token = next(line.split("=", 1)[1] for line in (tmp_path / "secrets.env").read_text()
                     .splitlines() if line.startswith("ONCALL_API_TOKEN="))  # fmt: skip
        users = httpx.get(f"https://127.0.0.1:{api_port}/users", verify=context, timeout=10,
                          headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        assert len(users.json()["Items"]) == 7  # the bundled team, seeded by `up`
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{api_port}/users", timeout=5)
        page = httpx.get(f"http://127.0.0.1:{app_port}/oncall/act/oo_act_nothing", timeout=30)
        assert page.status_code == 401 and "not running" not in page.text, page.text
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
