"""The fake PagerDuty account the bridge's tests share (and the API's and the console's, which
put this folder on sys.path): its token, schedule and people, and `fake_account`, which starts it
with the environment the bridge reads."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pagerduty
import trustme
from fake_pagerduty import FakePagerDuty, Rotation

TOKEN = "u+Sk3cr3tT0kenNeverPrinted"
SCHEDULE = "PSCHED1"
PEOPLE = [  # PagerDuty user id, name, email
    ("PANA001", "Ana Silva", "ana@example.com"),
    ("PBEN002", "Ben Okafor", "ben@example.com"),
    ("PCHL003", "Chloé Martin", "chloe@example.com"),
    ("PDEV004", "Dev Patel", "dev@example.com"),
]
ROTATION_START = datetime(2030, 1, 1, tzinfo=UTC)  # a weekly rotation of the four from then


@contextmanager
def fake_account(ca: trustme.CA, tmp_path, monkeypatch) -> Iterator[FakePagerDuty]:
    """The account on 127.0.0.1 (PEOPLE, an outsider, SCHEDULE) and the environment that points
    the bridge at it: its token, its address, the CA that signed its certificate, a state
    directory, no secrets file."""
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
