"""The Analytics page with `streamlit.testing.v1.AppTest`, against a real daemon over the fixed
history of tests/analytics_history.py (figures worked out by hand in
tests/engine/test_analytics.py): the summary, the table per person, a person's burden by
month, the hour-of-week heat map, and names shown as text, never as Markdown."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pandas as pd
import pyarrow as pa
import pytest
from analytics_history import History, build
from live_server import serve
from test_app import _closed_port, console, no_errors, seeded, texts  # noqa: F401

from oncall_opt.api import create_app
from oncall_opt.engine.settings import Settings
from oncall_opt.engine.store import Store
from oncall_opt.engine.users import create_user

PAGE = "oncall_opt/console/pages/analytics.py"
ODD_FIRST, ODD_LAST = "**Zed**", "[pwn](http://evil.example)"


@pytest.fixture
def daemon(tmp_path, mail, monkeypatch) -> Iterator[tuple[str, History, int]]:
    """The history, and Zed (a member of Payments whose name is Markdown), served."""
    monkeypatch.setenv("ONCALL_UI_TIME_ZONE", "UTC")  # the window's days are UTC days
    monkeypatch.delenv("ONCALL_API_TOKEN", raising=False)
    store = Store(tmp_path / "t.duckdb")
    try:
        history = build(store, mail.settings())
        zed = create_user(store, ODD_FIRST, ODD_LAST, "zed", datetime(2026, 3, 20, tzinfo=UTC),
                          team_ids=(history.team_id,))  # fmt: skip
        with serve(create_app(store, Settings(), run_jobs=False)) as url:
            yield url, history, zed.id
    finally:
        store.close()


def chart_rows(chart) -> pd.DataFrame:
    """The data an Altair chart of the page was drawn from (its one Arrow dataset)."""
    [named] = chart.proto.datasets
    return pa.ipc.open_stream(named.data.data).read_all().to_pandas()


def analytics_page(url: str, history: History, monkeypatch):
    at = console(url, monkeypatch)
    at.sidebar.selectbox(key="team").set_value(history.team_id).run()
    at.switch_page(PAGE).run()
    at.date_input(key="an_from").set_value(date(2026, 3, 27)).run()
    at.date_input(key="an_to").set_value(date(2026, 3, 30)).run()
    no_errors(at)
    return at


def test_the_page_shows_the_teams_figures(daemon, monkeypatch):
    url, h, _ = daemon
    at = analytics_page(url, h, monkeypatch)
    assert at.title[0].value == "Analytics"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"Incidents": "7", "Pages": "12", "Night pages": "7",
                       "Weekend pages": "7", "Median time to ack": "8 min"}  # fmt: skip
    people = at.dataframe[0].value.set_index("Person")
    odd = f"{ODD_FIRST} {ODD_LAST}"
    assert list(people.index) == [odd, "Ana Silva", "Ben Okafor", "Chloé Martin"]  # by name
    ana = people.loc["Ana Silva"]
    assert list(ana[["Pages", "Night pages", "Weekend pages", "Incidents"]]) == [9, 6, 6, 6]
    assert list(ana[["Ack median", "Ack p90", "Resolve median", "Resolve p90"]]) == [
        8.0, 30.0, 60.0, 120.0,
    ]  # fmt: skip
    assert list(ana[["Resolved unacked", "Escalated past step 1"]]) == [1, 2]
    assert list(ana[["Primary h", "Secondary h"]]) == [90.0, 0.0]
    assert list(people.loc["Ben Okafor", ["Weekend pages", "Secondary h"]]) == [1, 96.0]
    assert list(people.loc[odd, ["Pages", "Primary h"]]) == [0, 0.0]
    services = at.dataframe[1].value
    assert list(services["Service"]) == ["Checkout", "Web"]
    assert list(services["Pages"]) == [11, 1]
    body = texts(at)
    at.selectbox(key="an_person").set_value(h.ana).run()  # her one month
    body = texts(at)
    assert "Ana Silva: 9 pages, 6 at night, over 1 month(s); the most in 2026-03 (9)." in body
    # Sunday 00:00-01:00 UTC: Ana's 00:30 and 00:40 and Ben's 00:45.
    assert "Busiest hour of the week: Sun 00:00-01:00 (3 pages)" in body
    burden, week = (chart_rows(c) for c in at.get("vega_lite_chart"))
    rows = burden.to_dict("records")
    assert {(r["month"], r["what"], r["pages"]) for r in rows} == {
        ("2026-03", "Pages", 9),
        ("2026-03", "Night pages", 6),
        ("2026-03", "Weekend pages", 6),
    }
    assert len(week) == 7 * 24 and week["pages"].sum() == 12
    assert week.set_index(["day", "hour"]).loc[("Sun", 0), "pages"] == 3

    at.selectbox(key="an_person").set_value(h.ben).run()
    assert "Ben Okafor: 2 pages, 0 at night, over 1 month(s); the most in 2026-03 (2)." in texts(at)
    # Another team: Ben is not in it; its one person and its one page are shown instead.
    at.sidebar.selectbox(key="team").set_value(h.other_team_id).run()
    no_errors(at)
    assert "Chloé Martin: 1 page, 0 at night, over 1 month(s)" in texts(at)


def test_a_name_is_shown_as_text_never_as_markdown(daemon, monkeypatch):
    url, h, zed = daemon
    at = analytics_page(url, h, monkeypatch)
    at.selectbox(key="an_person").set_value(zed).run()
    no_errors(at)
    raw = [m.value for m in at.markdown] + [c.value for c in at.caption]
    assert not any(ODD_FIRST in value or ODD_LAST in value for value in raw), raw
    assert any("\\*\\*Zed\\*\\*" in value for value in raw), "escaped, shown as typed"
    # Read as the browser shows it (escapes undone): the name as typed, no link made.
    assert f"{ODD_FIRST} {ODD_LAST}: burden by month" in texts(at)
    assert f"{ODD_FIRST} {ODD_LAST}: no page in this window, 0.0 h on call." in texts(at)


def test_the_page_says_when_the_daemon_is_down(monkeypatch):
    at = console(_closed_port(), monkeypatch)
    at.switch_page(PAGE).run()
    assert not at.exception
    assert "The on-call daemon is not running" in " ".join(e.value for e in at.error)


def test_the_page_renders_for_the_quick_starts_team(seeded, monkeypatch):  # noqa: F811
    """The demo's four weeks of incidents (history recorded as it was: nobody paged by this
    daemon, so no page is counted) show up with their times."""
    monkeypatch.setenv("ONCALL_UI_TIME_ZONE", "Europe/Berlin")
    at = console(seeded, monkeypatch)
    at.switch_page(PAGE).run()
    no_errors(at)
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["Incidents"]) > 0 and metrics["Median time to ack"] != "–"
    assert not at.exception
