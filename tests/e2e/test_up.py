"""`python -m oncall_opt.up`: the demo seed and the start-up checks (the whole command, Ctrl-C
included, runs in tests/e2e/test_browser.py)."""

from __future__ import annotations

import socket
from collections import Counter
from datetime import UTC, date, datetime, timedelta

from live_server import serve

from oncall_opt import up
from oncall_opt.api import create_app
from oncall_opt.client import Client
from oncall_opt.engine.settings import Settings
from oncall_opt.engine.store import Store


def test_seed_demo_makes_a_team_services_and_incidents_in_every_state(tmp_path):
    store = Store(tmp_path / "demo.duckdb")
    try:
        with serve(create_app(store, Settings(), run_jobs=False)) as url, Client(url) as api:
            made = up.seed_demo(api, solve=False, say=lambda line: None)
            people = api.list_users()
            assert len(people) == len(up.DEMO_TEAM) and all(p["SlackHandle"] for p in people)
            services = {s["Id"]: s["Name"] for s in api.list_services()}
            assert set(up.DEMO_SERVICES) <= set(services.values())
            everything = api.list_incidents("all")
            states = Counter(i["Status"] for i in everything)
            assert states == {"triggered": 3, "acknowledged": 3, "resolved": 3}
            # Each demo service has incidents (the Default service none), and bodies read like
            # real alerts: no placeholder domains.
            assert {services[i["ServiceId"]] for i in everything} == set(up.DEMO_SERVICES)
            assert not [i["Body"] for i in everything if "example" in i["Body"].lower()]
            latency = next(i for i in made["incidents"] if i["DedupKey"] == "checkout-latency")
            assert latency["Count"] == 3 and latency["Source"] == "checkout-7d9f8-kx2lp"
            first = people[0]["Id"]
            today = date.today()
            days = api.get_availability(first, today, today + timedelta(days=60))["Days"]
            assert "unavailable" in days.values() and "preferred" in days.values()
    finally:
        store.close()


def test_the_demo_roster_covers_the_next_eight_weeks_and_solves_fast(tmp_path):
    """Both layers have someone on call (from yesterday's handoff) until past the console's
    longest look-ahead, 8 weeks, so a new user's first view has no red gap for weeks."""
    store = Store(tmp_path / "demo.duckdb")
    try:
        with serve(create_app(store, Settings(), run_jobs=False)) as url, Client(url) as api:
            lines: list[str] = []
            up.seed_demo(api, say=lines.append)
            [published] = [line for line in lines if line.startswith("published the roster")]
            seconds = float(published.split("solved in ")[1].split(" s")[0])
            assert seconds < 10, published  # the solve, in the daemon's optimizer
            now = datetime.now(UTC)
            start, end = now - timedelta(hours=1), now + timedelta(weeks=8, hours=1)
            for layer in (1, 2):
                shifts = sorted(
                    (datetime.fromisoformat(s["Time"]["Start"]),
                     datetime.fromisoformat(s["Time"]["End"]))
                    for s in api.list_schedules(start, end, layer=layer)
                )  # fmt: skip
                covered = start
                for first, last in shifts:
                    assert first <= covered, f"layer {layer}: nobody on call from {covered}"
                    covered = max(covered, last)
                assert covered >= end, f"layer {layer}: nobody on call from {covered}"
    finally:
        store.close()


def test_a_port_in_use_is_refused_with_a_clear_message(capsys, tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = up.main(["--db", str(tmp_path / "x.duckdb"), "--api", f"127.0.0.1:{port}"])
    assert code == 1
    err = capsys.readouterr().err
    assert f"127.0.0.1:{port} is already in use" in err and "--api" in err


def test_the_console_runs_headless_without_usage_statistics():
    command = up.app_command("127.0.0.1", 8501)
    assert "streamlit" in command and str(up.APP) in command
    assert command[command.index("--server.headless") + 1] == "true"
    assert command[command.index("--browser.gatherUsageStats") + 1] == "false"


def test_the_console_is_not_served_beyond_this_machine_without_insecure(tmp_path, capsys):
    code = up.main(["--address", "0.0.0.0", "--db", str(tmp_path / "x.duckdb"), "--no-seed"])
    assert code == 2
    assert "refusing to serve the console on 0.0.0.0" in capsys.readouterr().err
    assert not (tmp_path / "x.duckdb").exists()
