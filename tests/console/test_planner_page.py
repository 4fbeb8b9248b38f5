"""The planner keeps its rules when the viewer goes to another page and back, and a result
solved with other rules (or another window) is marked out of date, cannot be published, and is
solved again with one click."""

from __future__ import annotations

import json
from datetime import time, timedelta

from test_app import PAGES, _plan_window, api, console, no_errors, texts, tomorrow  # noqa: F401

from oncall_opt.console.pages.planner import PLAN


def test_rules_are_kept_across_a_page_switch(api, monkeypatch):  # noqa: F811
    at = console(api, monkeypatch, "planner")
    at.segmented_control(key="pl_layers").set_value(2)
    at.number_input(key="pl_max_run").set_value(2)
    at.number_input(key="pl_rest").set_value(1)
    at.selectbox(key="pl_length").set_value("PT12H")
    at.time_input(key="pl_handoff").set_value(time(8, 30))
    at.toggle(key="pl_weekend").set_value(True)
    at.run()

    at.switch_page(PAGES["oncall"][0]).run()
    no_errors(at)
    at.switch_page(PAGES["planner"][0]).run()
    no_errors(at)
    assert at.segmented_control(key="pl_layers").value == 2
    assert at.number_input(key="pl_max_run").value == 2
    assert at.number_input(key="pl_rest").value == 1
    assert at.selectbox(key="pl_length").value == "PT12H"
    assert at.time_input(key="pl_handoff").value == time(8, 30)
    assert at.toggle(key="pl_weekend").value is True
    # No "value set twice" warning on the page (the sidebar's "No sign-in" is another matter).
    assert not at.main.warning, [w.value for w in at.main.warning]


def test_a_result_solved_with_other_rules_is_out_of_date(api, monkeypatch):  # noqa: F811
    at = console(api, monkeypatch, "planner")
    _plan_window(at, days=7)
    at.selectbox(key="pl_zone").set_value("Europe/Berlin")
    at.button(key="pl_solve").click().run()
    no_errors(at)
    assert "Out of date" not in texts(at)
    publish = at.button(key="pl_publish")
    assert not publish.disabled

    # Another rule, and the same result stays on screen: marked, not publishable.
    at.number_input(key="pl_max_run").set_value(2).run()
    no_errors(at)
    warning = next(w.value for w in at.warning if "Out of date" in w.value)
    assert "Max shifts in a row: none → 2" in warning
    assert at.button(key="pl_publish").disabled

    # Going back to the solved rules makes it current again.
    at.number_input(key="pl_max_run").set_value(0).run()
    assert not any("Out of date" in w.value for w in at.warning)

    # Another window is another plan too; one click solves again with what is shown.
    start, end = _plan_window(at, days=8)
    at.run()
    warning = next(w.value for w in at.warning if "Out of date" in w.value)
    assert "Window: " in warning and f"{start} to {end}" in warning
    at.button(key="pl_resolve").click().run()
    no_errors(at)
    assert not any("Out of date" in w.value for w in at.warning)
    assert {m.label: m.value for m in at.metric}["Shifts planned"] == "8"
    assert not at.button(key="pl_publish").disabled


def test_an_imported_input_is_never_out_of_date(api, monkeypatch):  # noqa: F811
    """An imported input.json carries its own rules: the widgets do not apply to it."""
    start = tomorrow()
    document = api.roster_input(start, start + timedelta(days=4))
    at = console(api, monkeypatch, "planner")
    at.file_uploader(key="pl_upload").set_value(
        ("input.json", json.dumps(document).encode(), "application/json")
    ).run()
    at.button(key="pl_solve_import").click().run()
    no_errors(at)
    at.number_input(key="pl_max_run").set_value(3).run()
    assert not any("Out of date" in w.value for w in at.warning)
    assert {m.label: m.value for m in at.metric}["Shifts planned"] == "5"


def test_fair_by_expected_pages_says_what_fair_means_with_each_persons_numbers(
    api,  # noqa: F811
    monkeypatch,
):
    """Balanced by burden, the fairness tab says in a sentence what "fair" now means and
    lists each person's expected pages and night pages beside their burden points."""
    at = console(api, monkeypatch, "planner")
    start, end = _plan_window(at, days=7)
    at.segmented_control(key="pl_fair_by").set_value("burden").run()
    at.number_input(key="pl_night_weight").set_value(4.0)
    at.button(key="pl_solve").click().run()
    no_errors(at)
    said = texts(at)
    assert "Fair here means everyone carries about the same expected burden" in said
    assert "a night page 4." in said and "expected night pages" in said
    [table] = [d for d in at.dataframe if "expected_pages" in d.value.columns]
    assert set(table.value.columns) >= {"user_name", "expected_night_pages", "burden"}
    solved = at.session_state[PLAN]["input"]  # what the console handed the optimizer
    assert len(solved["slot_weights"]) == (end - start).days + 1
    # every slot's points are held by someone (one layer)
    assert table.value["burden"].sum() == sum(solved["slot_weights"])

    at.segmented_control(key="pl_fair_by").set_value("shifts").run()
    warning = next(w.value for w in at.warning if "Out of date" in w.value)
    assert "Fair by: burden → shifts" in warning
