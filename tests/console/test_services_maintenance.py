"""A service's maintenance window from the console's Services page (AppTest against a real
daemon): start it with a button, the page says "in maintenance until", end it again."""

from __future__ import annotations

from test_app import api, console, no_errors, texts  # noqa: F401


def test_start_and_end_a_maintenance_window_from_the_services_page(api, monkeypatch):  # noqa: F811
    service = api.list_services()[0]
    sid = service["Id"]
    at = console(api, monkeypatch, "services")
    no_errors(at)
    at.text_input(key=f"maint-why-{sid}").input("deploy 4.2")
    at.button(key=f"maint-start-{sid}").click().run()
    no_errors(at)
    [window] = [w for w in api.maintenance_windows(sid) if w["On"]]
    assert window["Reason"] == "deploy 4.2"
    [listed] = [s for s in api.list_services() if s["Id"] == sid]
    assert listed["InMaintenanceUntil"] == window["End"]
    assert "in maintenance until" in texts(at).lower()
    at.button(key=f"maint-end-{sid}").click().run()
    no_errors(at)
    assert not [w for w in api.maintenance_windows(sid) if w["On"]]
