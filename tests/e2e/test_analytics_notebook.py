"""notebooks/team_analytics.ipynb runs top to bottom against a live daemon over the fixed
history of tests/analytics_history.py (figures worked out by hand in
tests/engine/test_analytics.py), prints them, draws its charts and writes nothing."""

from __future__ import annotations

from analytics_history import WINDOW, build
from live_server import serve
from test_notebooks import NOTEBOOKS, execute, kernel_specs, outputs  # noqa: F401

from oncall_opt.api import create_app
from oncall_opt.engine.settings import Settings
from oncall_opt.engine.store import Store

TABLES = ("users", "schedules", "overrides", "incidents", "incident_log", "notifications")


def test_the_analytics_notebook_reads_a_live_team(
    kernel_specs,  # noqa: F811
    tmp_path,
    mail,
    monkeypatch,
):
    store = Store(tmp_path / "live.duckdb")
    try:
        build(store, mail.settings())
        before = {t: store.rows(f"SELECT * FROM {t} ORDER BY ALL") for t in TABLES}
        with serve(create_app(store, Settings(), run_jobs=False)) as url:
            monkeypatch.setenv("ONCALL_API_URL", url)
            monkeypatch.setenv("ANALYTICS_TEAM", "Payments")
            monkeypatch.setenv("ANALYTICS_START", WINDOW[0].isoformat())
            monkeypatch.setenv("ANALYTICS_END", WINDOW[1].isoformat())
            notebook = execute(NOTEBOOKS / "team_analytics.ipynb", kernel_specs)
        after = {t: store.rows(f"SELECT * FROM {t} ORDER BY ALL") for t in TABLES}
    finally:
        store.close()
    assert after == before  # reading wrote nothing
    printed = "".join(out.get("text", "") for out in outputs(notebook))
    stderr = [out.text for out in outputs(notebook) if out.get("name") == "stderr"]
    assert not stderr, stderr
    for line in (
        "Ana Silva: 9 pages, 6 at night, 6 at weekends, 90.0 h on call",
        "Ben Okafor: 2 pages, 0 at night, 1 at weekends, 96.0 h on call",
        "Chloé Martin: 1 page, 1 at night, 0 at weekends, 6.0 h on call",
        "Ana Silva: 9 pages over 1 month(s)",
        "busiest hour: Sun 00:00 (3 pages)",
    ):
        assert line in printed, printed
    charts = [out for out in outputs(notebook) if "text/html" in out.get("data", {})]
    assert sum("vega" in out["data"]["text/html"] for out in charts) >= 2
