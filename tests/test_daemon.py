"""runner.py end to end: a real subprocess on a temporary database and a free port, driven over
HTTP, posting to a fake Slack on 127.0.0.1; stopped with signals and restarted."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from fake_slack import FakeSlack

from oncall_opt.engine import outbox

ROOT = Path(__file__).resolve().parent.parent
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

    def __init__(self, tmp_path: Path, slack: FakeSlack | None, *args: str, **env: str):
        self.port = free_port()
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
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, str(RUNNER), *args],
            cwd=tmp_path,  # no data/secrets.env there
            env=environ,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 30.0) -> Daemon:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the daemon exited early:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/users", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"the daemon did not answer within {timeout}s:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, float]:
        """Send `sig`; returns (exit code, seconds it took to exit)."""
        started = time.monotonic()
        self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout=10)
        finally:
            self.kill()
        return code, time.monotonic() - started

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


def iso(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


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
        assert slack.take(1, timeout=10) == [
            f"Incident #1 created and assigned to Katy Smith <@katy>\n{body}"
        ]

        # A second process on the same database: the clear message, no traceback.
        second = run_once(tmp_path, slack, ONCALL_BIND=f"127.0.0.1:{daemon.port}")
        assert second.returncode == 1
        assert "is held by process" in second.stderr and "Only one process" in second.stderr
        assert daemon.url in second.stderr  # where to go instead
        assert "Traceback" not in second.stderr + second.stdout

        code, seconds = daemon.stop(signal.SIGTERM)
        assert code == 0, daemon.log()
        assert seconds < 3, f"{seconds:.1f}s"
    finally:
        daemon.kill()
    first_log = daemon.log()
    assert "stopped by SIGTERM" in first_log
    assert "Traceback" not in first_log

    # Restarted on the same database: everything is still there.
    again = Daemon(tmp_path, slack).wait_ready()
    try:
        assert httpx.get(f"{again.url}/users/1").json() == user
        items = httpx.get(f"{again.url}/incidents").json()["Items"]
        assert [(i["Id"], i["Body"], i["Assignee"]["SlackHandle"]) for i in items] == [
            (1, body, "katy")
        ]
        code, seconds = again.stop(signal.SIGINT)
        assert code == 0, again.log()
        assert seconds < 3, f"{seconds:.1f}s"
    finally:
        again.kill()

    # --once: each job once, then exit; the incident is past a (short) reminder interval.
    time.sleep(0.6)
    once = run_once(tmp_path, slack, ONCALL_REMIND_EVERY="0.5")
    assert once.returncode == 0, once.stderr
    [reminder] = slack.take(1)
    assert reminder == f"{outbox.REMINDER_HEADER}\n[Katy Smith (<@katy>)] [#1] {body}"

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
