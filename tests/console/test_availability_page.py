"""The availability page: what a day marked away blocks, under the team's reading (which an
admin changes here); the stretch form's defaults follow the window and never mark anything by
surprise; cells are plain text (no emoji, which show as boxes without an emoji font)."""

from __future__ import annotations

from datetime import timedelta

from test_app import api, console, no_errors, tomorrow, user_id  # noqa: F401

from oncall_opt.console.pages import availability


def _form_button(at):
    [submit] = [b for b in at.get("form_submit_button") if b.label == "Apply"]
    return submit


def test_an_away_day_lists_the_shifts_it_blocks_by_the_teams_reading(api, monkeypatch):  # noqa: F811
    ana = user_id(api, "Ana")
    day = tomorrow() + timedelta(days=4)
    api.set_availability(ana, tomorrow(), tomorrow() + timedelta(days=20), {day: "unavailable"})
    at = console(api, monkeypatch, "availability")
    no_errors(at)
    listed = next(m.value for m in at.markdown if "The shifts each away day blocks" in m.value)
    line = next(x for x in listed.splitlines() if x.startswith("- Ana"))
    # 24-hour shifts from 09:00 (the planner's defaults): the whole day touches two.
    assert line.count("–") == 2, line
    before, after = day - timedelta(days=1), day + timedelta(days=1)
    assert f"{before:%a} {before.day} {before:%b} 09:00" in line
    assert f"{after:%a} {after.day} {after:%b} 09:00" in line

    at.radio(key="av_away_means_1").set_value("shift-start").run()
    at.button(key="av_away_save").click().run()
    no_errors(at)
    assert api.get_team(1)["AwayMeans"] == "shift-start"
    listed = next(m.value for m in at.markdown if "The shifts each away day blocks" in m.value)
    line = next(x for x in listed.splitlines() if x.startswith("- Ana"))
    assert line.count("–") == 1 and f"{day:%a} {day.day} {day:%b} 09:00" in line, line
    assert "that day's shift" in at.expander[0].label


def test_the_stretch_form_follows_the_window_and_needs_a_kind(api, monkeypatch):  # noqa: F811
    dev = user_id(api, "Dev")
    at = console(api, monkeypatch, "availability", me=dev)
    later = tomorrow() + timedelta(days=40)
    at.date_input(key="av_window").set_value((later, later + timedelta(days=13))).run()
    no_errors(at)
    days = at.date_input(key=f"stretch_days_{later}")
    assert tuple(days.value) == (later, later)  # one day of the new window, not the old one
    assert at.selectbox(key="stretch_kind").value is None

    _form_button(at).click().run()
    assert any("Pick what to mark the days as" in e.value for e in at.error)
    assert api.get_availability(dev, later, later)["Days"] == {}

    at.selectbox(key="stretch_kind").set_value("unavailable")
    _form_button(at).click().run()
    no_errors(at)
    assert api.get_availability(dev, later, later)["Days"] == {later.isoformat(): "unavailable"}
    assert any("marked unavailable" in s.value for s in at.success)  # beside the grid


def test_cells_are_plain_text():
    for label in availability.CELL.values():
        label.encode("latin-1")  # no emoji, no symbols outside Latin-1
