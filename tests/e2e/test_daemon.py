"""runner.py end to end: a real subprocess on a temporary database and a free port, driven over
HTTP, posting to a fake Slack on 127.0.0.1; stopped with signals and restarted."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fake_slack import FakeSlack
from pydantic import SecretStr
from testkit import wait_for

from oncall_opt.daemon import open_to_the_network
from oncall_opt.engine import outbox
from oncall_opt.engine.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ROOT / "runner.py"
FAST = {
    "ONCALL_DELIVER_EVERY": "0.2",
    "ONCALL_ASSIGN_EVERY": "0.2",
    "ONCALL_ESCALATE_EVERY": "0.2",
    "ONCALL_SLACK_MIN_INTERVAL": "0.05",
    "ONCALL_SLACK_TIMEOUT": "2",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Daemon:
    """runner.py in a subprocess; its log goes to a file (a pipe could fill up and block it)."""

    def __init__(
        self,
        tmp_path: Path,
        slack: FakeSlack | None,
        *args: str,
        port: int | None = None,
        **env: str,
    ):
        self.port = port or free_port()  # the same port again: a restart behind a balancer
        self.url = f"http://127.0.0.1:{self.port}"
        environ = {k: v for k, v in os.environ.items() if not k.startswith("ONCALL_")}
        environ.update(FAST)
        environ.update(
            ONCALL_DB=str(tmp_path / "oncall.duckdb"), ONCALL_BIND=f"127.0.0.1:{self.port}"
        )
        if slack is not None:
            environ["ONCALL_SLACK_WEBHOOK_URL"] = slack.url.get_secret_value()
        environ.update(env)
        self.log_path = tmp_path / f"daemon-{self.port}.log"
        self._log = self.log_path.open("a")
        self.process = subprocess.Popen(
            [sys.executable, str(RUNNER), *args],
            cwd=tmp_path,  # no data/secrets.env there
            env=environ,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 30.0, token: str | None = None) -> Daemon:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the daemon exited early:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/users", headers=headers, timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"the daemon did not answer within {timeout}s:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Send `sig`; returns the exit code (the timeout only bounds a hang)."""
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=30)
        finally:
            self.kill()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._log.close()

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text()


