"""`oncall-opt pagerduty push --team NAME`: a team's published roster, read from a running
daemon (a real server on 127.0.0.1), pushed to the fake PagerDuty account; people are matched
by their email contact methods."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fake_clock import FakeClock
from live_server import serve
from pagerduty_account import SCHEDULE, TOKEN

from oncall_opt.api import create_app
from oncall_opt.cli import main
from oncall_opt.client import Client
from oncall_opt.engine.settings import Settings
from oncall_opt.engine.store import Store

FIRST_DAY = datetime(2030, 2, 4, tzinfo=UTC)


@pytest.fixture
def daemon(tmp_path, mail, monkeypatch):
    store = Store(tmp_path / "oncall.duckdb")
    settings = Settings(smtp_host="127.0.0.1", smtp_port=mail.port, smtp_from="oncall@example.com",
                        smtp_starttls=False)  # fmt: skip
    try:
        with serve(
            create_app(
                store, settings, FakeClock(datetime(2026, 1, 5, 9, tzinfo=UTC)), run_jobs=False
            )
        ) as url:
            monkeypatch.setenv("ONCALL_API_URL", url)
            with Client(url) as api:
                yield api
    finally:
        store.close()


def test_a_teams_published_roster_is_pushed(pd, daemon, capsys):
    ana = daemon.create_user("Ana", "Silva", "ana")
    ben = daemon.create_user("Ben", "Okafor", "ben")
    daemon.add_contact_method(ana["Id"], "email", "ana@example.com")
    daemon.add_contact_method(ben["Id"], "email", "Ben@Example.com")
    pd_ids = {ana["Id"]: "PANA001", ben["Id"]: "PBEN002"}
    order = [ana, ben, ben, ana, ben, ana]
    for day, person in enumerate(order):
        start = FIRST_DAY + timedelta(days=day)
        daemon.create_schedule(person["Id"], start, start + timedelta(days=1))

    code = main(["pagerduty", "push", "--team", "Default", "--schedule", SCHEDULE,
                 "--start", "2030-02-04", "--end", "2030-02-12"])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    assert TOKEN not in out + err and f"created {len(order)} override(s)" in out
    for day, person in enumerate(order):
        start = FIRST_DAY + timedelta(days=day)
        entries = pd.final_schedule(SCHEDULE, start, start + timedelta(days=1))
        assert [e["user"]["id"] for e in entries] == [pd_ids[person["Id"]]]

    nobody = daemon.create_user("Nia", "Noemail", "nia")
    extra = FIRST_DAY + timedelta(days=len(order))
    daemon.create_schedule(nobody["Id"], extra, extra + timedelta(days=1))
    writes = len(pd.writes)
    code = main(["pagerduty", "push", "--team", "Default", "--schedule", SCHEDULE,
                 "--start", "2030-02-04", "--end", "2030-02-12"])  # fmt: skip
    _, err = capsys.readouterr()
    assert code == 2 and f"Nia Noemail ({nobody['Id']})" in err and len(pd.writes) == writes

    code = main(["pagerduty", "push", "--team", "Nope", "--schedule", SCHEDULE])
    _, err = capsys.readouterr()
    assert code == 1 and "no team 'Nope' (there are: Default)" in err
