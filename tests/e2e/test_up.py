"""`python -m oncall_opt.up`: the demo seed, the start-up checks, and keeping the daemon and the
console running (a real `up` whose children are killed). The whole command with a browser, Ctrl-C
included, runs in tests/e2e/test_browser.py."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from live_server import serve

from oncall_opt import demo, up
from oncall_opt.api import create_app
from oncall_opt.client import Client
from oncall_opt.engine.settings import Settings
from oncall_opt.engine.store import Store

ROOT = Path(__file__).resolve().parents[2]


def _solved_like_the_quick_start(folder: Path) -> Path:
    """What the quick start's first command writes: `oncall-opt solve data/input.json -o
    output.json`."""
    out = folder / "output.json"
    done = subprocess.run(
        [sys.executable, "-m", "oncall_opt", "solve", str(demo.TEAM_INPUT), "-o", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return out


NOW = datetime(2026, 12, 6, 10, 30, tzinfo=UTC)  # in the window data/input.json plans


def test_the_demo_is_the_quick_start_team_with_the_roster_it_solved(tmp_path):
    output_path = _solved_like_the_quick_start(tmp_path)
    output = json.loads(output_path.read_text())
    document = json.loads(demo.TEAM_INPUT.read_text())
    store = Store(tmp_path / "demo.duckdb")
    try:
        seeded = demo.seed(store, now=NOW, output_path=output_path, say=lambda line: None)
        assert not seeded.solved_here and seeded.moved_days == 0
        with serve(create_app(store, Settings(), run_jobs=False)) as url, Client(url) as api:
            people = {u["Id"]: f"{u['FirstName']} {u['LastName']}" for u in api.list_users()}
            assert sorted(people.values()) == sorted(u["name"] for u in document["users"])
            # Published as solved: who is on call in each of output.json's slots.
            for override in output["overrides"]:
                start = datetime.fromisoformat(override["start"].replace("Z", "+00:00"))
                on_call = api.scheduled(start + timedelta(hours=12))
                assert people[on_call["User"]["Id"]] == override["user"]["name"], override
            assert api.get_team(1)["RosterRules"] == {
                "TimeZone": "UTC", "Handoff": "00:00", "Layers": 1,
            }  # fmt: skip
            # Their days are input.json's.
            ana = next(i for i, name in people.items() if name == "Ana Silva")
            days = api.get_availability(ana, "2026-12-01", "2026-12-31")["Days"]
            assert days["2026-12-05"] == "unavailable" and days["2026-12-02"] == "preferred"
            # Open now: three waiting, three being worked on; history: over, spread out.
            everything = api.list_incidents("all")
            states = Counter(i["Status"] for i in everything)
            assert states["triggered"] == 3 and states["acknowledged"] == 3
            past = [i for i in everything if i["Status"] == "resolved"]
            opened = sorted(datetime.fromisoformat(i["CreatedAt"]) for i in past)
            assert len(past) >= 40 and opened[-1] - opened[0] >= timedelta(weeks=4)
            assert len({t.date() for t in opened}) >= 20, "spread over days, not one minute"
            acknowledged = [i for i in past if i["AcknowledgedAt"]]
            delays = [datetime.fromisoformat(i["AcknowledgedAt"]) - datetime.fromisoformat(
                i["CreatedAt"]) for i in acknowledged]  # fmt: skip
            # The seeded history's own acknowledgement delays (data, not how long anything took).
            fastest = timedelta(minutes=min(low for low, _ in demo.ACKNOWLEDGED_AFTER.values()))
            slowest = timedelta(minutes=max(high for _, high in demo.ACKNOWLEDGED_AFTER.values()))
            assert all(fastest <= d <= slowest for d in delays)
            assert len(set(delays)) > 5 and 0 < len(past) - len(acknowledged) < len(past) / 3
            nights = [t for t in opened if t.hour < 7]
            assert len(nights) >= 5, "Sunday nights' batch jobs page people"
            assert not [i["Body"] for i in everything if "example" in i["Body"].lower()]
            latency = next(i for i in everything if i["DedupKey"] == "checkout-latency")
            assert latency["Count"] == 3 and latency["Source"] == "checkout-7d9f8-kx2lp"
            # History is not news: nothing queued for it.
            queued = store.rows("SELECT incident_ids FROM outbox")
            ids = {
                int(i)
                for row in queued
                for i in (row["incident_ids"] or "").strip("[]").split(",")
                if i.strip()
            }
            assert ids and ids <= set(seeded.open_incidents), ids
    finally:
        store.close()


def test_on_another_date_the_demo_moves_by_whole_weeks_and_solves_without_output(tmp_path):
    later = datetime(2027, 5, 19, 8, tzinfo=UTC)  # a Wednesday, months after December 2026
    store = Store(tmp_path / "demo.duckdb")
    try:
        seeded = demo.seed(store, now=later, output_path=tmp_path / "none.json", say=print)
        assert seeded.solved_here and seeded.moved_days % 7 == 0
        start = date(2026, 12, 1) + timedelta(days=seeded.moved_days)
        assert start.weekday() == date(2026, 12, 1).weekday()
        assert later.date() - timedelta(days=6) <= start <= later.date()
        with serve(create_app(store, Settings(), run_jobs=False)) as url, Client(url) as api:
            # Someone is on call at every hour of the moved window.
            hour = datetime.combine(start, datetime.min.time(), UTC)
            while hour < datetime.combine(start + timedelta(days=30), datetime.min.time(), UTC):
                assert api.scheduled(hour) is not None, hour
                hour += timedelta(hours=5)
            days = api.get_availability(1, start, start + timedelta(days=30))["Days"]
            assert days[(start + timedelta(days=4)).isoformat()] == "unavailable"  # Ana's Dec 5
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
    code = up.main(["--address", "0.0.0.0", "--db", str(tmp_path / "x.duckdb"), "--no-seed",
                    "--no-auth"])  # fmt: skip
    assert code == 2
    assert "refusing to serve the console on 0.0.0.0" in capsys.readouterr().err
    assert not (tmp_path / "x.duckdb").exists()


# ----- keeping the daemon and the console running ------------------------------------------------
class FakeChild:
    """A child process that exits when the test says so (`code`)."""

    def __init__(self, pid: int):
        self.pid, self.code = pid, None

    def poll(self) -> int | None:
        return self.code


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_child_that_exits_is_started_again_with_back_off_reset_once_it_stays_up():
    clock, lines, children = Clock(), [], []
    ready = {"now": False}

    def start() -> FakeChild:
        children.append(FakeChild(len(children) + 1))
        return children[-1]

    child = up.Supervised(
        "the daemon",
        start,
        up.Backoff(first=1, cap=30, reset_after=60),
        ready=lambda: ready["now"],
        say=lines.append,
        clock=clock,
    )
    child.launch()
    child.tend()
    assert lines == [] and len(children) == 1  # running: nothing to do

    waits = []
    for _ in range(7):  # it keeps exiting as soon as it starts: 1, 2, 4, ... at most 30 s
        children[-1].code = 0
        child.tend()
        waits.append(child.restart_at - clock.now)
        clock.now += waits[-1] - 0.01
        child.tend()
        assert children[-1].code == 0, "started again before its back-off was over"
        clock.now += 0.01
        child.tend()
        assert children[-1].code is None  # a new one
    assert waits == [1, 2, 4, 8, 16, 30, 30]
    assert lines[:2] == [
        "the daemon exited (code 0); restarting it in 1 s",
        "starting the daemon again (pid 2)",
    ]
    assert child.restarts == 7

    # Once it answers again, it says so (once).
    lines.clear()
    child.tend()
    ready["now"] = True
    child.tend()
    child.tend()
    assert lines == ["the daemon is running again"]

    # It stayed up for a minute: the next exit waits 1 s again. A signal is named.
    clock.now += 60
    children[-1].code = -signal.SIGKILL
    child.tend()
    assert lines[-1] == "the daemon exited (killed by SIGKILL); restarting it in 1 s"


def test_restart_delays_are_checked(capsys):
    assert up.main(["--restart-delay", "5", "--restart-max", "1"]) == 2
    assert "--restart-delay" in capsys.readouterr().err


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _children(pid: int) -> dict[int, str]:
    """The processes whose parent is `pid`, with their command lines (from /proc)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if fields[0] != "Z" and int(fields[1]) == pid:
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
    return {child: command.decode() for child, command in found.items()}


def _child(pid: int, marker: str) -> int:
    [child] = [c for c, command in _children(pid).items() if marker in command]
    return child


def _alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).is_success
    except httpx.HTTPError:
        return False


def _wait(check, timeout: float, what: str, log: Path, every=None) -> None:
    """Poll `check` (and `every`, which must hold all along) until `check` is true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if every is not None:
            every()
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}; up's output:\n"
                         f"{log.read_text()}")  # fmt: skip


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the children in /proc")
def test_up_restarts_a_killed_daemon_and_console_while_the_other_keeps_running(tmp_path):
    """kill -9 the daemon: the console keeps answering all along, `up` says it restarts the
    daemon, and the API answers again. Then the same for the console. SIGTERM stops both."""
    api_port, app_port = _free_ports(2)
    api_url, app_url = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{app_port}"
    log_path = tmp_path / "up.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONCALL_")}
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "oncall_opt.up",
                "--db", str(tmp_path / "oncall.duckdb"),
                "--api", f"127.0.0.1:{api_port}",
                "--port", str(app_port),
                "--no-seed", "--no-auth", "--restart-delay", "0.2",
            ],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        _wait(lambda: "Ctrl-C stops both" in log_path.read_text(), 120, "up to start", log_path)
        daemon, console = _child(proc.pid, "runner.py"), _child(proc.pid, "streamlit")

        def console_answers() -> None:
            assert proc.poll() is None, f"up exited with {proc.returncode}"
            assert _answers(f"{app_url}/_stcore/health"), "the console stopped answering"

        os.kill(daemon, signal.SIGKILL)
        _wait(
            lambda: "the daemon is running again" in log_path.read_text(),
            60,
            "the daemon to be started again",
            log_path,
            every=console_answers,
        )
        out = log_path.read_text()
        assert "the daemon exited (killed by SIGKILL); restarting it in 0.2 s" in out
        assert httpx.get(f"{api_url}/users", timeout=5).json()["Items"] == []
        assert not _alive(daemon) and _child(proc.pid, "runner.py") != daemon
        assert _child(proc.pid, "streamlit") == console  # the same console all along

        def api_answers() -> None:
            assert proc.poll() is None, f"up exited with {proc.returncode}"
            assert _answers(f"{api_url}/healthz"), "the daemon stopped answering"

        os.kill(console, signal.SIGKILL)
        _wait(
            lambda: "the console is running again" in log_path.read_text(),
            120,
            "the console to be started again",
            log_path,
            every=api_answers,
        )
        assert "the console exited (killed by SIGKILL); restarting it in 0.2 s" in (
            log_path.read_text()
        )
        assert _answers(f"{app_url}/_stcore/health")
        children = set(_children(proc.pid))
        assert len(children) == 2 and console not in children

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert "stopping the console and the daemon" in log_path.read_text()
        _wait(lambda: not any(map(_alive, children)), 10, "both children to be gone", log_path)
        for url in (f"{api_url}/healthz", f"{app_url}/_stcore/health"):
            with pytest.raises(httpx.ConnectError):
                httpx.get(url, timeout=2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_up_signs_everyone_in_by_default(tmp_path):
    """The first start makes the API token, keeps it in the secrets file beside the database
    (readable by its owner only) and prints a one-time sign-in link for the first admin; the
    API refuses strangers; the next start uses the same token and says nothing of making one."""
    api_port, app_port = _free_ports(2)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONCALL_")}
    command = [sys.executable, "-m", "oncall_opt.up", "--db", str(tmp_path / "oncall.duckdb"),
               "--api", f"127.0.0.1:{api_port}", "--port", str(app_port)]  # fmt: skip
    secrets = tmp_path / "secrets.env"
    for start in (1, 2):
        log_path = tmp_path / f"up-{start}.log"
        with log_path.open("w") as log:
            proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log,
                                    stderr=subprocess.STDOUT)  # fmt: skip
        try:
            _wait(lambda p=log_path: "Ctrl-C stops both" in p.read_text(), 180, "up", log_path)
            out = log_path.read_text()
            assert ("made the API token" in out) == (start == 1), out
            link = f"Sign in          http://127.0.0.1:{app_port}/?login="
            assert (link in out) == (start == 1), out  # once: a log is read by many
            assert start == 2 or "(@ana" in out  # the demo's first person, its admin
            assert start == 1 or "oncall-opt login-link" in out
            assert secrets.stat().st_mode & 0o777 == 0o600
            [token] = [line.split("=", 1)[1] for line in secrets.read_text().splitlines()
                       if line.startswith("ONCALL_API_TOKEN=")]  # fmt: skip
            url = f"http://127.0.0.1:{api_port}"
            assert httpx.post(f"{url}/incidents", json={"Body": "x"}, timeout=10).status_code == 401
            mine = httpx.get(f"{url}/users", headers={"Authorization": f"Bearer {token}"})
            assert len(mine.json()["Items"]) == len(
                json.loads(demo.TEAM_INPUT.read_text())["users"]
            )
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0


def test_the_token_never_lands_in_a_file_others_can_read(tmp_path):
    secrets = tmp_path / "secrets.env"
    secrets.write_text("ONCALL_SLACK_WEBHOOK_URL=https://hooks.example/x\n")
    secrets.chmod(0o644)
    token = up.make_token(secrets)
    assert secrets.stat().st_mode & 0o777 == 0o600 and token in secrets.read_text()
    assert "ONCALL_SLACK_WEBHOOK_URL=https://hooks.example/x" in secrets.read_text()
    link = tmp_path / "link.env"
    link.symlink_to(tmp_path / "elsewhere.env")
    with pytest.raises(up.SecretsFileError):
        up.make_token(link)
    assert not (tmp_path / "elsewhere.env").exists()


def test_an_output_json_of_another_plan_is_not_published_as_the_teams(tmp_path):
    """An output.json solved from another input (data/input_extended.json: the same people,
    March 2027, two layers) is not the bundled team's December: the demo solves it instead."""
    other = tmp_path / "output.json"
    done = subprocess.run(
        [sys.executable, "-m", "oncall_opt", "solve", str(ROOT / "data" / "input_extended.json"),
         "-o", str(other)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    store = Store(tmp_path / "demo.duckdb")
    try:
        seeded = demo.seed(store, now=NOW, output_path=other, say=lambda line: None)
        assert seeded.solved_here
        layers = {r["layer"] for r in store.rows("SELECT DISTINCT layer FROM schedules")}
        assert layers == {1}
    finally:
        store.close()


def test_a_roster_naming_a_stranger_is_refused_before_anything_is_written(tmp_path):
    """An output.json whose secondary layer names someone not in the team is not published
    half-way: it is checked whole first, and the demo solves the input instead."""
    import oncall_opt as oo

    output = oo.solve(oo.load_problem(demo.TEAM_INPUT), time_limit=30).to_output()
    first = output["overrides"][0]
    output["secondary_overrides"] = [{**first, "user": {"id": "PSTRANGER", "name": "X"}}]
    path = tmp_path / "output.json"
    path.write_text(json.dumps(output))
    store = Store(tmp_path / "demo.duckdb")
    try:
        seeded = demo.seed(store, now=NOW, output_path=path, say=lambda line: None)
        assert seeded.solved_here and len(seeded.users) == 7
    finally:
        store.close()
