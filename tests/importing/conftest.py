"""What the import tests share: a real daemon on 127.0.0.1 over a DuckDB file, its clock fixed
inside the imported window (import_window.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from import_window import NOW

# The fake PagerDuty lives with the bridge's tests; its folder is not a package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "pagerduty"))


@pytest.fixture
def daemon(tmp_path, mail, monkeypatch):
    """A daemon that sends email (to a fake SMTP server): imported addresses can be stored."""
    from oncall_opt.engine.settings import Settings

    settings = Settings(smtp_host="127.0.0.1", smtp_port=mail.port, smtp_from="oncall@example.com",
                        smtp_starttls=False)  # fmt: skip
    yield from _serve(tmp_path, monkeypatch, settings)


@pytest.fixture
def daemon_without_email(tmp_path, monkeypatch):
    """A daemon set up for no contact method but webhooks: nobody's address can be stored."""
    from oncall_opt.engine.settings import Settings

    yield from _serve(tmp_path, monkeypatch, Settings())


def _serve(tmp_path, monkeypatch, settings):
    from fake_clock import FakeClock
    from live_server import serve

    from oncall_opt.api import create_app
    from oncall_opt.client import Client
    from oncall_opt.engine.store import Store

    store = Store(tmp_path / "oncall.duckdb")
    monkeypatch.setenv("ONCALL_SECRETS_FILE", str(tmp_path / "no-secrets.env"))
    monkeypatch.delenv("ONCALL_API_TOKEN", raising=False)
    try:
        with serve(create_app(store, settings, FakeClock(NOW), run_jobs=False)) as url:
            monkeypatch.setenv("ONCALL_API_URL", url)
            with Client(url) as api:
                yield api
    finally:
        store.close()
