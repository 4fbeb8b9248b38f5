"""A team linked to a PagerDuty schedule from the console: the schedule id is set on the People
page (a bad one is refused, nothing saved), then the planner's PagerDuty section previews (a
table, nothing written) and pushes the team's final schedule to the fake PagerDuty account on
127.0.0.1, which then shows it slot by slot as the daemon does."""

from __future__ import annotations

import sys
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import trustme
from live_server import serve
from test_app import PAGES, ZONE, _console_env, console, no_errors, texts, tomorrow  # noqa: F401

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pagerduty"))
from pagerduty_account import PEOPLE, SCHEDULE, TOKEN, fake_account

from oncall_opt.api import create_app
from oncall_opt.client import Client
from oncall_opt.engine.settings import Settings
from oncall_opt.engine.store import Store

DAYS = 6


@pytest.fixture
def pd(tmp_path, monkeypatch):
    with fake_account(trustme.CA(), tmp_path, monkeypatch) as fake:
        yield fake


@pytest.fixture
def daemon(tmp_path, mail, pd):
    """A daemon of its own (it can store email addresses: a fake SMTP server), reading the fake
    PagerDuty account's settings from the environment."""
    store = Store(tmp_path / "console.duckdb")
    settings = Settings(smtp_host="127.0.0.1", smtp_port=mail.port, smtp_from="oncall@example.com",
                        smtp_starttls=False)  # fmt: skip
    try:
        with serve(create_app(store, settings, run_jobs=False)) as url, Client(url) as api:
            yield api
    finally:
        store.close()


def midnight(day) -> datetime:
    return datetime.combine(day, time(0), ZoneInfo(ZONE))


def test_link_a_team_on_the_people_page_then_preview_and_push_from_the_planner(
    daemon, pd, monkeypatch
):
    api = daemon
    pd_ids = {}
    for pd_id, name, email in PEOPLE[:2]:
        first, last = name.split()
        person = api.create_user(first, last, first.lower())
        api.add_contact_method(person["Id"], "email", email)
        pd_ids[person["Id"]] = pd_id
    people = list(pd_ids)
    first_day = tomorrow()
    last_day = first_day + timedelta(days=DAYS - 1)
    for n in range(DAYS):  # the viewer's days, as the planner's window gives them
        day = first_day + timedelta(days=n)
        api.create_schedule(people[n % 2], midnight(day), midnight(day + timedelta(days=1)))

    at = console(api, monkeypatch, "people")
    at.text_input(key="team-pagerduty-1").input("#checkout")
    next(b for b in at.button if b.key == "team-save-1").click().run()
    assert any("PagerDutySchedule" in e.value for e in at.error)  # named, and nothing saved
    assert api.get_team(1)["PagerDutySchedule"] is None
    at.text_input(key="team-pagerduty-1").input(SCHEDULE)
    next(b for b in at.button if b.key == "team-save-1").click().run()
    no_errors(at)
    assert api.get_team(1)["PagerDutySchedule"] == SCHEDULE
    assert any(f"PagerDuty schedule {SCHEDULE}" in e.label for e in at.expander)

    at.switch_page(PAGES["planner"][0]).run()
    at.date_input(key="pl_window").set_value((first_day, last_day)).run()
    no_errors(at)
    assert "PagerDuty" in [h.value for h in at.subheader]
    start, end = midnight(first_day), midnight(last_day + timedelta(days=1))
    segments = api.final_schedule(1, start, end, layer=1)
    assert len(segments) == DAYS

    at.button(key="pl_pd_preview").click().run()
    no_errors(at)
    assert pd.writes == [] and pd.schedules[SCHEDULE].overrides == []
    [preview] = [d.value for d in at.dataframe if "After" in d.value.columns]
    names = {pd_id: name for pd_id, name, _ in PEOPLE}
    assert list(preview["After"]) == [names[pd_ids[s["User"]["Id"]]] for s in segments]
    assert set(preview["What is done"]) == {"create"}
    assert f"would create {DAYS} override(s)" in texts(at)

    at.button(key="pl_pd_push").click().run()
    no_errors(at)
    assert f"Pushed to PagerDuty: schedule {SCHEDULE}" in texts(at)
    assert f"created {DAYS} override(s)" in texts(at)
    assert TOKEN not in texts(at)
    for segment in segments:
        entries = pd.final_schedule(
            SCHEDULE,
            datetime.fromisoformat(segment["Start"]),
            datetime.fromisoformat(segment["End"]),
        )
        who = [(e["user"]["id"], e["start"], e["end"]) for e in entries]
        assert who == [(pd_ids[segment["User"]["Id"]], segment["Start"], segment["End"])]

    # A second push changes nothing at PagerDuty, and says so.
    writes = list(pd.writes)
    at.button(key="pl_pd_push").click().run()
    no_errors(at)
    assert pd.writes == writes
    assert "nothing to change" in texts(at)
