"""A fake PagerDuty account per test (tests/pagerduty/fake_pagerduty.py) and the environment the
bridge reads: its token, its address, the CA that signed its certificate, a state directory."""

from __future__ import annotations

import pytest
import trustme
from pagerduty_account import fake_account


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def pd(ca, tmp_path, monkeypatch):
    with fake_account(ca, tmp_path, monkeypatch) as fake:
        yield fake