def run_once(tmp_path: Path, slack: FakeSlack | None, *args: str, **env: str):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ONCALL_")}
    environ.update(FAST)
    environ["ONCALL_DB"] = str(tmp_path / "oncall.duckdb")
    if slack is not None:
        environ["ONCALL_SLACK_WEBHOOK_URL"] = slack.url.get_secret_value()
    environ.update(env)
    return subprocess.run(
        [sys.executable, str(RUNNER), "--once", *args],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


GAP_NOTICE = ":warning: Nobody is on call"


def iso(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


def assert_stopped_cleanly(log: str, signal_name: str, url: str) -> None:
    """The daemon's log after a stop: it names the signal, and no job or writer thread was
    left running (each stop() cut its waits short and ended its thread); nothing answers."""
    assert f"stopped by {signal_name}" in log
    assert "still running" not in log and "still writing" not in log, log
    assert "Traceback" not in log, log
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/users", timeout=2)


def test_runner_end_to_end(tmp_path, slack):
    daemon = Daemon(tmp_path, slack).wait_ready()
    try:
        user = httpx.post(
            f"{daemon.url}/users",
            json={"FirstName": "Katy", "LastName": "Smith", "SlackHandle": "katy"},
        ).json()
        assert user["Id"] == 1
        now = datetime.now(UTC)
        shift = httpx.post(
            f"{daemon.url}/users/1/schedules",
            json={"Start": iso(now - timedelta(hours=1)), "End": iso(now + timedelta(hours=1))},
        )
        assert shift.status_code == 200, shift.text
        body = "An unexpected error happened on example-website.com on line 38."
        incident = httpx.post(f"{daemon.url}/incidents", json={"Body": body}).json()
        assert incident["Id"] == 1
        created = f"Incident #1 created and assigned to Katy Smith <@katy>\n{body}"
        posted = wait_for(lambda: created in slack.accepted() and slack.accepted(), 10, created)
        # Besides: the gap after Katy's shift (nobody on call in an hour), announced once by
        # whichever run of the handoff job sees the shift first (this daemon's, or --once's).
        assert all(t == created or t.startswith(GAP_NOTICE) for t in posted)
        gap_notices = [t for t in slack.take(len(posted)) if t.startswith(GAP_NOTICE)]

        # A second process on the same database: the clear message, no traceback.
        second = run_once(tmp_path, slack, ONCALL_BIND=f"127.0.0.1:{daemon.port}")
        assert second.returncode == 1
        assert "is held by process" in second.stderr and "Only one process" in second.stderr
        assert daemon.url in second.stderr  # where to go instead
        assert "Traceback" not in second.stderr + second.stdout

        assert daemon.stop(signal.SIGTERM) == 0, daemon.log()
    finally:
        daemon.kill()
    first_log = daemon.log()
    assert_stopped_cleanly(first_log, "SIGTERM", daemon.url)

    # Restarted on the same database: everything is still there.
    again = Daemon(tmp_path, slack).wait_ready()
    try:
        assert httpx.get(f"{again.url}/users/1").json() == user
        items = httpx.get(f"{again.url}/incidents").json()["Items"]
        assert [(i["Id"], i["Body"], i["Assignee"]["SlackHandle"]) for i in items] == [
            (1, body, "katy")
        ]
        assert again.stop(signal.SIGINT) == 0, again.log()
    finally:
        again.kill()
    assert_stopped_cleanly(again.log(), "SIGINT", again.url)

    # --once: each job once, then exit; the incident is past a (short) reminder interval.
    created = datetime.fromisoformat(incident["CreatedAt"])
    wait_for(
        lambda: datetime.now(UTC) - created > timedelta(seconds=0.5),
        message="the incident to be older than the reminder interval",
    )
    once = run_once(tmp_path, slack, ONCALL_REMIND_EVERY="0.5")
    assert once.returncode == 0, once.stderr
    fresh = slack.accepted()[len(posted) :]
    fresh = slack.take(len(fresh))
    [reminder] = [t for t in fresh if not t.startswith(GAP_NOTICE)]
    assert reminder == f"{outbox.REMINDER_HEADER}\n[Katy Smith (<@katy>)] [#1] {body}"
    gap_notices += [t for t in fresh if t.startswith(GAP_NOTICE)]
    assert len(gap_notices) == 1, gap_notices  # once in all, even across the restarts

    logs = first_log + again.log() + once.stderr + once.stdout
    assert slack.token not in logs and slack.path not in logs


def test_runner_reports_bad_settings_without_a_traceback(tmp_path):
    bad_number = run_once(tmp_path, None, ONCALL_DELIVER_EVERY="soon")
    assert bad_number.returncode == 1
    assert bad_number.stderr.strip().endswith("ONCALL_DELIVER_EVERY: 'soon' is not a number")
    bad_url = run_once(tmp_path, None, ONCALL_SLACK_WEBHOOK_URL="hooks.slack.com/T/B/sekrit")
    assert bad_url.returncode == 1 and "ONCALL_SLACK_WEBHOOK_URL" in bad_url.stderr
    assert "sekrit" not in bad_url.stderr
    for result in (bad_number, bad_url):
        assert "Traceback" not in result.stderr
    no_webhook = run_once(tmp_path, None, "--db", str(tmp_path / "other.duckdb"))
    assert no_webhook.returncode == 0, no_webhook.stderr
    assert "Slack delivery off" in no_webhook.stderr


def test_a_stop_during_a_long_solve_cancels_it_and_exits_0(tmp_path):
    """Stopped while HiGHS works on a long solve in a worker thread: the solve is interrupted
    and recorded as cancelled, and the process exits 0 (it used to die of SIGABRT)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from instances import TIGHT_ROTATION, instance

    daemon = Daemon(tmp_path, None).wait_ready()
    try:
        body = {"Input": instance(**TIGHT_ROTATION), "TimeLimit": 600}
        started = httpx.post(f"{daemon.url}/roster/solve", json=body, timeout=30)
        assert started.status_code == 202, started.text
        wait_for(lambda: "HiGHS solving" in daemon.log(), timeout=120, message="HiGHS to start")
        # The scenario, not a wait for something to happen: HiGHS 15 s into its search, where
        # a stop used to abort the process (SIGABRT) 5 times out of 5.
        threading.Event().wait(15)
        assert daemon.process.poll() is None and "cancelled" not in daemon.log()
        code = daemon.stop(signal.SIGTERM)  # Ctrl-C (SIGINT) takes the same path in uvicorn
    finally:
        daemon.kill()
    log = daemon.log()
    assert code == 0, log
    assert f"solve job {started.json()['JobId']} cancelled: the daemon is stopping" in log
    assert "stopped by SIGTERM" in log and "Traceback" not in log, log
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{daemon.url}/users", timeout=2)


def test_listening_beyond_this_machine_needs_a_token_or_insecure(tmp_path):
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ONCALL_")}
    environ["ONCALL_DB"] = str(tmp_path / "oncall.duckdb")

    def start(*args: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(RUNNER), "--bind", f"0.0.0.0:{port}", *args],
            cwd=tmp_path, env={**environ, **env}, capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    refused = start()
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "refusing to listen on 0.0.0.0" in refused.stderr and "--insecure" in refused.stderr
    assert not (tmp_path / "oncall.duckdb").exists()  # nothing was opened
    # The rule itself: a token, or an address only this machine reaches, makes it safe.
    assert open_to_the_network(Settings(host="0.0.0.0", api_token=SecretStr("t"))) is None
    assert open_to_the_network(Settings(host="127.0.0.1")) is None
    assert open_to_the_network(Settings(host="::1")) is None
    assert "refusing" in open_to_the_network(Settings(host="0.0.0.0"))
    assert "refusing" in open_to_the_network(Settings(host="oncall.example"))
