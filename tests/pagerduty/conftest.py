"""A fake PagerDuty account per test (tests/pagerduty/fake_pagerduty.py) and the environment the
bridge reads: its token, its address, the CA that signed its certificate, a state directory."""

from __future__ import annotations

from datetime import timedelta

import pagerduty
import pytest
import trustme
from fake_pagerduty import FakePagerDuty, Rotation
from pagerduty_account import PEOPLE, ROTATION_START, SCHEDULE, TOKEN


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def pd(ca, tmp_path, monkeypatch):
    fake = FakePagerDuty(TOKEN, ca)
    for person in PEOPLE:
        fake.add_user(*person)
    fake.add_user("POUT005", "Olu Outsider", "olu@example.com")  # in the account, not on call
    # A weekly rotation of the four, from Tuesday 2030-01-01
    rotation = Rotation(ROTATION_START, timedelta(days=7), [p[0] for p in PEOPLE])
    fake.add_schedule(SCHEDULE, rotation)
    ca_path = tmp_path / "pagerduty-ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    monkeypatch.setenv("PAGERDUTY_API_TOKEN", TOKEN)
    monkeypatch.setenv("PAGERDUTY_API_URL", fake.url)
    monkeypatch.setenv("PAGERDUTY_API_CA", str(ca_path))
    monkeypatch.setenv("PAGERDUTY_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("ONCALL_SECRETS_FILE", str(tmp_path / "no-secrets.env"))
    # The client's own back-off after a 429 starts at 3 s; a test waits a few milliseconds.
    monkeypatch.setattr(pagerduty.ApiClient, "sleep_timer", 0.01)
    try:
        yield fake
    finally:
        fake.close()
