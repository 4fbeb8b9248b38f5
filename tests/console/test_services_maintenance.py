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


def test_a_heartbeat_monitor_is_added_from_the_services_page_and_its_url_shown_once(
    api,  # noqa: F811
    monkeypatch,
):
    service = api.list_services()[0]
    sid = service["Id"]
    at = console(api, monkeypatch, "services")
    at.text_input(key=f"hb-name-{sid}").input("nightly-backup")
    next(b for b in at.get("form_submit_button") if b.label == "Add monitor").click().run()
    no_errors(at)
    [url] = [c.value for c in at.code if "/heartbeat/" in c.value]
    assert "/heartbeat/oo_hb_" in url
    assert "nightly-backup" in texts(at) and "last ping never" in texts(at)
    [beat] = api.heartbeats(sid)
    assert beat["Name"] == "nightly-backup" and beat["IntervalMinutes"] == 60
    at.run()
    assert not [c for c in at.code if "/heartbeat/" in c.value], "the URL is shown once"


def test_an_incident_shows_the_changes_before_it(api, monkeypatch):  # noqa: F811
    import httpx

    service = api.list_services()[0]
    key = api.rotate_service_key(service["Id"])["IntegrationKey"]
    change = {"routing_key": key, "payload": {"summary": "Deploy <b>4.2</b> of checkout",
                                              "source": "ci"}}  # fmt: skip
    assert httpx.post(f"{api.base_url}/v2/change/enqueue", json=change).status_code == 202
    incident = api.trigger_incident("checkout 5xx", service_id=service["Id"])
    at = console(api, monkeypatch, "incidents")
    at.session_state["inc_detail"] = incident["Id"]
    at.run()
    no_errors(at)
    assert "Deploy <b>4.2</b> of checkout · ci" in texts(at)
